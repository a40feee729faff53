//! Handshake errors: a peer's bad request (server side, with the HTTP answer), a peer's bad
//! response (client side), and caller misuse when building a request or an answer.

use bytes::Bytes;

use super::StatusCode;

/// A client's opening handshake was rejected (RFC 6455 §4.2.1). Peer fault.
///
/// Each variant maps to the HTTP status to answer ([`HandshakeError::status`], a total match)
/// and [`HandshakeError::response`] gives the complete answer, ready to write before closing
/// the connection. The answer's body is a fixed text per variant and never echoes peer bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head is not valid HTTP/1.x syntax (httparse rejected it). 400.
    #[error("malformed request head: {reason}")]
    Malformed {
        /// What was wrong.
        reason: &'static str,
    },
    /// The head is larger than `max_head_size` (checked while still partial). 431.
    #[error("request head too large: {size} bytes, limit {max}")]
    HeadTooLarge {
        /// Bytes read so far without reaching the end of the head (or the head's length).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More header fields than `max_headers`. 431.
    #[error("too many request header fields: {size}, limit {max}")]
    TooManyHeaders {
        /// Header lines counted in the head.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The method is not `GET` (§4.2.1 item 1). 405, with `Allow: GET`.
    #[error("method {method:?} not allowed, the opening handshake is a GET")]
    MethodNotAllowed {
        /// The method received.
        method: String,
    },
    /// The request is HTTP/1.0; the upgrade needs HTTP/1.1 (§4.2.1 item 1). 400 — not 505,
    /// which RFC 9110 §15.6.6 reserves for an unsupported *major* version.
    #[error("HTTP/1.0 request, a WebSocket upgrade needs HTTP/1.1")]
    Http10,
    /// The request is not HTTP/1.x at all. 505.
    #[error("HTTP version not supported")]
    HttpVersionNotSupported,
    /// The request target is neither origin-form (`/path?query`) nor an absolute
    /// http/https/ws/wss URI, or it carries a fragment (§3, §4.2.1 item 1). 400.
    #[error("invalid request target")]
    InvalidRequestTarget,
    /// No `Host` header field, or an empty or non-UTF-8 one (§4.2.1 item 2). 400.
    #[error("missing or invalid Host header field")]
    InvalidHost,
    /// A header field that must appear at most once appeared more than once. 400.
    #[error("duplicate {name} header field")]
    DuplicateHeader {
        /// The header field name.
        name: &'static str,
    },
    /// `Upgrade` does not list the token `websocket` (§4.2.1 item 3). 400.
    #[error("Upgrade header field does not contain the token \"websocket\"")]
    MissingUpgrade,
    /// `Connection` does not list the token `upgrade` (§4.2.1 item 4). 400.
    #[error("Connection header field does not contain the token \"upgrade\"")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing or does not decode (base64) to 16 bytes (§4.2.1 item 5). 400.
    #[error("missing or invalid Sec-WebSocket-Key")]
    InvalidKey,
    /// `Sec-WebSocket-Version` is missing or not `13` (§4.2.1 item 6, §4.4). 426, with
    /// `Sec-WebSocket-Version: 13`.
    #[error("unsupported Sec-WebSocket-Version {version:?}, only 13 is supported")]
    UnsupportedVersion {
        /// The value received (lossily decoded), `None` if the field was absent.
        version: Option<String>,
    },
    /// `Origin` is not UTF-8. 400.
    #[error("invalid Origin header field")]
    InvalidOrigin,
    /// `Sec-WebSocket-Protocol` holds something other than a comma list of tokens (§4.1). 400.
    #[error("invalid Sec-WebSocket-Protocol header field")]
    InvalidProtocols,
    /// `Sec-WebSocket-Extensions` does not follow the §9.1 grammar. 400.
    #[error("invalid Sec-WebSocket-Extensions header field")]
    InvalidExtensions,
}

impl HandshakeError {
    /// The HTTP status to answer with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed { .. }
            | Self::Http10
            | Self::InvalidRequestTarget
            | Self::InvalidHost
            | Self::DuplicateHeader { .. }
            | Self::MissingUpgrade
            | Self::MissingConnectionUpgrade
            | Self::InvalidKey
            | Self::InvalidOrigin
            | Self::InvalidProtocols
            | Self::InvalidExtensions => StatusCode::BAD_REQUEST,
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::HttpVersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Self::UnsupportedVersion { .. } => StatusCode::UPGRADE_REQUIRED,
        }
    }

    /// A fixed, peer-independent explanation used as the answer's body.
    fn body(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed HTTP request head",
            Self::HeadTooLarge { .. } => "request head too large",
            Self::TooManyHeaders { .. } => "too many request header fields",
            Self::MethodNotAllowed { .. } => "a WebSocket handshake must use GET",
            Self::Http10 => "a WebSocket handshake needs HTTP/1.1",
            Self::HttpVersionNotSupported => "HTTP version not supported",
            Self::InvalidRequestTarget => "invalid request target",
            Self::InvalidHost => "missing or invalid Host header field",
            Self::DuplicateHeader { .. } => "duplicate header field",
            Self::MissingUpgrade => "expected Upgrade: websocket",
            Self::MissingConnectionUpgrade => "expected Connection: Upgrade",
            Self::InvalidKey => "missing or invalid Sec-WebSocket-Key",
            Self::UnsupportedVersion { .. } => "unsupported Sec-WebSocket-Version, use 13",
            Self::InvalidOrigin => "invalid Origin header field",
            Self::InvalidProtocols => "invalid Sec-WebSocket-Protocol header field",
            Self::InvalidExtensions => "invalid Sec-WebSocket-Extensions header field",
        }
    }

    /// The complete HTTP/1.1 answer: status line, `Connection: close`, `Content-Type`,
    /// `Content-Length`, a short text body; plus `Allow: GET` for 405 and
    /// `Upgrade: websocket` + `Sec-WebSocket-Version: 13` for 426 (RFC 6455 §4.4).
    #[must_use]
    pub fn response(&self) -> Bytes {
        let extra: &[(&str, &str)] = match self {
            Self::MethodNotAllowed { .. } => &[("Allow", "GET")],
            Self::UnsupportedVersion { .. } => {
                &[("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]
            }
            _ => &[],
        };
        error_response(self.status(), extra, self.body())
    }
}

/// Builds a plain-text rejection answer with `Connection: close`, for callers that refuse a
/// valid handshake of their own accord (e.g. 403 for an `Origin` that fails a CSWSH check,
/// 404 for an unknown path). `body` is sent as-is with its `Content-Length`.
#[must_use]
pub fn reject_response(status: StatusCode, body: &str) -> Bytes {
    error_response(status, &[], body)
}

fn error_response(status: StatusCode, extra: &[(&str, &str)], body: &str) -> Bytes {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Unknown")
    );
    for (name, value) in extra {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len() + 1));
    out.push_str(body);
    out.push('\n');
    Bytes::from(out)
}

/// A server's answer to our opening handshake was rejected (RFC 6455 §4.1, "_Fail the
/// WebSocket Connection_"). Peer fault; there is nothing to answer, the client closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The head is not valid HTTP/1.x syntax.
    #[error("malformed response head: {reason}")]
    Malformed {
        /// What was wrong.
        reason: &'static str,
    },
    /// The head is larger than `max_head_size`.
    #[error("response head too large: {size} bytes, limit {max}")]
    HeadTooLarge {
        /// Bytes read so far without reaching the end of the head (or the head's length).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More header fields than `max_headers`.
    #[error("too many response header fields: {size}, limit {max}")]
    TooManyHeaders {
        /// Header lines counted in the head.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The answer is HTTP/1.0.
    #[error("HTTP/1.0 response to a WebSocket upgrade")]
    Http10,
    /// The status is not 101 (§4.1: handle per HTTP, e.g. 401 authentication, 3xx redirect).
    /// The header fields are kept for that purpose (e.g. `Location`, `WWW-Authenticate`).
    #[error("server answered {status} instead of 101 Switching Protocols")]
    UnexpectedStatus {
        /// The status received.
        status: StatusCode,
        /// All header fields of the answer.
        headers: super::Headers,
    },
    /// `Upgrade` does not list `websocket` (§4.1 item 2).
    #[error("Upgrade header field does not contain the token \"websocket\"")]
    MissingUpgrade,
    /// `Connection` does not list `upgrade` (§4.1 item 3).
    #[error("Connection header field does not contain the token \"upgrade\"")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` is missing, repeated or not the expected value (§4.1 item 4).
    #[error("missing or wrong Sec-WebSocket-Accept")]
    InvalidAccept,
    /// `Sec-WebSocket-Protocol` is not a single token, or is repeated (§4.1 item 6).
    #[error("invalid Sec-WebSocket-Protocol header field")]
    InvalidProtocol,
    /// The server selected a subprotocol the client did not offer (§4.1 item 6).
    #[error("server selected subprotocol {protocol:?}, which was not offered")]
    ProtocolNotOffered {
        /// The subprotocol the server named.
        protocol: String,
    },
    /// `Sec-WebSocket-Extensions` does not follow the §9.1 grammar.
    #[error("invalid Sec-WebSocket-Extensions header field")]
    InvalidExtensions,
    /// The server answered with an extension the client did not offer (§4.1 item 5).
    #[error("server answered with extension {name:?}, which was not offered")]
    ExtensionNotOffered {
        /// The extension name.
        name: String,
    },
}

/// The caller asked for a request or an answer that cannot be put on the wire. Caller misuse,
/// never caused by peer bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A header name that is not an HTTP token.
    #[error("invalid header name {name:?}")]
    InvalidHeaderName {
        /// The name given.
        name: String,
    },
    /// A header value containing CR, LF, NUL or another control byte.
    #[error("invalid value for header {name:?} (control bytes are not allowed)")]
    InvalidHeaderValue {
        /// The header's name.
        name: String,
    },
    /// A header the handshake itself writes (e.g. `Upgrade`, `Sec-WebSocket-Accept`).
    #[error("header {name:?} is written by the handshake and cannot be added")]
    ReservedHeader {
        /// The name given.
        name: String,
    },
    /// A host that is empty or contains bytes not allowed in a `Host` field.
    #[error("invalid host")]
    InvalidHost,
    /// A path that does not start with `/` or contains bytes outside visible ASCII or `#`.
    #[error("invalid request path")]
    InvalidPath,
    /// A subprotocol that is not an HTTP token (§4.1).
    #[error("invalid subprotocol {protocol:?}")]
    InvalidProtocol {
        /// The subprotocol given.
        protocol: String,
    },
    /// A subprotocol offered twice (§4.1: elements must be unique).
    #[error("subprotocol {protocol:?} offered twice")]
    DuplicateProtocol {
        /// The subprotocol given.
        protocol: String,
    },
    /// The server selected a subprotocol the client did not offer (§4.2.2 item 5 /subprotocol/).
    #[error("subprotocol {protocol:?} was not offered by the client")]
    ProtocolNotOffered {
        /// The subprotocol given.
        protocol: String,
    },
    /// An extension name or parameter that is not an HTTP token (§9.1).
    #[error("invalid extension token {token:?}")]
    InvalidExtensionToken {
        /// The token given.
        token: String,
    },
    /// An extensions answer that does not follow the §9.1 grammar.
    #[error("invalid Sec-WebSocket-Extensions value")]
    InvalidExtensions,
    /// The server answered with an extension the client did not offer (§9.1).
    #[error("extension {name:?} was not offered by the client")]
    ExtensionNotOffered {
        /// The extension name.
        name: String,
    },
}

/// Maps an httparse error to a fixed description.
pub(crate) fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid HTTP version",
    }
}
