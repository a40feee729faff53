//! tokio-tungstenite WebSocket echo server: a peer for `ws_load` and
//! `scripts/bench/ws_compare.sh`.
//!
//! ```text
//! cargo run --release -p sluice-benches --bin ws_echo_tungstenite -- --addr 127.0.0.1:9002
//! ```
//!
//! Single-threaded tokio runtime, like `ws_echo_server` (sluice-tokio). Prints
//! `listening on ws://ADDR` once bound. Messages and frames up to 64 MiB; every
//! other setting is tungstenite's default. Data messages are echoed; Pings are
//! answered by tungstenite itself.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn main() -> std::io::Result<()> {
    let addr = addr_arg("ws_echo_tungstenite");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr))
}

async fn serve(addr: String) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await
            else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if msg.is_binary() || msg.is_text() {
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                } else if msg.is_close() {
                    // tungstenite queued the Close reply; flush it and end.
                    let _ = ws.flush().await;
                    break;
                }
            }
        });
    }
}

/// `--addr HOST:PORT` (default 127.0.0.1:9002), `-h` for usage.
fn addr_arg(name: &str) -> String {
    let mut addr = "127.0.0.1:9002".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "-h" | "--help" => {
                println!("usage: {name} [--addr HOST:PORT]");
                std::process::exit(0);
            }
            other => {
                eprintln!("unknown argument {other:?}; try --help");
                std::process::exit(2);
            }
        }
    }
    addr
}
