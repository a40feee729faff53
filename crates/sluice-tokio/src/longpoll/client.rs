//! [`LongPollClient`]: the long-poll client over the HTTP client.

use std::time::Duration;

use sluice_longpoll::{Client, ClientConfig, ClientError, ClientEvent, Cursor, Start};
use tokio::time::Instant;

use super::rng::os_u64;
use sluice_http::{
    self as http, ClientRequest, ClientStream, Connector, DefaultConnector, Url, UrlError, Version,
};

/// Settings of a [`LongPollClient`]. Build from [`LongPollClientConfig::default`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LongPollClientConfig {
    /// The protocol client: `timeout` and `max` sent, backoff base and cap.
    pub poll: ClientConfig,
    /// The HTTP client. Its `response_timeout` and `read_timeout` are raised to the poll
    /// `timeout` plus [`LongPollClientConfig::grace`] so a parked request is not cut short.
    pub http: http::ClientConfig,
    /// How long past the requested `timeout` an answer may take before the request counts as
    /// failed (a dead server or network). Default 15 s.
    pub grace: Duration,
    /// Largest response body accepted, in bytes (a larger one is a transport error). Default
    /// 8 MiB (a server's 1 MiB of events can grow sixfold with JSON escapes).
    pub max_body: u64,
}

impl Default for LongPollClientConfig {
    fn default() -> Self {
        Self {
            poll: ClientConfig::default(),
            http: http::ClientConfig::default(),
            grace: Duration::from_secs(15),
            max_body: 8 << 20,
        }
    }
}

/// What [`LongPollClient::next`] reports instead of an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// A request failed (connect, I/O, timeout, oversized body); the client backs off and
    /// retries the same cursor on the next call. Not terminal.
    #[error("request failed: {0}; retrying")]
    Http(#[from] http::ClientError),
    /// The server answered with an error status or a malformed body. Terminal for 400, 410
    /// and other 4xx ([`ClientError::is_terminal`]); otherwise (429, 5xx incl. 503 with its
    /// `Retry-After`, malformed body) the client backs off and retries.
    #[error(transparent)]
    Protocol(#[from] ClientError),
}

impl PollError {
    /// The client has stopped: every later call fails with [`ClientError::Stopped`].
    pub fn is_terminal(&self) -> bool {
        match self {
            PollError::Http(_) => false,
            PollError::Protocol(e) => e.is_terminal(),
        }
    }
}

/// A long-poll client: yields every event of a stream exactly once and in order, or a gap with
/// its exact count, or a reset — across reconnects, server restarts and retention overflow.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use sluice_longpoll::{ClientEvent, Start};
/// use sluice_tokio::longpoll::{LongPollClient, LongPollClientConfig};
///
/// let mut c = LongPollClient::new("http://127.0.0.1:8080/poll/news", Start::Earliest,
///                                 LongPollClientConfig::default())?;
/// loop {
///     match c.next().await {
///         Ok(ClientEvent::Event(e)) => println!("{} {} {}", e.id, e.event, e.data),
///         Ok(ClientEvent::Gap { missed }) => eprintln!("missed {missed} events"),
///         Ok(ClientEvent::Reset) => eprintln!("server history lost: resync"),
///         Ok(_) => {}
///         Err(e) if e.is_terminal() => return Err(e.into()),
///         Err(e) => eprintln!("{e}"), // retried after a backoff
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct LongPollClient {
    /// The endpoint as given, with any query (e.g. `?token=`) the protocol's parameters are
    /// appended to.
    base: String,
    core: Client,
    http: http::ClientConfig,
    max_body: u64,
    connector: DefaultConnector,
    conn: Option<ClientStream>,
    answered: bool,
    served: bool,
}

impl LongPollClient {
    /// A client for `url` (an `http://` or `https://` long-poll endpoint) starting at
    /// `start`, with the [`DefaultConnector`].
    ///
    /// # Errors
    /// The URL does not parse or is not `http(s)://`.
    pub fn new(url: &str, start: Start, config: LongPollClientConfig) -> Result<Self, UrlError> {
        Self::with_connector(DefaultConnector::default(), url, start, config)
    }

    /// As [`LongPollClient::new`], connecting with `connector` (a custom CA, client
    /// certificates: see [`sluice_http::ClientTls`]).
    ///
    /// # Errors
    /// The URL does not parse or is not `http(s)://`.
    pub fn with_connector(
        connector: DefaultConnector,
        url: &str,
        start: Start,
        config: LongPollClientConfig,
    ) -> Result<Self, UrlError> {
        let parsed = Url::parse(url)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(UrlError::UnsupportedScheme(parsed.scheme().to_owned()));
        }
        let mut http = config.http;
        let wait = config.poll.timeout.unwrap_or(Duration::from_secs(25)) + config.grace;
        http.response_timeout = http.response_timeout.max(wait);
        // It keeps its own HTTP/1.1 connection alive between polls ([`http::send`]).
        http.alpn = vec![sluice_http::tls::ALPN_HTTP11.to_vec()];
        http.read_timeout = Some(http.read_timeout.map_or(wait, |t| t.max(wait)));
        Ok(Self {
            base: url.to_owned(),
            core: Client::new(config.poll, start),
            http,
            connector,
            max_body: config.max_body,
            conn: None,
            answered: false,
            served: false,
        })
    }

    /// The resume position: the id of the last event surfaced (or the position a gap/reset
    /// moved to). `None` before the first answer when started from `Now`/`Earliest`.
    pub fn cursor(&self) -> Option<Cursor> {
        self.core.cursor()
    }

    /// Whether the server has answered at least once (any status). A caller may treat
    /// transport errors before the first answer (wrong port, nothing listening) as fatal and
    /// later ones (a server restart) as transient.
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// Whether a `200` answer (events or an empty wait) arrived and was taken: the
    /// subscription has been open, whatever failed later.
    pub fn served(&self) -> bool {
        self.served
    }

    /// The stream ended ([`ClientEvent::End`] was returned): nothing follows; [`next`] would
    /// answer a terminal error.
    ///
    /// [`next`]: LongPollClient::next
    pub fn is_ended(&self) -> bool {
        self.core.is_ended()
    }

    /// The next event, gap or reset. Waits (long-polls, backs off) as needed. A non-terminal
    /// [`PollError`] reports a failed request that will be retried by the next call.
    ///
    /// Cancel-safe in the sense that matters: dropping the future loses no surfaced event;
    /// an answer in flight is simply requested again (the core deduplicates).
    ///
    /// # Errors
    /// [`PollError`]; after a terminal one, every call fails.
    pub async fn next(&mut self) -> Result<ClientEvent, PollError> {
        loop {
            if let Some(ev) = self.core.poll_event() {
                return Ok(ev);
            }
            let t = Instant::now();
            let Some(req) = self.core.next_request(t.into_std()) else {
                match self.core.poll_timeout() {
                    Some(at) => {
                        tokio::time::sleep_until(Instant::from_std(at)).await;
                        continue;
                    }
                    None => return Err(ClientError::Stopped.into()),
                }
            };
            let sep = if self.base.contains('?') { '&' } else { '?' };
            let url = format!("{}{sep}{}", self.base, req.to_query());
            match self.fetch(&url).await {
                Ok((status, retry_after, body)) => {
                    self.answered = true;
                    let now = Instant::now().into_std();
                    self.core.handle_response(
                        now,
                        status,
                        retry_after.as_deref(),
                        &body,
                        os_u64(),
                    )?;
                    if status == 200 {
                        self.served = true;
                    }
                }
                Err(e) => {
                    self.core
                        .handle_transport_error(Instant::now().into_std(), os_u64());
                    return Err(e.into());
                }
            }
        }
    }

    /// One request: reuse the kept-alive connection if any (retrying once on a fresh one if
    /// it turns out dead), read the whole bounded body, keep the connection if reusable.
    async fn fetch(
        &mut self,
        url: &str,
    ) -> Result<(u16, Option<String>, bytes::Bytes), http::ClientError> {
        let req = ClientRequest::get(url)?;
        let reused = self.conn.take();
        let was_reused = reused.is_some();
        let io = match reused {
            Some(io) => io,
            None => self.connector.connect(req.url(), &self.http).await?,
        };
        let mut resp = match http::send(io, &req, &self.http).await {
            Ok(r) => r,
            Err(_) if was_reused => {
                // The server closed the idle connection: not a failure of this request.
                let io = self.connector.connect(req.url(), &self.http).await?;
                http::send(io, &req, &self.http).await?
            }
            Err(e) => return Err(e),
        };
        let status = resp.status().as_u16();
        let retry_after = resp.header("retry-after").map(str::to_owned);
        let body = resp.bytes(self.max_body).await?;
        let keep = resp.version() == Version::Http11
            && !resp.headers().has_token("connection", "close")
            && resp.is_body_done();
        if keep
            && let Some(up) = resp.into_upgraded()
            && up.read_buf.is_empty()
        {
            self.conn = Some(up.io);
        }
        Ok((status, retry_after, body))
    }

    /// The client as a [`futures_core::Stream`] of [`LongPollClient::next`] results; it ends
    /// after a terminal error.
    pub fn into_stream(
        self,
    ) -> impl futures_core::Stream<Item = Result<ClientEvent, PollError>> + Send + Unpin {
        // One `next()` at a time, the client moved into and out of each future.
        Box::pin(futures_util::stream::unfold(
            Some(self),
            |client| async move {
                let mut c = client?;
                let r = c.next().await;
                let terminal = matches!(&r, Err(e) if e.is_terminal());
                Some((r, (!terminal).then_some(c)))
            },
        ))
    }
}
