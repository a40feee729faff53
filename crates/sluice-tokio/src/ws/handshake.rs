//! The opening handshake over a stream: `accept` (server) and `connect` (client).

use bytes::BytesMut;
use sluice_http::{ClientConfig, ClientRequest, Connector, DefaultConnector, H2Stream};
use sluice_ws::Role;
use sluice_ws::handshake::{
    Accept, ClientHandshake, HandshakeError, HandshakeLimits, HandshakeResponse, RequestParser,
    ResponseParser, ServerRequest,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

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
    /// Refuse with this response (for example `Response::text(StatusCode::FORBIDDEN, "…")`
    /// after an Origin check): written with its `Content-Length` and `Connection: close`, then
    /// the connection is closed. The same type [`accept_http`](super::accept_http)'s `decide`
    /// refuses with; a streaming body is not sent (only the status).
    Reject(sluice_http::Response),
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
            let bytes = resp.to_http1_closing().unwrap_or_else(|| {
                let status = sluice_http::Response::from_status(resp.status());
                status.to_http1_closing().unwrap_or_default()
            });
            let _ = io.write_all(&bytes).await;
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
    request: &ClientHandshake,
    config: WsConfig,
) -> Result<(WebSocket<S>, HandshakeResponse), Error>
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

/// Connects to a `ws://` or `wss://` URL (`http://`/`https://` are taken as the same) with the
/// [`DefaultConnector`]: TCP with `TCP_NODELAY`, and TLS (rustls, `webpki-roots` trust anchors)
/// for `wss://`. For headers (`Authorization`, `Origin`, subprotocols) or another connector, use
/// [`connect_request`].
///
/// # Errors
/// [`Error::Url`] for a URL that is not `ws(s)://`/`http(s)://`, [`Error::Connect`] when the
/// connection (or the TLS handshake: an untrusted certificate) fails, and the handshake errors
/// of [`connect_with`].
pub async fn connect(
    url: &str,
    config: WsConfig,
) -> Result<
    (
        WebSocket<<DefaultConnector as Connector>::Stream>,
        HandshakeResponse,
    ),
    Error,
> {
    let request = ClientRequest::get(url).map_err(|e| Error::Url(e.to_string()))?;
    connect_request(&DefaultConnector::default(), &request, config).await
}

/// Connects with `connector` and performs the opening handshake for `request`: its URL gives
/// host and path, its header fields are sent along (`Sec-WebSocket-Protocol` values, comma
/// separated or repeated, become the subprotocol offer in order of preference; the fields the
/// handshake writes itself are refused). The one [`ClientRequest`] type every Sluice client
/// takes, with the one [`Connector`] abstraction.
///
/// # Errors
/// As [`connect`]; [`Error::Build`] for a header the handshake cannot carry.
pub async fn connect_request<C: Connector>(
    connector: &C,
    request: &ClientRequest,
    config: WsConfig,
) -> Result<(WebSocket<C::Stream>, HandshakeResponse), Error> {
    let handshake = client_handshake(request)?;
    let mut http = ClientConfig::default();
    http.connect_timeout = config.handshake_timeout;
    http.alpn = vec![b"http/1.1".to_vec()];
    let io = connector
        .connect(request.url(), &http)
        .await
        .map_err(Error::Connect)?;
    connect_with(io, &handshake, config).await
}

/// Opens a WebSocket as a stream of an HTTP/2 connection (RFC 8441): connects with
/// `connector` offering only ALPN `h2` (`wss://`; `ws://` uses h2c with prior knowledge),
/// checks that the server allows extended CONNECT, sends `:method CONNECT`,
/// `:protocol websocket` with the handshake fields of `request` (subprotocols, the
/// permessage-deflate offer of [`WsConfig::deflate`], `Origin`, `Authorization`, …),
/// validates the `:status 200` answer and runs the socket on the stream, with HTTP/2 flow
/// control as the backpressure.
///
/// # Errors
/// [`Error::Connect`]: the connection failed, the server did not agree on `h2`, or it does
/// not allow extended CONNECT ([`ClientError::InvalidResponse`](sluice_http::ClientError));
/// [`Error::Response`] for an answer other than 200 or a bad subprotocol/extension answer;
/// [`Error::Timeout`] past [`WsConfig::handshake_timeout`].
pub async fn connect_h2(
    connector: &DefaultConnector,
    request: &ClientRequest,
    config: WsConfig,
) -> Result<(WebSocket<H2Stream>, HandshakeResponse), Error> {
    let handshake = client_handshake(request)?;
    let with_offer = negotiate::client_request(&config, &handshake);
    let handshake = with_offer.unwrap_or(handshake);
    let mut http = ClientConfig::default();
    http.connect_timeout = config.handshake_timeout;
    http.alpn = vec![sluice_http::tls::ALPN_H2.to_vec()];
    let io = connector
        .connect(request.url(), &http)
        .await
        .map_err(Error::Connect)?;
    if io.is_tls() && io.alpn_protocol() != Some(sluice_http::tls::ALPN_H2) {
        return Err(Error::Connect(sluice_http::ClientError::InvalidResponse(
            "the server did not agree on HTTP/2 (ALPN h2)",
        )));
    }
    let limit = config.handshake_timeout;
    let mut send = sluice_http::h2::h2_connect(io, &http)
        .await
        .map_err(|e| match e {
            sluice_http::ClientError::Timeout => Error::Timeout,
            e => Error::Connect(e),
        })?;
    let (status, fields, stream) = sluice_http::h2::h2_tunnel(
        &mut send,
        request.url(),
        "websocket",
        &handshake.h2_fields(),
        limit,
    )
    .await
    .map_err(|e| match e {
        sluice_http::ClientError::Timeout => Error::Timeout,
        e => Error::Connect(e),
    })?;
    let resp = HandshakeResponse::from_h2_parts(
        status,
        fields.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
        &handshake,
    )?;
    let conn = negotiate::client_response(&config, &resp)?.connection(Role::Client, &config);
    Ok((
        WebSocket::from_connection(stream, Role::Client, conn, BytesMut::new(), config),
        resp,
    ))
}

/// The sans-IO handshake for an HTTP client request (method ignored: always `GET`).
pub(crate) fn client_handshake(request: &ClientRequest) -> Result<ClientHandshake, Error> {
    let url = request.url();
    if !matches!(url.scheme(), "ws" | "wss" | "http" | "https") {
        return Err(Error::Url(format!("not a WebSocket URL: {}", url.scheme())));
    }
    let mut hs = ClientHandshake::new(
        &url.authority(),
        url.path_and_query(),
        super::random::nonce(),
    )?;
    for (name, value) in request.headers().iter() {
        if name.eq_ignore_ascii_case(b"host") {
            continue;
        }
        if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            let value = std::str::from_utf8(value).map_err(|_| {
                Error::Build(sluice_ws::handshake::BuildError::InvalidProtocol {
                    protocol: String::from_utf8_lossy(value).into_owned(),
                })
            })?;
            for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                hs = hs.protocol(p)?;
            }
            continue;
        }
        let name = std::str::from_utf8(name).unwrap_or("\u{fffd}");
        hs = hs.header(name, value)?;
    }
    Ok(hs)
}

/// A fresh random `Sec-WebSocket-Key` nonce (16 bytes from the OS CSPRNG), for
/// building a [`ClientHandshake`] by hand.
pub fn random_nonce() -> [u8; 16] {
    super::random::nonce()
}
