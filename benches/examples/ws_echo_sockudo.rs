//! sockudo-ws WebSocket echo server: a peer for `ws_load` and `scripts/bench/ws_compare.sh`.
//!
//! ```text
//! cargo run --release -p sluice-benches --example ws_echo_sockudo -- --addr 127.0.0.1:9004
//! ```
//!
//! Single-threaded tokio runtime and the same opening handshake as the other echo servers
//! (`sluice_benches::handshake`), so only the WebSocket layer differs. Messages up to 64 MiB;
//! sockudo's own keep-alive ping and idle timeout are off (the other servers have neither);
//! Pongs and the Close reply are automatic. An example (dev-dependency), not a bin: sockudo-ws
//! declares no rust-version and must stay out of the MSRV build.

use futures_util::{SinkExt, StreamExt};
use sockudo_ws::{Config, Message, WebSocketStream};
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let addr = parse_addr("ws_echo_sockudo", "127.0.0.1:9004");
    sockudo_ws::init_clock();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr))
}

/// `--addr HOST:PORT` (or the default).
fn parse_addr(name: &str, default: &str) -> String {
    let mut addr = default.to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            _ => {
                eprintln!("usage: {name} [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    addr
}

async fn serve(addr: String) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    let config = Config::builder()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20)
        .auto_ping(false)
        .idle_timeout(0)
        .build();
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let config = config.clone();
        tokio::spawn(async move {
            let Ok(tcp) = sluice_benches::handshake(tcp).await else {
                return;
            };
            let mut ws = WebSocketStream::server(tcp, config);
            while let Some(Ok(msg)) = ws.next().await {
                if matches!(msg, Message::Close(_)) {
                    break;
                }
                if matches!(msg, Message::Text(_) | Message::Binary(_))
                    && ws.send(msg).await.is_err()
                {
                    break;
                }
            }
        });
    }
}
