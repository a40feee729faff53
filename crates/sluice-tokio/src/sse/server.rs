//! The server side: an event-stream response written event by event, with heartbeats and
//! client-disconnect detection.

use std::io;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use sluice_sse::{EncodeError, Event, HEARTBEAT};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep, sleep_until};

use sluice_http::{Reply, Request, Response, ResponseWriter, StatusCode};

/// Options of an event-stream response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SseWriterConfig {
    /// Send a heartbeat comment (`:\n`) when nothing was written for this long, so proxies
    /// and clients with a read timeout keep the stream open and a vanished client is noticed
    /// by a failing write. `None`: no heartbeats. Default 15 s.
    pub heartbeat_interval: Option<Duration>,
    /// A `retry` field sent right after the head (the client's reconnection time). Default
    /// `None` (the client keeps its own, 3 s in browsers).
    pub retry: Option<Duration>,
}

impl Default for SseWriterConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Some(Duration::from_secs(15)),
            retry: None,
        }
    }
}

impl SseWriterConfig {
    /// Sets [`SseWriterConfig::heartbeat_interval`].
    #[must_use]
    pub fn with_heartbeat_interval(mut self, interval: Option<Duration>) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Sets [`SseWriterConfig::retry`].
    #[must_use]
    pub fn with_retry(mut self, retry: Option<Duration>) -> Self {
        self.retry = retry;
        self
    }
}

/// Failure to send an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Caller misuse: the event cannot be encoded (line break in `event`/`id`, NUL in `id`).
    /// Nothing was written; the stream is intact.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The write failed or timed out: the client is gone or stuck. Stop and
    /// [`finish`](SseWriter::finish) (which then closes).
    #[error("event-stream write failed: {0}")]
    Io(#[from] io::Error),
}

/// What [`SseWriter::idle`] woke up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Idle {
    /// Nothing was written for [`SseWriterConfig::heartbeat_interval`]: call
    /// [`SseWriter::heartbeat`].
    HeartbeatDue,
    /// The client went away (end of stream or a read error on the connection, or an earlier
    /// failed write). Stop and [`finish`](SseWriter::finish).
    Closed,
}

/// How [`SseWriter::forward`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardEnd {
    /// The source stream ended.
    SourceEnded,
    /// The client went away, or a write failed or timed out.
    ClientGone,
}

/// The body of a `text/event-stream` response, written event by event.
///
/// [`SseWriter::start`] writes the head at once, before any event: `200`, `Content-Type:
/// text/event-stream`, `Cache-Control: no-cache, no-transform` (no proxy may compress or rewrite
/// it) and `X-Accel-Buffering: no` (nginx must not
/// buffer the stream). The body is chunked for HTTP/1.1 clients and close-delimited for
/// HTTP/1.0 ones; every event is one piece, flushed as it is written.
///
/// Events come as [`Event`]s ([`send`](SseWriter::send)) or pre-encoded [`Bytes`]
/// ([`send_bytes`](SseWriter::send_bytes)): a broadcast encodes once with
/// [`Event::to_bytes`] and hands a clone (a reference count) to every subscriber.
///
/// Loop shape, with any event source next to [`idle`](SseWriter::idle) in a `select!` (both
/// sides are cancel-safe; the writes happen outside the `select!`):
///
/// ```no_run
/// use sluice_http::{Reply, Request};
/// use sluice_tokio::sse::{Idle, SseWriter, SseWriterConfig};
/// use tokio::net::TcpStream;
/// use tokio::sync::broadcast;
///
/// async fn subscribe(req: Request<TcpStream>, mut rx: broadcast::Receiver<bytes::Bytes>) -> Reply<TcpStream> {
///     let Ok(mut sse) = SseWriter::start(req, SseWriterConfig::default()).await else {
///         return Reply::closed();
///     };
///     loop {
///         tokio::select! {
///             msg = rx.recv() => match msg {
///                 Ok(encoded) => if sse.send_bytes(encoded).await.is_err() { break },
///                 Err(_) => break,
///             },
///             idle = sse.idle() => match idle {
///                 Idle::HeartbeatDue => if sse.heartbeat().await.is_err() { break },
///                 _ => break, // the client went away
///             },
///         }
///     }
///     sse.finish().await
/// }
/// ```
#[derive(Debug)]
pub struct SseWriter<S> {
    writer: ResponseWriter<S>,
    heartbeat_interval: Option<Duration>,
    last_write: Instant,
    /// The heartbeat timer, armed lazily: a write only moves `last_write`, and the timer,
    /// when it fires early, re-arms itself to `last_write + interval` (no timer operation
    /// per event).
    timer: Option<Pin<Box<Sleep>>>,
    buf: BytesMut,
}

impl<S> SseWriter<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// The response head [`start`](SseWriter::start) sends: `200` with the three fields. Add
    /// fields (CORS, cookies) to it and pass it to [`start_with`](SseWriter::start_with).
    #[must_use]
    pub fn response() -> Response {
        Response::new(StatusCode::OK)
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache, no-transform")
            .header("x-accel-buffering", "no")
    }

    /// Writes the head of [`SseWriter::response`] now (and the `retry` field if configured).
    ///
    /// # Errors
    /// Writing failed or timed out: the client is gone; return [`Reply::closed`].
    pub async fn start(req: Request<S>, config: SseWriterConfig) -> io::Result<SseWriter<S>> {
        Self::start_with(req, Self::response(), config).await
    }

    /// Writes `response`'s status and fields now (its body is ignored). The three
    /// event-stream fields are added unless `response` already has them.
    ///
    /// # Errors
    /// As [`SseWriter::start`].
    pub async fn start_with(
        req: Request<S>,
        mut response: Response,
        config: SseWriterConfig,
    ) -> io::Result<SseWriter<S>> {
        for (name, value) in [
            ("content-type", "text/event-stream"),
            ("cache-control", "no-cache, no-transform"),
            ("x-accel-buffering", "no"),
        ] {
            if !response.headers().contains(name) {
                response = response.header(name, value);
            }
        }
        let writer = req.respond_streaming(response).await?;
        let mut w = SseWriter {
            writer,
            heartbeat_interval: config.heartbeat_interval,
            last_write: Instant::now(),
            timer: None,
            buf: BytesMut::new(),
        };
        if let Some(retry) = config.retry {
            let ev = Event::new().retry(retry);
            w.send(&ev).await.map_err(|e| match e {
                SendError::Io(e) => e,
                SendError::Encode(e) => io::Error::new(io::ErrorKind::InvalidInput, e),
            })?;
        }
        Ok(w)
    }

    /// Encodes `event` and writes it (flushed).
    ///
    /// Not cancel-safe: a cancelled write leaves a partial event on the wire; keep it out of
    /// `select!` branches (see the type's example).
    ///
    /// # Errors
    /// [`SendError::Encode`] (nothing written) or [`SendError::Io`].
    pub async fn send(&mut self, event: &Event) -> Result<(), SendError> {
        self.buf.clear();
        event.encode(&mut self.buf)?;
        let bytes = self.buf.split().freeze();
        self.send_bytes(bytes).await?;
        Ok(())
    }

    /// Writes pre-encoded event-stream bytes (one or more whole events, e.g. from
    /// [`Event::to_bytes`]) as one flushed piece. The bytes are not copied.
    ///
    /// # Errors
    /// The write failed or timed out.
    pub async fn send_bytes(&mut self, bytes: Bytes) -> io::Result<()> {
        let r = self.writer.send(bytes).await;
        self.last_write = Instant::now();
        r
    }

    /// Writes comment lines (`: text`), e.g. a note for people reading the stream.
    ///
    /// # Errors
    /// The write failed or timed out.
    pub async fn comment(&mut self, text: &str) -> io::Result<()> {
        self.buf.clear();
        sluice_sse::comment(text, &mut self.buf);
        let bytes = self.buf.split().freeze();
        self.send_bytes(bytes).await
    }

    /// Writes a heartbeat (`:\n`) now.
    ///
    /// # Errors
    /// The write failed or timed out.
    pub async fn heartbeat(&mut self) -> io::Result<()> {
        self.send_bytes(Bytes::from_static(HEARTBEAT)).await
    }

    /// Waits until a heartbeat is due or the client goes away, whichever is first. Writes
    /// nothing.
    ///
    /// Cancel-safe: put it in `select!` next to the event source.
    pub async fn idle(&mut self) -> Idle {
        if self.writer.is_closed() {
            return Idle::Closed;
        }
        let Some(interval) = self.heartbeat_interval else {
            self.writer.closed().await;
            return Idle::Closed;
        };
        let last_write = self.last_write;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(sleep_until(last_write + interval)));
        let closed = self.writer.closed();
        tokio::pin!(closed);
        loop {
            tokio::select! {
                () = &mut closed => return Idle::Closed,
                () = timer.as_mut() => {
                    // Written to since the timer was armed: wait for the new deadline.
                    let due = self.last_write + interval;
                    if due > timer.deadline() {
                        timer.as_mut().reset(due);
                        continue;
                    }
                    // Due (and due again at once until something is written).
                    return Idle::HeartbeatDue;
                }
            }
        }
    }

    /// Resolves when the client has gone away (as [`idle`](SseWriter::idle) sees it), with no
    /// heartbeats. Cancel-safe.
    pub async fn closed(&mut self) {
        self.writer.closed().await;
    }

    /// Whether the client is known to be gone.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.writer.is_closed()
    }

    /// Writes every item of `source` as it comes, with heartbeats in between, until the source
    /// ends or the client goes away. The client's leaving is noticed while waiting for the
    /// source, not only at the next write.
    pub async fn forward<St>(&mut self, source: St) -> ForwardEnd
    where
        St: Stream<Item = Bytes> + Send,
    {
        let mut source = std::pin::pin!(source);
        loop {
            let next = std::future::poll_fn(|cx| source.as_mut().poll_next(cx));
            let step = tokio::select! {
                item = next => Step::Item(item),
                idle = self.idle() => Step::Idle(idle),
            };
            let ok = match step {
                Step::Item(Some(bytes)) => self.send_bytes(bytes).await.is_ok(),
                Step::Item(None) => return ForwardEnd::SourceEnded,
                Step::Idle(Idle::HeartbeatDue) => self.heartbeat().await.is_ok(),
                Step::Idle(_) => false,
            };
            if !ok {
                return ForwardEnd::ClientGone;
            }
        }
    }

    /// Ends the stream (the last chunk, or a close for HTTP/1.0) and hands the connection back
    /// to the server. Browsers reconnect after the end of a stream unless told otherwise
    /// (answer their next request with `204`).
    pub async fn finish(self) -> Reply<S> {
        self.writer.finish().await
    }

    /// The underlying body writer.
    #[must_use]
    pub fn into_inner(self) -> ResponseWriter<S> {
        self.writer
    }
}

enum Step {
    Item(Option<Bytes>),
    Idle(Idle),
}
