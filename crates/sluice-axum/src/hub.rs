//! [`HubService`]: every route of a [`Hub`] — WebSocket, SSE, long-poll, publish, metrics,
//! the page — as one `tower::Service`, to nest under a prefix of an existing app.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Body as HttpBody;
use sluice_http::ServerConfig;
use sluice_hub::Hub;

use crate::body::{BoxError, SluiceBody};
use crate::bridge::serve_handler;

/// A [`Hub`] as a `tower::Service` over `http` requests: the hub's auth, Origin and Host
/// checks and limits apply as when it serves its own port (`docs/hub.md`), over HTTP/1.1 and
/// HTTP/2 alike (WebSockets by upgrade or RFC 8441 CONNECT).
///
/// The service cannot know where the app listens, so a hub without an auth secret answers
/// only loopback `Host` names unless [`HubConfig::allow_hosts`](sluice_hub::HubConfig::allow_hosts)
/// lists the app's names (or `*`): the hub's DNS-rebinding guard, which is on for every hub
/// without authentication until its own listener is bound to a non-loopback address. Other
/// names get `403 host_not_allowed`.
///
/// ```
/// use axum::{Router, routing::get};
/// use sluice_axum::HubServiceExt;
/// use sluice_hub::{Hub, HubConfig};
///
/// let hub = Hub::new(HubConfig::default());
/// let app: Router = Router::new()
///     .route("/", get(|| async { "my app" }))
///     .nest_service("/rt", hub.service());
/// ```
///
/// Under a prefix the hub's page and its links work from `/rt/`; a request for `/rt` itself
/// is redirected there (with axum's `OriginalUri`). What the hub's own listener does and a
/// service cannot — the connection cap, accept-time `503`s, TLS — is the app server's.
#[derive(Clone, Debug)]
pub struct HubService {
    hub: Hub,
    config: Arc<ServerConfig>,
}

impl HubService {
    /// The service for `hub`, with the body limits and timeouts of its
    /// [`HubConfig::http`](sluice_hub::HubConfig::http). Inside a tokio runtime it also
    /// spawns the hub's [housekeeping](Hub::run_housekeeping) (idle topics removed,
    /// `sys.metrics`), which ends at [`Hub::shutdown`]; outside one, spawn that yourself.
    #[must_use]
    pub fn new(hub: Hub) -> Self {
        if tokio::runtime::Handle::try_current().is_ok() {
            // Holds the hub weakly: ends with it (or at `Hub::shutdown`).
            drop(hub.spawn_housekeeping());
        }
        let config = Arc::new(hub.config().http.clone());
        HubService { hub, config }
    }

    /// The hub.
    #[must_use]
    pub fn hub(&self) -> &Hub {
        &self.hub
    }
}

/// `hub.service()`.
pub trait HubServiceExt {
    /// The hub as a [`HubService`].
    fn service(&self) -> HubService;
}

impl HubServiceExt for Hub {
    fn service(&self) -> HubService {
        HubService::new(self.clone())
    }
}

impl<B> tower_service::Service<http::Request<B>> for HubService
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<SluiceBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let hub = self.hub.clone();
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            #[cfg(feature = "axum")]
            if let Some(r) = prefix_redirect(&req) {
                return Ok(r);
            }
            Ok(serve_handler(hub, req, &config).await)
        })
    }
}

/// A nested hub reached as `/prefix` (no slash): `308` to `/prefix/`, so the page's relative
/// links resolve under the prefix.
#[cfg(feature = "axum")]
fn prefix_redirect<B>(req: &http::Request<B>) -> Option<http::Response<SluiceBody>> {
    let original = req.extensions().get::<axum::extract::OriginalUri>()?;
    let path = original.path();
    if req.uri().path() != "/"
        || path.ends_with('/')
        || !matches!(*req.method(), http::Method::GET | http::Method::HEAD)
    {
        return None;
    }
    let location = match original.query() {
        Some(q) => format!("{path}/?{q}"),
        None => format!("{path}/"),
    };
    let mut r = http::Response::new(SluiceBody::empty());
    *r.status_mut() = http::StatusCode::PERMANENT_REDIRECT;
    r.headers_mut().insert(
        http::header::LOCATION,
        http::HeaderValue::try_from(location).ok()?,
    );
    Some(r)
}
