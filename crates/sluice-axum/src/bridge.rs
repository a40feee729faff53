//! Running a [`sluice_http::Handler`] (the hub, a long-poll endpoint, your own router) on a
//! request hyper or axum parsed, through [`sluice_http::bridge`].

use std::io;

use bytes::Bytes;
use http_body::Body as HttpBody;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sluice_http::bridge::{Incoming, dispatch};
use sluice_http::{Handler, ServerConfig, StatusCode};

use crate::Upgraded;
use crate::body::{BoxError, SluiceBody, request_pieces};

/// Serves `req` with `handler`: the head, the body (read under `config`'s body limits and
/// timeouts) and, when hyper can upgrade the connection (an HTTP/1.1 `Upgrade`, an HTTP/2
/// extended CONNECT), the upgraded stream. The answer comes back as soon as the handler gives
/// it; a streaming answer keeps coming from the handler's task.
///
/// A head the bridge refuses (more fields than `config.max_headers`, a bad `Host` or
/// `Content-Length`) is answered 431/400; a handler that ends without answering gets a `500`
/// with `Connection: close`.
///
/// ```
/// use axum::{Router, extract::Request, response::IntoResponse, routing::any};
/// use sluice_axum::Upgraded;
/// use sluice_http::{Reply, Response, ServerConfig, StatusCode};
///
/// // A route written for Sluice's own HTTP servers…
/// async fn hello(req: sluice_http::Request<Upgraded>) -> Reply<Upgraded> {
///     req.respond(Response::text(StatusCode::OK, "hello\n"))
/// }
///
/// // …served inside axum.
/// async fn route(req: Request) -> impl IntoResponse {
///     sluice_axum::serve_handler(hello, req, &ServerConfig::default()).await
/// }
///
/// let app: Router = Router::new().route("/hello", any(route));
/// ```
pub async fn serve_handler<H, B>(
    handler: H,
    req: http::Request<B>,
    config: &ServerConfig,
) -> http::Response<SluiceBody>
where
    H: Handler<Upgraded> + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = req.into_parts();
    let h1 = parts.version < http::Version::HTTP_2;
    let protocol = parts
        .extensions
        .get::<hyper::ext::Protocol>()
        .map(|p| p.as_str().to_owned());
    let end = body.is_end_stream();
    let mut incoming = match Incoming::from_parts(&parts, protocol.as_deref(), end, config) {
        Ok(i) => i,
        Err(e) => return status_response(e.status()),
    };
    if !end {
        incoming = incoming.body(request_pieces(body));
    }
    if let Some(on) = parts.extensions.remove::<OnUpgrade>() {
        incoming = incoming.upgrade(Box::pin(async move {
            on.await.map(TokioIo::new).map_err(io::Error::other)
        }));
    }
    match dispatch(handler, incoming, config).await {
        Some(resp) => resp.map(SluiceBody::from),
        None => {
            let mut r = status_response(StatusCode::INTERNAL_SERVER_ERROR);
            if h1 {
                // HTTP/2 has no connection-specific fields (RFC 9113 §8.2.2).
                r.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            r
        }
    }
}

/// `status` with a one-line plain-text body naming it.
pub(crate) fn status_response(status: StatusCode) -> http::Response<SluiceBody> {
    text_response(status, format!("{status}\n"))
}

/// `status` with a plain-text body.
pub(crate) fn text_response(status: StatusCode, text: String) -> http::Response<SluiceBody> {
    let mut r = http::Response::new(SluiceBody::full(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
