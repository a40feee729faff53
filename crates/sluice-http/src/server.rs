//! The server side: connection loop, requests handed to a [`Handler`], responses (full,
//! streaming, upgrade) written back.

use std::future::{Future, poll_fn};
use std::io;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout, timeout_at};

use crate::body::{BodyDecoder, FramingError, Step, chunk_size_line};
use crate::head::{self, HeadError, RequestHead, Version};
use crate::headers::Headers;
use crate::request::{Kind, Request};
use crate::response::{Body, Response, encode_status_line};
use crate::status::{StatusCode, forbids_body};
use crate::timed_write::write_all_within;

/// Limits and timeouts of the server side. Every buffer a client can grow is bounded here.
///
/// Build it from [`ServerConfig::default`] and adjust fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Largest request head (request line and fields), in bytes. Default 16 KiB. A longer head
    /// gets 431 (414 when the request line alone does not fit).
    pub max_head_size: usize,
    /// Most header fields in a request head. Default 64, capped at 256. More get 431.
    pub max_headers: usize,
    /// Largest request body [`Request::body`] / [`Request::body_chunk`] accept, in bytes,
    /// unless [`Request::set_body_limit`] changes it for one request. Default 1 MiB. More
    /// gets [`BodyError::TooLarge`] (413).
    pub max_body_size: u64,
    /// Time allowed from the first byte of a request head to its end (slowloris guard).
    /// Default 10 s. Exceeded: 408 and close.
    pub header_read_timeout: Duration,
    /// How long an idle connection waits for the first byte of its next request before it is
    /// closed silently. Default 60 s.
    pub keep_alive_timeout: Duration,
    /// Time allowed for each read while receiving a request body. Default 30 s.
    pub body_read_timeout: Duration,
    /// Time allowed for a whole request body, from the handler's first read of it to its end:
    /// a body trickled in a byte at a time passes every per-read timeout, not this. Default
    /// 60 s (a 1 MiB body then needs about 17 KiB/s). Exceeded: [`BodyError::Timeout`] (408).
    pub body_total_timeout: Duration,
    /// Time allowed for each write (and flush) of a response. A client that stops reading is
    /// dropped after it. Also the grace an HTTP/2 client gets to let a GOAWAY finish (idle or
    /// `Connection: close`) before its connection is dropped. Default 30 s.
    pub write_timeout: Duration,
    /// Largest unread request body the server reads and discards after a response to keep the
    /// connection alive; a larger one closes the connection instead. Default 64 KiB.
    pub max_drain: u64,
    /// After answering an error, leaving a body unread, or closing after an answer while the
    /// client has sent more (a pipelined request), the server shuts its write side and keeps
    /// reading (and discarding) for up to this long, so the client gets the answer rather than
    /// a reset. Default 1 s (and at most 256 KiB discarded).
    pub linger_timeout: Duration,
    /// While a streaming response is written, also watch the read side: end of stream or a read
    /// error means the client went away, and the stream is dropped. Default `true`. Clients that
    /// half-close their side after sending a request need `false`.
    pub detect_client_close: bool,
    /// Room reserved in a connection's read buffer when a head or body read needs it.
    /// Default 1 KiB (the buffer grows as needed up to the limits above). A connection that
    /// waits (for its next request, parked, or streaming a response) holds no read buffer
    /// until bytes arrive.
    pub initial_read_buffer: usize,
    /// Set `TCP_NODELAY` on accepted sockets in [`serve`]. Default `true` (streaming events
    /// should not wait for Nagle).
    pub nodelay: bool,
    /// Accept HTTP/2 with prior knowledge (h2c, RFC 9113 §3.3) on cleartext connections
    /// served by [`serve_stream`]: a connection that starts with the HTTP/2 preface is served
    /// as HTTP/2, for proxies that speak h2c to their upstream. Default `true`.
    pub h2c: bool,
    /// HTTP/2 limits (TLS with ALPN `h2`, and h2c).
    pub h2: crate::h2::H2Config,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            max_head_size: 16 * 1024,
            max_headers: 64,
            max_body_size: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            body_total_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_drain: 64 * 1024,
            linger_timeout: Duration::from_secs(1),
            detect_client_close: true,
            initial_read_buffer: 1024,
            nodelay: true,
            h2c: true,
            h2: crate::h2::H2Config::default(),
        }
    }
}

/// Bytes discarded at most while lingering before a close.
const LINGER_MAX_BYTES: usize = 256 * 1024;

/// The per-request copy of the limits the request and its response need.
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_head: usize,
    body_timeout: Duration,
    body_total: Duration,
    write_timeout: Duration,
    max_drain: u64,
    linger: Duration,
    detect_close: bool,
}

impl Limits {
    fn new(c: &ServerConfig) -> Limits {
        Limits {
            max_head: c.max_head_size,
            body_timeout: c.body_read_timeout,
            body_total: c.body_total_timeout,
            write_timeout: c.write_timeout,
            max_drain: c.max_drain,
            linger: c.linger_timeout,
            detect_close: c.detect_client_close,
        }
    }
}

/// A fault while reading a request body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is larger than the limit → 413.
    #[error("request body of {size} bytes exceeds {max}")]
    TooLarge {
        /// Bytes announced (`Content-Length`) or received so far (chunked).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The body framing is broken (bad chunk, early end) → 400.
    #[error(transparent)]
    Framing(#[from] FramingError),
    /// No body bytes arrived within the body read timeout, or the whole body not within the
    /// body total timeout → 408.
    #[error("request body not received in time")]
    Timeout,
    /// Reading failed (the client is most likely gone) → 400 if anyone is listening.
    #[error("I/O error reading the body: {0}")]
    Io(#[from] io::Error),
    /// Caller misuse: the body was read again after an error.
    #[error("the body already failed to read")]
    AlreadyFailed,
}

impl BodyError {
    /// The status to answer with (a total mapping).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Framing(_) | BodyError::Io(_) => StatusCode::BAD_REQUEST,
            BodyError::Timeout => StatusCode::REQUEST_TIMEOUT,
            BodyError::AlreadyFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Why [`serve_connection`] ended other than by a clean close.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The request head was bad; it was answered with [`HeadError::status`] and the
    /// connection closed.
    #[error("bad request head: {0}")]
    BadRequest(#[from] HeadError),
    /// Reading or writing the connection failed or timed out.
    #[error("connection I/O error: {0}")]
    Io(#[from] io::Error),
}

/// A connection taken over after a protocol switch: the raw stream and every byte already read
/// past the request head (or the response head, on the client side), which belong to the new
/// protocol.
#[derive(Debug)]
pub struct Upgraded<S> {
    /// The stream.
    pub io: S,
    /// Bytes already read from `io` that the new protocol must consume first.
    pub read_buf: BytesMut,
}

/// A connection: the stream and its read buffer.
#[derive(Debug)]
struct Conn<S> {
    io: S,
    buf: BytesMut,
    eof: bool,
}

impl<S: AsyncRead + Unpin> Conn<S> {
    /// Reads once into spare capacity, reserving `want` bytes first if there is less room.
    async fn read_more(&mut self, want: usize) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < want.clamp(1, 512) {
            self.buf.reserve(want.max(1));
        }
        let n = self.io.read_buf(&mut self.buf).await?;
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    /// Reads once like [`Conn::read_more`], but holds no heap buffer while it waits: an empty
    /// read buffer is released, and the read goes to a stack array whose bytes are appended to
    /// the buffer in the same poll (cancel-safe). For connections that mostly wait: between
    /// requests, a parked request, a streaming response watched for the client's close.
    async fn read_waiting(&mut self) -> io::Result<usize> {
        let Conn { io, buf, eof } = self;
        if buf.is_empty() && buf.capacity() > 0 {
            *buf = BytesMut::new();
        }
        let n = poll_fn(|cx| {
            // Uninitialised: zeroing it cost every poll a 1 KiB memset.
            let mut tmp = [std::mem::MaybeUninit::<u8>::uninit(); WAITING_READ];
            let mut rb = ReadBuf::uninit(&mut tmp);
            match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    buf.extend_from_slice(rb.filled());
                    Poll::Ready(Ok(rb.filled().len()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await?;
        if n == 0 {
            *eof = true;
        }
        Ok(n)
    }
}

/// Size of the stack array [`Conn::read_waiting`] reads into.
const WAITING_READ: usize = 1024;

/// Largest `Content-Length` body [`H1::body_chunk`] gathers into one piece before handing it
/// out; larger bodies come in pieces as they arrive.
const GATHER_MAX: usize = 256 * 1024;

/// The HTTP/1.1 side of a [`Request`]: the connection, from which the body has not been read.
#[derive(Debug)]
pub(crate) struct H1<S> {
    pub(crate) head: RequestHead,
    conn: Conn<S>,
    decoder: BodyDecoder,
    body_limit: u64,
    body_seen: u64,
    body_failed: bool,
    continue_sent: bool,
    /// When the whole body must have arrived (set at the first body read).
    body_deadline: Option<Instant>,
    limits: Limits,
}

impl<S> Deref for H1<S> {
    type Target = RequestHead;
    fn deref(&self) -> &RequestHead {
        &self.head
    }
}

impl<S> H1<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Changes the body size limit for this request (e.g. a per-route limit).
    pub(crate) fn set_body_limit(&mut self, max: u64) {
        self.body_limit = max;
    }

    /// Reads the next piece of the body: `Ok(None)` at its end. Sends `100 Continue` first if the
    /// client asked for it. Chunked bodies are decoded (trailers are read and discarded).
    ///
    /// Cancel-safe: dropping the future loses no bytes.
    ///
    /// # Errors
    /// [`BodyError`]; after one, the connection is closed once the response is written.
    pub(crate) async fn body_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        if self.body_failed {
            return Err(BodyError::AlreadyFailed);
        }
        let r = self.body_chunk_inner().await;
        if r.is_err() {
            self.body_failed = true;
        }
        r
    }

    async fn body_chunk_inner(&mut self) -> Result<Option<Bytes>, BodyError> {
        if self.decoder.is_done() {
            return Ok(None);
        }
        self.check_size()?;
        if self.head.expects_continue() && !self.continue_sent {
            self.continue_sent = true;
            let w = async {
                self.conn
                    .io
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                    .await?;
                self.conn.io.flush().await
            };
            timeout(self.limits.write_timeout, w)
                .await
                .map_err(|_| BodyError::Timeout)??;
        }
        // A small Content-Length body is gathered into one buffer of exactly its size (one
        // copy-free split, no reassembly); a larger one is handed out as it arrives, so a
        // route that raised the body limit to stream an upload does not hold it whole.
        if let Some(rem) = self.decoder.remaining_length()
            && let Ok(rem) = usize::try_from(rem)
            && rem <= GATHER_MAX
        {
            if self.conn.buf.capacity() < rem {
                // `reserve` may double the allocation; this one is the body's size.
                let mut exact = BytesMut::with_capacity(rem);
                exact.extend_from_slice(&self.conn.buf);
                self.conn.buf = exact;
            }
            while self.conn.buf.len() < rem && !self.conn.eof {
                self.read_body_bytes(rem - self.conn.buf.len()).await?;
            }
        }
        loop {
            let step = self.decoder.decode(&mut self.conn.buf, self.conn.eof)?;
            if let Step::Data(d) = &step {
                self.body_seen += d.len() as u64;
            }
            self.check_size()?;
            match step {
                Step::Data(d) => return Ok(Some(d)),
                Step::End => return Ok(None),
                Step::NeedMore => {
                    self.read_body_bytes(8 * 1024).await?;
                }
            }
        }
    }

    /// The body limit counts the data received, the data announced and not yet received (a
    /// `Content-Length`, or the size of the current chunk: a chunk of `FFFFFFFFFFFFFFFF` bytes
    /// is refused on its size line, not after the read timeout), and chunk-extension bytes
    /// (which carry no data but cost reading).
    fn check_size(&self) -> Result<(), BodyError> {
        let size = self
            .body_seen
            .saturating_add(self.decoder.announced_remaining().unwrap_or(0))
            .saturating_add(self.decoder.extension_bytes());
        if size > self.body_limit {
            return Err(BodyError::TooLarge {
                size,
                max: self.body_limit,
            });
        }
        Ok(())
    }

    async fn read_body_bytes(&mut self, want: usize) -> Result<(), BodyError> {
        // No floor: gathering a body into a buffer of its exact size reads exactly what is
        // missing (a larger read would make `read_more` grow that buffer).
        let want = want.clamp(1, 64 * 1024);
        let total = *self
            .body_deadline
            .get_or_insert_with(|| Instant::now() + self.limits.body_total);
        let deadline = total.min(Instant::now() + self.limits.body_timeout);
        match timeout_at(deadline, self.conn.read_more(want)).await {
            Ok(r) => r.map(drop).map_err(BodyError::Io),
            Err(_) => Err(BodyError::Timeout),
        }
    }

    /// Resolves when the client goes away (its side reaches end of stream or fails) before
    /// any response was started — for handlers that wait before answering (a parked
    /// long-poll): `select!` it against the event source, then answer with one write and a
    /// `Content-Length` body. Never resolves when [`ServerConfig::detect_client_close`] is off.
    ///
    /// Bytes the client sends meanwhile (an unread body, a pipelined request) are kept for
    /// later, up to the head limit, after which it stops watching. Cancel-safe.
    pub(crate) async fn closed(&mut self) {
        if self.conn.eof {
            return;
        }
        if !self.limits.detect_close {
            std::future::pending::<()>().await;
        }
        loop {
            if self.conn.buf.len() >= self.limits.max_head {
                std::future::pending::<()>().await;
            }
            match self.conn.read_waiting().await {
                Ok(0) => return,
                Err(_) => {
                    self.conn.eof = true;
                    return;
                }
                Ok(_) => {}
            }
        }
    }

    /// Writes the head of `response` now and returns a writer for its body, for handlers that
    /// push events (SSE, long-poll) from their own loop. `response`'s body is ignored. The body
    /// is chunked for HTTP/1.1 and close-delimited for HTTP/1.0 or when
    /// [`Response::close_delimited`] was set.
    ///
    /// # Errors
    /// Writing the head failed or timed out: the client is gone; return [`Reply::closed`].
    pub(crate) async fn respond_streaming(
        self: Box<Self>,
        response: Response,
    ) -> io::Result<H1Writer<S>> {
        let Response {
            status,
            headers,
            close_delimited,
            ..
        } = response;
        self.start(status, &headers, Plan::Stream { close_delimited })
            .await
    }

    /// Switches protocols: writes `response` (normally `101 Switching Protocols` with its
    /// `Upgrade` and `Connection` fields; no framing fields are added, its body is ignored) and
    /// hands back the stream with every byte already read past the request head.
    ///
    /// A request body, if any, is not read: read it first if it matters.
    ///
    /// # Errors
    /// Writing the response failed or timed out.
    pub(crate) async fn upgrade(
        mut self: Box<Self>,
        response: Response,
    ) -> io::Result<Upgraded<S>> {
        let mut out = Vec::with_capacity(256);
        encode_status_line(response.status, &mut out);
        response.headers.encode(&mut out);
        out.extend_from_slice(b"\r\n");
        let w = async {
            self.conn.io.write_all(&out).await?;
            self.conn.io.flush().await
        };
        timeout(self.limits.write_timeout, w)
            .await
            .map_err(|_| timed_out())??;
        Ok(Upgraded {
            io: self.conn.io,
            read_buf: self.conn.buf,
        })
    }

    /// Whether the connection may stay open after answering `status` with `headers`.
    fn keep_alive_after(&self, headers: &Headers) -> bool {
        if !self.head.wants_keep_alive()
            || self.body_failed
            || headers.has_token("connection", "close")
        {
            return false;
        }
        if self.decoder.is_done() {
            return true;
        }
        if self.head.expects_continue() && !self.continue_sent {
            // The client waits for 100 before sending the body: it never will.
            return false;
        }
        self.decoder
            .remaining_length()
            .is_some_and(|r| r <= self.limits.max_drain)
    }

    /// The head of the response to this request (with the full body behind it, if there is
    /// one), and how the body goes on after it.
    fn encode_head(&self, status: StatusCode, headers: &Headers, plan: Plan) -> EncodedHead {
        let is_head = self.head.method() == "HEAD";
        let no_body = is_head || forbids_body(status);
        let mut keep_alive = self.keep_alive_after(headers);
        let mut out = Vec::with_capacity(256);
        encode_status_line(status, &mut out);
        let user_length_ok = is_head && matches!(plan, Plan::Full(ref b) if b.is_empty());
        if user_length_ok {
            headers.encode_skipping(&mut out, &[b"transfer-encoding"]);
        } else {
            headers.encode_skipping(&mut out, &[b"transfer-encoding", b"content-length"]);
        }
        let (mode, full) = match plan {
            Plan::Full(body) => {
                let user_length = is_head && body.is_empty() && headers.contains(b"content-length");
                if !forbids_body(status) && !user_length {
                    out.extend_from_slice(b"content-length: ");
                    push_decimal(&mut out, body.len());
                    out.extend_from_slice(b"\r\n");
                }
                (Mode::Discard, if no_body { Bytes::new() } else { body })
            }
            Plan::Stream { close_delimited } => {
                if forbids_body(status) {
                    (Mode::Discard, Bytes::new())
                } else if close_delimited || self.head.version() == Version::Http10 {
                    keep_alive = false;
                    (
                        if is_head { Mode::Discard } else { Mode::Close },
                        Bytes::new(),
                    )
                } else {
                    out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                    (
                        if is_head {
                            Mode::Discard
                        } else {
                            Mode::Chunked
                        },
                        Bytes::new(),
                    )
                }
            }
        };
        match (keep_alive, self.head.version()) {
            (true, Version::Http10) => out.extend_from_slice(b"connection: keep-alive\r\n"),
            (false, _) if !headers.has_token("connection", "close") => {
                out.extend_from_slice(b"connection: close\r\n");
            }
            _ => {}
        }
        out.extend_from_slice(b"\r\n");
        EncodedHead {
            // A cursor over the Vec, not `Bytes::from(out)`: that costs a second allocation
            // (the shared header) whenever the Vec has spare capacity, i.e. always.
            data: Buf::chain(io::Cursor::new(out), full),
            mode,
            keep_alive,
        }
    }

    /// Writes the head (and a full body) and returns the writer for what follows.
    async fn start(
        self: Box<Self>,
        status: StatusCode,
        headers: &Headers,
        plan: Plan,
    ) -> io::Result<H1Writer<S>> {
        let EncodedHead {
            mut data,
            mode,
            keep_alive,
        } = self.encode_head(status, headers, plan);
        let mut w = H1Writer {
            req: self,
            mode,
            keep_alive,
            read_done: false,
            peer_closed: false,
        };
        let wt = w.req.limits.write_timeout;
        // A timer only if the socket makes the write wait: most answers go out in the poll
        // that writes them, and arming (then cancelling) a timer per response cost each one
        // a trip through the runtime's timer wheel.
        write_all_within(&mut w.req.conn.io, &mut data, wt).await?;
        Ok(w)
    }
}

/// A response head as bytes, the full body behind it, and how the body goes on.
struct EncodedHead {
    data: bytes::buf::Chain<io::Cursor<Vec<u8>>, Bytes>,
    mode: Mode,
    keep_alive: bool,
}

enum Plan {
    Full(Bytes),
    Stream { close_delimited: bool },
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "write timed out")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Chunked framing.
    Chunked,
    /// Close-delimited: raw bytes, the connection closes at the end.
    Close,
    /// No body is sent (HEAD, 204/304, or a full body already written).
    Discard,
}

/// The HTTP/1.1 side of a [`ResponseWriter`].
#[derive(Debug)]
pub(crate) struct H1Writer<S> {
    req: Box<H1<S>>,
    mode: Mode,
    keep_alive: bool,
    read_done: bool,
    peer_closed: bool,
}

impl<S> H1Writer<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Writes `data` as one piece of the body (one chunk when chunked) and flushes it. Empty data
    /// writes nothing. For HEAD requests nothing is written.
    ///
    /// # Errors
    /// The write failed or timed out: the client is gone or stuck; stop and return
    /// [`Reply::closed`] (or [`ResponseWriter::finish`], which then closes).
    pub(crate) async fn send(&mut self, data: Bytes) -> io::Result<()> {
        if data.is_empty() || self.mode == Mode::Discard {
            return Ok(());
        }
        let r = match self.mode {
            Mode::Chunked => {
                // Size line, data, CRLF: one vectored write, no allocation.
                let mut head = [0u8; 18];
                let n = chunk_size_line(data.len(), &mut head);
                let mut buf = Buf::chain(&head[..n], data).chain(&b"\r\n"[..]);
                self.write_buf(&mut buf).await
            }
            _ => {
                let mut buf = data;
                self.write_buf(&mut buf).await
            }
        };
        if r.is_err() {
            self.peer_closed = true;
        }
        r
    }

    /// Writes and flushes within the write timeout. No timer lives in this future unless the
    /// socket makes it wait: a streaming response's task holds one of these for its whole
    /// life (see [`crate::timed_write`]).
    async fn write_buf<B: Buf + Send>(&mut self, buf: &mut B) -> io::Result<()> {
        write_all_within(&mut self.req.conn.io, buf, self.req.limits.write_timeout).await
    }

    /// Resolves when the client has gone away (its side reached end of stream or failed), as
    /// far as reading can tell; never resolves when [`ServerConfig::detect_client_close`] is off.
    /// Bytes the client sends meanwhile (a pipelined request) are kept, up to the head limit.
    ///
    /// Cancel-safe: use it in `select!` next to the event source.
    pub(crate) async fn closed(&mut self) {
        if self.peer_closed {
            return;
        }
        if !self.req.limits.detect_close || self.read_done {
            std::future::pending::<()>().await;
        }
        loop {
            if self.req.conn.buf.len() >= self.req.limits.max_head {
                self.read_done = true;
                std::future::pending::<()>().await;
            }
            match self.req.conn.read_waiting().await {
                Ok(0) | Err(_) => {
                    self.peer_closed = true;
                    return;
                }
                Ok(_) => {}
            }
        }
    }

    /// Whether [`closed`](ResponseWriter::closed) or a failed write has seen the client go.
    #[must_use]
    pub(crate) fn is_closed(&self) -> bool {
        self.peer_closed
    }

    /// Ends the body (the last chunk, or closing for a close-delimited body) and hands the
    /// connection back to the server, which serves the next request if it can.
    pub(crate) async fn finish(mut self) -> Reply<S> {
        if self.peer_closed {
            return Reply::closed();
        }
        match self.mode {
            Mode::Chunked => {
                let mut last = &b"0\r\n\r\n"[..];
                if self.write_buf(&mut last).await.is_err() {
                    return Reply::closed();
                }
            }
            Mode::Close => {
                let limits = self.req.limits;
                close_after_answer(&mut self.req.conn, limits).await;
                return Reply::closed();
            }
            Mode::Discard => {}
        }
        Reply(ReplyInner::Finished {
            req: self.req,
            keep_alive: self.keep_alive,
        })
    }
}

/// What a [`Handler`] returns: made by [`Request::respond`], [`ResponseWriter::finish`](crate::ResponseWriter::finish) or
/// [`Reply::closed`].
#[derive(Debug)]
pub struct Reply<S>(pub(crate) ReplyInner<S>);

#[derive(Debug)]
pub(crate) enum ReplyInner<S> {
    Respond(Box<(Request<S>, Response)>),
    Finished { req: Box<H1<S>>, keep_alive: bool },
    Closed,
}

impl<S> Reply<S> {
    /// The connection is finished: it was upgraded and taken over, or the handler drops it.
    #[must_use]
    pub fn closed() -> Reply<S> {
        Reply(ReplyInner::Closed)
    }
}

/// Answers requests. Implemented for every `Fn(Request<S>) -> impl Future<Output = Reply<S>>`
/// that is `Send + Sync`; a hub with several routes implements it on its own type and
/// dispatches on [`RequestHead::path`].
pub trait Handler<S>: Send + Sync {
    /// Handles one request.
    fn handle(&self, req: Request<S>) -> impl Future<Output = Reply<S>> + Send;
}

impl<S, F, Fut> Handler<S> for F
where
    F: Fn(Request<S>) -> Fut + Send + Sync,
    Fut: Future<Output = Reply<S>> + Send,
{
    fn handle(&self, req: Request<S>) -> impl Future<Output = Reply<S>> + Send {
        self(req)
    }
}

/// Outcome of reading a head.
enum HeadRead {
    Head(RequestHead),
    /// Clean end: the peer closed or stayed idle too long between requests.
    Idle,
}

async fn read_head<S: AsyncRead + Unpin>(
    conn: &mut Conn<S>,
    cfg: &ServerConfig,
) -> Result<HeadRead, ServeError> {
    let mut scanned = 0;
    let mut deadline: Option<Instant> = None;
    // Fixed when the wait starts: empty lines before a request line (RFC 9112 §2.2) are
    // skipped but do not restart it, so `\r\n` every few seconds cannot hold a connection.
    let idle_deadline = Instant::now() + cfg.keep_alive_timeout;
    loop {
        head::skip_leading_empty_lines(&mut conn.buf);
        if !conn.buf.is_empty() {
            if let Some(n) = head::find_head_end(&conn.buf, &mut scanned) {
                if n > cfg.max_head_size {
                    return Err(HeadError::HeadTooLarge {
                        size: n,
                        max: cfg.max_head_size,
                    }
                    .into());
                }
                return Ok(HeadRead::Head(head::parse_request(
                    &mut conn.buf,
                    n,
                    cfg.max_headers,
                )?));
            }
            if conn.buf.len() >= cfg.max_head_size {
                let size = conn.buf.len();
                let max = cfg.max_head_size;
                return Err(if memchr::memchr(b'\n', &conn.buf).is_none() {
                    HeadError::RequestLineTooLong { size, max }
                } else {
                    HeadError::HeadTooLarge { size, max }
                }
                .into());
            }
        }
        if conn.eof {
            return Ok(HeadRead::Idle);
        }
        let room = cfg.max_head_size.saturating_sub(conn.buf.len()).max(1);
        let want = room
            .min(cfg.initial_read_buffer.max(256))
            .max(conn.buf.len().min(room));
        if conn.buf.is_empty() && deadline.is_none() {
            // Waiting for the next request: no read buffer is held meanwhile.
            match timeout_at(idle_deadline, conn.read_waiting()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Ok(HeadRead::Idle),
            }
        } else {
            let d = *deadline.get_or_insert_with(|| Instant::now() + cfg.header_read_timeout);
            match timeout_at(d, conn.read_more(want)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err(HeadError::Timeout.into()),
            }
        }
        if conn.eof && !conn.buf.is_empty() {
            // The client closed in the middle of a head: nobody to answer.
            return Ok(HeadRead::Idle);
        }
    }
}

/// Closes after a complete answer (the connection is not kept alive): lingers (RFC 9112 §9.6,
/// as nginx's `lingering_close on`) only when the client has sent more than was read — bytes
/// in the buffer, or at the socket now — since closing with unread input makes the kernel reset
/// the connection, and the reset can destroy the end of the answer still in flight.
async fn close_after_answer<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<S>, l: Limits) {
    let more = !conn.buf.is_empty()
        || matches!(
            timeout(Duration::ZERO, conn.read_waiting()).await,
            Ok(Ok(n)) if n > 0
        );
    if more {
        linger_close(conn, l).await;
    } else {
        let _ = timeout(l.write_timeout, conn.io.shutdown()).await;
    }
}

/// Shuts the write side and discards what the client still sends, for a bounded time, so an
/// answer already written is not destroyed by a TCP reset.
async fn linger_close<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<S>, l: Limits) {
    let _ = timeout(l.write_timeout, conn.io.shutdown()).await;
    if conn.eof {
        return;
    }
    let deadline = Instant::now() + l.linger;
    let mut budget = LINGER_MAX_BYTES;
    loop {
        conn.buf.clear();
        match timeout_at(deadline, conn.read_more(4096)).await {
            Ok(Ok(n)) if n > 0 && n < budget => budget -= n,
            _ => return,
        }
    }
}

/// Writes a response whose whole body is at hand (every answer but a stream): head and body in
/// one write. What [`write_stream`] does for such a body, in a future a tenth of its size
/// (`write_stream`'s, ~1.4 KB, was an allocation above the allocator's thread cache for every
/// answer of a long-poll).
async fn write_full<S>(mut req: Box<H1<S>>, response: Response) -> Reply<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let body = match response.body {
        Body::Empty | Body::Stream(_) => Bytes::new(),
        Body::Full(b) => b,
    };
    let EncodedHead {
        mut data,
        keep_alive,
        ..
    } = req.encode_head(response.status, &response.headers, Plan::Full(body));
    drop(response.headers);
    let wt = req.limits.write_timeout;
    match write_all_within(&mut req.conn.io, &mut data, wt).await {
        Ok(()) => Reply(ReplyInner::Finished { req, keep_alive }),
        Err(_) => Reply::closed(),
    }
}

/// Writes a response with a stream body, stopping early if the client goes away.
async fn write_stream<S>(req: Box<H1<S>>, response: Response) -> Reply<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let Response {
        status,
        headers,
        body,
        close_delimited,
    } = response;
    let (plan, stream) = match body {
        Body::Empty => (Plan::Full(Bytes::new()), None),
        Body::Full(b) => (Plan::Full(b), None),
        Body::Stream(s) => (Plan::Stream { close_delimited }, Some(s)),
    };
    let Ok(mut w) = req.start(status, &headers, plan).await else {
        return Reply::closed();
    };
    if let (Some(mut stream), true) = (stream, w.mode != Mode::Discard) {
        loop {
            let item = tokio::select! {
                item = poll_fn(|cx| stream.as_mut().poll_next(cx)) => item,
                () = w.closed() => return Reply::closed(),
            };
            match item {
                Some(Ok(data)) => {
                    if w.send(data).await.is_err() {
                        return Reply::closed();
                    }
                }
                Some(Err(_)) => return Reply::closed(),
                None => break,
            }
        }
    }
    w.finish().await
}

/// Serves HTTP/1.1 on one connection until it closes: reads requests (pipelined ones
/// included), hands each to `handler`, writes its reply, and keeps the connection alive when
/// both sides allow it.
///
/// Malformed heads are answered with their status ([`HeadError::status`]: 400, 408, 414, 417,
/// 431, 501, 505) and the connection is closed.
///
/// # Errors
/// [`ServeError`] when the connection ended on a bad request (after answering it) or an I/O
/// error; `Ok` on a clean close.
pub async fn serve_connection<S, H>(
    io: S,
    config: &ServerConfig,
    handler: &H,
) -> Result<(), ServeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler<S> + ?Sized,
{
    serve_h1(io, BytesMut::new(), config, handler).await
}

/// Serves one connection of the default server stream type, choosing the protocol: HTTP/2
/// when TLS agreed on ALPN `h2`, or when a cleartext connection starts with the HTTP/2
/// preface and [`ServerConfig::h2c`] is on; HTTP/1.1 otherwise ([`serve_connection`]).
/// Both hand every request to the same `handler`.
///
/// # Errors
/// As [`serve_connection`] and [`serve_h2`](crate::serve_h2).
pub async fn serve_stream<H>(
    io: crate::ServerStream,
    config: &ServerConfig,
    handler: &H,
) -> Result<(), ServeError>
where
    H: Handler<crate::ServerStream> + ?Sized,
{
    // The HTTP/2 connection's future is boxed: only HTTP/2 connections pay for its size, not
    // every HTTP/1.1 connection's task (which lives as long as its connection).
    if io.alpn_protocol() == Some(crate::tls::ALPN_H2) {
        return Box::pin(crate::h2::serve_h2(io, config, handler)).await;
    }
    if io.is_tls() || !config.h2c {
        return serve_connection(io, config, handler).await;
    }
    // Cleartext: read until the bytes are known not to be the HTTP/2 preface (usually the
    // first read: "GET " differs at once).
    let preface = crate::h2::PREFACE;
    let mut conn = Conn {
        io,
        buf: BytesMut::new(),
        eof: false,
    };
    // The first byte within the keep-alive timeout; from it, the whole preface within the
    // header-read timeout (one deadline: a byte now and then must not stretch it).
    let mut deadline = tokio::time::Instant::now() + config.keep_alive_timeout;
    let mut first = true;
    while conn.buf.len() < preface.len() && preface.starts_with(&conn.buf) {
        match tokio::time::timeout_at(deadline, conn.read_waiting()).await {
            Ok(Ok(0)) | Err(_) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.into()),
        }
        if first {
            first = false;
            deadline = tokio::time::Instant::now() + config.header_read_timeout;
        }
    }
    if conn.buf.starts_with(preface) {
        let io = crate::h2::Rewind::new(conn.buf.freeze(), conn.io);
        return Box::pin(crate::h2::serve_h2::<_, crate::ServerStream, H>(
            io, config, handler,
        ))
        .await;
    }
    serve_h1(conn.io, conn.buf, config, handler).await
}

async fn serve_h1<S, H>(
    io: S,
    buf: BytesMut,
    config: &ServerConfig,
    handler: &H,
) -> Result<(), ServeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler<S> + ?Sized,
{
    let limits = Limits::new(config);
    let mut conn = Conn {
        io,
        buf,
        eof: false,
    };
    loop {
        let head = match read_head(&mut conn, config).await {
            Ok(HeadRead::Head(h)) => h,
            Ok(HeadRead::Idle) => {
                let _ = timeout(limits.write_timeout, conn.io.shutdown()).await;
                return Ok(());
            }
            Err(ServeError::BadRequest(e)) => {
                // Boxed, as every rare path below: a connection's future holds the state of
                // the request it is in, not room for the ways a connection can end.
                Box::pin(refuse_head(&mut conn, &e, limits)).await;
                return Err(e.into());
            }
            Err(e) => return Err(e),
        };
        let decoder = BodyDecoder::new(head.framing(), limits.max_head);
        let req = H1 {
            head,
            conn,
            decoder,
            body_limit: config.max_body_size,
            body_seen: 0,
            body_failed: false,
            continue_sent: false,
            body_deadline: None,
            limits,
        };
        let reply = handler.handle(Request(Kind::H1(Box::new(req)))).await;
        let (req, keep_alive) = match reply.0 {
            ReplyInner::Closed => return Ok(()),
            ReplyInner::Respond(b) => {
                let (req, response) = *b;
                let Kind::H1(req) = req.0 else {
                    return Ok(());
                };
                // Boxed: the state of a response being written then takes no room in every
                // connection's future while it waits for or handles a request. A whole body
                // (the common case) has a small state of its own; a stream's is ~1.4 KB.
                let written = if matches!(response.body, Body::Stream(_)) {
                    Box::pin(write_stream(req, response)).await
                } else {
                    Box::pin(write_full(req, response)).await
                };
                match written.0 {
                    ReplyInner::Finished { req, keep_alive } => (req, keep_alive),
                    _ => return Ok(()),
                }
            }
            ReplyInner::Finished { req, keep_alive } => (req, keep_alive),
        };
        if keep_alive && req.decoder.is_done() {
            // The usual case: the next request, with no wait in between.
            // An empty read buffer is released by the next head read (`Conn::read_waiting`).
            conn = req.conn;
            continue;
        }
        match Box::pin(after_response(req, keep_alive)).await {
            Some(c) => conn = c,
            None => return Ok(()),
        }
    }
}

/// Appends `n` in decimal (what `write!` does, without the formatting machinery: this runs
/// for every answer).
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // n % 10 < 10: the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let d = (n % 10) as u8;
        digits[i] = b'0' + d;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Answers a bad request head with its status and closes (lingering so the answer is read).
async fn refuse_head<S>(conn: &mut Conn<S>, e: &HeadError, limits: Limits)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let out = Response::from_status(e.status())
        .to_http1_closing()
        .unwrap_or_default();
    let w = async {
        conn.io.write_all(&out).await?;
        conn.io.flush().await
    };
    if let Ok(Ok(())) = timeout(limits.write_timeout, w).await {
        linger_close(conn, limits).await;
    }
}

/// After a response that leaves work before the next request: closes the connection (not
/// kept alive), or discards the unread rest of a small announced body. The connection back
/// when it serves another request.
async fn after_response<S>(mut req: Box<H1<S>>, keep_alive: bool) -> Option<Conn<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let limits = req.limits;
    if !keep_alive {
        if req.decoder.is_done() {
            close_after_answer(&mut req.conn, limits).await;
        } else {
            linger_close(&mut req.conn, limits).await;
        }
        return None;
    }
    // Discard an unread (small, announced) body before the next request.
    while !req.decoder.is_done() {
        req.body_limit = u64::MAX;
        match req.body_chunk().await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => return None,
        }
    }
    Some(req.conn)
}

/// Accepts connections on `listener` forever, serving each in its own task with
/// [`serve_connection`]. Transient accept errors (such as running out of file descriptors)
/// are waited out, not returned.
///
/// # Errors
/// Only if the listener itself fails persistently (an error other than the transient ones).
pub async fn serve<H>(listener: TcpListener, config: ServerConfig, handler: H) -> io::Result<()>
where
    H: Handler<TcpStream> + 'static,
{
    let handler = Arc::new(handler);
    let config = Arc::new(config);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) if is_transient_accept_error(&e) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if config.nodelay {
            let _ = stream.set_nodelay(true);
        }
        let handler = Arc::clone(&handler);
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            let _ = serve_connection(stream, &config, &*handler).await;
        });
    }
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::Interrupted | K::WouldBlock | K::TimedOut
    ) || matches!(e.raw_os_error(), Some(23 | 24 | 12 | 105)) // ENFILE, EMFILE, ENOMEM, ENOBUFS
}

#[cfg(test)]
mod tests {
    use super::push_decimal;

    #[test]
    fn push_decimal_matches_format() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, 262_144, usize::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }
}
