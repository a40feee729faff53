//! Upgrading a request of the HTTP/1.1 layer ([`sluice_http`]) to a WebSocket,
//! for servers that route several endpoints on one port (the hub).

use bytes::Bytes;
use sluice_ws::Role;
use sluice_ws::handshake::{Accept, ServerRequest};
use tokio::io::{AsyncRead, AsyncWrite};

use super::config::WsConfig;
use super::negotiate;
use super::socket::WebSocket;
use sluice_http::{self as http, Reply, Response, StatusCode, Version};

/// Validates a request head of the HTTP layer as a WebSocket handshake (RFC 6455 §4.2.1 over
/// HTTP/1.1, RFC 8441 §4 extended CONNECT over HTTP/2), without answering it: what
/// [`accept_http`] checks first, for a handler that must do work before accepting (load
/// state) only for a request that will be accepted.
///
/// # Errors
/// The [`HandshakeError`](sluice_ws::handshake::HandshakeError) `accept_http` answers with.
pub fn server_request(
    head: &http::RequestHead,
) -> Result<ServerRequest, sluice_ws::handshake::HandshakeError> {
    let headers = head
        .headers()
        .iter()
        .map(|(n, v)| (std::str::from_utf8(n).unwrap_or("\u{fffd}"), &v[..]));
    match head.version() {
        // RFC 8441: an extended CONNECT on an HTTP/2 stream.
        Version::Http2 => {
            ServerRequest::from_h2_parts(head.method(), head.protocol(), head.target(), headers)
        }
        Version::Http10 => ServerRequest::from_parts(head.method(), head.target(), 0, headers),
        _ => ServerRequest::from_parts(head.method(), head.target(), 1, headers),
    }
}

/// Validates `req` as a WebSocket handshake (RFC 6455 §4.2.1 over HTTP/1.1, RFC 8441 §4
/// extended CONNECT over HTTP/2, where the answer is `:status 200` and the socket runs on the
/// HTTP/2 stream with its flow control as backpressure), lets `decide`
/// choose (subprotocol, extensions, extra headers — or refuse with any HTTP
/// response, e.g. 403 after an Origin check), writes the 101 answer and returns
/// the socket with the bytes the client sent after its request.
/// permessage-deflate is negotiated as in [`accept_with`](super::accept_with).
///
/// On refusal, `Err` holds the [`Reply`] the handler must return: the handshake
/// error's status (426 with `Sec-WebSocket-Version: 13` for a wrong version,
/// 400 otherwise), `decide`'s response, or a closed connection if the 101 could
/// not be written. Every refusal over HTTP/1.1 closes the connection after its answer
/// (`Connection: close` is added): a proxy that forwards the upgrade without checking for the
/// 101 would otherwise carry the client's next bytes to this server as a new request
/// (WebSocket smuggling).
pub async fn accept_http<S, F>(
    req: http::Request<S>,
    config: WsConfig,
    decide: F,
) -> Result<(WebSocket<S>, ServerRequest), Reply<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    F: FnOnce(&ServerRequest) -> Result<Accept, Response>,
{
    let ws_req = match server_request(&req) {
        Ok(r) => r,
        Err(e) => {
            let status = e.status();
            let mut resp = Response::text(status, Bytes::from(format!("{e}\n")));
            if status.as_u16() == 426 {
                resp = resp
                    .header("sec-websocket-version", "13")
                    .header("upgrade", "websocket");
            }
            return Err(refuse(req, resp));
        }
    };
    let accept = match decide(&ws_req) {
        Ok(a) => a,
        Err(resp) => return Err(refuse(req, resp)),
    };
    let (answer, agreed) = match negotiate::negotiate(&config, &ws_req, accept) {
        Ok(a) => a,
        Err(e) => {
            let resp = Response::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from(format!("{e}\n")),
            );
            return Err(refuse(req, resp));
        }
    };
    // The HTTP layer maps a 101 to HTTP/2's 200 itself: hand it the HTTP/1.1 answer's status.
    let mut resp = Response::new(StatusCode::SWITCHING_PROTOCOLS);
    for (name, value) in answer.headers() {
        resp = resp.header(
            Bytes::copy_from_slice(name.as_str().as_bytes()),
            Bytes::copy_from_slice(value.as_bytes()),
        );
    }
    match req.upgrade(resp).await {
        Ok(up) => Ok((
            agreed.websocket(up.io, Role::Server, up.read_buf, config),
            ws_req,
        )),
        Err(_) => Err(Reply::closed()),
    }
}

/// Answers a refused upgrade and, over HTTP/1.1, closes the connection after it. Over HTTP/2
/// the refusal ends only its stream (`Connection: close` there would be a GOAWAY for every
/// stream of the connection).
fn refuse<S>(req: http::Request<S>, resp: Response) -> Reply<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let resp = if req.version() == http::Version::Http2
        || resp.headers().has_token("connection", "close")
    {
        resp
    } else {
        resp.header("connection", "close")
    };
    req.respond(resp)
}
