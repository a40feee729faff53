//! Responses the server sends: status, fields and a full or streaming body.

use std::fmt;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_core::Stream;

use crate::headers::{Headers, InvalidHeader};
use crate::status::StatusCode;

/// A stream of body chunks: each item is written (and flushed) as it comes; an `Err` item aborts
/// the response by closing the connection without the final chunk, so the client sees a
/// truncated body rather than a complete one.
pub type BodyStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A response body.
pub enum Body {
    /// No body (`Content-Length: 0` where a body is allowed).
    Empty,
    /// A complete body sent with `Content-Length`.
    Full(Bytes),
    /// A streaming body: chunked for HTTP/1.1 clients, close-delimited for HTTP/1.0 clients
    /// (or when [`Response::close_delimited`] asks for it).
    Stream(BodyStream),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Full(b) => write!(f, "Full({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// A response: status, header fields and body.
///
/// The layer owns message framing: a `Transfer-Encoding` field set here is ignored, and so is
/// `Content-Length` unless the body is empty and the request is `HEAD` (so a HEAD answer can
/// announce the length a GET would get). `Connection: close` set here is honoured: over
/// HTTP/1.1 the connection closes after this response; over HTTP/2 (where the field itself is
/// not sent) the connection gets GOAWAY: streams already open finish, no new one is served.
#[derive(Debug)]
pub struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: Headers,
    pub(crate) body: Body,
    pub(crate) close_delimited: bool,
}

impl Response {
    /// A response with `status`, no fields and no body.
    #[must_use]
    pub fn new(status: StatusCode) -> Response {
        Response {
            status,
            headers: Headers::new(),
            body: Body::Empty,
            close_delimited: false,
        }
    }

    /// `status` with a `text/plain; charset=utf-8` body.
    #[must_use]
    pub fn text(status: StatusCode, text: impl Into<Bytes>) -> Response {
        Response::new(status)
            .header("content-type", "text/plain; charset=utf-8")
            .body(text)
    }

    /// `status` with a one-line plain-text body naming it (used for error answers).
    #[must_use]
    pub fn from_status(status: StatusCode) -> Response {
        let text = format!("{status}\n");
        Response::text(status, text)
    }

    /// Adds a field.
    ///
    /// # Panics
    /// If `name` is not a token or `value` contains CR, LF, NUL or another control byte: those
    /// are programming errors (use [`Response::try_header`] for values from outside).
    #[must_use]
    pub fn header(self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Response {
        match self.try_header(name, value) {
            Ok(r) => r,
            Err(e) => panic!("Response::header: {e}"),
        }
    }

    /// Adds a field, or says why it is invalid.
    ///
    /// # Errors
    /// [`InvalidHeader`] as for [`Headers::append`].
    pub fn try_header(
        mut self,
        name: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<Response, InvalidHeader> {
        self.headers.append(name, value)?;
        Ok(self)
    }

    /// Sets a complete body (sent with `Content-Length`).
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Response {
        self.body = Body::Full(body.into());
        self
    }

    /// Sets a streaming body: every chunk is written and flushed as it comes.
    #[must_use]
    pub fn stream<St>(mut self, stream: St) -> Response
    where
        St: Stream<Item = io::Result<Bytes>> + Send + 'static,
    {
        self.body = Body::Stream(Box::pin(stream));
        self
    }

    /// Sends a streaming body without chunked framing, ending it by closing the connection.
    #[must_use]
    pub fn close_delimited(mut self) -> Response {
        self.close_delimited = true;
        self
    }

    /// The status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The fields set so far.
    #[must_use]
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Mutable access to the fields.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The whole response as HTTP/1.1 bytes with a `Content-Length` and `Connection: close`:
    /// for answering outside a connection loop (an error before any request could be read, a
    /// refusal written straight to a socket). `None` for a streaming body.
    #[must_use]
    pub fn to_http1_closing(&self) -> Option<Vec<u8>> {
        let body: &[u8] = match &self.body {
            Body::Empty => b"",
            Body::Full(b) => b,
            Body::Stream(_) => return None,
        };
        let mut out = Vec::with_capacity(128 + body.len());
        encode_status_line(self.status, &mut out);
        self.headers.encode_skipping(
            &mut out,
            &[b"content-length", b"transfer-encoding", b"connection"],
        );
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        out.extend_from_slice(b"connection: close\r\n\r\n");
        out.extend_from_slice(body);
        Some(out)
    }
}

/// `HTTP/1.1 <code> <reason>\r\n`.
pub(crate) fn encode_status_line(status: StatusCode, out: &mut Vec<u8>) {
    // `as_str` is the three digits, static: `to_string()` cost an allocation and the
    // formatting machinery on every answer.
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Fields HTTP/2 forbids in a message (RFC 9113 §8.2.2); WebKit drops a stream that has them.
const CONNECTION_SPECIFIC: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// The head of an answer as the `http` crate's type, for a layer that does its own framing
/// (the `h2` crate, hyper through [`bridge`](crate::bridge)): `Content-Length` is `length`
/// (the layer's fields of that name and `Transfer-Encoding` are left out), and over HTTP/2 the
/// connection-specific fields are too.
pub(crate) fn http_head(
    status: StatusCode,
    headers: &Headers,
    length: Option<u64>,
    version: crate::Version,
) -> io::Result<http::Response<()>> {
    let h2 = version == crate::Version::Http2;
    let mut b = http::Response::builder().status(status);
    for (name, value) in headers.iter() {
        let Ok(n) = std::str::from_utf8(name) else {
            continue;
        };
        let framing = n.eq_ignore_ascii_case("content-length")
            || n.eq_ignore_ascii_case("transfer-encoding")
            || n.eq_ignore_ascii_case("te");
        if framing
            || (h2
                && CONNECTION_SPECIFIC
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(n)))
        {
            continue;
        }
        b = b.header(n.to_ascii_lowercase(), value.as_ref());
    }
    if let Some(len) = length {
        b = b.header(http::header::CONTENT_LENGTH, len);
    }
    b.body(())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}
