//! Shared helpers for the Sluice benchmarks.

pub mod floor;
pub mod keepalive;
pub mod procfs;

use bytes::BytesMut;
use sluice_ws::handshake::{Accept, HandshakeLimits, RequestParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The opening handshake of the peer echo servers (`ws_echo_*`): reads the request head with
/// `sluice_ws::handshake` and answers 101, so that only the WebSocket layer differs between
/// them. The client sends nothing before the answer, so no frame bytes can be left over.
/// (`flush` is a no-op on a `TcpStream`; a TLS stream may still hold part of the answer
/// without it.)
///
/// # Errors
/// A malformed or refused request, or the connection failed.
pub async fn handshake<S>(mut tcp: S) -> std::io::Result<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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
    tcp.flush().await?;
    Ok(tcp)
}
