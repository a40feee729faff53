//! [`Sse`]: a `text/event-stream` answer from any `Stream` of [`Event`]s, with heartbeats and
//! the fields proxies need; [`LastEventId`]: where the client wants to resume.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use sluice_sse::{Event, HEARTBEAT};
use tokio::time::{Instant, Sleep, sleep_until};

use crate::body::{BoxError, SluiceBody};

/// An item of an event stream: an [`Event`], or `Result<Event, E>` (an `Err` ends the stream
/// abruptly — the client sees a dropped connection and reconnects).
pub trait SseItem: Send + 'static {
    /// The event, or why the stream failed.
    fn into_event(self) -> Result<Event, BoxError>;
}

impl SseItem for Event {
    fn into_event(self) -> Result<Event, BoxError> {
        Ok(self)
    }
}

impl<E: Into<BoxError> + Send + 'static> SseItem for Result<Event, E> {
    fn into_event(self) -> Result<Event, BoxError> {
        self.map_err(Into::into)
    }
}

/// A `text/event-stream` answer: `200` with `Content-Type: text/event-stream`,
/// `Cache-Control: no-cache, no-transform` (no cache, no compressing proxy holding events
/// back), `X-Accel-Buffering: no` (nginx must not buffer), then each event of the stream as
/// it comes, and a heartbeat comment after [`keep_alive`](Sse::keep_alive) of silence.
///
/// ```
/// use axum::{Router, routing::get};
/// use sluice_axum::{LastEventId, Sse};
/// use sluice_sse::Event;
///
/// async fn ticks(LastEventId(last): LastEventId) -> Sse<impl futures_core::Stream<Item = Event>> {
///     let start: u64 = last.and_then(|id| id.parse().ok()).map_or(0, |n: u64| n + 1);
///     let events = (start..start + 3).map(|n| Event::new().id(n.to_string()).data(format!("tick {n}")));
///     Sse::new(futures_util::stream::iter(events))
/// }
///
/// let app: Router = Router::new().route("/ticks", get(ticks));
/// ```
///
/// An event that cannot be encoded (a line break in its `event` or `id`) ends the stream as
/// an `Err` item does.
#[derive(Debug)]
#[must_use]
pub struct Sse<S> {
    stream: S,
    keep_alive: Option<Duration>,
    retry: Option<Duration>,
    prime: Option<String>,
}

impl<S> Sse<S>
where
    S: Stream + Send + 'static,
    S::Item: SseItem,
{
    /// The answer for `stream`, with a heartbeat after 15 s of silence.
    pub fn new(stream: S) -> Self {
        Sse {
            stream,
            keep_alive: Some(Duration::from_secs(15)),
            retry: None,
            prime: None,
        }
    }

    /// Heartbeat comment (`:`) after this long without an event, so proxies and clients with
    /// a read timeout keep the stream and a vanished client is noticed by a failing write.
    /// `None`: no heartbeats. Default 15 s; at least 100 ms (a zero interval would send
    /// heartbeats as fast as the socket takes them).
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.keep_alive = every.map(|d| d.max(Duration::from_millis(100)));
        self
    }

    /// A `retry` field first: the client's reconnection time.
    pub fn retry(mut self, after: Duration) -> Self {
        self.retry = Some(after);
        self
    }

    /// Starts the stream with an event of id `id` and empty data, before the first real
    /// event: clients that only resume from an id they have seen (the MCP Streamable HTTP
    /// transport asks servers to "prime" them this way) then reconnect with `Last-Event-ID`
    /// even when the stream drops before its first event; an `EventSource` sees one message
    /// with empty data.
    pub fn prime(mut self, id: impl Into<String>) -> Self {
        self.prime = Some(id.into());
        self
    }

    /// The answer as an `http::Response` (for hyper; axum takes `Sse` itself).
    pub fn into_http(self) -> http::Response<SluiceBody> {
        let mut prelude = BytesMut::new();
        let mut first = Event::new();
        if let Some(r) = self.retry {
            first = first.retry(r);
        }
        if let Some(id) = self.prime {
            first = first.id(id).data("");
        }
        let bad_prelude = first != Event::new() && first.encode(&mut prelude).is_err();
        let body = EventBody {
            stream: Box::pin(self.stream),
            prelude: (!prelude.is_empty()).then(|| prelude.freeze()),
            failed: bad_prelude,
            ended: false,
            keep_alive: self.keep_alive,
            last_write: Instant::now(),
            timer: None,
            buf: BytesMut::new(),
        };
        let mut r = http::Response::new(SluiceBody::stream(Box::pin(body)));
        let h = r.headers_mut();
        for (name, value) in RESPONSE_FIELDS {
            h.insert(*name, http::HeaderValue::from_static(value));
        }
        r
    }
}

/// The fields of an event-stream answer.
const RESPONSE_FIELDS: &[(&str, &str)] = &[
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache, no-transform"),
    ("x-accel-buffering", "no"),
];

#[cfg(feature = "axum")]
impl<S> axum::response::IntoResponse for Sse<S>
where
    S: Stream + Send + 'static,
    S::Item: SseItem,
{
    fn into_response(self) -> axum::response::Response {
        self.into_http().map(axum::body::Body::new)
    }
}

/// The body: prelude, then events, heartbeats in the silences.
struct EventBody<S: Stream> {
    stream: Pin<Box<S>>,
    prelude: Option<Bytes>,
    /// The prelude could not be encoded: the body is one error.
    failed: bool,
    /// After the end or an error nothing more comes (the source is not polled again).
    ended: bool,
    keep_alive: Option<Duration>,
    last_write: Instant,
    /// Armed lazily: an event only moves `last_write`; the timer, when it fires early,
    /// re-arms itself to `last_write + keep_alive` (no timer operation per event).
    timer: Option<Pin<Box<Sleep>>>,
    buf: BytesMut,
}

impl<S> Stream for EventBody<S>
where
    S: Stream,
    S::Item: SseItem,
{
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if this.failed {
            this.ended = true;
            return Poll::Ready(Some(Err(io::Error::other("invalid event"))));
        }
        if let Some(p) = this.prelude.take() {
            this.last_write = Instant::now();
            return Poll::Ready(Some(Ok(p)));
        }
        match this.stream.as_mut().poll_next(cx) {
            Poll::Ready(None) => {
                this.ended = true;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(item)) => {
                let encoded = item
                    .into_event()
                    .and_then(|ev| ev.encode(&mut this.buf).map_err(Into::into));
                return Poll::Ready(Some(match encoded {
                    Ok(()) => {
                        this.last_write = Instant::now();
                        Ok(this.buf.split().freeze())
                    }
                    Err(e) => {
                        this.buf.clear();
                        this.ended = true;
                        Err(io::Error::other(e))
                    }
                }));
            }
            Poll::Pending => {}
        }
        let Some(every) = this.keep_alive else {
            return Poll::Pending;
        };
        // An interval too long to add to a clock is no heartbeat at all.
        let Some(due) = this.last_write.checked_add(every) else {
            return Poll::Pending;
        };
        let timer = this.timer.get_or_insert_with(|| Box::pin(sleep_until(due)));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let Some(due) = this.last_write.checked_add(every) else {
                return Poll::Pending;
            };
            if due <= Instant::now() {
                this.last_write = Instant::now();
                if let Some(next) = this.last_write.checked_add(every) {
                    timer.as_mut().reset(next);
                }
                return Poll::Ready(Some(Ok(Bytes::from_static(HEARTBEAT))));
            }
            timer.as_mut().reset(due);
        }
    }
}

/// The `Last-Event-ID` of the request (WHATWG HTML §9.2.4: an `EventSource` reconnecting
/// sends the id of the last event it saw), `None` when absent or not UTF-8. An axum
/// extractor that never rejects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LastEventId(pub Option<String>);

impl LastEventId {
    /// The value in `headers`.
    #[must_use]
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        LastEventId(
            headers
                .get("last-event-id")
                .and_then(|v| core::str::from_utf8(v.as_bytes()).ok())
                .map(str::to_owned),
        )
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for LastEventId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(LastEventId::from_headers(&parts.headers))
    }
}
