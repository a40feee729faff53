//! Sluice inside axum and hyper applications.
//!
//! - [`WsUpgrade`]: the WebSocket upgrade extractor — `async fn ws(up: WsUpgrade) -> impl
//!   IntoResponse { up.on_upgrade(|socket| async move { … }) }` — over HTTP/1.1 and HTTP/2
//!   (RFC 8441 extended CONNECT), with permessage-deflate negotiated by default, subprotocol
//!   selection, an Origin check and every [`WsConfig`] limit;
//! - [`Sse`]: a `text/event-stream` answer from any `Stream` of [`sluice_sse::Event`]s, with
//!   heartbeats, proxy-safe fields and an optional priming event; [`LastEventId`] to resume;
//! - [`long_poll`]: a long-poll endpoint ([`sluice_tokio::longpoll::LongPoll`]) answering an
//!   axum request;
//! - [`HubService`] (feature `hub`): the whole hub as a `tower::Service`, for
//!   `Router::nest_service("/rt", hub.service())`;
//! - [`serve_handler`]: any [`sluice_http::Handler`] on a hyper request (what the last two
//!   are built on).
//!
//! Everything works on the `http` crate's types: without the `axum` feature the same
//! pieces serve plain hyper 1.x (`WsUpgrade::from_request`, `Sse::into_http`, responses with
//! a [`SluiceBody`]).
//!
//! What it does not do: serve connections (that is `axum::serve` or hyper's), TLS, or limit
//! the number of connections — the app server's job.
//!
//! ```no_run
//! use axum::{Router, response::IntoResponse, routing::any};
//! use sluice_axum::WsUpgrade;
//!
//! async fn echo(up: WsUpgrade) -> impl IntoResponse {
//!     up.on_upgrade(|mut socket| async move {
//!         while let Some(Ok(msg)) = socket.recv().await {
//!             if socket.send(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/ws", any(echo));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

mod body;
mod bridge;
#[cfg(feature = "hub")]
mod hub;
mod longpoll;
pub mod sse;
pub mod ws;

pub use body::{BoxError, SluiceBody};
pub use bridge::serve_handler;
#[cfg(feature = "hub")]
pub use hub::{HubService, HubServiceExt};
pub use longpoll::long_poll;
pub use sse::{LastEventId, Sse, SseItem};
pub use ws::{WsRejection, WsUpgrade};

pub use sluice_tokio::ws::{CloseCode, Message, WsConfig};

pub(crate) use sluice_http::StatusCode;

/// hyper's upgraded connection as a tokio stream: what a [`WebSocket`] from [`WsUpgrade`]
/// runs on.
pub type Upgraded = hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>;

/// The socket [`WsUpgrade::on_upgrade`] hands to its callback: [`sluice_tokio::ws::WebSocket`]
/// over hyper's upgraded connection (`recv`/`send`, `Stream` + `Sink`, `split`, `close`).
pub type WebSocket = sluice_tokio::ws::WebSocket<Upgraded>;

/// The README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
