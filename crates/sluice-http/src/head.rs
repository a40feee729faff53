//! Request heads: limits-aware parsing (httparse) and the framing rules of RFC 9112 §6.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use crate::body::Framing;
use crate::headers::Headers;
use crate::host::HostPort;
use crate::status::StatusCode;

/// Upper bound on [`ServerConfig::max_headers`](super::ServerConfig::max_headers) (and the
/// client's): the parser's field array lives on the stack.
pub const MAX_HEADERS_CAP: usize = 256;

/// Header fields whose places a head parse keeps on the stack (more go to the heap).
const INLINE_FIELDS: usize = 16;

/// The HTTP version of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
    /// HTTP/2 (RFC 9113), over TLS with ALPN `h2` or cleartext with prior knowledge.
    Http2,
}

impl Version {
    /// `"HTTP/1.0"`, `"HTTP/1.1"` or `"HTTP/2"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
            Version::Http2 => "HTTP/2",
        }
    }
}

/// A fault in a request head, each with the status the server answers before closing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// The head (request line and fields) is larger than the limit → 431.
    #[error("request head of {size} bytes exceeds {max}")]
    HeadTooLarge {
        /// Bytes received without finding the end of the head.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The request line alone is longer than the head limit → 414.
    #[error("request line of at least {size} bytes exceeds {max}")]
    RequestLineTooLong {
        /// Bytes received without finding the end of the request line.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More header fields than the limit → 431.
    #[error("more than {max} header fields")]
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// The request line or a field is malformed → 400.
    #[error("malformed request head: {0}")]
    Malformed(&'static str),
    /// A version other than HTTP/1.0 and HTTP/1.1 → 505.
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
    /// `Content-Length` is invalid, repeated with different values, or sent with
    /// `Transfer-Encoding` → 400.
    #[error("invalid message framing: {0}")]
    BadFraming(&'static str),
    /// `chunked` after a transfer coding other than `chunked` → 501 (a final coding other than
    /// `chunked` is [`HeadError::BadFraming`], 400).
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// An `Expect` other than `100-continue` → 417.
    #[error("unsupported expectation")]
    UnsupportedExpectation,
    /// No complete head arrived within the header-read timeout → 408.
    #[error("request head not received in time")]
    Timeout,
}

impl HeadError {
    /// The status the server sends for this fault (a total mapping).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            HeadError::HeadTooLarge { .. } | HeadError::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HeadError::RequestLineTooLong { .. } => StatusCode::URI_TOO_LONG,
            HeadError::Malformed(_) | HeadError::BadFraming(_) => StatusCode::BAD_REQUEST,
            HeadError::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            HeadError::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            HeadError::UnsupportedExpectation => StatusCode::EXPECTATION_FAILED,
            HeadError::Timeout => StatusCode::REQUEST_TIMEOUT,
        }
    }
}

/// A parsed request head: request line and header fields.
///
/// Method, target and field bytes all share one reference-counted buffer. Method and target
/// are checked as UTF-8 once, when the head is parsed (their accessors are free).
#[derive(Clone, Debug)]
pub struct RequestHead {
    method: ByteString,
    target: ByteString,
    version: Version,
    headers: Headers,
    framing: Framing,
    expect_continue: bool,
    /// HTTP/2 extended CONNECT's `:protocol` (RFC 8441 §4).
    protocol: Option<Bytes>,
    /// Where the `Host` field is and how it splits, from the check made when the head was
    /// parsed, so that [`RequestHead::host`] does not parse it again.
    host: Option<HostAt>,
}

/// A checked `Host` field's place: the field's index, the length of its host part, its port.
#[derive(Clone, Copy, Debug)]
struct HostAt {
    field: usize,
    host_len: usize,
    port: Option<u16>,
}

impl RequestHead {
    /// Whether an answer with `status` to this request carries no body on the wire: a `HEAD`
    /// request, or a status without one (1xx, 204, 304; RFC 9110 §6.4.1). The layers that do
    /// their own framing (HTTP/2, the bridge) discard such bodies by this.
    pub(crate) fn answer_discards_body(&self, status: StatusCode) -> bool {
        self.method() == "HEAD" || crate::status::forbids_body(status)
    }

    /// The method, e.g. `"GET"` (case-sensitive, as sent).
    #[must_use]
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The raw request target, e.g. `"/a/b?x=1"` (not percent-decoded).
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path of the target without the query (not percent-decoded). For an absolute-form
    /// target (`http://host/p?q`) the path after the authority (`"/"` when empty); for the
    /// authority and asterisk forms, the target itself.
    #[must_use]
    pub fn path(&self) -> &str {
        let t = &self.target[..query_at(&self.target)];
        if t.starts_with('/') {
            return t;
        }
        match t.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => t,
        }
    }

    /// The query string after `?` (without it), if any.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.target.get(query_at(&self.target) + 1..)
    }

    /// The value of query parameter `name` (first occurrence, raw: not percent-decoded).
    #[must_use]
    pub fn query_param(&self, name: &str) -> Option<&str> {
        // Byte splits (`&` and `=` are ASCII): `str::split(char)` sets a searcher up per piece.
        let mut rest = self.query()?;
        loop {
            let (kv, next) = match memchr::memchr(b'&', rest.as_bytes()) {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            let (k, v) = match memchr::memchr(b'=', kv.as_bytes()) {
                Some(i) => (&kv[..i], &kv[i + 1..]),
                None => (kv, ""),
            };
            if k == name {
                return Some(v);
            }
            rest = next?;
        }
    }

    /// The protocol version.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    #[must_use]
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Shorthand for `headers().get_str(name)`.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }

    /// The `Host` field (an HTTP/2 request's `:authority`) split into host and port, as
    /// [`parse_host`](crate::parse_host) splits it; `None` when the request has none. Every
    /// head this crate parses has its `Host` checked already (400 when invalid), and this
    /// reuses that check: it does not parse the field again.
    #[must_use]
    pub fn host(&self) -> Option<HostPort<'_>> {
        let at = self.host?;
        // The fields and the split are set together when the head is made and never change
        // (no mutator; `Clone` copies both): the lookups below cannot miss.
        let value = self.headers.value_at(at.field)?;
        let host = std::str::from_utf8(value.get(..at.host_len)?).ok()?;
        Some(HostPort {
            host,
            port: at.port,
        })
    }

    /// How the request body is framed.
    #[must_use]
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether the request has a body (a non-zero `Content-Length`, or chunked).
    #[must_use]
    pub fn has_body(&self) -> bool {
        !matches!(self.framing, Framing::Empty | Framing::Length(0))
    }

    /// Whether the client sent `Expect: 100-continue`.
    #[must_use]
    pub fn expects_continue(&self) -> bool {
        self.expect_continue
    }

    /// Whether the client asks to keep the connection open after this exchange
    /// (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    #[must_use]
    pub fn wants_keep_alive(&self) -> bool {
        let h = &self.headers;
        match self.version {
            Version::Http2 => true,
            Version::Http11 => !h.has_token("connection", "close"),
            Version::Http10 => {
                h.has_token("connection", "keep-alive") && !h.has_token("connection", "close")
            }
        }
    }

    /// Whether this is a request to switch to `protocol` (case-insensitive), e.g.
    /// `"websocket"`: an HTTP/1.1 upgrade (`Connection: upgrade` and an `Upgrade` field), or an
    /// HTTP/2 extended CONNECT with that `:protocol` (RFC 8441 §4).
    #[must_use]
    pub fn is_upgrade_to(&self, protocol: &str) -> bool {
        if self.version == Version::Http2 {
            return self.method() == "CONNECT"
                && self
                    .protocol
                    .as_ref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(protocol.as_bytes()));
        }
        self.headers.has_token("connection", "upgrade")
            && self.headers.has_token("upgrade", protocol)
    }

    /// The `:protocol` of an HTTP/2 extended CONNECT (RFC 8441 §4), e.g. `"websocket"`.
    #[must_use]
    pub fn protocol(&self) -> Option<&str> {
        self.protocol
            .as_ref()
            .and_then(|p| std::str::from_utf8(p).ok())
    }
}

/// Where `target`'s query starts (its `?`), or its length.
fn query_at(target: &str) -> usize {
    memchr::memchr(b'?', target.as_bytes()).unwrap_or(target.len())
}

/// Drops empty lines before a request line (RFC 9112 §2.2).
pub(crate) fn skip_leading_empty_lines(buf: &mut BytesMut) {
    let n = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if n > 0 {
        let _ = buf.split_to(n);
    }
}

/// Searches `buf` for the end of a head (an empty line), starting at `*scanned` and recording
/// progress there so no byte is scanned twice. Returns the head length including the empty line.
pub(crate) fn find_head_end(buf: &[u8], scanned: &mut usize) -> Option<usize> {
    let start = scanned.saturating_sub(2);
    for i in memchr::memchr_iter(b'\n', &buf[start..]) {
        let i = start + i;
        let next = &buf[i + 1..];
        if next.starts_with(b"\n") {
            return Some(i + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(i + 3);
        }
        if next.is_empty() || next == b"\r" {
            break;
        }
    }
    *scanned = buf.len();
    None
}

/// Most spare bytes of a read buffer a parsed head may keep alive (see [`parse_request`]).
const HEAD_SPARE_MAX: usize = 64;

/// Parses one request head from `buf` once [`find_head_end`] found its end at `head_len`,
/// consuming exactly the head.
pub(crate) fn parse_request(
    buf: &mut BytesMut,
    head_len: usize,
    max_headers: usize,
) -> Result<RequestHead, HeadError> {
    let max_headers = max_headers.min(MAX_HEADERS_CAP);
    // Uninitialised: filling 256 empty headers (8 KiB) cost every request a memset, though a
    // request has a handful of fields and httparse writes only those.
    let mut storage =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let mut req = httparse::Request::new(&mut []);
    let status = match req.parse_with_uninit_headers(&buf[..head_len], &mut storage[..max_headers])
    {
        Ok(s) => s,
        Err(e) => {
            return Err(match e {
                httparse::Error::TooManyHeaders => HeadError::TooManyHeaders { max: max_headers },
                httparse::Error::Version => HeadError::UnsupportedVersion,
                httparse::Error::HeaderName => HeadError::Malformed("invalid header name"),
                httparse::Error::HeaderValue => HeadError::Malformed("invalid header value"),
                httparse::Error::NewLine => HeadError::Malformed("invalid line ending"),
                httparse::Error::Token => HeadError::Malformed("invalid request line"),
                _ => HeadError::Malformed("invalid request head"),
            });
        }
    };
    let consumed = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Err(HeadError::Malformed("incomplete head")),
    };
    let version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(HeadError::UnsupportedVersion),
    };
    let base = buf.as_ptr() as usize;
    let range = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let method_r = range(req.method.unwrap_or_default().as_bytes());
    let target_r = range(req.path.unwrap_or_default().as_bytes());
    // The fields' places in the buffer, on the stack for a usual head (no allocation).
    let mut inline: [(Range<usize>, Range<usize>); INLINE_FIELDS] =
        [const { (0..0, 0..0) }; INLINE_FIELDS];
    let mut spilled = Vec::new();
    for (i, h) in req.headers.iter().enumerate() {
        let r = (range(h.name.as_bytes()), range(h.value));
        match inline.get_mut(i) {
            Some(slot) => *slot = r,
            None => spilled.push(r),
        }
    }
    let n_fields = req.headers.len();
    let field_ranges = inline
        .into_iter()
        .take(n_fields.min(INLINE_FIELDS))
        .chain(spilled);
    // The head's fields must not keep a large read buffer alive while the request waits (a
    // parked long-poll, a stream). When the buffer is (nearly) just this head, as after a
    // read into an empty buffer (`Conn::read_waiting` allocates exactly what arrived), the head
    // takes it over without a copy; otherwise the head is copied out and the buffer reused.
    let head = if buf.capacity() - consumed <= HEAD_SPARE_MAX {
        buf.split_to(consumed).freeze()
    } else {
        let h = Bytes::copy_from_slice(&buf[..consumed]);
        bytes::Buf::advance(buf, consumed);
        h
    };
    let mut headers = Headers::with_capacity(n_fields);
    for (n, v) in field_ranges {
        headers.push_unchecked(head.slice(n), head.slice(v));
    }
    // httparse accepts only token bytes in the method; in the target it also lets obs-text
    // (0x80 and up) through, which must at least be UTF-8 here.
    let (Ok(method), Ok(target)) = (
        ByteString::try_from(head.slice(method_r)),
        ByteString::try_from(head.slice(target_r)),
    ) else {
        return Err(HeadError::Malformed("invalid request line"));
    };
    if target.is_empty() || method.is_empty() {
        return Err(HeadError::Malformed("invalid request line"));
    }

    // RFC 9112 §3.2: exactly one Host in HTTP/1.1 (and never two).
    let (host_field, hosts) = headers.find_first(b"host");
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Err(HeadError::Malformed("missing or repeated Host"));
    }
    let host = check_host(&headers, host_field)?;
    let framing = request_framing(&headers, version)?;
    let expect_continue = match headers.get(b"expect") {
        None => false,
        Some(v) if v.trim_ascii().eq_ignore_ascii_case(b"100-continue") => {
            version == Version::Http11
        }
        Some(_) => return Err(HeadError::UnsupportedExpectation),
    };
    Ok(RequestHead {
        method,
        target,
        version,
        headers,
        framing,
        expect_continue,
        protocol: None,
        host,
    })
}

/// The head of an HTTP/2 request: `:method` and `:path` as method and target, `:authority`
/// as a `Host` field (when the request has none), `:protocol` kept apart. Fails with 431 when
/// there are more fields than `max_headers`.
pub(crate) fn from_h2(
    parts: &http::request::Parts,
    end_stream: bool,
    max_headers: usize,
) -> Result<RequestHead, HeadError> {
    let protocol = parts
        .extensions
        .get::<h2::ext::Protocol>()
        .map(h2::ext::Protocol::as_str);
    from_http(parts, Version::Http2, end_stream, protocol, max_headers)
}

/// The head of a request another HTTP layer parsed (the `h2` crate, hyper): method and URI as
/// method and target (the authority for an authority-form CONNECT), the URI's authority as a
/// `Host` field when the request has none, `protocol` (an extended CONNECT's `:protocol`) kept
/// apart. `end_stream`: the request has no body. Fails with 431 when there are more fields
/// than `max_headers`, 400 for an invalid `Host` or `Content-Length`.
pub(crate) fn from_http(
    parts: &http::request::Parts,
    version: Version,
    end_stream: bool,
    protocol: Option<&str>,
    max_headers: usize,
) -> Result<RequestHead, HeadError> {
    if parts.headers.len() > max_headers {
        return Err(HeadError::TooManyHeaders { max: max_headers });
    }
    let mut headers = Headers::with_capacity(parts.headers.len() + 1);
    if let Some(a) = parts.uri.authority()
        && !parts.headers.contains_key(http::header::HOST)
    {
        headers.push_unchecked(
            Bytes::from_static(b"host"),
            Bytes::copy_from_slice(a.as_str().as_bytes()),
        );
    }
    for (name, value) in &parts.headers {
        headers.push_unchecked(
            Bytes::copy_from_slice(name.as_str().as_bytes()),
            Bytes::copy_from_slice(value.as_bytes()),
        );
    }
    let host = check_host(&headers, headers.find_first(b"host").0)?;
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let target = if parts.method == http::Method::CONNECT && parts.uri.path_and_query().is_none() {
        parts
            .uri
            .authority()
            .map_or("", http::uri::Authority::as_str)
    } else {
        target
    };
    let framing = if end_stream {
        Framing::Empty
    } else {
        match parse_content_length(&headers) {
            Ok(Some(n)) => Framing::Length(n),
            Ok(None) => Framing::Chunked,
            Err(()) => return Err(HeadError::BadFraming("invalid Content-Length")),
        }
    };
    let protocol = protocol.map(|p| Bytes::copy_from_slice(p.as_bytes()));
    Ok(RequestHead {
        method: ByteString::from(parts.method.as_str()),
        target: ByteString::from(target),
        version,
        headers,
        framing,
        expect_continue: false,
        protocol,
        host,
    })
}

/// A `Host` field, when present, must be a valid `uri-host [":" port]` (RFC 9112 §3.2: 400
/// otherwise); an HTTP/2 request carries its `:authority` here. `field` is the index of the
/// first `Host` field; the answer is where it splits, kept in the head for
/// [`RequestHead::host`].
fn check_host(headers: &Headers, field: Option<usize>) -> Result<Option<HostAt>, HeadError> {
    let Some(i) = field else {
        return Ok(None);
    };
    let hp = headers
        .value_at(i)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(crate::host::parse_host)
        .ok_or(HeadError::Malformed("invalid Host"))?;
    Ok(Some(HostAt {
        field: i,
        // The host part is a prefix of the field (`parse_host` splits off the port after it).
        host_len: hp.host.len(),
        port: hp.port,
    }))
}

/// Request body framing per RFC 9112 §6.1–6.3.
fn request_framing(headers: &Headers, version: Version) -> Result<Framing, HeadError> {
    if headers.contains(b"transfer-encoding") {
        if version == Version::Http10 {
            return Err(HeadError::BadFraming(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        if headers.contains(b"content-length") {
            return Err(HeadError::BadFraming(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        let mut codings = headers
            .get_all(b"transfer-encoding")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|c| !c.is_empty())
            .peekable();
        let mut chunked = 0;
        let mut last_chunked = false;
        let mut other = false;
        if codings.peek().is_none() {
            return Err(HeadError::BadFraming("empty Transfer-Encoding"));
        }
        for c in codings {
            last_chunked = c.eq_ignore_ascii_case(b"chunked");
            if last_chunked {
                chunked += 1;
            } else {
                other = true;
            }
        }
        // RFC 9112 §6.3 item 4: chunked not the final coding leaves the body's length
        // unknown: 400 and close. Chunked last after a coding we do not implement: 501 (§6.1).
        if !last_chunked {
            return Err(HeadError::BadFraming(
                "chunked is not the final transfer coding",
            ));
        }
        if chunked != 1 {
            return Err(HeadError::BadFraming("chunked applied more than once"));
        }
        if other {
            return Err(HeadError::UnsupportedTransferCoding);
        }
        return Ok(Framing::Chunked);
    }
    match parse_content_length(headers) {
        Ok(Some(n)) => Ok(Framing::Length(n)),
        Ok(None) => Ok(Framing::Empty),
        Err(()) => Err(HeadError::BadFraming("invalid Content-Length")),
    }
}

/// All `Content-Length` values (fields and list elements) must be the same valid number.
pub(crate) fn parse_content_length(headers: &Headers) -> Result<Option<u64>, ()> {
    let mut found = None;
    for v in headers.get_all(b"content-length") {
        for part in v.split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(());
            }
            let n = part
                .iter()
                .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
            if found.is_some_and(|f| f != n) {
                return Err(());
            }
            found = Some(n);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RequestHead, HeadError> {
        let mut buf = BytesMut::from(s.as_bytes());
        skip_leading_empty_lines(&mut buf);
        let mut scanned = 0;
        let n = find_head_end(&buf, &mut scanned).expect("complete head");
        parse_request(&mut buf, n, 64)
    }

    #[test]
    fn finds_head_end_incrementally_without_rescan() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        for split in 1..input.len() {
            let mut scanned = 0;
            let mut found = None;
            let mut end = 0;
            while found.is_none() && end < input.len() {
                end = (end + split).min(input.len());
                found = find_head_end(&input[..end], &mut scanned);
                assert!(scanned <= end);
            }
            assert_eq!(found, Some(input.len() - 4), "split {split}");
        }
        let mut s = 0;
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\n", &mut s), Some(16));
    }

    #[test]
    fn request_line_path_query() {
        let h = parse("\r\nGET /a/b?x=1&y HTTP/1.1\r\nHost: h\r\nX-K: v\r\n\r\n").unwrap();
        assert_eq!(h.method(), "GET");
        assert_eq!(h.path(), "/a/b");
        assert_eq!(h.query(), Some("x=1&y"));
        assert_eq!(h.query_param("x"), Some("1"));
        assert_eq!(h.query_param("y"), Some(""));
        assert_eq!(h.query_param("z"), None);
        assert_eq!(h.header("x-k"), Some("v"));
        assert_eq!(h.framing(), Framing::Empty);
        assert!(h.wants_keep_alive());
        let h = parse("GET http://h:1/p?q HTTP/1.1\r\nHost: h:1\r\n\r\n").unwrap();
        assert_eq!(h.path(), "/p");
        let h = parse("GET http://h HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(h.path(), "/");
        assert!(!h.wants_keep_alive());
    }

    #[test]
    fn fields_beyond_the_inline_places_keep_their_order() {
        for n in [
            0,
            INLINE_FIELDS - 1,
            INLINE_FIELDS,
            INLINE_FIELDS + 1,
            3 * INLINE_FIELDS,
        ] {
            let fields: String = (0..n).map(|i| format!("X-F{i}: v{i}\r\n")).collect();
            let h = parse(&format!("GET / HTTP/1.1\r\nHost: h\r\n{fields}\r\n")).unwrap();
            let got: Vec<_> = h
                .headers()
                .iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect();
            assert_eq!(got.len(), n + 1, "{n} fields");
            assert_eq!(got[0], (b"Host".to_vec(), b"h".to_vec()));
            for i in 0..n {
                let want = (format!("X-F{i}").into_bytes(), format!("v{i}").into_bytes());
                assert_eq!(got[i + 1], want, "{n} fields");
            }
        }
    }

    #[test]
    fn framing_rules() {
        let p = |extra: &str| parse(&format!("POST / HTTP/1.1\r\nHost: h\r\n{extra}\r\n"));
        assert_eq!(
            p("Content-Length: 5\r\n").unwrap().framing(),
            Framing::Length(5)
        );
        assert_eq!(
            p("Content-Length: 5, 5\r\nContent-Length: 5\r\n")
                .unwrap()
                .framing(),
            Framing::Length(5)
        );
        assert_eq!(
            p("Transfer-Encoding: chunked\r\n").unwrap().framing(),
            Framing::Chunked
        );
        assert_eq!(
            p("Transfer-Encoding: CHUNKED\r\n").unwrap().framing(),
            Framing::Chunked
        );
        for bad in [
            "Content-Length: 5, 6\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: +1\r\n",
            "Content-Length: 1 2\r\n",
            "Content-Length: 99999999999999999999\r\n",
            "Content-Length:\r\n",
            "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked, chunked\r\n",
            "Transfer-Encoding: \r\n",
        ] {
            assert_eq!(
                p(bad).unwrap_err().status(),
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
        // RFC 9112 §6.1: chunked last after a coding the server does not implement: 501.
        for bad in [
            "Transfer-Encoding: gzip, chunked\r\n",
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        ] {
            assert_eq!(
                p(bad).unwrap_err().status(),
                StatusCode::NOT_IMPLEMENTED,
                "{bad}"
            );
        }
        // RFC 9112 §6.3 item 4: chunked not the final coding (or absent): 400.
        for bad in [
            "Transfer-Encoding: gzip\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
        ] {
            assert_eq!(
                p(bad).unwrap_err().status(),
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
        assert!(
            p("Expect: 100-continue
")
            .unwrap()
            .expects_continue()
        );
        assert_eq!(
            p("Expect: teapot\r\n").unwrap_err().status(),
            StatusCode::EXPECTATION_FAILED
        );
        let e = parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn malformed_heads() {
        for (input, status) in [
            ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
            ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            // RFC 9112 §3.2: an invalid Host value is a 400.
            ("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: h:99999\r\n\r\n", 400),
            ("GET / HTTP/1.0\r\nHost: u@h\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
            ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("garbage\r\n\r\n", 400),
        ] {
            let e = parse(input).unwrap_err();
            assert_eq!(e.status().as_u16(), status, "{input:?}: {e}");
        }
        let many: String = (0..65).map(|i| format!("X-{i}: v\r\n")).collect();
        let e = parse(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")).unwrap_err();
        assert_eq!(e, HeadError::TooManyHeaders { max: 64 });
    }

    /// `host()` gives what `parse_host` gives for the field, wherever it sits among the fields,
    /// from the split made when the head was checked (RFC 9112 §3.2).
    #[test]
    fn host_is_split_once_when_the_head_is_checked() {
        for value in [
            "h",
            "example.com:8080",
            "127.0.0.1:18777",
            "[::1]",
            "[::1]:443",
            "a.:",
        ] {
            for before in ["", "X-A: 1\r\nX-B: 2\r\n"] {
                let h = parse(&format!(
                    "GET / HTTP/1.1\r\n{before}Host: {value}\r\nX-C: 3\r\n\r\n"
                ))
                .unwrap();
                assert_eq!(
                    h.host(),
                    crate::parse_host(value),
                    "{value:?} after {before:?}"
                );
                assert!(h.host().is_some());
            }
        }
        // HTTP/1.0 may leave Host out.
        assert_eq!(parse("GET / HTTP/1.0\r\n\r\n").unwrap().host(), None);
        let h = parse("GET / HTTP/1.0\r\nhOsT: LocalHost:1\r\n\r\n").unwrap();
        let hp = h.host().unwrap();
        assert_eq!((hp.host, hp.port), ("LocalHost", Some(1)));
        assert!(hp.is_loopback());
    }

    /// A head another HTTP layer parsed (HTTP/2, hyper): the `:authority` stands in for a
    /// missing `Host` (RFC 9113 §8.3.1) and is split the same way; a `Host` field, when there
    /// is one, is the one split; a clone keeps the split.
    #[test]
    fn host_of_a_head_from_another_layer() {
        let parts = |uri: &str, host: Option<&str>| {
            let mut b = http::Request::builder().uri(uri);
            if let Some(h) = host {
                b = b.header("host", h);
            }
            b.header("x-a", "1").body(()).unwrap().into_parts().0
        };
        let h = from_http(
            &parts("https://example.com:8443/x", None),
            Version::Http2,
            true,
            None,
            8,
        )
        .unwrap();
        assert_eq!(
            h.host(),
            Some(HostPort {
                host: "example.com",
                port: Some(8443)
            })
        );
        assert_eq!(h.clone().host(), h.host());
        let h = from_http(
            &parts("https://a.example/x", Some("[::1]:80")),
            Version::Http2,
            true,
            None,
            8,
        )
        .unwrap();
        assert_eq!(h.host(), crate::parse_host("[::1]:80"));
        assert!(h.host().unwrap().is_loopback());
        let h = from_http(&parts("/x", None), Version::Http11, true, None, 8).unwrap();
        assert_eq!(h.host(), None);
        let e = from_http(&parts("/x", Some("a b")), Version::Http11, true, None, 8).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
