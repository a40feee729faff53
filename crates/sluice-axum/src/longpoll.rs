//! Long-poll (`docs/longpoll.md`) as an axum handler: a request hyper parsed, answered by a
//! [`LongPoll`] endpoint.

use std::hash::Hash;

use bytes::Bytes;
use http_body::Body as HttpBody;
use sluice_http::{Request, ServerConfig};
use sluice_tokio::longpoll::LongPoll;

use crate::Upgraded;
use crate::body::{BoxError, SluiceBody};
use crate::bridge::serve_handler;

/// Answers `req` (a `GET` with `cursor`, `timeout`, `max`, …) from `topic` of `endpoint`:
/// at once when events are there, else parked until one is published or the timeout
/// elapses; a client that goes away while parked frees its place. Topics are the
/// endpoint's (create them with [`LongPoll::create_topic`] or
/// [`LongPoll::ensure_topic`]; an unknown one is `410`).
///
/// ```
/// use axum::{Router, extract::{Path, Request, State}, response::IntoResponse, routing::get};
/// use sluice_tokio::longpoll::{LongPoll, LongPollConfig};
///
/// async fn poll(
///     State(lp): State<LongPoll<String>>,
///     Path(topic): Path<String>,
///     req: Request,
/// ) -> impl IntoResponse {
///     sluice_axum::long_poll(&lp, topic, req).await
/// }
///
/// let lp = LongPoll::<String>::new(LongPollConfig::default());
/// lp.ensure_topic(&"news".to_owned());
/// let app: Router = Router::new().route("/poll/{topic}", get(poll)).with_state(lp);
/// ```
pub async fn long_poll<K, B>(
    endpoint: &LongPoll<K>,
    topic: K,
    req: http::Request<B>,
) -> http::Response<SluiceBody>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let lp = endpoint.clone();
    let handler = move |r: Request<Upgraded>| {
        let lp = lp.clone();
        let topic = topic.clone();
        async move { lp.handle(&topic, r).await }
    };
    serve_handler(handler, req, &ServerConfig::default()).await
}
