//! Server role: parse and validate a client's opening handshake (RFC 6455 §4.2.1) and build
//! the 101 answer (§4.2.2).

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;

use super::error::{BuildError, HandshakeError, httparse_reason};
use super::extension::Extension;
use super::head::{HeadScanner, Scan, count_header_lines};
use super::headers::Headers;
use super::limits::HandshakeLimits;
use super::token::{is_field_value, is_token, list_contains_token, list_elements, trim_ows};
use super::{accept_key, check_extra_headers};

/// Header fields the 101 answer writes itself; [`Accept::header`] refuses them.
const RESERVED_ANSWER_HEADERS: &[&str] = &[
    "upgrade",
    "connection",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "content-length",
    "transfer-encoding",
];

/// A client's opening handshake that passed every RFC 6455 §4.2.1 check.
///
/// Obtained from [`parse_request`] / [`RequestParser`] (raw bytes) or
/// [`ServerRequest::from_parts`] (a request already parsed by another HTTP layer). Answer it
/// with [`ServerRequest::accept`], or refuse it with [`reject_response`](super::reject_response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRequest {
    path: String,
    host: String,
    origin: Option<String>,
    key: String,
    protocols: Vec<String>,
    extensions: Vec<Extension>,
    headers: Headers,
}

fn collect<'h>(headers: impl IntoIterator<Item = (&'h str, &'h [u8])>) -> Headers {
    let it = headers.into_iter();
    let mut h = Headers::with_capacity(it.size_hint().0);
    for (name, value) in it {
        h.push(name, value);
    }
    h
}

/// §4.2.1 item 2: a |Host| header field containing the server's authority.
fn host_of(headers: &Headers) -> Result<String, HandshakeError> {
    Ok(single(headers, "Host")?
        .map(trim_ows)
        .filter(|v| !v.is_empty() && is_field_value(v))
        .and_then(|v| std::str::from_utf8(v).ok())
        .ok_or(HandshakeError::InvalidHost)?
        .to_owned())
}

/// §4.2.1 item 6: `Sec-WebSocket-Version: 13` (426 otherwise, §4.4).
fn check_version(headers: &Headers) -> Result<(), HandshakeError> {
    let version = single(headers, "Sec-WebSocket-Version")?;
    if version.map(trim_ows) != Some(b"13".as_slice()) {
        return Err(HandshakeError::UnsupportedVersion {
            version: version.map(|v| String::from_utf8_lossy(v).into_owned()),
        });
    }
    Ok(())
}

/// Parses and validates an opening handshake request from the start of `buf`.
///
/// Returns `Ok(None)` if the head is not complete yet (read more and call again with the
/// longer buffer), or `Ok(Some((request, n)))` where `n` is the length of the head: bytes
/// after it (if any) are the client's first frames and belong to the connection. The size
/// limit is enforced on partial input too. Stateless: each call scans `buf` from the start;
/// use [`RequestParser`] to resume where the previous call stopped.
pub fn parse_request(
    buf: &[u8],
    limits: &HandshakeLimits,
) -> Result<Option<(ServerRequest, usize)>, HandshakeError> {
    RequestParser::new(*limits).parse(buf)
}

/// Incremental request parser: like [`parse_request`], but remembers how far it has searched
/// for the end of the head, so feeding a growing buffer costs linear time overall.
#[derive(Debug, Clone)]
pub struct RequestParser {
    limits: HandshakeLimits,
    scanner: HeadScanner,
}

impl RequestParser {
    /// A parser with the given limits.
    #[must_use]
    pub fn new(limits: HandshakeLimits) -> Self {
        Self {
            limits,
            scanner: HeadScanner::default(),
        }
    }

    /// Parses from the start of `buf`, which must begin with the bytes given on earlier calls
    /// (the caller appends and calls again after `Ok(None)`). After `Ok(Some)` or `Err` the
    /// parser is finished; make a new one for another connection.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<(ServerRequest, usize)>, HandshakeError> {
        let max = self.limits.max_head_size;
        loop {
            let end = match self.scanner.scan(buf, max) {
                Scan::Partial => return Ok(None),
                Scan::TooLarge { size } => return Err(HandshakeError::HeadTooLarge { size, max }),
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
            let mut req = httparse::Request::new(slots);
            match req.parse(head) {
                // Only leading empty lines so far (RFC 9112 §2.2 lets us skip them).
                Ok(httparse::Status::Partial) => continue,
                Ok(httparse::Status::Complete(n)) => {
                    let request = ServerRequest::from_parts(
                        req.method.unwrap_or_default(),
                        req.path.unwrap_or_default(),
                        req.version.unwrap_or_default(),
                        req.headers.iter().map(|h| (h.name, h.value)),
                    )?;
                    return Ok(Some((request, n)));
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(HandshakeError::TooManyHeaders {
                        size: count_header_lines(head),
                        max: self.limits.max_headers,
                    });
                }
                Err(httparse::Error::Version) => {
                    return Err(HandshakeError::HttpVersionNotSupported);
                }
                Err(e) => {
                    return Err(HandshakeError::Malformed {
                        reason: httparse_reason(e),
                    });
                }
            }
        }
    }
}

impl ServerRequest {
    /// Validates a request head parsed by another HTTP layer.
    ///
    /// `version` follows httparse: `1` is HTTP/1.1, `0` is HTTP/1.0 (→ 400
    /// [`HandshakeError::Http10`]); any other value (→ 505). `path` is the request target as
    /// sent (origin-form or absolute-form). Header names are matched ASCII
    /// case-insensitively; values are raw bytes.
    pub fn from_parts<'h>(
        method: &str,
        path: &str,
        version: u8,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    ) -> Result<ServerRequest, HandshakeError> {
        // §4.2.1 item 1: an HTTP/1.1 or higher GET request with a Request-URI.
        if method != "GET" {
            return Err(HandshakeError::MethodNotAllowed {
                method: method.to_owned(),
            });
        }
        match version {
            1 => {}
            0 => return Err(HandshakeError::Http10),
            _ => return Err(HandshakeError::HttpVersionNotSupported),
        }
        let path = request_target_path(path).ok_or(HandshakeError::InvalidRequestTarget)?;

        let headers = collect(headers);
        let host = host_of(&headers)?;

        // §4.2.1 item 3: |Upgrade| containing "websocket" (case-insensitive).
        if !headers
            .get_all("Upgrade")
            .any(|v| list_contains_token(v, "websocket"))
        {
            return Err(HandshakeError::MissingUpgrade);
        }
        // §4.2.1 item 4: |Connection| including the token "Upgrade" (case-insensitive).
        if !headers
            .get_all("Connection")
            .any(|v| list_contains_token(v, "upgrade"))
        {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }

        // §4.2.1 item 6 (checked before the key so that clients of older drafts get the 426
        // that tells them which version to use, §4.4).
        check_version(&headers)?;

        // §4.2.1 item 5: |Sec-WebSocket-Key|, base64 of a 16-byte value.
        let key = single(&headers, "Sec-WebSocket-Key")?
            .map(trim_ows)
            .filter(|k| is_valid_key(k))
            .ok_or(HandshakeError::InvalidKey)?;
        // Valid base64 is ASCII.
        let key = String::from_utf8_lossy(key).into_owned();
        Self::with_options(path, host, key, headers)
    }

    /// Validates a WebSocket opening handshake carried by an HTTP/2 extended CONNECT (RFC
    /// 8441 §4, §5): `:method` CONNECT, `:protocol` `websocket`, `:path` the resource name,
    /// the authority as a `Host` field (`:authority`, as the HTTP layer passes it), and
    /// `Sec-WebSocket-Version: 13`. There is no `Sec-WebSocket-Key`, `Upgrade` or
    /// `Connection` on HTTP/2 (§5: the key and `Sec-WebSocket-Accept` are not used); the
    /// optional fields (`Origin`, subprotocols, extensions) are as for HTTP/1.1. Answer with
    /// [`ServerRequest::accept_response`] (`200` without the HTTP/1.1-only fields), or take the
    /// fields of [`ServerRequest::accept`] and send them with `:status 200`.
    pub fn from_h2_parts<'h>(
        method: &str,
        protocol: Option<&str>,
        path: &str,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    ) -> Result<ServerRequest, HandshakeError> {
        if method != "CONNECT" {
            return Err(HandshakeError::MethodNotAllowed {
                method: method.to_owned(),
            });
        }
        if !protocol.is_some_and(|p| p.eq_ignore_ascii_case("websocket")) {
            return Err(HandshakeError::MissingUpgrade);
        }
        let path = request_target_path(path).ok_or(HandshakeError::InvalidRequestTarget)?;
        let headers = collect(headers);
        let host = host_of(&headers)?;
        check_version(&headers)?;
        Self::with_options(path, host, String::new(), headers)
    }

    /// The optional fields of §4.2.1 items 7 to 9, shared by both HTTP versions.
    fn with_options(
        path: String,
        host: String,
        key: String,
        headers: Headers,
    ) -> Result<ServerRequest, HandshakeError> {
        // §4.2.1 item 7: optional |Origin| (RFC 6454), surfaced for the caller's CSWSH check.
        let origin = match single(&headers, "Origin")? {
            None => None,
            Some(v) => Some(
                std::str::from_utf8(trim_ows(v))
                    .map_err(|_| HandshakeError::InvalidOrigin)?
                    .to_owned(),
            ),
        };

        // §4.2.1 item 8: optional |Sec-WebSocket-Protocol|, a list of tokens in preference
        // order (repeated fields combine, §11.3.4).
        let mut protocols = Vec::new();
        if let Some(v) = headers.combined("Sec-WebSocket-Protocol") {
            for p in list_elements(&v) {
                if !is_token(p) {
                    return Err(HandshakeError::InvalidProtocols);
                }
                protocols.push(String::from_utf8_lossy(p).into_owned());
            }
        }

        // §4.2.1 item 9: optional |Sec-WebSocket-Extensions| (§9.1 grammar).
        let extensions = match headers.combined("Sec-WebSocket-Extensions") {
            None => Vec::new(),
            Some(v) => Extension::parse_list(&v).map_err(|_| HandshakeError::InvalidExtensions)?,
        };

        Ok(ServerRequest {
            path,
            host,
            origin,
            key,
            protocols,
            extensions,
            headers,
        })
    }

    /// The resource name: path and query as requested (`/chat?room=1`), in origin-form even
    /// if the request used absolute-form.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `Host` header field value (authority, possibly with a port).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `Origin` header field, if sent. Browsers always send it: compare it with an
    /// allow-list to refuse cross-site WebSocket hijacking (RFC 6455 §10.2), answering e.g.
    /// `reject_response(StatusCode::FORBIDDEN, ..)`.
    #[must_use]
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The `Sec-WebSocket-Key` as sent (24 base64 characters; empty for an HTTP/2 extended
    /// CONNECT, which has none).
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `Sec-WebSocket-Accept` value this request's answer carries.
    #[must_use]
    pub fn accept_key(&self) -> String {
        accept_key(self.key.as_bytes())
    }

    /// Subprotocols requested, in the client's order of preference (empty if none).
    #[must_use]
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Extension offers, in the client's order of preference (empty if none).
    #[must_use]
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// Every header field of the request, in order.
    #[must_use]
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Builds the `101 Switching Protocols` answer (§4.2.2 item 5), ready to send.
    ///
    /// Fails (caller misuse) if `accept` selects a subprotocol the client did not request,
    /// answers with an extension it did not offer or with a value outside the §9.1 grammar, or
    /// adds a header that is malformed or written by the handshake itself.
    pub fn accept(&self, accept: &Accept) -> Result<Bytes, BuildError> {
        let fields = self.answer_fields(accept)?;
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
        for (name, value) in &fields {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        Ok(Bytes::from(out))
    }

    /// The same answer as [`accept`](Self::accept), as the `http` crate's response (for hyper,
    /// axum and other servers built on it): `101 Switching Protocols` with `Upgrade`,
    /// `Connection`, `Sec-WebSocket-Accept` and the chosen subprotocol, extensions and extra
    /// fields. For a request validated by [`from_h2_parts`](Self::from_h2_parts) the status
    /// is `200` and there is no `Upgrade`, `Connection` or `Sec-WebSocket-Accept` (RFC 8441
    /// §5).
    ///
    /// # Errors
    /// As [`accept`](Self::accept).
    pub fn accept_response(&self, accept: &Accept) -> Result<http::Response<()>, BuildError> {
        let fields = self.answer_fields(accept)?;
        let h2 = self.key.is_empty();
        let status = if h2 {
            http::StatusCode::OK
        } else {
            http::StatusCode::SWITCHING_PROTOCOLS
        };
        let mut b = http::Response::builder().status(status);
        for (name, value) in &fields {
            if h2 && RFC8441_DROPPED.iter().any(|d| d.eq_ignore_ascii_case(name)) {
                continue;
            }
            b = b.header(*name, &value[..]);
        }
        // Every name and value passed the §9.1 / RFC 9110 checks above.
        b.body(()).map_err(|_| BuildError::InvalidExtensions)
    }

    /// The fields of the answer, in order, after checking `accept` against the request.
    fn answer_fields<'a>(&self, accept: &'a Accept) -> Result<Vec<AnswerField<'a>>, BuildError> {
        if let Some(p) = &accept.protocol
            && !self.protocols.iter().any(|o| o == p)
        {
            return Err(BuildError::ProtocolNotOffered {
                protocol: p.clone(),
            });
        }
        let extensions = match &accept.extensions {
            None => Vec::new(),
            Some(v) => {
                Extension::parse_list(v.as_bytes()).map_err(|_| BuildError::InvalidExtensions)?
            }
        };
        for e in &extensions {
            if !self
                .extensions
                .iter()
                .any(|o| o.name().eq_ignore_ascii_case(e.name()))
            {
                return Err(BuildError::ExtensionNotOffered {
                    name: e.name().to_owned(),
                });
            }
        }
        check_extra_headers(&accept.headers, RESERVED_ANSWER_HEADERS)?;

        let mut fields: Vec<AnswerField<'a>> = vec![
            ("Upgrade", Cow::Borrowed(b"websocket")),
            ("Connection", Cow::Borrowed(b"Upgrade")),
            (
                "Sec-WebSocket-Accept",
                Cow::Owned(self.accept_key().into_bytes()),
            ),
        ];
        if let Some(p) = &accept.protocol {
            fields.push(("Sec-WebSocket-Protocol", Cow::Borrowed(p.as_bytes())));
        }
        if !extensions.is_empty() {
            let list = Extension::format_list(&extensions).into_bytes();
            fields.push(("Sec-WebSocket-Extensions", Cow::Owned(list)));
        }
        for (name, value) in &accept.headers {
            fields.push((name.as_str(), Cow::Borrowed(&value[..])));
        }
        Ok(fields)
    }
}

/// A field of the answer: name and value.
type AnswerField<'a> = (&'a str, Cow<'a, [u8]>);

/// Fields an HTTP/2 answer leaves out (RFC 8441 §5; RFC 9113 §8.2.2).
const RFC8441_DROPPED: &[&str] = &["upgrade", "connection", "sec-websocket-accept"];

/// The caller's choices for the 101 answer: subprotocol, extensions, extra header fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accept {
    protocol: Option<String>,
    extensions: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
}

impl Accept {
    /// No subprotocol, no extensions, no extra headers.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Selects a subprotocol; it must be one of [`ServerRequest::protocols`].
    #[must_use]
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Sets the `Sec-WebSocket-Extensions` answer (§9.1 grammar; every name must have been
    /// offered). An empty list sends no header.
    #[must_use]
    pub fn extensions(mut self, value: impl Into<String>) -> Self {
        self.extensions = Some(value.into());
        self
    }

    /// The `Sec-WebSocket-Extensions` answer set with [`Accept::extensions`], if any.
    #[must_use]
    pub fn extensions_value(&self) -> Option<&str> {
        self.extensions.as_deref()
    }

    /// Adds a header field (e.g. `Set-Cookie`). The name must be a token, the value free of
    /// control bytes, and the name not one the handshake writes.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Looks up a field that must appear at most once.
fn single<'a>(
    headers: &'a Headers,
    name: &'static str,
) -> Result<Option<&'a [u8]>, HandshakeError> {
    headers
        .single(name)
        .map_err(|()| HandshakeError::DuplicateHeader { name })
}

/// A `Sec-WebSocket-Key`: canonical padded base64 of exactly 16 bytes.
fn is_valid_key(k: &[u8]) -> bool {
    let mut out = [0u8; 18];
    k.len() == 24 && matches!(STANDARD.decode_slice(k, &mut out), Ok(16))
}

/// The resource name of a request target: origin-form as is, absolute-form reduced to its
/// path and query. `None` for asterisk-form, authority-form, fragments and bytes outside
/// visible ASCII.
fn request_target_path(target: &str) -> Option<String> {
    if !target
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b'#')
    {
        return None;
    }
    if target.starts_with('/') {
        return Some(target.to_owned());
    }
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = ["http://", "https://", "ws://", "wss://"]
        .iter()
        .find(|s| lower.starts_with(*s))
        .map(|s| &target[s.len()..])?;
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    if split == 0 {
        return None;
    }
    let tail = &rest[split..];
    Some(match tail.as_bytes().first() {
        None => "/".to_owned(),
        Some(b'?') => format!("/{tail}"),
        Some(_) => tail.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_targets() {
        assert_eq!(
            request_target_path("/chat?x=1").as_deref(),
            Some("/chat?x=1")
        );
        assert_eq!(
            request_target_path("http://h:1/a?b").as_deref(),
            Some("/a?b")
        );
        assert_eq!(request_target_path("WSS://h").as_deref(), Some("/"));
        assert_eq!(request_target_path("ws://h?q").as_deref(), Some("/?q"));
        for bad in [
            "*",
            "h:80",
            "",
            "/a#f",
            "/a b",
            "ftp://h/",
            "http:///x",
            "/é",
        ] {
            assert_eq!(request_target_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ")); // unpadded
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZR==")); // non-canonical trailing bits
        assert!(!is_valid_key(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAA")); // 21 bytes
        assert!(!is_valid_key(b""));
    }
}
