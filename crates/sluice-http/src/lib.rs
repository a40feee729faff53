//! The HTTP layer of Sluice: an HTTP/1.1 server and client (RFC 9110/9112, built on httparse)
//! over any tokio stream, HTTP/2 (the `h2` crate) through the same router, TLS (rustls) on both
//! sides, and the URL, status and header types every Sluice crate shares.
//!
//! **Server**: [`serve_connection`] runs one HTTP/1.1 connection (TCP, TLS, in-memory),
//! [`serve_h2`] one HTTP/2 connection, [`serve_stream`] picks between them (ALPN `h2`, or the
//! h2c preface on cleartext), and [`serve`] is an accept loop. [`ServerTls`] terminates TLS
//! (ALPN `h2`/`http/1.1`, certificate reload). Each request head is parsed with limits and handed to a [`Handler`] *before*
//! its body is read, so a router can answer 401/403 before 413, read the body
//! ([`Request::body`]), stream a response ([`Response::stream`] or
//! [`Request::respond_streaming`], flushed piece by piece, client disconnects detected), or
//! switch protocols ([`Request::upgrade`] gives back the stream and the bytes read past the
//! head). Keep-alive, pipelining, HTTP/1.0 keep-alive, HEAD and `Expect: 100-continue` are
//! handled. Every malformed head is answered with its status (400, 408, 414, 417, 431, 501,
//! 505) and the connection closed.
//!
//! Chunked request bodies are **decoded** (same size limit as `Content-Length` bodies, trailers
//! read and discarded, chunk-size lines bounded at 4 KiB); `chunked` after another transfer
//! coding gets 501, a final coding other than `chunked` 400 (RFC 9112 §6.3), `Transfer-Encoding`
//! together with `Content-Length` 400.
//!
//! **Client**: [`send`] a [`ClientRequest`] over any stream, [`fetch`] with the
//! [`DefaultConnector`] (TCP, and TLS for `https://`: `webpki-roots` trust anchors by default,
//! [`ClientTls`] for a custom CA, the platform store or a client certificate), following
//! redirects when asked, or [`fetch_with`] any [`Connector`]; read the body with
//! [`ClientResponse::chunk`] (content-length, chunked or close-delimited).
//!
//! Not done here: content codings (gzip), `Date`, HTTP/1.1 connection pooling, trailers
//! exposed to callers, percent-decoding of paths, HTTP/3.
//!
//! ```no_run
//! use sluice_http::{self as http, Request, Reply, Response, ServerConfig, StatusCode};
//! use tokio::net::{TcpListener, TcpStream};
//!
//! async fn route(mut req: Request<TcpStream>) -> Reply<TcpStream> {
//!     match (req.method(), req.path()) {
//!         ("GET", "/healthz") => req.respond(Response::text(StatusCode::OK, "ok\n")),
//!         ("POST", "/publish") => {
//!             if req.header("authorization").is_none() {
//!                 return req.respond(Response::from_status(StatusCode::UNAUTHORIZED));
//!             }
//!             match req.body().await {
//!                 Ok(body) => req.respond(Response::text(StatusCode::OK, body)),
//!                 Err(e) => req.respond(Response::from_status(e.status())),
//!             }
//!         }
//!         // Switching to another protocol (RFC 9110 §7.8). A WebSocket is
//!         // `sluice_tokio::ws::accept_http(req, config, decide)`: it validates the handshake
//!         // and writes the whole 101, `Sec-WebSocket-Accept` and extensions included.
//!         ("GET", "/echo") if req.is_upgrade_to("echo/1") => {
//!             let resp = Response::new(StatusCode::SWITCHING_PROTOCOLS)
//!                 .header("upgrade", "echo/1")
//!                 .header("connection", "Upgrade");
//!             if let Ok(mut up) = req.upgrade(resp).await {
//!                 // The stream is ours now; bytes read past the head come first.
//!                 use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!                 let _ = up.io.write_all(&up.read_buf).await;
//!                 let mut buf = [0u8; 1024];
//!                 while let Ok(n @ 1..) = up.io.read(&mut buf).await {
//!                     if up.io.write_all(&buf[..n]).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             }
//!             Reply::closed()
//!         }
//!         _ => req.respond(Response::from_status(StatusCode::NOT_FOUND)),
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = TcpListener::bind("127.0.0.1:8080").await?;
//! http::serve(listener, ServerConfig::default(), route).await
//! # }
//! ```

mod body;
pub mod bridge;
mod budget;
mod client;
mod connector;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod h2;
mod head;
mod headers;
mod host;
mod request;
mod response;
mod server;
mod status;
mod stream;
mod timed_write;
pub mod tls;
mod url;

pub use body::{Framing, FramingError};
pub use client::{
    ClientConfig, ClientError, ClientRequest, ClientResponse, fetch, fetch_with, send,
};
pub use connector::{Connector, DefaultConnector, H2Pool, TcpConnector, connect};
pub use h2::{H2Config, H2Stream, serve_h2};
pub use head::{HeadError, MAX_HEADERS_CAP, RequestHead, Version};
pub use headers::{Headers, InvalidHeader};
pub use host::{HostPort, parse_host};
pub use request::{Request, ResponseWriter};
pub use response::{Body, BodyStream, Response};
pub use server::{
    BodyError, Handler, Reply, ServeError, ServerConfig, Upgraded, serve, serve_connection,
    serve_stream,
};
pub use status::StatusCode;
pub use stream::{ClientStream, ServerStream};
pub use tls::{ClientTls, ServerTls, TlsError};
pub use url::{Url, UrlError, percent_encode};

/// The README's example, compiled as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
