//! One HTTP/1.1 request at a time on a kept-alive connection, reconnecting when the server
//! closed it: what the load tools use for publishes, stats and nchan's long-poll.

use std::time::Duration;

use sluice_http::{self as http, ClientRequest};
use tokio::net::TcpStream;

/// A client configuration with timeouts long enough for a parked long-poll (60 s).
#[must_use]
pub fn client_cfg() -> http::ClientConfig {
    let mut c = http::ClientConfig::default();
    c.response_timeout = Duration::from_secs(60);
    c.read_timeout = Some(Duration::from_secs(60));
    c
}

/// Sends `req` on `conn` (connecting first when it is `None`) and reads the whole answer (at
/// most 1 MiB of body): status, headers, body. The connection is put back unless the server
/// said `Connection: close`.
///
/// # Errors
/// Connecting, sending or reading failed; `conn` is then `None`.
pub async fn request(
    conn: &mut Option<TcpStream>,
    req: &ClientRequest,
    cfg: &http::ClientConfig,
) -> Result<(u16, http::Headers, bytes::Bytes), http::ClientError> {
    let io = match conn.take() {
        Some(io) => io,
        None => http::connect(req.url().clone(), cfg.clone()).await?,
    };
    let mut resp = http::send(io, req, cfg).await?;
    let body = resp.bytes(1 << 20).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    if !resp.headers().has_token("connection", "close") {
        *conn = resp.into_upgraded().map(|u| u.io);
    }
    Ok((status, headers, body))
}

/// The number after `key` in `text` (`"subscribers: "` in nchan's stub status), 0 if absent.
#[must_use]
pub fn count_after(text: &str, key: &str) -> usize {
    text.split_once(key)
        .and_then(|(_, rest)| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// nchan's long-poll resumption: the `Last-Modified` and `Etag` of the previous answer, sent
/// back as `If-Modified-Since` and `If-None-Match` so that the next request waits for the
/// message after it.
#[derive(Debug, Default, Clone)]
pub struct NchanCursor(Option<(String, String)>);

impl NchanCursor {
    /// Adds the resumption headers (none before the first answer).
    #[must_use]
    pub fn apply(&self, req: ClientRequest) -> ClientRequest {
        match &self.0 {
            Some((lm, etag)) => req
                .header("if-modified-since", lm.clone())
                .header("if-none-match", etag.clone()),
            None => req,
        }
    }

    /// Takes the position of an answer.
    pub fn advance(&mut self, headers: &http::Headers) {
        if let (Some(lm), Some(et)) = (headers.get_str("last-modified"), headers.get_str("etag")) {
            self.0 = Some((lm.to_owned(), et.to_owned()));
        }
    }
}
