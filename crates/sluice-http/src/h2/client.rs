//! The client side of HTTP/2 that Sluice needs: a connection, and a tunnel over an extended
//! CONNECT (RFC 8441) — the first RFC 8441 client in Rust, used by
//! `sluice_tokio::ws::connect_h2`.

use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout;

use super::stream::{H2Stream, h2_to_io};
use crate::client::{ClientConfig, ClientError};
use crate::status::StatusCode;
use crate::url::Url;

/// Runs the HTTP/2 handshake on `io` (a TLS stream that agreed on ALPN `h2`, or cleartext for
/// h2c with prior knowledge) and waits for the server's SETTINGS, within
/// [`ClientConfig::connect_timeout`]. The server's header blocks are limited to
/// [`ClientConfig::max_head_size`] (`SETTINGS_MAX_HEADER_LIST_SIZE`; h2's own default is
/// 16 MiB). The connection is driven by a task spawned on the current tokio runtime; it ends
/// when every [`SendRequest`] clone and stream is dropped.
///
/// # Errors
/// [`ClientError::Io`] when the handshake fails, [`ClientError::Timeout`] after the connect
/// timeout.
pub async fn h2_connect<IO>(
    io: IO,
    config: &ClientConfig,
) -> Result<SendRequest<Bytes>, ClientError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let max_header_list = u32::try_from(config.max_head_size).unwrap_or(u32::MAX);
    let work = async {
        let (send, mut conn) = h2::client::Builder::new()
            .max_header_list_size(max_header_list)
            .handshake(io)
            .await
            .map_err(|e| ClientError::Io(h2_to_io(e)))?;
        let pings = conn.ping_pong();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        // The server's SETTINGS (ENABLE_CONNECT_PROTOCOL among them) are the first frame it
        // sends (RFC 9113 §3.4), so once a PING we send after the preface is answered they
        // have been applied.
        if let Some(mut pings) = pings {
            pings
                .ping(h2::Ping::opaque())
                .await
                .map_err(|e| ClientError::Io(h2_to_io(e)))?;
        }
        send.ready().await.map_err(|e| ClientError::Io(h2_to_io(e)))
    };
    timeout(config.connect_timeout, work)
        .await
        .map_err(|_| ClientError::Timeout)?
}

/// Opens a tunnel: an extended CONNECT (RFC 8441 §4) for `protocol` (e.g. `"websocket"`) to
/// `url`'s authority and path, with the header `fields`, and returns the answer's status and
/// fields with the stream (DATA both ways) — whatever the status, so the caller can validate
/// it.
///
/// # Errors
/// [`ClientError::InvalidResponse`] when the server did not send
/// `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1` (RFC 8441 §3: extended CONNECT is then forbidden);
/// [`ClientError::Io`] when the stream is refused or reset; [`ClientError::Timeout`].
pub async fn h2_tunnel(
    send: &mut SendRequest<Bytes>,
    url: &Url,
    protocol: &str,
    fields: &[(String, Vec<u8>)],
    limit: Duration,
) -> Result<(StatusCode, Vec<(String, Vec<u8>)>, H2Stream), ClientError> {
    if !send.is_extended_connect_protocol_enabled() {
        return Err(ClientError::InvalidResponse(
            "the server does not allow extended CONNECT (no SETTINGS_ENABLE_CONNECT_PROTOCOL)",
        ));
    }
    let scheme = if url.is_secure() { "https" } else { "http" };
    let uri = format!("{scheme}://{}{}", url.authority(), url.path_and_query());
    let mut b = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(uri)
        .extension(h2::ext::Protocol::from(protocol));
    for (name, value) in fields {
        b = b.header(name.as_str(), value.as_slice());
    }
    let req = b
        .body(())
        .map_err(|_| ClientError::InvalidResponse("invalid request header field"))?;
    let work = async {
        let mut ready = send
            .clone()
            .ready()
            .await
            .map_err(|e| ClientError::Io(h2_to_io(e)))?;
        let (response, send_stream) = ready
            .send_request(req, false)
            .map_err(|e| ClientError::Io(h2_to_io(e)))?;
        let resp = response.await.map_err(|e| ClientError::Io(h2_to_io(e)))?;
        Ok::<_, ClientError>((resp, send_stream))
    };
    let (resp, send_stream) = timeout(limit, work)
        .await
        .map_err(|_| ClientError::Timeout)??;
    let (parts, recv) = resp.into_parts();
    let fields = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    Ok((parts.status, fields, H2Stream::new(recv, send_stream)))
}
