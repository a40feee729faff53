//! fastwebsockets WebSocket echo server: a peer for `ws_load` and
//! `scripts/bench/ws_compare.sh` / `scripts/bench/wss_compare.sh`.
//!
//! ```text
//! cargo run --release -p sluice-benches --bin ws_echo_fastwebsockets -- --addr 127.0.0.1:9003 \
//!     [--tls-cert FILE --tls-key FILE]
//! ```
//!
//! Single-threaded tokio runtime, like `ws_echo_server` (sluice-tokio). Prints
//! `listening on ws://ADDR` (`wss://` with TLS) once bound. Messages up to 64 MiB (fastwebsockets'
//! default), reassembled by `FragmentCollector` as in fastwebsockets' own echo
//! example; auto Pong and auto Close on.
//!
//! The opening handshake is parsed by `sluice_ws::handshake` and the socket then
//! handed to `WebSocket::after_handshake` on the bare `TcpStream`: this is
//! fastwebsockets' leanest setup (no hyper `Upgraded` box in the data path), so
//! the comparison is against its best case.
//!
//! With `--tls-cert FILE --tls-key FILE` (PEM) each accepted connection runs the TLS
//! handshake of `sluice_http::ServerTls` first (rustls, ring provider, ALPN
//! `http/1.1` only: the same rustls config and accept code as the sluice and
//! tokio-tungstenite servers), then the same WebSocket handshake over the
//! `tokio_rustls` stream. A TLS stream buffers what it could not write yet, and
//! `FragmentCollector` has no `flush`, so over TLS the server uses the
//! `WebSocket` itself (auto Pong and auto Close on, as above), echoes each data
//! frame as it comes (fragments are echoed as fragments) and flushes after each
//! write, as fastwebsockets' documentation asks for `TlsStream`. The plain path is
//! unchanged.

use std::sync::Arc;
use std::time::Duration;

use fastwebsockets::{FragmentCollector, Frame, OpCode, Role, WebSocket};
use sluice_benches::handshake;
use sluice_http::ServerTls;
use tokio::net::TcpListener;

/// TLS handshake timeout (`--tls-cert`), as in `ws_echo_server`.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> std::io::Result<()> {
    let name = "ws_echo_fastwebsockets";
    let mut addr = "127.0.0.1:9003".to_string();
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--tls-cert" => cert = Some(args.next().expect("--tls-cert needs a file")),
            "--tls-key" => key = Some(args.next().expect("--tls-key needs a file")),
            "-h" | "--help" => {
                println!("usage: {name} [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE]");
                return Ok(());
            }
            other => {
                eprintln!("unknown argument {other:?}; try --help");
                std::process::exit(2);
            }
        }
    }
    let tls = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => match ServerTls::from_pem_files(&cert, &key) {
            Ok(tls) => Some(Arc::new(tls.with_alpn(vec![b"http/1.1".to_vec()]))),
            Err(e) => {
                eprintln!("{name}: {e}");
                std::process::exit(2);
            }
        },
        _ => {
            eprintln!("{name}: --tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr, tls))
}

async fn serve(addr: String, tls: Option<Arc<ServerTls>>) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("listening on {scheme}://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        match &tls {
            None => {
                tokio::spawn(async move {
                    let Ok(tcp) = handshake(tcp).await else {
                        return;
                    };
                    let mut ws = WebSocket::after_handshake(tcp, Role::Server);
                    ws.set_max_message_size(64 << 20);
                    let mut ws = FragmentCollector::new(ws);
                    while let Ok(frame) = ws.read_frame().await {
                        match frame.opcode {
                            OpCode::Close => break,
                            OpCode::Text | OpCode::Binary => {}
                            _ => continue,
                        }
                        if ws.write_frame(frame).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Some(tls) => {
                let tls = Arc::clone(tls);
                tokio::spawn(async move {
                    // Both handshakes in one boxed future that hands out only the socket, as in
                    // ws_echo_server: no copy of the ~1.2 KB `TlsStream` stays in the task.
                    let handshakes = Box::pin(async move {
                        let stream = tls.accept(tcp, TLS_HANDSHAKE_TIMEOUT).await.ok()?;
                        let stream = handshake(stream).await.ok()?;
                        Some(WebSocket::after_handshake(stream, Role::Server))
                    });
                    let Some(mut ws) = handshakes.await else {
                        return;
                    };
                    ws.set_max_message_size(64 << 20);
                    while let Ok(frame) = ws.read_frame().await {
                        match frame.opcode {
                            OpCode::Close => {
                                // The auto Close reply was written; push it out.
                                let _ = ws.flush().await;
                                break;
                            }
                            OpCode::Text | OpCode::Binary | OpCode::Continuation => {}
                            _ => continue,
                        }
                        // Unmasked copy (what FragmentCollector hands out): `read_frame`
                        // leaves the client's mask key on the frame.
                        let frame = Frame::new(frame.fin, frame.opcode, None, frame.payload);
                        if ws.write_frame(frame).await.is_err() || ws.flush().await.is_err() {
                            break;
                        }
                    }
                });
            }
        }
    }
}
