//! Extension negotiation for the driver: permessage-deflate when the `deflate`
//! feature is on and [`WsConfig::deflate`] is set; nothing otherwise.

use bytes::BytesMut;
use sluice_ws::handshake::{Accept, BuildError, ClientHandshake, HandshakeResponse, ServerRequest};
use sluice_ws::{Connection, Role};
use tokio::io::{AsyncRead, AsyncWrite};

use super::config::WsConfig;
use super::error::Error;
use super::socket::WebSocket;

/// What an opening handshake agreed that the connection must know (today: the
/// permessage-deflate parameters, if any). Made by [`negotiate`]; turned into the socket by
/// [`Negotiated::websocket`].
#[derive(Debug, Default)]
pub struct Negotiated {
    #[cfg(feature = "deflate")]
    deflate: Option<sluice_ws::deflate::PerMessageDeflate>,
}

/// The server's side of a handshake another HTTP layer carries (hyper, axum, the hub's):
/// completes the application's `accept` with the permessage-deflate answer per
/// [`WsConfig::deflate`] (unless `accept` answers extensions itself, in which case its
/// permessage-deflate answer, if any, is the one used), and returns the answer as an
/// `http::Response` — `101` with `Sec-WebSocket-Accept` over HTTP/1.1, `200` for an HTTP/2
/// extended CONNECT (RFC 8441 §5) — with what the connection must know.
///
/// ```
/// use bytes::BytesMut;
/// use sluice_tokio::ws::{self, Accept, Role, ServerRequest, WsConfig};
///
/// // A handshake another HTTP layer parsed (here: its request line and fields).
/// let fields = [
///     ("Host", &b"example.com"[..]),
///     ("Upgrade", b"websocket"),
///     ("Connection", b"Upgrade"),
///     ("Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
///     ("Sec-WebSocket-Version", b"13"),
///     ("Sec-WebSocket-Extensions", b"permessage-deflate; client_max_window_bits"),
/// ];
/// let req = ServerRequest::from_parts("GET", "/chat", 1, fields)?;
/// let config = WsConfig::default();
/// let (answer, agreed) = ws::negotiate(&config, &req, Accept::new())?;
/// assert_eq!(answer.status(), 101);
/// assert_eq!(answer.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// assert!(answer.headers().contains_key("sec-websocket-extensions"));
/// assert!(agreed.deflate());
/// // Send `answer`, then run the socket on the switched stream:
/// let (io, _peer) = tokio::io::duplex(1024);
/// let socket = agreed.websocket(io, Role::Server, BytesMut::new(), config);
/// # drop(socket);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `accept` is inconsistent with the request (a subprotocol it did not offer, a malformed or
/// reserved field): caller misuse, answer 500.
pub fn negotiate(
    config: &WsConfig,
    req: &ServerRequest,
    accept: Accept,
) -> Result<(http::Response<()>, Negotiated), BuildError> {
    let (accept, agreed) = server(config, req, accept);
    Ok((req.accept_response(&accept)?, agreed))
}

impl Negotiated {
    /// Whether permessage-deflate was agreed.
    #[must_use]
    pub fn deflate(&self) -> bool {
        #[cfg(feature = "deflate")]
        {
            self.deflate.is_some()
        }
        #[cfg(not(feature = "deflate"))]
        false
    }

    /// The socket over `io` (the stream the handshake switched, with `read_buf` the bytes
    /// already read past it) with what was agreed in force.
    pub fn websocket<S>(
        self,
        io: S,
        role: Role,
        read_buf: BytesMut,
        config: WsConfig,
    ) -> WebSocket<S>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let conn = self.connection(role, &config);
        WebSocket::from_connection(io, role, conn, read_buf, config)
    }

    /// The sans-IO connection for `role` with what was agreed attached.
    pub(crate) fn connection(self, role: Role, config: &WsConfig) -> Connection {
        let mut conn = Connection::new(role, config.protocol.clone());
        if role == Role::Client {
            conn = conn.with_mask_source(super::random::mask_key);
        }
        #[cfg(feature = "deflate")]
        let conn = match self.deflate {
            Some(d) => conn.with_deflate(d),
            None => conn,
        };
        conn
    }
}

/// Server: completes the application's answer with our permessage-deflate answer
/// (unless the application answered extensions itself, in which case its
/// permessage-deflate answer, if any, is the one used).
pub(crate) fn server(
    config: &WsConfig,
    req: &ServerRequest,
    accept: Accept,
) -> (Accept, Negotiated) {
    #[cfg(feature = "deflate")]
    {
        use sluice_ws::deflate::{DeflateParams, EXTENSION_NAME, PerMessageDeflate};
        use sluice_ws::handshake::Extension;
        let ours = config.deflate.clone().unwrap_or_default();
        let (accept, params) = match accept.extensions_value() {
            Some(v) => {
                let params = Extension::parse_list(v.as_bytes())
                    .ok()
                    .and_then(|l| {
                        l.into_iter()
                            .find(|e| e.name().eq_ignore_ascii_case(EXTENSION_NAME))
                    })
                    .and_then(|e| DeflateParams::parse_answer(&e).ok());
                (accept, params)
            }
            None => match config
                .deflate
                .as_ref()
                .and_then(|d| d.accept_offers(req.extensions()))
            {
                Some(p) => (accept.extensions(p.to_extension().to_string()), Some(p)),
                None => (accept, None),
            },
        };
        let deflate = params.map(|p| PerMessageDeflate::new(Role::Server, &p, &ours));
        (accept, Negotiated { deflate })
    }
    #[cfg(not(feature = "deflate"))]
    {
        let _ = (config, req);
        (accept, Negotiated::default())
    }
}

/// Client: the request with our permessage-deflate offer added (if configured and
/// the caller did not offer it already).
pub(crate) fn client_request(config: &WsConfig, req: &ClientHandshake) -> Option<ClientHandshake> {
    #[cfg(feature = "deflate")]
    {
        use sluice_ws::deflate::EXTENSION_NAME;
        let d = config.deflate.as_ref()?;
        if req
            .extensions()
            .iter()
            .any(|e| e.name().eq_ignore_ascii_case(EXTENSION_NAME))
        {
            return None;
        }
        Some(req.clone().extension(d.offer()))
    }
    #[cfg(not(feature = "deflate"))]
    {
        let _ = (config, req);
        None
    }
}

/// Client: checks the server's answer to our offer.
pub(crate) fn client_response(
    config: &WsConfig,
    resp: &HandshakeResponse,
) -> Result<Negotiated, Error> {
    #[cfg(feature = "deflate")]
    {
        use sluice_ws::deflate::PerMessageDeflate;
        let ours = config.deflate.clone().unwrap_or_default();
        let deflate = ours
            .accept_response(resp.extensions())?
            .map(|p| PerMessageDeflate::new(Role::Client, &p, &ours));
        Ok(Negotiated { deflate })
    }
    #[cfg(not(feature = "deflate"))]
    {
        let _ = (config, resp);
        Ok(Negotiated::default())
    }
}
