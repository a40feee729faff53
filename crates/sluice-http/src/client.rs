//! The client side: send a request over any stream, read a streaming response, follow
//! redirects.

use std::io;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout, timeout_at};

use crate::body::{BodyDecoder, Framing, FramingError, Step};
use crate::connector::{Connector, DefaultConnector};
use crate::head::{self, MAX_HEADERS_CAP, Version};
use crate::headers::{Headers, InvalidHeader, is_tchar};
use crate::server::Upgraded;
use crate::status::{StatusCode, forbids_body};
use crate::stream::ClientStream;
use crate::url::{Url, UrlError};

/// Limits and behaviour of the client side.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Largest response head accepted, in bytes. Default 64 KiB.
    pub max_head_size: usize,
    /// Most header fields in a response head. Default 100, capped at 256.
    pub max_headers: usize,
    /// Follow `301`, `302`, `303`, `307` and `308` redirects in [`fetch`] / [`fetch_with`].
    /// Default `false`.
    pub follow_redirects: bool,
    /// Most redirects followed before [`ClientError::TooManyRedirects`]. Default 10.
    pub max_redirects: usize,
    /// Time allowed to open a TCP connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time allowed from sending the request to the end of the response head. Default 30 s.
    pub response_timeout: Duration,
    /// Time allowed for each read of the response body; `None` waits forever (long-lived
    /// streams set their own idle policy). Default `None`.
    pub read_timeout: Option<Duration>,
    /// Set `TCP_NODELAY` on connections opened by [`connect`](crate::connect). Default `true`.
    pub nodelay: bool,
    /// ALPN protocols offered on TLS connections, in order of preference. Default
    /// `["h2", "http/1.1"]`: [`fetch_with`] speaks HTTP/2 when the server agrees, and a
    /// connector with a pool ([`DefaultConnector`]) then runs every request to that origin as
    /// a stream of one connection (many SSE streams, one TCP + TLS connection). Set
    /// `["http/1.1"]` for a caller that takes the connection itself ([`send`],
    /// [`ClientResponse::into_upgraded`]).
    pub alpn: Vec<Vec<u8>>,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            max_head_size: 64 * 1024,
            max_headers: 100,
            follow_redirects: false,
            max_redirects: 10,
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            read_timeout: None,
            nodelay: true,
            alpn: vec![
                crate::tls::ALPN_H2.to_vec(),
                crate::tls::ALPN_HTTP11.to_vec(),
            ],
        }
    }
}

/// A client-side failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is invalid.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The scheme needs a connector this call does not have (e.g. `https` with
    /// [`TcpConnector`](crate::TcpConnector)).
    #[error("no connector for scheme {0:?}")]
    UnsupportedScheme(String),
    /// The TCP connection could not be opened.
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        /// `host:port` as in the URL.
        authority: String,
        /// Why (connection refused, no route, …).
        source: io::Error,
    },
    /// The server's certificate was refused: not signed by a trusted CA (try `--cacert`),
    /// not valid for the host, expired, or otherwise invalid.
    #[error("TLS certificate of {authority} not trusted: {reason}")]
    Certificate {
        /// `host:port` as in the URL.
        authority: String,
        /// rustls' reason, e.g. "invalid peer certificate: UnknownIssuer".
        reason: String,
    },
    /// The TLS handshake failed for another reason (no common protocol version or cipher,
    /// the server closed, a client certificate was refused).
    #[error("TLS handshake with {authority} failed: {reason}")]
    Tls {
        /// `host:port` as in the URL.
        authority: String,
        /// Why.
        reason: String,
    },
    /// Caller misuse: the method is not a token.
    #[error("invalid method {0:?}")]
    InvalidMethod(String),
    /// Connecting, reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// Connecting, the response head, or a body read took longer than allowed.
    #[error("timed out")]
    Timeout,
    /// The response head is larger than the limit.
    #[error("response head of {size} bytes exceeds {max}")]
    HeadTooLarge {
        /// Bytes received without finding the end of the head.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More header fields than the limit.
    #[error("more than {max} response header fields")]
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// The response head is malformed, or the connection closed before it.
    #[error("invalid response: {0}")]
    InvalidResponse(&'static str),
    /// The body framing is broken.
    #[error(transparent)]
    Framing(#[from] FramingError),
    /// [`ClientResponse::bytes`] got more than its limit.
    #[error("response body of {size} bytes exceeds {max}")]
    BodyTooLarge {
        /// Bytes announced or received.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// More redirects than [`ClientConfig::max_redirects`].
    #[error("more than {max} redirects")]
    TooManyRedirects {
        /// The limit.
        max: usize,
    },
}

impl ClientError {
    /// Classifies a failed TLS handshake: certificate problems apart from the rest.
    pub(crate) fn tls(url: &Url, e: io::Error) -> ClientError {
        let authority = url.authority();
        let rustls_error = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match rustls_error {
            Some(rustls::Error::InvalidCertificate(c)) => ClientError::Certificate {
                reason: certificate_reason(c, url.host()),
                authority,
            },
            Some(rustls::Error::NoCertificatesPresented) => ClientError::Certificate {
                reason: "the server presented no certificate".to_owned(),
                authority,
            },
            _ => ClientError::Tls {
                reason: e.to_string(),
                authority,
            },
        }
    }
}

/// Why a certificate was refused, in words a user can act on (rustls' own name in brackets).
fn certificate_reason(e: &rustls::CertificateError, host: &str) -> String {
    use rustls::CertificateError as C;
    let why = match e {
        C::UnknownIssuer => "not signed by a trusted CA (pass the CA's certificate with --cacert / ClientTls::add_ca_pem)".to_owned(),
        C::Expired | C::ExpiredContext { .. } => "expired".to_owned(),
        C::NotValidYet | C::NotValidYetContext { .. } => "not valid yet (check the clock)".to_owned(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            format!("not valid for {host} (the name is not among its subject alternative names)")
        }
        C::Revoked => "revoked".to_owned(),
        C::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => "a CA certificate used as the server's own (a self-signed `openssl req -x509` certificate?): serve a leaf certificate signed by that CA".to_owned(),
        _ => "invalid".to_owned(),
    };
    format!("{why} [{e:?}]")
}

/// A request to send: method, URL, fields and an optional body.
///
/// `Host` is set from the URL unless given; `Content-Length` is set from the body
/// (`Transfer-Encoding`/`Content-Length` given here are ignored).
#[derive(Clone, Debug)]
pub struct ClientRequest {
    method: String,
    url: Url,
    headers: Headers,
    body: Option<Bytes>,
}

impl ClientRequest {
    /// A request with `method` (e.g. `"POST"`) for `url`.
    #[must_use]
    pub fn new(method: impl Into<String>, url: Url) -> ClientRequest {
        ClientRequest {
            method: method.into(),
            url,
            headers: Headers::new(),
            body: None,
        }
    }

    /// A `GET` for `url`.
    ///
    /// # Errors
    /// The URL does not parse.
    pub fn get(url: &str) -> Result<ClientRequest, UrlError> {
        Ok(ClientRequest::new("GET", Url::parse(url)?))
    }

    /// A `POST` of `body` to `url`.
    ///
    /// # Errors
    /// The URL does not parse.
    pub fn post(url: &str, body: impl Into<Bytes>) -> Result<ClientRequest, UrlError> {
        Ok(ClientRequest::new("POST", Url::parse(url)?).body(body))
    }

    /// Adds a field.
    ///
    /// # Panics
    /// If the name is not a token or the value contains CR, LF, NUL or another control byte
    /// (use [`ClientRequest::try_header`] for values from outside).
    #[must_use]
    pub fn header(self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> ClientRequest {
        match self.try_header(name, value) {
            Ok(r) => r,
            Err(e) => panic!("ClientRequest::header: {e}"),
        }
    }

    /// Adds a field, or says why it is invalid.
    ///
    /// # Errors
    /// [`InvalidHeader`].
    pub fn try_header(
        mut self,
        name: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<ClientRequest, InvalidHeader> {
        self.headers.append(name, value)?;
        Ok(self)
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> ClientRequest {
        self.body = Some(body.into());
        self
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The fields.
    #[must_use]
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Mutable access to the fields.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// Caller misuse: a method that is not a token.
    fn check_method(&self) -> Result<(), ClientError> {
        if self.method.is_empty() || !self.method.bytes().all(is_tchar) {
            return Err(ClientError::InvalidMethod(self.method.clone()));
        }
        Ok(())
    }

    fn encode(&self) -> Result<Vec<u8>, ClientError> {
        self.check_method()?;
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.url.path_and_query().as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if !self.headers.contains(b"host") {
            out.extend_from_slice(b"host: ");
            out.extend_from_slice(self.url.authority().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.headers
            .encode_skipping(&mut out, &[b"content-length", b"transfer-encoding"]);
        let needs_length = matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
        match &self.body {
            Some(b) => out.extend_from_slice(format!("content-length: {}\r\n", b.len()).as_bytes()),
            None if needs_length => out.extend_from_slice(b"content-length: 0\r\n"),
            None => {}
        }
        out.extend_from_slice(b"\r\n");
        Ok(out)
    }
}

/// A response being received: status and fields, then the body read piece by piece.
#[derive(Debug)]
pub struct ClientResponse<S> {
    status: StatusCode,
    version: Version,
    headers: Headers,
    url: Url,
    body: ResponseBody<S>,
    read_timeout: Option<Duration>,
    redirects: usize,
}

/// Where a response's body comes from.
#[derive(Debug)]
enum ResponseBody<S> {
    /// The HTTP/1.1 connection, its read buffer and the framing decoder.
    H1 {
        io: S,
        buf: BytesMut,
        eof: bool,
        decoder: BodyDecoder,
    },
    /// An HTTP/2 stream of a (possibly shared) connection.
    H2(h2::RecvStream),
}

impl<S: AsyncRead + AsyncWrite + Unpin> ClientResponse<S> {
    /// The status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The server's HTTP version.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The fields.
    #[must_use]
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Shorthand for `headers().get_str(name)`.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }

    /// The URL this response came from (after redirects).
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// How many redirects were followed to get here.
    #[must_use]
    pub fn redirects(&self) -> usize {
        self.redirects
    }

    /// Reads the next piece of the body as it arrives: `Ok(None)` at its end (length reached,
    /// last chunk, or close for a close-delimited body). Chunked framing is removed.
    ///
    /// Cancel-safe: dropping the future loses no bytes.
    ///
    /// # Errors
    /// [`ClientError::Framing`] on broken framing or an early close, I/O errors, or
    /// [`ClientError::Timeout`] per [`ClientConfig::read_timeout`].
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        let read_timeout = self.read_timeout;
        let (io, buf, eof, decoder) = match &mut self.body {
            ResponseBody::H1 {
                io,
                buf,
                eof,
                decoder,
            } => (io, buf, eof, decoder),
            ResponseBody::H2(recv) => {
                if recv.is_end_stream() {
                    return Ok(None);
                }
                let data = match read_timeout {
                    Some(t) => timeout(t, recv.data())
                        .await
                        .map_err(|_| ClientError::Timeout)?,
                    None => recv.data().await,
                };
                return match data {
                    None => Ok(None),
                    Some(Err(e)) => Err(ClientError::Io(crate::h2::h2_to_io(e))),
                    Some(Ok(d)) => {
                        let _ = recv.flow_control().release_capacity(d.len());
                        Ok(Some(d))
                    }
                };
            }
        };
        loop {
            match decoder.decode(buf, *eof)? {
                Step::Data(d) => return Ok(Some(d)),
                Step::End => return Ok(None),
                Step::NeedMore => {
                    if buf.capacity() - buf.len() < 1024 {
                        buf.reserve(8 * 1024);
                    }
                    let read = io.read_buf(buf);
                    let n = match read_timeout {
                        Some(t) => timeout(t, read).await.map_err(|_| ClientError::Timeout)??,
                        None => read.await?,
                    };
                    if n == 0 {
                        *eof = true;
                    }
                }
            }
        }
    }

    /// Reads the rest of the body into one buffer, failing past `limit` bytes.
    ///
    /// # Errors
    /// As [`ClientResponse::chunk`], and [`ClientError::BodyTooLarge`].
    pub async fn bytes(&mut self, limit: u64) -> Result<Bytes, ClientError> {
        let announced = match &self.body {
            ResponseBody::H1 { decoder, .. } => decoder.remaining_length(),
            ResponseBody::H2(_) => self
                .headers
                .get_str("content-length")
                .and_then(|v| v.trim().parse().ok()),
        };
        if let Some(n) = announced
            && n > limit
        {
            return Err(ClientError::BodyTooLarge {
                size: n,
                max: limit,
            });
        }
        let mut all = BytesMut::new();
        while let Some(c) = self.chunk().await? {
            let size = (all.len() + c.len()) as u64;
            if size > limit {
                return Err(ClientError::BodyTooLarge { size, max: limit });
            }
            if all.is_empty() && self.is_body_done() {
                return Ok(c);
            }
            all.extend_from_slice(&c);
        }
        Ok(all.freeze())
    }

    /// Whether the body has been read to its end.
    #[must_use]
    pub fn is_body_done(&self) -> bool {
        match &self.body {
            ResponseBody::H1 { decoder, .. } => decoder.is_done(),
            ResponseBody::H2(recv) => recv.is_end_stream(),
        }
    }

    /// Takes the stream and every byte read past the response head (after a
    /// `101 Switching Protocols`, those belong to the new protocol; after a complete body,
    /// the connection can carry the next request). The body is not read. `None` for a
    /// response on an HTTP/2 stream: its connection stays with the connector's pool.
    #[must_use]
    pub fn into_upgraded(self) -> Option<Upgraded<S>> {
        match self.body {
            ResponseBody::H1 { io, buf, .. } => Some(Upgraded { io, read_buf: buf }),
            ResponseBody::H2(_) => None,
        }
    }
}

/// One request/response exchange: on a pooled HTTP/2 connection to the origin when the
/// connector keeps one, else on a new connection — HTTP/2 if ALPN chose `h2` (the connection
/// then joins the pool), HTTP/1.1 otherwise.
async fn exchange<C: Connector>(
    connector: &C,
    req: &ClientRequest,
    config: &ClientConfig,
) -> Result<ClientResponse<C::Stream>, ClientError> {
    let wants_h2 = req.url.is_secure() && config.alpn.iter().any(|a| a == crate::tls::ALPN_H2);
    let origin = || format!("{}://{}", req.url.scheme(), req.url.authority());
    if wants_h2
        && let Some(pool) = connector.h2_pool()
        && let Some(sender) = pool.ready(&origin()).await
    {
        return send_h2(sender, req, config).await;
    }
    let io = connector.connect(&req.url, config).await?;
    if C::is_h2(&io) {
        let sender = crate::h2::h2_connect(io, config).await?;
        if let Some(pool) = connector.h2_pool() {
            pool.insert(origin(), sender.clone());
        }
        return send_h2(sender, req, config).await;
    }
    send(io, req, config).await
}

/// Fields that HTTP/2 forbids or carries as pseudo-fields (RFC 9113 §8.2.2, §8.3.1).
const NOT_ON_H2: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "content-length",
];

/// Sends `req` as a stream of an HTTP/2 connection and reads the response head.
async fn send_h2<S>(
    mut sender: h2::client::SendRequest<Bytes>,
    req: &ClientRequest,
    config: &ClientConfig,
) -> Result<ClientResponse<S>, ClientError> {
    req.check_method()?;
    let uri = format!(
        "{}://{}{}",
        if req.url.is_secure() { "https" } else { "http" },
        req.url.authority(),
        req.url.path_and_query()
    );
    let mut b = http::Request::builder()
        .method(req.method.as_str())
        .uri(uri);
    for (name, value) in req.headers.iter() {
        if NOT_ON_H2
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
        {
            continue;
        }
        b = b.header(name.to_ascii_lowercase(), value.as_ref());
    }
    let body = req.body.clone().unwrap_or_default();
    if req.body.is_some() {
        b = b.header(http::header::CONTENT_LENGTH, body.len());
    }
    let request = b
        .body(())
        .map_err(|_| ClientError::InvalidResponse("request not representable in HTTP/2"))?;
    let h2err = |e: h2::Error| ClientError::Io(crate::h2::h2_to_io(e));
    let work = async {
        let (response, mut stream) = sender
            .send_request(request, body.is_empty())
            .map_err(h2err)?;
        let mut rest = body;
        while !rest.is_empty() {
            stream.reserve_capacity(rest.len());
            match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
                None => return Err(ClientError::InvalidResponse("stream closed while sending")),
                Some(Err(e)) => return Err(h2err(e)),
                Some(Ok(n)) => {
                    let piece = rest.split_to(n.min(rest.len()));
                    stream.send_data(piece, rest.is_empty()).map_err(h2err)?;
                }
            }
        }
        response.await.map_err(h2err)
    };
    let resp = timeout(config.response_timeout, work)
        .await
        .map_err(|_| ClientError::Timeout)??;
    let (parts, recv) = resp.into_parts();
    if parts.headers.len() > config.max_headers {
        return Err(ClientError::TooManyHeaders {
            max: config.max_headers,
        });
    }
    let mut headers = Headers::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        headers.push_unchecked(
            Bytes::copy_from_slice(name.as_str().as_bytes()),
            Bytes::copy_from_slice(value.as_bytes()),
        );
    }
    Ok(ClientResponse {
        status: parts.status,
        version: Version::Http2,
        headers,
        url: req.url.clone(),
        body: ResponseBody::H2(recv),
        read_timeout: config.read_timeout,
        redirects: 0,
    })
}

/// Sends `req` over `io` (plain TCP, TLS, or anything else) and reads the response head.
/// Interim `1xx` responses other than `101` are skipped.
///
/// # Errors
/// [`ClientError`] on I/O failure, timeout, or a malformed or oversized response head.
pub async fn send<S>(
    mut io: S,
    req: &ClientRequest,
    config: &ClientConfig,
) -> Result<ClientResponse<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = Instant::now() + config.response_timeout;
    let head = req.encode()?;
    let mut out = Bytes::from(head).chain(req.body.clone().unwrap_or_default());
    timeout_at(deadline, async {
        io.write_all_buf(&mut out).await?;
        io.flush().await
    })
    .await
    .map_err(|_| ClientError::Timeout)??;

    let mut buf = BytesMut::with_capacity(4096);
    let mut eof = false;
    let mut scanned = 0;
    loop {
        if let Some(n) = head::find_head_end(&buf, &mut scanned) {
            if n > config.max_head_size {
                return Err(ClientError::HeadTooLarge {
                    size: n,
                    max: config.max_head_size,
                });
            }
            let parsed = parse_response(&mut buf, n, config.max_headers)?;
            scanned = 0;
            let (status, version, headers) = parsed;
            if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
                continue;
            }
            let framing = response_framing(req.method(), status, &headers)?;
            return Ok(ClientResponse {
                status,
                version,
                headers,
                url: req.url.clone(),
                body: ResponseBody::H1 {
                    io,
                    buf,
                    eof,
                    decoder: BodyDecoder::new(framing, config.max_head_size),
                },
                read_timeout: config.read_timeout,
                redirects: 0,
            });
        }
        if buf.len() >= config.max_head_size {
            return Err(ClientError::HeadTooLarge {
                size: buf.len(),
                max: config.max_head_size,
            });
        }
        if eof {
            return Err(ClientError::InvalidResponse(
                "connection closed before the response head",
            ));
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        let n = timeout_at(deadline, io.read_buf(&mut buf))
            .await
            .map_err(|_| ClientError::Timeout)??;
        eof = n == 0;
    }
}

fn parse_response(
    buf: &mut BytesMut,
    n: usize,
    max_headers: usize,
) -> Result<(StatusCode, Version, Headers), ClientError> {
    let max = max_headers.min(MAX_HEADERS_CAP);
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS_CAP];
    let mut resp = httparse::Response::new(&mut storage[..max]);
    let consumed = match resp.parse(&buf[..n]) {
        Ok(httparse::Status::Complete(c)) => c,
        Ok(httparse::Status::Partial) => {
            return Err(ClientError::InvalidResponse("incomplete head"));
        }
        Err(httparse::Error::TooManyHeaders) => return Err(ClientError::TooManyHeaders { max }),
        Err(httparse::Error::Version) => {
            return Err(ClientError::InvalidResponse("unsupported version"));
        }
        Err(_) => return Err(ClientError::InvalidResponse("malformed response head")),
    };
    let version = match resp.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(ClientError::InvalidResponse("unsupported version")),
    };
    let status = resp
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(ClientError::InvalidResponse("invalid status code"))?;
    let base = buf.as_ptr() as usize;
    let range = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let fields: Vec<_> = resp
        .headers
        .iter()
        .map(|h| (range(h.name.as_bytes()), range(h.value)))
        .collect();
    let head = buf.split_to(consumed).freeze();
    let mut headers = Headers::with_capacity(fields.len());
    for (nr, vr) in fields {
        headers.push_unchecked(head.slice(nr), head.slice(vr));
    }
    Ok((status, version, headers))
}

/// Response body framing per RFC 9112 §6.3.
fn response_framing(
    method: &str,
    status: StatusCode,
    headers: &Headers,
) -> Result<Framing, ClientError> {
    if method == "HEAD" || forbids_body(status) {
        return Ok(Framing::Empty);
    }
    if headers.contains(b"transfer-encoding") {
        let codings: Vec<&[u8]> = headers
            .get_all(b"transfer-encoding")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|c| !c.is_empty())
            .collect();
        return match codings.last() {
            Some(last) if last.eq_ignore_ascii_case(b"chunked") => {
                if codings.len() == 1 {
                    Ok(Framing::Chunked)
                } else {
                    Err(ClientError::InvalidResponse("unsupported transfer coding"))
                }
            }
            _ => Ok(Framing::CloseDelimited),
        };
    }
    match head::parse_content_length(headers) {
        Ok(Some(n)) => Ok(Framing::Length(n)),
        Ok(None) => Ok(Framing::CloseDelimited),
        Err(()) => Err(ClientError::InvalidResponse("invalid Content-Length")),
    }
}

/// Connects with the [`DefaultConnector`] (TCP, and TLS for `https://` with the
/// `webpki-roots` trust anchors), sends `req` and reads the response head, following
/// redirects when [`ClientConfig::follow_redirects`] is set.
///
/// # Errors
/// As [`fetch_with`].
pub async fn fetch(
    req: ClientRequest,
    config: &ClientConfig,
) -> Result<ClientResponse<ClientStream>, ClientError> {
    fetch_with(&DefaultConnector::default(), req, config).await
}

/// Opens a connection with `connector`, sends `req` and reads the response head. With
/// [`ClientConfig::follow_redirects`], a `301`/`302`/`303`/`307`/`308` with a `Location` is
/// followed on a new connection: `303` (and `301`/`302` after a `POST`) turn into a `GET`
/// without body, `307`/`308` repeat method and body; `Authorization`, `Cookie` and
/// `Proxy-Authorization` are dropped when the origin changes.
///
/// # Errors
/// [`ClientError`], including [`ClientError::TooManyRedirects`].
pub async fn fetch_with<C: Connector>(
    connector: &C,
    mut req: ClientRequest,
    config: &ClientConfig,
) -> Result<ClientResponse<C::Stream>, ClientError> {
    let mut redirects = 0;
    loop {
        let mut resp = exchange(connector, &req, config).await?;
        resp.redirects = redirects;
        let code = resp.status.as_u16();
        if !config.follow_redirects || !matches!(code, 301 | 302 | 303 | 307 | 308) {
            return Ok(resp);
        }
        let Some(location) = resp.header("location") else {
            return Ok(resp);
        };
        if redirects >= config.max_redirects {
            return Err(ClientError::TooManyRedirects {
                max: config.max_redirects,
            });
        }
        redirects += 1;
        let next = resp.url.join(location)?;
        drop(resp);
        let to_get = code == 303 && req.method != "HEAD"
            || matches!(code, 301 | 302) && req.method == "POST";
        if to_get {
            req.method = "GET".into();
            req.body = None;
            req.headers.remove("content-type");
        }
        if !next.same_origin(&req.url) {
            for h in ["authorization", "cookie", "proxy-authorization", "host"] {
                req.headers.remove(h);
            }
        }
        req.url = next;
    }
}
