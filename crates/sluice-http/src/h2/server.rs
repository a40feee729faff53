//! The HTTP/2 server: every request of an h2 connection handed to the same [`Handler`] the
//! HTTP/1.1 path uses, as a [`Request`] of its own stream.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{FuturesUnordered, StreamExt};
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::timeout;

use super::stream::{H2Stream, h2_to_io};
use crate::budget::BodyBudget;
use crate::head::{self, RequestHead};
use crate::headers::Headers;
use crate::request::{Kind, Request};
use crate::response::{Body, Response};
use crate::server::{BodyError, Handler, ReplyInner, ServeError, ServerConfig, Upgraded};
use crate::status::{StatusCode, forbids_body};

/// The client connection preface (RFC 9113 §3.4), which starts h2c with prior knowledge.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The HTTP/2 side of a [`Request`].
pub(crate) struct H2Request<S> {
    pub(crate) head: RequestHead,
    recv: RecvStream,
    respond: SendResponse<Bytes>,
    pub(crate) budget: BodyBudget,
    write_timeout: Duration,
    wrap: fn(H2Stream) -> S,
}

impl<S> std::fmt::Debug for H2Request<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Request")
            .field("head", &self.head)
            .field("stream", &self.respond.stream_id())
            .finish_non_exhaustive()
    }
}

impl<S> H2Request<S> {
    pub(crate) async fn body_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        let recv = &mut self.recv;
        let next = async {
            if recv.is_end_stream() {
                return None;
            }
            let data = match recv.data().await? {
                Ok(d) => d,
                Err(e) => return Some(Err(BodyError::Io(h2_to_io(e)))),
            };
            let _ = recv.flow_control().release_capacity(data.len());
            Some(Ok(data))
        };
        self.budget.read(&self.head, next).await
    }

    pub(crate) async fn closed(&mut self) {
        let _ = poll_fn(|cx| self.respond.poll_reset(cx)).await;
    }

    /// Sends the head; `end` when no body follows.
    fn send_head(
        &mut self,
        status: StatusCode,
        headers: &Headers,
        length: Option<usize>,
        end: bool,
    ) -> io::Result<SendStream<Bytes>> {
        let length = length.map(|n| n as u64);
        let resp = crate::response::http_head(status, headers, length, crate::Version::Http2)?;
        self.respond.send_response(resp, end).map_err(h2_to_io)
    }

    pub(crate) fn respond_streaming(mut self, response: Response) -> io::Result<H2Writer> {
        let discard = self.head.answer_discards_body(response.status);
        let send = self.send_head(response.status, &response.headers, None, discard)?;
        Ok(H2Writer {
            send,
            discard,
            closed: false,
            write_timeout: self.write_timeout,
        })
    }

    pub(crate) fn upgrade(mut self, response: Response) -> io::Result<Upgraded<S>> {
        if !(self.head.method() == "CONNECT" && self.head.protocol().is_some()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "only an extended CONNECT (RFC 8441) can be taken over on HTTP/2",
            ));
        }
        let status = if response.status == StatusCode::SWITCHING_PROTOCOLS {
            StatusCode::OK
        } else {
            response.status
        };
        let mut headers = response.headers;
        headers.remove("sec-websocket-accept");
        let send = self.send_head(status, &headers, None, false)?;
        let stream = H2Stream::new(self.recv, send);
        Ok(Upgraded {
            io: (self.wrap)(stream),
            read_buf: BytesMut::new(),
        })
    }

    /// Writes a full or streaming response.
    async fn write(mut self, response: Response) {
        let Response {
            status,
            headers,
            body,
            ..
        } = response;
        let discard = self.head.answer_discards_body(status);
        match body {
            Body::Empty | Body::Full(_) => {
                let data = match body {
                    Body::Full(b) => b,
                    _ => Bytes::new(),
                };
                let length = (!forbids_body(status)).then_some(data.len());
                let end = discard || data.is_empty();
                let Ok(send) = self.send_head(status, &headers, length, end) else {
                    return;
                };
                if !end {
                    let mut w = H2Writer {
                        send,
                        discard,
                        closed: false,
                        write_timeout: self.write_timeout,
                    };
                    if w.send(data).await.is_ok() {
                        w.finish().await;
                    }
                }
            }
            Body::Stream(mut stream) => {
                let Ok(send) = self.send_head(status, &headers, None, discard) else {
                    return;
                };
                if discard {
                    return;
                }
                let mut w = H2Writer {
                    send,
                    discard,
                    closed: false,
                    write_timeout: self.write_timeout,
                };
                loop {
                    let item = tokio::select! {
                        item = poll_fn(|cx| stream.as_mut().poll_next(cx)) => item,
                        () = w.closed() => return,
                    };
                    match item {
                        Some(Ok(data)) => {
                            if w.send(data).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(_)) => {
                            w.send.send_reset(h2::Reason::INTERNAL_ERROR);
                            return;
                        }
                        None => break,
                    }
                }
                w.finish().await;
            }
        }
    }
}

/// The HTTP/2 side of a [`ResponseWriter`](crate::ResponseWriter).
pub(crate) struct H2Writer {
    send: SendStream<Bytes>,
    discard: bool,
    closed: bool,
    write_timeout: Duration,
}

impl std::fmt::Debug for H2Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Writer")
            .field("discard", &self.discard)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl H2Writer {
    /// Sends `data` as the flow-control window allows, within the write timeout.
    pub(crate) async fn send(&mut self, mut data: Bytes) -> io::Result<()> {
        if data.is_empty() || self.discard {
            return Ok(());
        }
        if self.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let send = &mut self.send;
        let r = timeout(self.write_timeout, async {
            while !data.is_empty() {
                send.reserve_capacity(data.len());
                match poll_fn(|cx| send.poll_capacity(cx)).await {
                    None => return Err(io::Error::from(io::ErrorKind::BrokenPipe)),
                    Some(Err(e)) => return Err(h2_to_io(e)),
                    Some(Ok(0)) => {}
                    Some(Ok(n)) => {
                        let piece = data.split_to(n.min(data.len()));
                        send.send_data(piece, false).map_err(h2_to_io)?;
                    }
                }
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")));
        if r.is_err() {
            self.closed = true;
        }
        r
    }

    pub(crate) async fn closed(&mut self) {
        if self.closed {
            return;
        }
        let _ = poll_fn(|cx| self.send.poll_reset(cx)).await;
        self.closed = true;
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) async fn finish(mut self) {
        if !self.closed && !self.discard {
            let _ = self.send.send_data(Bytes::new(), true);
        }
        self.closed = true;
    }
}

/// Serves HTTP/2 on `io` (TLS with ALPN `h2`, or h2c after the preface) until the connection
/// ends: each stream becomes a [`Request`] handed to `handler`, all of a connection's
/// requests run concurrently in the caller's task. Limits come from [`ServerConfig::h2`]
/// (streams, windows, header list, reset floods) and the usual timeouts; an idle connection
/// (no open stream for [`ServerConfig::keep_alive_timeout`]) gets GOAWAY, and is dropped if
/// the client has not let it close within [`ServerConfig::write_timeout`] after that. A
/// response with `Connection: close` gets GOAWAY too: streams already open finish, no new one
/// is served.
///
/// `S` is the stream type the router sees; an RFC 8441 WebSocket's stream becomes an `S`
/// through `From<H2Stream>` (as [`ServerStream`](crate::ServerStream) does).
///
/// # Errors
/// [`ServeError::Io`] when the connection failed (a protocol error by the client included).
pub async fn serve_h2<IO, S, H>(
    io: IO,
    config: &ServerConfig,
    handler: &H,
) -> Result<(), ServeError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send,
    S: From<H2Stream> + AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler<S> + ?Sized,
{
    let h = &config.h2;
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(h.max_concurrent_streams)
        .max_header_list_size(u32::try_from(config.max_head_size).unwrap_or(u32::MAX))
        .initial_window_size(h.initial_stream_window)
        .initial_connection_window_size(h.initial_connection_window)
        .max_send_buffer_size(h.max_send_buffer)
        .max_pending_accept_reset_streams(h.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(Some(h.max_local_error_reset_streams))
        .max_concurrent_reset_streams(h.max_concurrent_reset_streams);
    if h.enable_connect_protocol {
        builder.enable_connect_protocol();
    }
    let mut conn = timeout(
        config.header_read_timeout,
        builder.handshake::<_, Bytes>(io),
    )
    .await
    .map_err(|_| {
        ServeError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "h2 handshake timed out",
        ))
    })?
    .map_err(|e| ServeError::Io(h2_to_io(e)))?;
    let mut streams = FuturesUnordered::new();
    let mut idle_since = tokio::time::Instant::now();
    // Set by the idle GOAWAY: when to drop the connection if the client has not let it close.
    // h2's graceful shutdown sends the final GOAWAY (and closes) only once the client answers
    // its PING; a client that never does (or stops reading) would hold the connection forever.
    let mut going_away: Option<tokio::time::Instant> = None;
    loop {
        let deadline = going_away.unwrap_or(idle_since + config.keep_alive_timeout);
        let idle = tokio::time::sleep_until(deadline);
        tokio::select! {
            r = conn.accept() => match r {
                None => break,
                Some(Err(e)) => {
                    drain(&mut streams, config.write_timeout).await;
                    return Err(ServeError::Io(h2_to_io(e)));
                }
                Some(Ok((req, respond))) => {
                    if let Some(fut) = stream_task(req, respond, config, handler) {
                        streams.push(fut);
                    }
                }
            },
            Some(close) = streams.next(), if !streams.is_empty() => {
                if streams.is_empty() {
                    idle_since = tokio::time::Instant::now();
                    // Going away: the client's grace runs from the last stream's end (its
                    // final frames are still to be written by `conn`), not from the GOAWAY.
                    if let Some(d) = going_away.as_mut() {
                        *d = (*d).max(idle_since + config.write_timeout);
                    }
                }
                // A handler's `Connection: close`: no new streams (GOAWAY), the open ones
                // finish.
                if close && going_away.is_none() {
                    going_away = Some(tokio::time::Instant::now() + config.write_timeout);
                    conn.graceful_shutdown();
                }
            }
            () = idle, if streams.is_empty() => {
                if going_away.is_some() {
                    // The client never completed the shutdown: drop the connection.
                    break;
                }
                going_away = Some(tokio::time::Instant::now() + config.write_timeout);
                conn.graceful_shutdown();
            }
        }
    }
    drain(&mut streams, config.write_timeout).await;
    Ok(())
}

/// Lets requests still running finish (bounded), once the connection is gone.
async fn drain<F: Future>(streams: &mut FuturesUnordered<F>, limit: Duration) {
    let _ = timeout(limit, async { while streams.next().await.is_some() {} }).await;
}

/// The work of one stream: build its [`Request`], run the handler, write the reply; its output
/// is whether the answer asked to close the connection (`Connection: close`). `None` when the
/// head was refused (answered 431/400 at once).
fn stream_task<'a, S, H>(
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    config: &'a ServerConfig,
    handler: &'a H,
) -> Option<impl Future<Output = bool> + Send + 'a>
where
    S: From<H2Stream> + AsyncRead + AsyncWrite + Unpin + Send + 'a,
    H: Handler<S> + ?Sized,
{
    let (parts, recv) = req.into_parts();
    let head = match head::from_h2(&parts, recv.is_end_stream(), config.max_headers) {
        Ok(h) => h,
        Err(e) => {
            let r = http::Response::builder().status(e.status()).body(()).ok()?;
            let _ = respond.send_response(r, true);
            return None;
        }
    };
    let request = H2Request {
        head,
        recv,
        respond,
        budget: BodyBudget::new(config),
        write_timeout: config.write_timeout,
        wrap: S::from,
    };
    Some(async move {
        let reply = handler.handle(Request(Kind::H2(Box::new(request)))).await;
        if let ReplyInner::Respond(b) = reply.0 {
            let (req, response) = *b;
            if let Kind::H2(r) = req.0 {
                let close = response.headers.has_token("connection", "close");
                r.write(response).await;
                return close;
            }
        }
        false
    })
}

/// A stream with bytes already read from it put back in front (h2c detection reads the
/// first bytes of a connection before it knows which protocol they belong to).
pub(crate) struct Rewind<IO> {
    prefix: Bytes,
    io: IO,
}

impl<IO> Rewind<IO> {
    pub(crate) fn new(prefix: Bytes, io: IO) -> Self {
        Self { prefix, io }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewind<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let piece = self.prefix.split_to(n);
            buf.put_slice(&piece);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Rewind<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
