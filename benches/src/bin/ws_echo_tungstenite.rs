//! tokio-tungstenite WebSocket echo server: a peer for `ws_load` and
//! `scripts/bench/ws_compare.sh` / `scripts/bench/wss_compare.sh`.
//!
//! ```text
//! cargo run --release -p sluice-benches --bin ws_echo_tungstenite -- --addr 127.0.0.1:9002 \
//!     [--tls-cert FILE --tls-key FILE]
//! ```
//!
//! Single-threaded tokio runtime, like `ws_echo_server` (sluice-tokio). Prints
//! `listening on ws://ADDR` (`wss://` with TLS) once bound. Messages and frames up
//! to 64 MiB; every other setting is tungstenite's default. Data messages are
//! echoed; Pings are answered by tungstenite itself.
//!
//! With `--tls-cert FILE --tls-key FILE` (PEM) each accepted connection runs the TLS
//! handshake of `sluice_http::ServerTls` first (rustls, ring provider, ALPN
//! `http/1.1` only: the same rustls config and accept code as the sluice and
//! fastwebsockets servers), then tokio-tungstenite's handshake over the
//! `tokio_rustls` stream. The serving code is generic over the stream, so the plain
//! path is unchanged.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sluice_http::ServerTls;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// TLS handshake timeout (`--tls-cert`), as in `ws_echo_server`.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> std::io::Result<()> {
    let (addr, tls) = args("ws_echo_tungstenite", "127.0.0.1:9002");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr, tls))
}

async fn serve(addr: String, tls: Option<Arc<ServerTls>>) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("listening on {scheme}://{}", listener.local_addr()?);
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        match &tls {
            None => {
                tokio::spawn(async move {
                    let Ok(mut ws) =
                        tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await
                    else {
                        return;
                    };
                    echo(&mut ws).await;
                });
            }
            Some(tls) => {
                let tls = Arc::clone(tls);
                tokio::spawn(async move {
                    // Both handshakes in one boxed future that hands out only the socket, as in
                    // ws_echo_server: no copy of the ~1.2 KB `TlsStream` stays in the task.
                    let handshakes = Box::pin(async move {
                        let stream = tls.accept(tcp, TLS_HANDSHAKE_TIMEOUT).await.ok()?;
                        tokio_tungstenite::accept_async_with_config(stream, Some(config))
                            .await
                            .ok()
                    });
                    let Some(mut ws) = handshakes.await else {
                        return;
                    };
                    echo(&mut ws).await;
                });
            }
        }
    }
}

/// Echoes data messages until the end. By reference: the socket stays where the task
/// put it (no second copy in the task).
async fn echo<S>(ws: &mut WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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
}

/// `--addr HOST:PORT`, `--tls-cert FILE --tls-key FILE`, `-h` for usage.
fn args(name: &str, default_addr: &str) -> (String, Option<Arc<ServerTls>>) {
    let mut addr = default_addr.to_string();
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--tls-cert" => cert = Some(args.next().expect("--tls-cert needs a file")),
            "--tls-key" => key = Some(args.next().expect("--tls-key needs a file")),
            "-h" | "--help" => {
                println!("usage: {name} [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE]");
                std::process::exit(0);
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
    (addr, tls)
}
