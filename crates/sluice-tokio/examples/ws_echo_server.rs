//! WebSocket echo server: the Autobahn|Testsuite testee and the load-test target.
//!
//! ```text
//! cargo run --release -p sluice-tokio --example ws_echo_server -- --addr 127.0.0.1:9001 [--threads N]
//!     [--tls-cert FILE --tls-key FILE]
//! ```
//!
//! Prints `listening on ws://ADDR` (`wss://` with TLS) once the socket is bound. Single-threaded
//! runtime unless `--threads N` (N > 1). Messages up to 64 MiB, frames up to
//! 64 MiB, no cap on the number of fragments. permessage-deflate (RFC 7692) is
//! accepted when the client offers it (`WsConfig::default`), unless `--no-deflate`.
//!
//! With `--commands` (for the interop tests, never for Autobahn) two text
//! messages are commands instead of being echoed: `close:CODE:REASON` makes the
//! server close with that code and reason, and `fragment:N:PAYLOAD` sends
//! PAYLOAD back as one text message in N fragments.
//!
//! With `--tls-cert FILE --tls-key FILE` (PEM) every accepted connection runs a TLS
//! handshake first (`sluice_http::ServerTls`, rustls with the ring provider, ALPN
//! `http/1.1` only, 10 s handshake timeout), then the WebSocket handshake over the
//! TLS stream. The serving code is generic over the stream, so the plain path is the
//! same code as without TLS.

use std::sync::Arc;
use std::time::Duration;

use sluice_http::ServerTls;
use sluice_tokio::ws::{self, CloseCode, Message, WebSocket, WsConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

/// TLS handshake timeout (`--tls-cert`).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:9001".to_string();
    let mut threads = 1usize;
    let mut commands = false;
    let mut deflate = true;
    let mut tls_cert = None;
    let mut tls_key = None;
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
            "--commands" => commands = true,
            "--no-deflate" => deflate = false,
            "--tls-cert" => tls_cert = Some(args.next().expect("--tls-cert needs a file")),
            "--tls-key" => tls_key = Some(args.next().expect("--tls-key needs a file")),
            "-h" | "--help" => {
                println!(
                    "usage: ws_echo_server [--addr HOST:PORT] [--threads N] [--commands] [--no-deflate] \
                     [--tls-cert FILE --tls-key FILE]"
                );
                return Ok(());
            }
            other => {
                eprintln!("unknown argument {other:?}; try --help");
                std::process::exit(2);
            }
        }
    }
    let tls = match (tls_cert, tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => match ServerTls::from_pem_files(&cert, &key) {
            Ok(tls) => Some(Arc::new(tls.with_alpn(vec![b"http/1.1".to_vec()]))),
            Err(e) => {
                eprintln!("ws_echo_server: {e}");
                std::process::exit(2);
            }
        },
        _ => {
            eprintln!("ws_echo_server: --tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
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
    rt.block_on(serve(addr, commands, deflate, tls))
}

async fn serve(
    addr: String,
    commands: bool,
    deflate: bool,
    tls: Option<Arc<ServerTls>>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("listening on {scheme}://{}", listener.local_addr()?);
    let mut config = WsConfig::default();
    config.protocol = config
        .protocol
        .with_max_frame_size(64 << 20)
        .with_max_message_size(64 << 20);
    if !deflate {
        config = config.deflate(None);
    }
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        match &tls {
            None => {
                // One boxed upvar: whatever an `async` block captures stays in the task for
                // its whole life, and the stream and config are only needed for the handshake.
                let args = Box::new((tcp, config.clone()));
                tokio::spawn(async move {
                    let (tcp, config) = *args;
                    let Ok(mut socket) = ws::accept(tcp, config).await else {
                        return;
                    };
                    echo(&mut socket, commands).await;
                });
            }
            Some(tls) => {
                let args = Box::new((tcp, config.clone(), Arc::clone(tls)));
                tokio::spawn(async move {
                    // Both handshakes in one boxed future that hands out only the socket: a
                    // `TlsStream` is ~1.2 KB, and every async layer it passes through by value
                    // (our future, `ws::accept`'s, `accept_with`'s) would keep a copy of it
                    // in the task for the connection's whole life (6.0 KB instead of 2.1 KB).
                    let handshakes = Box::pin(async move {
                        let (tcp, config, tls) = *args;
                        let stream = tls.accept(tcp, TLS_HANDSHAKE_TIMEOUT).await.ok()?;
                        ws::accept(stream, config).await.ok()
                    });
                    let Some(mut socket) = handshakes.await else {
                        return;
                    };
                    echo(&mut socket, commands).await;
                });
            }
        }
    }
}

/// Echoes every message until the connection ends. By reference: the socket stays
/// where the task put it (moving it into this future would keep a second copy in the
/// task).
async fn echo<S>(socket: &mut WebSocket<S>, commands: bool)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(Ok(msg)) = socket.recv().await {
        if commands
            && let Message::Text(t) = &msg
            // Boxed: the rare interop commands would otherwise size this future (and so
            // every connection's task) by their state, ~280 bytes.
            && let Some(res) = Box::pin(command(socket, t.as_str())).await
        {
            if res.is_err() {
                break;
            }
            continue;
        }
        if socket.send(msg).await.is_err() {
            break;
        }
    }
    // `recv` returned `None` (closing handshake done) or the peer failed.
}

/// Runs an interop command; `None` if `text` is not one.
async fn command<S>(socket: &mut WebSocket<S>, text: &str) -> Option<Result<(), ws::Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(rest) = text.strip_prefix("close:") {
        let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
        let code = CloseCode(code.parse().ok()?);
        let res = socket.close(code, reason).await;
        // Complete the closing handshake, then stop serving this connection.
        while socket.recv().await.is_some() {}
        return Some(res.and(Err(ws::Error::Closed)));
    }
    if let Some(rest) = text.strip_prefix("fragment:") {
        let (n, payload) = rest.split_once(':')?;
        let n: usize = n.parse().ok().filter(|n| *n > 0)?;
        let chars: Vec<char> = payload.chars().collect();
        let per = chars.len().div_ceil(n).max(1);
        let pieces: Vec<String> = chars.chunks(per).map(|c| c.iter().collect()).collect();
        for i in 0..n {
            let piece = pieces.get(i).cloned().unwrap_or_default();
            if let Err(e) = socket.send_fragment(Message::text(piece), i + 1 == n).await {
                return Some(Err(e));
            }
        }
        return Some(Ok(()));
    }
    None
}
