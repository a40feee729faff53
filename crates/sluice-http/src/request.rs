//! The request a [`Handler`](crate::Handler) gets and the writer of a streaming answer: one
//! type for HTTP/1.1 and HTTP/2, so a router is written once for both.

use std::io;
use std::ops::Deref;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::bridge::{BridgeRequest, BridgeWriter};
use crate::h2::{H2Request, H2Writer};
use crate::head::RequestHead;
use crate::response::Response;
use crate::server::{BodyError, H1, H1Writer, Reply, ReplyInner, Upgraded};

/// A request handed to a [`Handler`](crate::Handler): the parsed head (also reachable through `Deref`), and the
/// connection, from which the body has not been read yet.
///
/// The handler ends by turning it into a [`Reply`] in one of three ways:
/// [`respond`](Request::respond) (full or streaming [`Response`]),
/// [`respond_streaming`](Request::respond_streaming) (push-style [`ResponseWriter`]), or
/// [`upgrade`](Request::upgrade) (then [`Reply::closed`]). Reading the body first, with
/// [`body`](Request::body) or [`body_chunk`](Request::body_chunk), is optional: an unread body
/// is discarded after the response when small, and the connection closed otherwise.
#[derive(Debug)]
pub struct Request<S>(pub(crate) Kind<S>);

/// Which protocol a request came in on. HTTP/1.1, the common case, is inline (no allocation
/// per request); an HTTP/2 request is boxed.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Kind<S> {
    /// Boxed like the others: a request moves through several futures (router, route, parked
    /// wait), each of which would otherwise hold all of it inline, and the box is handed on to
    /// the response writer and back to the connection loop (one allocation per request).
    H1(Box<H1<S>>),
    H2(Box<H2Request<S>>),
    /// From another HTTP server ([`crate::bridge`]).
    Bridge(Box<BridgeRequest<S>>),
}

impl<S> Deref for Request<S> {
    type Target = RequestHead;
    fn deref(&self) -> &RequestHead {
        self.head()
    }
}

impl<S> Request<S> {
    /// The parsed request head (for HTTP/2: the pseudo-header fields as method and target,
    /// `:authority` as `Host`, `:protocol` as [`RequestHead::protocol`]).
    #[must_use]
    pub fn head(&self) -> &RequestHead {
        match &self.0 {
            Kind::H1(r) => &r.head,
            Kind::H2(r) => &r.head,
            Kind::Bridge(r) => &r.head,
        }
    }
}

impl<S> Request<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Changes the body size limit for this request (e.g. a per-route limit).
    pub fn set_body_limit(&mut self, max: u64) {
        match &mut self.0 {
            Kind::H1(r) => r.set_body_limit(max),
            Kind::H2(r) => r.budget.limit = max,
            Kind::Bridge(r) => r.budget.limit = max,
        }
    }

    /// Reads the next piece of the body: `Ok(None)` at its end. Over HTTP/1.1 it sends
    /// `100 Continue` first if the client asked for it, and decodes chunked bodies (trailers
    /// are read and discarded); over HTTP/2 each piece is a DATA frame, whose flow-control
    /// window is given back as it is taken.
    ///
    /// Cancel-safe: dropping the future loses no bytes.
    ///
    /// # Errors
    /// [`BodyError`]; after one, the connection (HTTP/2: the stream) is closed once the
    /// response is written.
    pub async fn body_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        match &mut self.0 {
            Kind::H1(r) => r.body_chunk().await,
            Kind::H2(r) => r.body_chunk().await,
            Kind::Bridge(r) => r.body_chunk().await,
        }
    }

    /// Reads the whole body (bounded by the body limit) into one buffer.
    ///
    /// # Errors
    /// [`BodyError`]: answer with [`BodyError::status`], e.g.
    /// `req.respond(Response::from_status(e.status()))`.
    pub async fn body(&mut self) -> Result<Bytes, BodyError> {
        let Some(first) = self.body_chunk().await? else {
            return Ok(Bytes::new());
        };
        let Some(second) = self.body_chunk().await? else {
            return Ok(first);
        };
        // A `Content-Length` body is sized at once (it was checked against the body limit
        // before the first piece was read); growing by doubling could take twice the body.
        let announced = self
            .header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut all = BytesMut::with_capacity(announced.max(first.len() + second.len()));
        all.extend_from_slice(&first);
        all.extend_from_slice(&second);
        while let Some(c) = self.body_chunk().await? {
            all.extend_from_slice(&c);
        }
        Ok(all.freeze())
    }

    /// Resolves when the client goes away before any response was started — for handlers
    /// that wait before answering (a parked long-poll): `select!` it against the event
    /// source, then answer. Over HTTP/1.1 that is the end of its side of the connection
    /// (never, when [`ServerConfig::detect_client_close`] is off; bytes the client sends
    /// meanwhile are kept, up to the head limit); over HTTP/2 the stream's reset or the
    /// connection's end. Cancel-safe.
    ///
    /// [`ServerConfig::detect_client_close`]: crate::ServerConfig::detect_client_close
    pub async fn closed(&mut self) {
        match &mut self.0 {
            Kind::H1(r) => r.closed().await,
            Kind::H2(r) => r.closed().await,
            Kind::Bridge(r) => r.closed().await,
        }
    }

    /// Answers with `response` (full or streaming body); the server writes it after the
    /// handler returns. Over HTTP/2 the connection-specific fields (`Connection`,
    /// `Keep-Alive`, `Transfer-Encoding`, `Upgrade`, `Proxy-Connection`) are left out.
    #[must_use]
    pub fn respond(self, response: Response) -> Reply<S> {
        Reply(ReplyInner::Respond(Box::new((self, response))))
    }

    /// Writes the head of `response` now and returns a writer for its body, for handlers that
    /// push events (SSE, long-poll) from their own loop. `response`'s body is ignored. Over
    /// HTTP/1.1 the body is chunked, or close-delimited for HTTP/1.0 or when
    /// [`Response::close_delimited`] was set; over HTTP/2 it is DATA frames, sent as the
    /// stream's flow-control window allows.
    ///
    /// # Errors
    /// Writing the head failed or timed out: the client is gone; return [`Reply::closed`].
    pub async fn respond_streaming(self, response: Response) -> io::Result<ResponseWriter<S>> {
        match self.0 {
            Kind::H1(r) => Ok(ResponseWriter(Writer::H1(
                r.respond_streaming(response).await?,
            ))),
            Kind::H2(r) => Ok(ResponseWriter(Writer::H2(r.respond_streaming(response)?))),
            Kind::Bridge(r) => Ok(ResponseWriter(Writer::Bridge(
                r.respond_streaming(response)?,
            ))),
        }
    }

    /// Switches protocols and hands back the stream with every byte already read past the
    /// request head. Over HTTP/1.1 `response` is written as is (normally
    /// `101 Switching Protocols` with its `Upgrade` and `Connection` fields; no framing
    /// fields are added, its body is ignored). Over HTTP/2 only an extended CONNECT (RFC 8441
    /// §4, [`RequestHead::protocol`]) can be taken over: a 101 is sent as `:status 200`
    /// without the fields HTTP/2 forbids or RFC 8441 §5 drops (`Sec-WebSocket-Accept`), and
    /// the stream (its DATA frames both ways, with HTTP/2 flow control as backpressure)
    /// becomes the connection.
    ///
    /// A request body, if any, is not read: read it first if it matters.
    ///
    /// # Errors
    /// Writing the response failed or timed out; over HTTP/2, a request that is not an
    /// extended CONNECT (`InvalidInput`).
    pub async fn upgrade(self, response: Response) -> io::Result<Upgraded<S>> {
        match self.0 {
            Kind::H1(r) => r.upgrade(response).await,
            Kind::H2(r) => r.upgrade(response),
            Kind::Bridge(r) => r.upgrade(response).await,
        }
    }
}

/// Writes the body of a streaming response, one flushed piece at a time.
///
/// Obtained from [`Request::respond_streaming`]; finish with [`ResponseWriter::finish`] and
/// return its [`Reply`]. Dropping it closes the connection (HTTP/2: resets the stream), so
/// the client sees a truncated body.
#[derive(Debug)]
pub struct ResponseWriter<S>(Writer<S>);

/// As [`Kind`]: the HTTP/1.1 writer inline.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Writer<S> {
    H1(H1Writer<S>),
    H2(H2Writer),
    Bridge(BridgeWriter),
}

impl<S> ResponseWriter<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Writes `data` as one piece of the body (one chunk when chunked, DATA frames over
    /// HTTP/2) and flushes it. Empty data writes nothing. For HEAD requests nothing is
    /// written.
    ///
    /// # Errors
    /// The write failed or timed out: the client is gone or stuck; stop and return
    /// [`Reply::closed`] (or [`ResponseWriter::finish`], which then closes).
    pub async fn send(&mut self, data: Bytes) -> io::Result<()> {
        match &mut self.0 {
            Writer::H1(w) => w.send(data).await,
            Writer::H2(w) => w.send(data).await,
            Writer::Bridge(w) => w.send(data).await,
        }
    }

    /// Resolves when the client has gone away, as far as the transport can tell (HTTP/1.1:
    /// its side reached end of stream or failed — never when
    /// [`ServerConfig::detect_client_close`] is off; HTTP/2: the stream was reset).
    ///
    /// Cancel-safe: use it in `select!` next to the event source.
    ///
    /// [`ServerConfig::detect_client_close`]: crate::ServerConfig::detect_client_close
    pub async fn closed(&mut self) {
        match &mut self.0 {
            Writer::H1(w) => w.closed().await,
            Writer::H2(w) => w.closed().await,
            Writer::Bridge(w) => w.closed().await,
        }
    }

    /// Whether [`closed`](ResponseWriter::closed) or a failed write has seen the client go.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        match &self.0 {
            Writer::H1(w) => w.is_closed(),
            Writer::H2(w) => w.is_closed(),
            Writer::Bridge(w) => w.is_closed(),
        }
    }

    /// Ends the body (the last chunk, closing a close-delimited body, or END_STREAM) and
    /// hands the connection back to the server, which serves the next request if it can.
    pub async fn finish(self) -> Reply<S> {
        match self.0 {
            Writer::H1(w) => w.finish().await,
            Writer::H2(w) => {
                w.finish().await;
                Reply::closed()
            }
            Writer::Bridge(w) => {
                w.finish();
                Reply::closed()
            }
        }
    }
}
