//! Client role: build the opening handshake request (RFC 6455 §4.1) and validate the server's
//! answer.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::StatusCode;
use super::error::{BuildError, ResponseError, httparse_reason};
use super::extension::Extension;
use super::head::{HeadScanner, Scan, count_header_lines};
use super::headers::Headers;
use super::limits::HandshakeLimits;
use super::token::{is_token, list_contains_token, trim_ows};
use super::{accept_key, write_extra_headers};

/// Header fields the request writes itself; [`ClientHandshake::header`] refuses them.
const RESERVED_REQUEST_HEADERS: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "content-length",
    "transfer-encoding",
];

/// A client's opening handshake request (§4.1), built and validated field by field.
///
/// The 16-byte nonce for `Sec-WebSocket-Key` comes from the caller (this crate has no source
/// of randomness); it must be freshly random for each connection (§4.1 item 7).
///
/// ```
/// use sluice_ws::handshake::ClientHandshake;
/// let req = ClientHandshake::new("example.com:9001", "/chat?room=1", [7; 16])
///     .unwrap()
///     .protocol("chat")
///     .unwrap();
/// let bytes = req.encode();
/// assert!(bytes.starts_with(b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com:9001\r\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHandshake {
    host: String,
    path: String,
    key: String,
    protocols: Vec<String>,
    extensions: Vec<Extension>,
    headers: Vec<(String, Vec<u8>)>,
}

impl ClientHandshake {
    /// A request for `path` (path and query, starting with `/`) on `host` (the `Host` field
    /// value: host, with `:port` if not the scheme's default; IPv6 literals in brackets).
    pub fn new(host: &str, path: &str, nonce: [u8; 16]) -> Result<Self, BuildError> {
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~:[]%!$&'()*+;=".contains(&b));
        if !host_ok {
            return Err(BuildError::InvalidHost);
        }
        let path_ok = path.starts_with('/')
            && path
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'#');
        if !path_ok {
            return Err(BuildError::InvalidPath);
        }
        Ok(Self {
            host: host.to_owned(),
            path: path.to_owned(),
            key: STANDARD.encode(nonce),
            protocols: Vec::new(),
            extensions: Vec::new(),
            headers: Vec::new(),
        })
    }

    /// Offers a subprotocol (appended, so call in order of preference). Must be a token and
    /// not already offered (§4.1 item 10).
    pub fn protocol(mut self, protocol: &str) -> Result<Self, BuildError> {
        if !is_token(protocol.as_bytes()) {
            return Err(BuildError::InvalidProtocol {
                protocol: protocol.to_owned(),
            });
        }
        if self.protocols.iter().any(|p| p == protocol) {
            return Err(BuildError::DuplicateProtocol {
                protocol: protocol.to_owned(),
            });
        }
        self.protocols.push(protocol.to_owned());
        Ok(self)
    }

    /// Offers an extension (appended, so call in order of preference).
    #[must_use]
    pub fn extension(mut self, extension: Extension) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Adds a header field (e.g. `Origin`, `Authorization`, `Cookie`). The name must be a
    /// token not written by the handshake itself; the value must be free of control bytes.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Result<Self, BuildError> {
        let entry = [(name.to_owned(), value.as_ref().to_vec())];
        // Validate now so the error surfaces at the call that caused it.
        write_extra_headers(&mut Vec::new(), &entry, RESERVED_REQUEST_HEADERS)?;
        let [entry] = entry;
        self.headers.push(entry);
        Ok(self)
    }

    /// The `Host` field value.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The request target (path and query).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `Sec-WebSocket-Key` (base64 of the nonce).
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `Sec-WebSocket-Accept` value a valid answer must carry.
    #[must_use]
    pub fn expected_accept(&self) -> String {
        accept_key(self.key.as_bytes())
    }

    /// Offered subprotocols, in order.
    #[must_use]
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Offered extensions, in order.
    #[must_use]
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The request head, ready to send.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(192 + self.path.len() + self.host.len());
        for part in [
            "GET ",
            &self.path,
            " HTTP/1.1\r\nHost: ",
            &self.host,
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
            &self.key,
            "\r\nSec-WebSocket-Version: 13\r\n",
        ] {
            out.extend_from_slice(part.as_bytes());
        }
        if !self.protocols.is_empty() {
            out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
            out.extend_from_slice(self.protocols.join(", ").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !self.extensions.is_empty() {
            out.extend_from_slice(b"Sec-WebSocket-Extensions: ");
            out.extend_from_slice(Extension::format_list(&self.extensions).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

impl ClientHandshake {
    /// The header fields of this handshake as an HTTP/2 extended CONNECT carries them (RFC
    /// 8441 §4, §5): `sec-websocket-version`, the subprotocol and extension offers and the
    /// caller's fields, lower-case; no `Host` (that is `:authority`), no key, no `Upgrade` or
    /// `Connection`. Send them with `:method CONNECT`, `:protocol websocket`,
    /// `:path` [`ClientHandshake::path`] and `:authority` [`ClientHandshake::host`].
    #[must_use]
    pub fn h2_fields(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![("sec-websocket-version".to_owned(), b"13".to_vec())];
        if !self.protocols.is_empty() {
            out.push((
                "sec-websocket-protocol".to_owned(),
                self.protocols.join(", ").into_bytes(),
            ));
        }
        if !self.extensions.is_empty() {
            out.push((
                "sec-websocket-extensions".to_owned(),
                Extension::format_list(&self.extensions).into_bytes(),
            ));
        }
        for (name, value) in &self.headers {
            out.push((name.to_ascii_lowercase(), value.clone()));
        }
        out
    }
}

/// A server's `101 Switching Protocols` answer that passed every §4.1 check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    protocol: Option<String>,
    extensions: Vec<Extension>,
    headers: Headers,
}

impl HandshakeResponse {
    /// Validates the answer to an HTTP/2 extended CONNECT (RFC 8441 §5): `:status` 200 (any
    /// other status is [`ResponseError::UnexpectedStatus`]), then the subprotocol and extension
    /// checks of RFC 6455 §4.1 items 5 and 6 (there is no `Sec-WebSocket-Accept` on HTTP/2).
    ///
    /// # Errors
    /// [`ResponseError`]: the server's answer fails the connection.
    pub fn from_h2_parts<'h>(
        status: StatusCode,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        request: &ClientHandshake,
    ) -> Result<HandshakeResponse, ResponseError> {
        let mut h = Headers::with_capacity(8);
        for (name, value) in headers {
            h.push(name, value);
        }
        if status != StatusCode::OK {
            return Err(ResponseError::UnexpectedStatus { status, headers: h });
        }
        validate_options(h, request)
    }

    /// The subprotocol the server selected (always one the request offered).
    #[must_use]
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions the server accepted, with their parameters (each named in the offer).
    #[must_use]
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// Every header field of the answer, in order.
    #[must_use]
    pub fn headers(&self) -> &Headers {
        &self.headers
    }
}

/// Parses and validates the server's answer to `request` from the start of `buf`.
///
/// `Ok(None)`: the head is not complete yet. `Ok(Some((response, n)))`: `n` is the length of
/// the head; bytes after it are the server's first frames. Stateless; see [`ResponseParser`].
pub fn parse_response(
    buf: &[u8],
    request: &ClientHandshake,
    limits: &HandshakeLimits,
) -> Result<Option<(HandshakeResponse, usize)>, ResponseError> {
    ResponseParser::new(*limits).parse(buf, request)
}

/// Incremental response parser: like [`parse_response`], but resumes its search for the end
/// of the head where the previous call stopped.
#[derive(Debug, Clone)]
pub struct ResponseParser {
    limits: HandshakeLimits,
    scanner: HeadScanner,
}

impl ResponseParser {
    /// A parser with the given limits.
    #[must_use]
    pub fn new(limits: HandshakeLimits) -> Self {
        Self {
            limits,
            scanner: HeadScanner::default(),
        }
    }

    /// Parses from the start of `buf`, which must begin with the bytes given on earlier calls.
    /// After `Ok(Some)` or `Err` the parser is finished.
    pub fn parse(
        &mut self,
        buf: &[u8],
        request: &ClientHandshake,
    ) -> Result<Option<(HandshakeResponse, usize)>, ResponseError> {
        let max = self.limits.max_head_size;
        loop {
            let end = match self.scanner.scan(buf, max) {
                Scan::Partial => return Ok(None),
                Scan::TooLarge { size } => return Err(ResponseError::HeadTooLarge { size, max }),
                Scan::End(end) => end,
            };
            let head = &buf[..end];
            let mut stack = [httparse::EMPTY_HEADER; 64];
            let mut heap;
            let slots: &mut [httparse::Header<'_>] = if self.limits.max_headers <= stack.len() {
                &mut stack[..self.limits.max_headers]
            } else {
                heap = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
                &mut heap
            };
            let mut res = httparse::Response::new(slots);
            match res.parse(head) {
                Ok(httparse::Status::Partial) => continue,
                Ok(httparse::Status::Complete(n)) => {
                    let mut headers = Headers::with_capacity(res.headers.len());
                    for h in res.headers.iter() {
                        headers.push(h.name, h.value);
                    }
                    let Ok(status) = StatusCode::from_u16(res.code.unwrap_or_default()) else {
                        return Err(ResponseError::Malformed {
                            reason: "status code outside 100..=999",
                        });
                    };
                    let response =
                        validate(res.version.unwrap_or_default(), status, headers, request)?;
                    return Ok(Some((response, n)));
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(ResponseError::TooManyHeaders {
                        size: count_header_lines(head),
                        max: self.limits.max_headers,
                    });
                }
                Err(e) => {
                    return Err(ResponseError::Malformed {
                        reason: httparse_reason(e),
                    });
                }
            }
        }
    }
}

/// The §4.1 checks on a complete answer ("the client MUST _Fail the WebSocket Connection_").
fn validate(
    version: u8,
    status: StatusCode,
    headers: Headers,
    request: &ClientHandshake,
) -> Result<HandshakeResponse, ResponseError> {
    if version != 1 {
        return Err(ResponseError::Http10);
    }
    // Item 1: status 101; anything else is handled per HTTP by the caller.
    if status != StatusCode::SWITCHING_PROTOCOLS {
        return Err(ResponseError::UnexpectedStatus { status, headers });
    }
    // Items 2 and 3.
    if !headers
        .get_all("Upgrade")
        .any(|v| list_contains_token(v, "websocket"))
    {
        return Err(ResponseError::MissingUpgrade);
    }
    if !headers
        .get_all("Connection")
        .any(|v| list_contains_token(v, "upgrade"))
    {
        return Err(ResponseError::MissingConnectionUpgrade);
    }
    // Item 4: Sec-WebSocket-Accept = base64(SHA-1(key + GUID)), trimmed.
    let accept = headers
        .single("Sec-WebSocket-Accept")
        .map_err(|()| ResponseError::InvalidAccept)?;
    if accept.map(trim_ows) != Some(request.expected_accept().as_bytes()) {
        return Err(ResponseError::InvalidAccept);
    }
    validate_options(headers, request)
}

/// §4.1 items 5 and 6, for both HTTP versions.
fn validate_options(
    headers: Headers,
    request: &ClientHandshake,
) -> Result<HandshakeResponse, ResponseError> {
    // Item 5: extensions, each one offered.
    let extensions = match headers.combined("Sec-WebSocket-Extensions") {
        None => Vec::new(),
        Some(v) => Extension::parse_list(&v).map_err(|_| ResponseError::InvalidExtensions)?,
    };
    for e in &extensions {
        if !request
            .extensions
            .iter()
            .any(|o| o.name().eq_ignore_ascii_case(e.name()))
        {
            return Err(ResponseError::ExtensionNotOffered {
                name: e.name().to_owned(),
            });
        }
    }
    // Item 6: at most one subprotocol, one that was offered.
    let protocol = match headers.single("Sec-WebSocket-Protocol") {
        Err(()) => return Err(ResponseError::InvalidProtocol),
        Ok(None) => None,
        Ok(Some(v)) => {
            let v = trim_ows(v);
            if !is_token(v) {
                return Err(ResponseError::InvalidProtocol);
            }
            let p = String::from_utf8_lossy(v).into_owned();
            if !request.protocols.contains(&p) {
                return Err(ResponseError::ProtocolNotOffered { protocol: p });
            }
            Some(p)
        }
    };
    Ok(HandshakeResponse {
        protocol,
        extensions,
        headers,
    })
}
