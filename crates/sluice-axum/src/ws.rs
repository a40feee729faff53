//! [`WsUpgrade`]: a WebSocket upgrade for axum handlers and hyper services, over HTTP/1.1
//! (`Upgrade: websocket`, RFC 6455 §4) and HTTP/2 (extended CONNECT, RFC 8441), with
//! permessage-deflate (RFC 7692) negotiated by default.

use std::future::Future;

use bytes::BytesMut;
use http::request::Parts;
use http::{HeaderMap, Method, Uri, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sluice_tokio::ws::{Accept, Role, ServerRequest, WsConfig, negotiate};
use sluice_ws::handshake::HandshakeError;

use crate::body::SluiceBody;
use crate::bridge::{status_response, text_response};
use crate::{StatusCode, WebSocket};

/// Why a request is not a WebSocket upgrade this handler takes. Answers with its status:
/// the handshake error's (400; 426 with `Sec-WebSocket-Version: 13` for a wrong version; 405
/// for a wrong method), 426 when the connection cannot be upgraded, 403 for a refused `Origin`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WsRejection {
    /// The request is not a valid opening handshake (RFC 6455 §4.2.1, RFC 8441 §4).
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// hyper cannot hand over this connection (the server was built without upgrades, or the
    /// request came through something that cannot switch protocols). 426.
    #[error("this connection cannot be upgraded")]
    NotUpgradable,
    /// [`WsUpgrade::check_origin`] refused the request's `Origin`. 403.
    #[error("origin not allowed")]
    OriginNotAllowed,
}

impl WsRejection {
    /// The status to answer with (a total mapping).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            WsRejection::Handshake(e) => e.status(),
            WsRejection::NotUpgradable => StatusCode::UPGRADE_REQUIRED,
            WsRejection::OriginNotAllowed => StatusCode::FORBIDDEN,
        }
    }

    /// The answer: the status, a one-line reason, and for a 426 the version and upgrade the
    /// client should use (RFC 6455 §4.4).
    #[must_use]
    pub fn into_http(self) -> http::Response<SluiceBody> {
        let status = self.status();
        let mut r = text_response(status, format!("{self}\n"));
        if status == StatusCode::METHOD_NOT_ALLOWED {
            // RFC 9110 §15.5.6. (An HTTP/2 WebSocket is a CONNECT, which reaches this only when
            // it is not one: `:protocol` missing.)
            r.headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
        }
        if status == StatusCode::UPGRADE_REQUIRED {
            let h = r.headers_mut();
            h.insert(
                "sec-websocket-version",
                http::HeaderValue::from_static("13"),
            );
            h.insert(
                http::header::UPGRADE,
                http::HeaderValue::from_static("websocket"),
            );
        }
        r
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for WsRejection {
    fn into_response(self) -> axum::response::Response {
        self.into_http().map(axum::body::Body::new)
    }
}

type FailedUpgrade = Box<dyn FnOnce(hyper::Error) + Send>;

/// A validated WebSocket opening handshake, waiting for the handler to accept it.
///
/// In axum it is an extractor; [`on_upgrade`](WsUpgrade::on_upgrade) answers and runs the
/// callback on the socket once the connection has switched:
///
/// ```
/// use axum::{Router, response::IntoResponse, routing::any};
/// use sluice_axum::WsUpgrade;
///
/// async fn echo(up: WsUpgrade) -> impl IntoResponse {
///     up.on_upgrade(|mut socket| async move {
///         while let Some(Ok(msg)) = socket.recv().await {
///             if socket.send(msg).await.is_err() {
///                 break;
///             }
///         }
///     })
/// }
///
/// // `any`: HTTP/1.1 upgrades are GET, HTTP/2 WebSockets (RFC 8441) are CONNECT.
/// let app: Router = Router::new().route("/ws", any(echo));
/// ```
///
/// permessage-deflate is negotiated when the client offers it ([`WsConfig::deflate`], on by
/// default); the socket's limits are the [`WsConfig`] given to [`config`](WsUpgrade::config).
/// Under plain hyper, build it with [`from_request`](WsUpgrade::from_request) (the server needs
/// `.with_upgrades()` for HTTP/1.1 and `enable_connect_protocol()` for HTTP/2).
pub struct WsUpgrade {
    request: ServerRequest,
    on_upgrade: OnUpgrade,
    config: WsConfig,
    protocol: Option<String>,
    on_failed: Option<FailedUpgrade>,
}

impl std::fmt::Debug for WsUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsUpgrade")
            .field("request", &self.request)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl WsUpgrade {
    /// Validates the head of an axum/hyper request (HTTP/1.1: RFC 6455 §4.2.1; HTTP/2: an
    /// extended CONNECT with `:protocol websocket`, RFC 8441 §4) and takes its upgrade handle.
    ///
    /// # Errors
    /// [`WsRejection`]: answer it (it is an axum `IntoResponse`; [`WsRejection::into_http`]
    /// for hyper).
    pub fn from_parts(parts: &mut Parts) -> Result<WsUpgrade, WsRejection> {
        Self::validate(
            &parts.method,
            &parts.uri,
            parts.version,
            &parts.headers,
            &mut parts.extensions,
        )
    }

    /// As [`from_parts`](WsUpgrade::from_parts), for a whole request (plain hyper):
    ///
    /// ```
    /// use sluice_axum::{SluiceBody, WsUpgrade};
    ///
    /// // A `hyper::service::service_fn` body (serve HTTP/1.1 `with_upgrades()`).
    /// async fn handle(
    ///     mut req: hyper::Request<hyper::body::Incoming>,
    /// ) -> Result<http::Response<SluiceBody>, std::convert::Infallible> {
    ///     Ok(match WsUpgrade::from_request(&mut req) {
    ///         Ok(up) => up.on_upgrade(|mut socket| async move {
    ///             while let Some(Ok(msg)) = socket.recv().await {
    ///                 if socket.send(msg).await.is_err() {
    ///                     break;
    ///                 }
    ///             }
    ///         }),
    ///         Err(rejection) => rejection.into_http(),
    ///     })
    /// }
    /// ```
    ///
    /// # Errors
    /// As [`from_parts`](WsUpgrade::from_parts).
    pub fn from_request<B>(req: &mut http::Request<B>) -> Result<WsUpgrade, WsRejection> {
        let method = req.method().clone();
        let uri = req.uri().clone();
        let version = req.version();
        let headers = std::mem::take(req.headers_mut());
        let r = Self::validate(&method, &uri, version, &headers, req.extensions_mut());
        *req.headers_mut() = headers;
        r
    }

    fn validate(
        method: &Method,
        uri: &Uri,
        version: Version,
        headers: &HeaderMap,
        extensions: &mut http::Extensions,
    ) -> Result<WsUpgrade, WsRejection> {
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        let fields = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        let request = if version >= Version::HTTP_2 {
            let protocol = extensions.get::<hyper::ext::Protocol>().map(|p| p.as_str());
            // HTTP/2 carries the authority as `:authority`; the handshake reads it as `Host`.
            let authority = uri.authority().map(|a| ("host", a.as_str().as_bytes()));
            let fields = authority
                .filter(|_| !headers.contains_key(http::header::HOST))
                .into_iter()
                .chain(fields);
            ServerRequest::from_h2_parts(method.as_str(), protocol, target, fields)?
        } else {
            let v = u8::from(version == Version::HTTP_11);
            ServerRequest::from_parts(method.as_str(), target, v, fields)?
        };
        let on_upgrade = extensions
            .remove::<OnUpgrade>()
            .ok_or(WsRejection::NotUpgradable)?;
        Ok(WsUpgrade {
            request,
            on_upgrade,
            config: WsConfig::default(),
            protocol: None,
            on_failed: None,
        })
    }

    /// The validated request: path, `Host`, `Origin`, offered subprotocols and extensions,
    /// every field.
    #[must_use]
    pub fn request(&self) -> &ServerRequest {
        &self.request
    }

    /// The socket's settings: message, frame and buffer limits, ping interval, idle and close
    /// timeouts, permessage-deflate ([`WsConfig::deflate`]; `None` turns it off).
    #[must_use]
    pub fn config(mut self, config: WsConfig) -> Self {
        self.config = config;
        self
    }

    /// The subprotocols this handler speaks: the first one the client offers (in the
    /// client's order of preference, RFC 6455 §4.1) is selected and answered in
    /// `Sec-WebSocket-Protocol`; none when the client offers none of them.
    #[must_use]
    pub fn protocols<I, P>(mut self, ours: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let ours: Vec<P> = ours.into_iter().collect();
        self.protocol = self
            .request
            .protocols()
            .iter()
            .find(|offered| ours.iter().any(|p| p.as_ref() == offered.as_str()))
            .cloned();
        self
    }

    /// The subprotocol [`protocols`](WsUpgrade::protocols) selected.
    #[must_use]
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether the request may open a socket by its `Origin` (RFC 6455 §10.2: the check
    /// against cross-site WebSocket hijacking): no `Origin` (not a browser), an origin in
    /// `allowed` (exact, as `https://app.example`; `*` allows any), or the same origin as the
    /// `Host` the request was sent to.
    #[must_use]
    pub fn origin_allowed(&self, allowed: &[&str]) -> bool {
        let Some(origin) = self.request.origin() else {
            return true;
        };
        if allowed
            .iter()
            .any(|a| *a == "*" || a.eq_ignore_ascii_case(origin))
        {
            return true;
        }
        origin.split_once("://").is_some_and(|(scheme, authority)| {
            matches!(scheme, "http" | "https")
                && authority
                    .trim_end_matches('/')
                    .eq_ignore_ascii_case(self.request.host())
        })
    }

    /// [`origin_allowed`](WsUpgrade::origin_allowed), as a step of the handler:
    /// `let up = up.check_origin(&["https://app.example"])?;`
    ///
    /// # Errors
    /// [`WsRejection::OriginNotAllowed`] (403).
    pub fn check_origin(self, allowed: &[&str]) -> Result<Self, WsRejection> {
        if self.origin_allowed(allowed) {
            Ok(self)
        } else {
            Err(WsRejection::OriginNotAllowed)
        }
    }

    /// Called instead of the [`on_upgrade`](WsUpgrade::on_upgrade) callback when the
    /// connection could not be taken over after the answer (the client went away).
    #[must_use]
    pub fn on_failed_upgrade(mut self, f: impl FnOnce(hyper::Error) + Send + 'static) -> Self {
        self.on_failed = Some(Box::new(f));
        self
    }

    /// Accepts: returns the answer (`101 Switching Protocols`, or `200` over HTTP/2) and, on a
    /// task of its own, runs `callback` on the socket once hyper has switched the connection.
    #[must_use = "the answer must be returned for the upgrade to happen"]
    pub fn on_upgrade<F, Fut>(self, callback: F) -> http::Response<SluiceBody>
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut accept = Accept::new();
        if let Some(p) = &self.protocol {
            accept = accept.protocol(p.clone());
        }
        let (answer, negotiated) = match negotiate(&self.config, &self.request, accept) {
            Ok(a) => a,
            Err(_) => return status_response(StatusCode::INTERNAL_SERVER_ERROR),
        };
        let WsUpgrade {
            on_upgrade,
            config,
            on_failed,
            ..
        } = self;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = TokioIo::new(upgraded);
                    let socket = negotiated.websocket(io, Role::Server, BytesMut::new(), config);
                    callback(socket).await;
                }
                Err(e) => {
                    if let Some(f) = on_failed {
                        f(e);
                    }
                }
            }
        });
        answer.map(|()| SluiceBody::empty())
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for WsUpgrade {
    type Rejection = WsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        WsUpgrade::from_parts(parts)
    }
}
