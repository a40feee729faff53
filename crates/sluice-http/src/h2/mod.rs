//! HTTP/2 (the `h2` crate): the server side of every route, and RFC 8441 extended CONNECT
//! for WebSocket over an HTTP/2 stream.
//!
//! HTTP/2's framing, HPACK, flow control and stream state machine are the `h2` crate's (used
//! by hyper, well fuzzed, with the rapid-reset and CONTINUATION-flood fixes of 2023/2024);
//! this module maps its streams onto the [`Request`](crate::Request) / [`Reply`](crate::Reply)
//! vocabulary the HTTP/1.1 server uses, so a router serves both.

mod client;
mod config;
mod server;
mod stream;

pub use client::{h2_connect, h2_tunnel};
pub use config::H2Config;
pub use server::serve_h2;
pub use stream::H2Stream;

pub(crate) use server::{H2Request, H2Writer, PREFACE, Rewind};
pub(crate) use stream::h2_to_io;
