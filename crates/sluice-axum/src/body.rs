//! [`SluiceBody`]: the body of every answer this crate makes, as hyper and axum take it; and
//! the other way, a hyper/axum request body as the piece stream the bridge reads.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Body as HttpBody, Frame, SizeHint};
use sluice_http::{Body, BodyStream};

/// The error type of request bodies this crate accepts (what hyper and axum use).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: empty, one piece, or a stream of pieces (an SSE stream, a hub answer).
/// Implements [`http_body::Body`], so it is the body of an `http::Response` that hyper serves
/// and axum returns as is.
pub struct SluiceBody(Inner);

enum Inner {
    Full(Option<Bytes>),
    Stream(BodyStream),
}

impl std::fmt::Debug for SluiceBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Full(b) => write!(
                f,
                "SluiceBody::Full({} bytes)",
                b.as_ref().map_or(0, Bytes::len)
            ),
            Inner::Stream(_) => f.write_str("SluiceBody::Stream"),
        }
    }
}

impl SluiceBody {
    /// No body.
    #[must_use]
    pub fn empty() -> Self {
        SluiceBody(Inner::Full(None))
    }

    /// One piece.
    #[must_use]
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        SluiceBody(Inner::Full((!data.is_empty()).then_some(data)))
    }

    /// Pieces as they come; an `Err` item aborts the body (the client sees it truncated).
    #[must_use]
    pub fn stream(stream: BodyStream) -> Self {
        SluiceBody(Inner::Stream(stream))
    }
}

impl Default for SluiceBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl From<Body> for SluiceBody {
    fn from(body: Body) -> Self {
        match body {
            Body::Empty => SluiceBody::empty(),
            Body::Full(b) => SluiceBody::full(b),
            Body::Stream(s) => SluiceBody::stream(s),
        }
    }
}

impl HttpBody for SluiceBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.0 {
            Inner::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Inner::Stream(s) => loop {
                match s.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Ok(b))) if b.is_empty() => {}
                    other => return other.map(|o| o.map(|r| r.map(Frame::data))),
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.0, Inner::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Stream(_) => SizeHint::default(),
        }
    }
}

/// A request body as the bridge reads it: its data frames in order (trailers skipped), an
/// error as an `io::Error`.
pub(crate) fn request_pieces<B>(body: B) -> BodyStream
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    Box::pin(Pieces(Box::pin(body)))
}

struct Pieces<B>(Pin<Box<B>>);

impl<B> Stream for Pieces<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match self.0.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Some(Err(io::Error::other(e.into()))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            }
        }
    }
}
