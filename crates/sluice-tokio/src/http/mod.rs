//! A small HTTP/1.1 layer (RFC 9110/9112) over any tokio stream, built on httparse.
//!
//! **Server**: [`serve_connection`] runs one connection (TCP, TLS, in-memory) and [`serve`] is
//! an accept loop. Each request head is parsed with limits and handed to a [`Handler`] *before*
//! its body is read, so a router can answer 401/403 before 413, read the body
//! ([`Request::body`]), stream a response ([`Response::stream`] or
//! [`Request::respond_streaming`], flushed piece by piece, client disconnects detected), or
//! switch protocols ([`Request::upgrade`] gives back the stream and the bytes read past the
//! head). Keep-alive, pipelining, HTTP/1.0 keep-alive, HEAD and `Expect: 100-continue` are
//! handled. Every malformed head is answered with its status (400, 408, 414, 417, 431, 501,
//! 505) and the connection closed.
//!
//! Chunked request bodies are **decoded** (same size limit as `Content-Length` bodies, trailers
//! read and discarded, chunk-size lines bounded at 4 KiB); other transfer codings get 501,
//! `Transfer-Encoding` together with `Content-Length` gets 400.
//!
//! **Client**: [`send`] a [`ClientRequest`] over any stream, [`fetch`] over TCP for `http://`
//! (following redirects when asked), [`fetch_with`] a [`Connector`] for TLS; read the body with
//! [`ClientResponse::chunk`] (content-length, chunked or close-delimited).
//!
//! Not done here: HTTP/2, content codings (gzip), `Date`, connection pooling, trailers exposed
//! to callers, percent-decoding of paths.
//!
//! ```no_run
//! use sluice_tokio::http::{self, Request, Reply, Response, ServerConfig, StatusCode};
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
//!         ("GET", "/ws") if req.is_upgrade_to("websocket") => {
//!             let resp = Response::new(StatusCode::SWITCHING_PROTOCOLS)
//!                 .header("upgrade", "websocket")
//!                 .header("connection", "Upgrade");
//!             if let Ok(up) = req.upgrade(resp).await {
//!                 // hand `up.io` and `up.read_buf` to the WebSocket driver here
//!                 drop(up);
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
mod client;
mod head;
mod headers;
mod response;
mod server;
mod status;
mod url;

pub use body::{Framing, FramingError};
pub use client::{
    ClientConfig, ClientError, ClientRequest, ClientResponse, Connector, TcpConnector, connect,
    fetch, fetch_with, send,
};
pub use head::{HeadError, MAX_HEADERS_CAP, RequestHead, Version};
pub use headers::{Headers, InvalidHeader};
pub use response::{Body, BodyStream, Response};
pub use server::{
    BodyError, Handler, Reply, Request, ResponseWriter, ServeError, ServerConfig, Upgraded, serve,
    serve_connection,
};
pub use status::StatusCode;
pub use url::{Url, UrlError};
