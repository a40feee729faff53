//! WebSocket over tokio: the opening handshake on a stream, then [`WebSocket`]
//! driving a [`sluice_ws::Connection`] with a socket, buffers and timers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sluice_tokio::ws::Error> {
//! use sluice_tokio::ws::{self, WsConfig};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! let (tcp, _) = listener.accept().await?;
//! let mut socket = ws::accept(tcp, WsConfig::default()).await?;
//! while let Some(msg) = socket.recv().await {
//!     socket.send(msg?).await?;
//! }
//! # Ok(()) }
//! ```

mod config;
mod core;
mod error;
mod halves;
mod handshake;
mod http_upgrade;
mod negotiate;
mod random;
mod socket;
mod split;
mod waker_set;
mod write_queue;

pub use self::config::WsConfig;
pub use self::core::CloseInfo;
pub use self::error::Error;
pub use self::halves::{WsReadHalf, WsWriteHalf};
pub use self::handshake::{
    Decision, accept, accept_with, connect, connect_h2, connect_request, connect_with, random_nonce,
};
pub use self::http_upgrade::{accept_http, server_request};
pub use self::negotiate::{Negotiated, negotiate};
pub use self::socket::{Events, WebSocket};
pub use self::split::{WsReader, WsWriter};
pub use sluice_http::{ClientRequest, Response, StatusCode, Url};
#[cfg(feature = "deflate")]
pub use sluice_ws::deflate::DeflateConfig;
pub use sluice_ws::handshake::{
    Accept, BuildError, ClientHandshake, Extension, HandshakeError, HandshakeLimits,
    HandshakeResponse, ResponseError, ServerRequest,
};
pub use sluice_ws::{CloseCode, Event, Message, Role, Utf8Bytes};
