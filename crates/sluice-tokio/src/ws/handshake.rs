//! The opening handshake over a stream: `accept` (server) and `connect` (client).

use bytes::BytesMut;
use sluice_ws::Role;
use sluice_ws::handshake::{
    Accept, ClientRequest, ClientResponse, HandshakeError, HandshakeLimits, RequestParser,
    ResponseParser, ServerRequest, parse_url,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::WsConfig;
use super::error::Error;
use super::negotiate;
use super::socket::WebSocket;

/// What the application decides about an incoming handshake request (see
/// [`accept_with`]).
#[derive(Debug)]
pub enum Decision {
    /// Answer 101 with these choices (subprotocol, extensions, extra headers).
    Accept(Accept),
    /// Refuse with this ready-to-send HTTP response (for example a 403 built with
    /// [`sluice_ws::handshake::reject_response`] after an Origin check).
    Reject(bytes::Bytes),
}

/// Accepts a WebSocket connection on `io`: reads the request head (limits of
/// [`HandshakeLimits::default`], timeout [`WsConfig::handshake_timeout`]), answers
/// 101 with no subprotocol (and permessage-deflate if the client offers it and
/// `WsConfig::deflate` is set, the default), or answers the error's status and
/// returns the error.
pub async fn accept<S>(io: S, config: WsConfig) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(io, config, |_| Decision::Accept(Accept::new()))
        .await
        .map(|(ws, _)| ws)
}

/// Like [`accept`], but `decide` sees the request first (path, Origin — check it
/// against cross-site WebSocket hijacking —, offered subprotocols and extensions)
/// and chooses. Returns the socket and the request.
///
/// If the chosen [`Accept`] sets no extensions, permessage-deflate is negotiated
/// per `WsConfig::deflate`; if it sets them, its own permessage-deflate answer
/// (if any) is the one used.
pub async fn accept_with<S, F>(
    io: S,
    config: WsConfig,
    decide: F,
) -> Result<(WebSocket<S>, ServerRequest), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&ServerRequest) -> Decision,
{
    // Boxed: the handshake's state (parser, buffers, timer) would otherwise stay
    // inside the caller's task for the connection's whole life.
    Box::pin(accept_with_inner(io, config, decide)).await
}

async fn accept_with_inner<S, F>(
    mut io: S,
    config: WsConfig,
    decide: F,
) -> Result<(WebSocket<S>, ServerRequest), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&ServerRequest) -> Decision,
{
    let limits = HandshakeLimits::default();
    let mut parser = RequestParser::new(limits);
    let mut buf = BytesMut::with_capacity(1024);
    let read_head = async {
        loop {
            if let Some((req, n)) = parser.parse(&buf)? {
                let _ = buf.split_to(n);
                return Ok::<_, ReadHeadError>(req);
            }
            if buf.capacity() == buf.len() {
                buf.reserve(1024);
            }
            if io.read_buf(&mut buf).await? == 0 {
                return Err(ReadHeadError::Other(Error::Io(
                    std::io::ErrorKind::UnexpectedEof.into(),
                )));
            }
        }
    };
    let res = match tokio::time::timeout(config.handshake_timeout, read_head).await {
        Ok(Ok(r)) => Ok(Ok(r)),
        Ok(Err(ReadHeadError::Handshake(e))) => Ok(Err(e)),
        Ok(Err(ReadHeadError::Other(e))) => Err(e),
        Err(_) => Err(Error::Timeout),
    };
    let req = match res? {
        Ok(req) => req,
        Err(e) => {
            let _ = io.write_all(&e.response()).await;
            let _ = io.shutdown().await;
            return Err(Error::Handshake(e));
        }
    };
    match decide(&req) {
        Decision::Accept(a) => {
            let (a, agreed) = negotiate::server(&config, &req, a);
            let answer = req.accept(&a)?;
            io.write_all(&answer).await?;
            io.flush().await?;
            let conn = agreed.connection(Role::Server, &config);
            Ok((
                WebSocket::from_connection(io, Role::Server, conn, buf, config),
                req,
            ))
        }
        Decision::Reject(resp) => {
            let _ = io.write_all(&resp).await;
            let _ = io.shutdown().await;
            Err(Error::Rejected)
        }
    }
}

/// Internal: reading a head fails either with a protocol answer or otherwise.
enum ReadHeadError {
    Handshake(HandshakeError),
    Other(Error),
}

impl From<HandshakeError> for ReadHeadError {
    fn from(e: HandshakeError) -> Self {
        ReadHeadError::Handshake(e)
    }
}

impl From<Error> for ReadHeadError {
    fn from(e: Error) -> Self {
        ReadHeadError::Other(e)
    }
}

impl From<std::io::Error> for ReadHeadError {
    fn from(e: std::io::Error) -> Self {
        ReadHeadError::Other(Error::Io(e))
    }
}

/// Performs the client handshake on `io` with `request` (built by the caller,
/// nonce included) and returns the socket and the server's answer.
///
/// With `WsConfig::deflate` set (the default) and no permessage-deflate offer in
/// `request`, the offer is added; the server's answer to it is checked (RFC 7692
/// §7.1) and [`Error::Deflate`] fails the connection if it does not match.
pub async fn connect_with<S>(
    mut io: S,
    request: &ClientRequest,
    config: WsConfig,
) -> Result<(WebSocket<S>, ClientResponse), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let with_offer = negotiate::client_request(&config, request);
    let request = with_offer.as_ref().unwrap_or(request);
    let work = async {
        io.write_all(&request.encode()).await?;
        io.flush().await?;
        let mut parser = ResponseParser::new(HandshakeLimits::default());
        let mut buf = BytesMut::with_capacity(1024);
        loop {
            if let Some((resp, n)) = parser.parse(&buf, request)? {
                let _ = buf.split_to(n);
                return Ok::<_, Error>((resp, buf));
            }
            if buf.capacity() == buf.len() {
                buf.reserve(1024);
            }
            if io.read_buf(&mut buf).await? == 0 {
                return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    };
    let (resp, rest) = tokio::time::timeout(config.handshake_timeout, work)
        .await
        .map_err(|_| Error::Timeout)??;
    let conn = negotiate::client_response(&config, &resp)?.connection(Role::Client, &config);
    Ok((
        WebSocket::from_connection(io, Role::Client, conn, rest, config),
        resp,
    ))
}

/// Connects to a `ws://` URL over TCP (TCP_NODELAY set) with a fresh random
/// nonce. For `wss://`, open a TLS stream yourself and use [`connect_with`].
pub async fn connect(
    url: &str,
    config: WsConfig,
) -> Result<(WebSocket<TcpStream>, ClientResponse), Error> {
    let u = parse_url(url).map_err(|e| Error::Url(e.to_string()))?;
    if u.tls {
        return Err(Error::Url(
            "wss:// needs a TLS stream: use connect_with".into(),
        ));
    }
    let tcp = TcpStream::connect((u.host.as_str(), u.port)).await?;
    tcp.set_nodelay(true)?;
    let req = ClientRequest::from_url(&u, super::random::nonce());
    connect_with(tcp, &req, config).await
}

/// A fresh random `Sec-WebSocket-Key` nonce (16 bytes from the OS CSPRNG), for
/// building a [`ClientRequest`] by hand.
pub fn random_nonce() -> [u8; 16] {
    super::random::nonce()
}
