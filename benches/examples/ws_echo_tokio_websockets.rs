//! tokio-websockets WebSocket echo server: a peer for `ws_load` and
//! `scripts/bench/ws_compare.sh`.
//!
//! ```text
//! cargo run --release -p sluice-benches --example ws_echo_tokio_websockets -- --addr 127.0.0.1:9005
//! ```
//!
//! Single-threaded tokio runtime and the same opening handshake as the other echo servers
//! (`sluice_benches::handshake`, then `ServerBuilder::serve` on the bare `TcpStream`), so only
//! the WebSocket layer differs. Messages up to 64 MiB; Pongs and the Close reply are
//! automatic (the reply goes out on the next poll, so the loop reads on after a Close). An
//! example (dev-dependency), not a bin: tokio-websockets 0.13 needs rustc 1.89, above the
//! workspace's rust-version.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_websockets::{Limits, ServerBuilder};

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:9005".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            _ => {
                eprintln!("usage: ws_echo_tokio_websockets [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr))
}

async fn serve(addr: String) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(tcp) = sluice_benches::handshake(tcp).await else {
                return;
            };
            let mut ws = ServerBuilder::new()
                .limits(Limits::default().max_payload_len(Some(64 << 20)))
                .serve(tcp);
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        });
    }
}
