//! Serving a [`Handler`] from another HTTP server — hyper, axum, anything that speaks the
//! `http` crate's types.
//!
//! The other server owns the connection, the framing and HTTP/2; Sluice sees each of its
//! requests as the same [`Request`] the built-in servers hand out, so a router written for
//! those (the hub's) runs unchanged:
//!
//! 1. [`Incoming::from_parts`] takes the request head (`http::request::Parts`), plus its body
//!    as a [`BodyStream`] and, for a request that can switch protocols (an HTTP/1.1 upgrade, an
//!    HTTP/2 extended CONNECT), a future that yields the upgraded stream;
//! 2. [`dispatch`] runs the handler on its own task and returns [`Pending`], which resolves to
//!    the answer as an `http::Response<Body>` as soon as the handler gives one — a streaming
//!    answer's body then keeps coming from the task (an SSE stream, a parked long-poll), an
//!    upgrade's stream is taken over by the handler once the other server has sent the `101`
//!    (HTTP/2: `:status 200`).
//!
//! The server's limits ([`ServerConfig::max_body_size`], the body timeouts, the write timeout)
//! apply to bridged requests as to the built-in servers'. Connection limits, head parsing and
//! HTTP/2 flow control are the other server's.
//!
//! A client that goes away before the answer shows as the other server dropping [`Pending`]:
//! [`Request::closed`] then resolves, so a waiting handler stops waiting. One that goes away
//! during a streaming answer shows as the other server dropping the body: the writer's
//! [`ResponseWriter::closed`](crate::ResponseWriter::closed) resolves and its sends fail.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use crate::budget::BodyBudget;
use crate::head::{self, HeadError, RequestHead, Version};
use crate::request::{Kind, Request};
use crate::response::{Body, BodyStream, Response, http_head};
use crate::server::{BodyError, Handler, ReplyInner, ServerConfig, Upgraded};
use crate::status::{StatusCode, forbids_body};

/// Pieces of a streaming answer the writer may queue ahead of the other server's reads; with
/// each piece one write, this bounds what a slow client makes the bridge hold.
const STREAM_QUEUE: usize = 4;

/// A future that yields the stream of an upgraded request (hyper: `hyper::upgrade::on`).
pub type UpgradeFuture<S> = Pin<Box<dyn Future<Output = io::Result<S>> + Send>>;

/// A request of another HTTP server, ready for [`dispatch`].
pub struct Incoming<S> {
    head: RequestHead,
    body: Option<BodyStream>,
    upgrade: Option<UpgradeFuture<S>>,
}

impl<S> std::fmt::Debug for Incoming<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("head", &self.head)
            .field("body", &self.body.is_some())
            .field("upgrade", &self.upgrade.is_some())
            .finish()
    }
}

impl<S> Incoming<S> {
    /// Takes a request head: method and URI, the fields (the URI's authority becomes `Host`
    /// when there is none), the version, and `protocol`, an HTTP/2 extended CONNECT's
    /// `:protocol` (RFC 8441 §4; hyper keeps it in `hyper::ext::Protocol`). `end_stream`: the
    /// request has no body (hyper: `Body::is_end_stream`).
    ///
    /// # Errors
    /// More fields than [`ServerConfig::max_headers`] (431), an invalid `Host` or
    /// `Content-Length` (400): answer with [`HeadError::status`].
    pub fn from_parts(
        parts: &http::request::Parts,
        protocol: Option<&str>,
        end_stream: bool,
        config: &ServerConfig,
    ) -> Result<Incoming<S>, HeadError> {
        let version = match parts.version {
            http::Version::HTTP_09 | http::Version::HTTP_10 => Version::Http10,
            http::Version::HTTP_2 | http::Version::HTTP_3 => Version::Http2,
            _ => Version::Http11,
        };
        let head = head::from_http(parts, version, end_stream, protocol, config.max_headers)?;
        Ok(Incoming {
            head,
            body: None,
            upgrade: None,
        })
    }

    /// The request's body, piece by piece (an `Err` item ends it as a failed read).
    #[must_use]
    pub fn body(mut self, body: BodyStream) -> Self {
        self.body = Some(body);
        self
    }

    /// How to get the stream once the request is upgraded; without it
    /// [`Request::upgrade`] fails.
    #[must_use]
    pub fn upgrade(mut self, upgrade: UpgradeFuture<S>) -> Self {
        self.upgrade = Some(upgrade);
        self
    }

    /// The head as the handler will see it.
    #[must_use]
    pub fn head(&self) -> &RequestHead {
        &self.head
    }
}

/// Runs `handler` on `incoming` in a task of its own and returns the future of its answer.
///
/// The task outlives the answer when the answer streams or upgrades; it ends when the handler
/// returns.
pub fn dispatch<S, H>(handler: H, incoming: Incoming<S>, config: &ServerConfig) -> Pending
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Handler<S> + 'static,
{
    let (answer, rx) = oneshot::channel();
    let request = BridgeRequest {
        head: incoming.head,
        body: incoming.body,
        upgrade: incoming.upgrade,
        answer,
        budget: BodyBudget::new(config),
        write_timeout: config.write_timeout,
    };
    tokio::spawn(async move {
        let reply = handler
            .handle(Request(Kind::Bridge(Box::new(request))))
            .await;
        if let ReplyInner::Respond(b) = reply.0 {
            let (req, response) = *b;
            if let Kind::Bridge(r) = req.0 {
                r.answer(response);
            }
        }
    });
    Pending(rx)
}

/// The answer of a [`dispatch`]ed request: `None` when the handler ended without one (it
/// dropped the request, or an upgrade failed) — the other server should close the
/// connection or reset the stream, as the built-in servers do.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Pending(oneshot::Receiver<http::Response<Body>>);

impl Future for Pending {
    type Output = Option<http::Response<Body>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(Result::ok)
    }
}

/// The bridge side of a [`Request`].
pub(crate) struct BridgeRequest<S> {
    pub(crate) head: RequestHead,
    body: Option<BodyStream>,
    upgrade: Option<UpgradeFuture<S>>,
    answer: oneshot::Sender<http::Response<Body>>,
    pub(crate) budget: BodyBudget,
    write_timeout: Duration,
}

impl<S> std::fmt::Debug for BridgeRequest<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeRequest")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl<S> BridgeRequest<S> {
    pub(crate) async fn body_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        let body = &mut self.body;
        let next = async {
            let b = body.as_mut()?;
            let item = std::future::poll_fn(|cx| b.as_mut().poll_next(cx)).await;
            if item.is_none() {
                *body = None;
            }
            Some(item?.map_err(BodyError::Io))
        };
        self.budget.read(&self.head, next).await
    }

    /// Resolves when the other server dropped [`Pending`]: the client is gone.
    pub(crate) async fn closed(&mut self) {
        self.answer.closed().await;
    }

    /// Sends `response` as the answer (full or streaming body).
    fn answer(self, response: Response) {
        let Response {
            status,
            headers,
            body,
            ..
        } = response;
        let discard = self.head.answer_discards_body(status);
        let (length, body) = match body {
            _ if forbids_body(status) => (None, Body::Empty),
            // A HEAD answer may announce the length a GET would get.
            Body::Empty if self.head.method() == "HEAD" => (
                head::parse_content_length(&headers).ok().flatten(),
                Body::Empty,
            ),
            Body::Empty => (Some(0), Body::Empty),
            Body::Full(b) => (
                Some(b.len() as u64),
                if discard { Body::Empty } else { Body::Full(b) },
            ),
            Body::Stream(s) => (
                None,
                if discard {
                    Body::Empty
                } else {
                    Body::Stream(s)
                },
            ),
        };
        let Ok(head) = http_head(status, &headers, length, self.head.version()) else {
            return; // a field the `http` crate refuses: no answer, as a failed write
        };
        let _ = self.answer.send(head.map(|()| body));
    }

    pub(crate) fn respond_streaming(self, response: Response) -> io::Result<BridgeWriter> {
        let discard = self.head.answer_discards_body(response.status);
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let finished = Arc::new(AtomicBool::new(false));
        let mut head = http_head(
            response.status,
            &response.headers,
            None,
            self.head.version(),
        )?;
        if discard {
            head.headers_mut().remove(http::header::CONTENT_LENGTH);
        }
        let body = if discard {
            Body::Empty
        } else {
            Body::Stream(Box::pin(QueueStream {
                rx,
                finished: Arc::clone(&finished),
            }))
        };
        self.answer
            .send(head.map(|()| body))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(BridgeWriter {
            tx,
            finished,
            discard,
            closed: false,
            write_timeout: self.write_timeout,
        })
    }

    pub(crate) async fn upgrade(self, response: Response) -> io::Result<Upgraded<S>> {
        let Some(upgrade) = self.upgrade else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "this request cannot be upgraded",
            ));
        };
        let h2 = self.head.version() == Version::Http2;
        let status = if h2 && response.status == StatusCode::SWITCHING_PROTOCOLS {
            StatusCode::OK // RFC 8441 §5
        } else {
            response.status
        };
        let mut headers = response.headers;
        if h2 {
            headers.remove("sec-websocket-accept");
        }
        let head = http_head(status, &headers, None, self.head.version())?;
        self.answer
            .send(head.map(|()| Body::Empty))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        let io = timeout(self.write_timeout, upgrade)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "upgrade timed out"))??;
        Ok(Upgraded {
            io,
            read_buf: BytesMut::new(),
        })
    }
}

/// The bridge side of a [`ResponseWriter`](crate::ResponseWriter): pieces go to the body the
/// other server is reading.
#[derive(Debug)]
pub(crate) struct BridgeWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    /// Set by [`BridgeWriter::finish`]: a body whose writer is dropped without it ends in an
    /// error, so the client sees a truncated body, not a complete one.
    finished: Arc<AtomicBool>,
    discard: bool,
    closed: bool,
    write_timeout: Duration,
}

impl BridgeWriter {
    /// Queues `data`, waiting (within the write timeout) while the queue is full.
    pub(crate) async fn send(&mut self, data: Bytes) -> io::Result<()> {
        if data.is_empty() || self.discard {
            return Ok(());
        }
        if self.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let r = match timeout(self.write_timeout, self.tx.send(Ok(data))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        };
        if r.is_err() {
            self.closed = true;
        }
        r
    }

    pub(crate) async fn closed(&mut self) {
        if !self.closed {
            self.tx.closed().await;
            self.closed = true;
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed || self.tx.is_closed()
    }

    /// Ends the body.
    pub(crate) fn finish(self) {
        self.finished.store(true, Ordering::Release);
    }
}

/// The body of a streaming answer: what the writer queued, ending when it is dropped — in an
/// error unless it was finished.
struct QueueStream {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    finished: Arc<AtomicBool>,
}

impl Stream for QueueStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(None) if !self.finished.swap(true, Ordering::AcqRel) => Poll::Ready(Some(
                Err(io::Error::other("the streaming answer was abandoned")),
            )),
            other => other,
        }
    }
}
