//! fastwebsockets WebSocket echo server: a peer for `ws_load` and
//! `scripts/bench/ws_compare.sh`.
//!
//! ```text
//! cargo run --release -p sluice-benches --bin ws_echo_fastwebsockets -- --addr 127.0.0.1:9003
//! ```
//!
//! Single-threaded tokio runtime, like `ws_echo_server` (sluice-tokio). Prints
//! `listening on ws://ADDR` once bound. Messages up to 64 MiB (fastwebsockets'
//! default), reassembled by `FragmentCollector` as in fastwebsockets' own echo
//! example; auto Pong and auto Close on.
//!
//! The opening handshake is parsed by `sluice_ws::handshake` and the socket then
//! handed to `WebSocket::after_handshake` on the bare `TcpStream`: this is
//! fastwebsockets' leanest setup (no hyper `Upgraded` box in the data path), so
//! the comparison is against its best case.

use bytes::BytesMut;
use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use sluice_ws::handshake::{Accept, HandshakeLimits, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:9003".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "-h" | "--help" => {
                println!("usage: ws_echo_fastwebsockets [--addr HOST:PORT]");
                return Ok(());
            }
            other => {
                eprintln!("unknown argument {other:?}; try --help");
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
}

/// Reads the request head and answers 101. The client sends nothing before the
/// answer, so no frame bytes can be left over in `buf`.
async fn handshake(mut tcp: TcpStream) -> std::io::Result<TcpStream> {
    let mut parser = RequestParser::new(HandshakeLimits::default());
    let mut buf = BytesMut::with_capacity(1024);
    let req = loop {
        match parser.parse(&buf) {
            Ok(Some((req, n))) if n == buf.len() => break req,
            Ok(None) => {}
            _ => return Err(std::io::ErrorKind::InvalidData.into()),
        }
        if buf.len() == buf.capacity() {
            buf.reserve(1024);
        }
        if tcp.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    };
    let answer = req
        .accept(&Accept::new())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
    tcp.write_all(&answer).await?;
    Ok(tcp)
}
