//! WebSocket echo server: the Autobahn|Testsuite testee and the load-test target.
//!
//! ```text
//! cargo run --release -p sluice-tokio --example ws_echo_server -- --addr 127.0.0.1:9001 [--threads N]
//! ```
//!
//! Prints `listening on ws://ADDR` once the socket is bound. Single-threaded
//! runtime unless `--threads N` (N > 1). Messages up to 64 MiB, frames up to
//! 64 MiB, no cap on the number of fragments.

use sluice_tokio::ws::{self, WsConfig};
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:9001".to_string();
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--threads needs a number")
            }
            "-h" | "--help" => {
                println!("usage: ws_echo_server [--addr HOST:PORT] [--threads N]");
                return Ok(());
            }
            other => {
                eprintln!("unknown argument {other:?}; try --help");
                std::process::exit(2);
            }
        }
    }
    let rt = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    rt.block_on(serve(addr))
}

async fn serve(addr: String) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    let mut config = WsConfig::default();
    config.protocol = config
        .protocol
        .with_max_frame_size(64 << 20)
        .with_max_message_size(64 << 20);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let config = config.clone();
        tokio::spawn(async move {
            let Ok(mut socket) = ws::accept(tcp, config).await else {
                return;
            };
            while let Some(Ok(msg)) = socket.recv().await {
                if socket.send(msg).await.is_err() {
                    break;
                }
            }
            // Finish the closing handshake (recv returned None) or give up on error.
        });
    }
}
