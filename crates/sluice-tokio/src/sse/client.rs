//! The client side: an `EventSource` over the HTTP client, driven by the sans-IO
//! [`sluice_sse::Client`].

use std::time::Duration;

use bytes::Bytes;
use sluice_sse::llm::{Completion, Dialect, Signal, StreamError};
use sluice_sse::{Item, MessageEvent, ParseError, ResponseError, State};
use tokio::time::{Instant, sleep_until, timeout_at};

use sluice_http::{
    self as http, ClientError, ClientRequest, ClientResponse, Connector, DefaultConnector, Headers,
    Url, UrlError,
};

/// Configuration of an [`SseClient`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SseClientConfig {
    /// HTTP limits and timeouts. The default differs from [`http::ClientConfig::default`] in
    /// two places: redirects are followed, and each body read times out after 60 s
    /// ([`http::ClientConfig::read_timeout`]), which detects a half-open connection (a server
    /// that sends heartbeats more often than that never trips it). A read timeout counts as a
    /// network error: the client reconnects.
    pub http: http::ClientConfig,
    /// Reconnection policy and parser limits (initial reconnection time 3 s, floor 100 ms,
    /// backoff cap 60 s, lines and events up to 16 MiB).
    pub sse: sluice_sse::ClientConfig,
    /// Reconnect after a network error or the end of the body. Default `true`. With `false`
    /// the client stops there: one request, one response (for example an LLM API answering a
    /// POST, which must not be repeated).
    pub reconnect: bool,
    /// Re-send a request whose method is not idempotent (`POST`, `PATCH`…, with its body)
    /// when reconnecting. Default `false`: such a request is sent once, and a lost
    /// connection ends the client ([`SseError::Disconnected`], [`SseError::Incomplete`]) —
    /// re-sending would start a second generation (and bill it).
    pub resend: bool,
    /// The stream's dialect: which events end it ([`sluice_sse::llm`]). Default `None`:
    /// a plain `EventSource` (only `204` stops it). With a dialect, the terminal success
    /// event is the last item ([`SseClient::next`] then returns `Ok(None)`: no reconnect), a
    /// reported error ends the client with [`SseError::Failed`], and a stream that ends
    /// before its terminal event is [`SseError::Incomplete`] unless reconnecting is on and
    /// safe (an idempotent request, or [`SseClientConfig::resend`]).
    pub dialect: Option<Dialect>,
    /// Longest wait for an *event* once open (`None`: no limit). Keep-alive comments and
    /// keep-alive events (`ping`, `keepalive`) do not count, unlike the byte-level
    /// [`http::ClientConfig::read_timeout`]: a server that only sends heartbeats trips this
    /// one ([`Disconnect::Idle`]), a dead connection trips the other. Default `None`.
    pub idle_timeout: Option<Duration>,
}

impl Default for SseClientConfig {
    fn default() -> Self {
        Self {
            http: {
                let mut h = http::ClientConfig::default();
                h.follow_redirects = true;
                h.read_timeout = Some(Duration::from_secs(60));
                h
            },
            sse: sluice_sse::ClientConfig::default(),
            reconnect: true,
            resend: false,
            dialect: None,
            idle_timeout: None,
        }
    }
}

impl SseClientConfig {
    /// Sets [`http::ClientConfig::read_timeout`] (`None`: wait forever).
    #[must_use]
    pub fn with_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.http.read_timeout = timeout;
        self
    }

    /// Sets [`SseClientConfig::http`].
    #[must_use]
    pub fn with_http(mut self, http: http::ClientConfig) -> Self {
        self.http = http;
        self
    }

    /// Sets [`SseClientConfig::sse`].
    #[must_use]
    pub fn with_sse(mut self, sse: sluice_sse::ClientConfig) -> Self {
        self.sse = sse;
        self
    }

    /// Sets [`SseClientConfig::reconnect`].
    #[must_use]
    pub fn with_reconnect(mut self, reconnect: bool) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Sets [`SseClientConfig::resend`].
    #[must_use]
    pub fn with_resend(mut self, resend: bool) -> Self {
        self.resend = resend;
        self
    }

    /// Sets [`SseClientConfig::dialect`].
    #[must_use]
    pub fn with_dialect(mut self, dialect: Option<Dialect>) -> Self {
        self.dialect = dialect;
        self
    }

    /// Sets [`SseClientConfig::idle_timeout`].
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

/// Why a connection ended (reported in [`SseEvent::Reconnecting`], or in
/// [`SseError::Disconnected`] when reconnecting is off).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Disconnect {
    /// The server ended the body.
    #[error("the server ended the stream")]
    Ended,
    /// Connecting, the response head or a body read failed or timed out.
    #[error(transparent)]
    Http(#[from] ClientError),
    /// The stream broke a parser limit (line or event too large).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// No event (keep-alives aside) for [`SseClientConfig::idle_timeout`].
    #[error("no event for {} ms (keep-alives aside)", after.as_millis())]
    Idle {
        /// The timeout.
        after: Duration,
    },
}

/// What [`SseClient::next`] yields.
#[derive(Debug)]
#[non_exhaustive]
pub enum SseEvent {
    /// A response with status 200 and `text/event-stream` opened the stream (`EventSource`'s
    /// `open` event).
    Open {
        /// The URL the response came from (after redirects).
        url: Url,
        /// The response's header fields.
        headers: Headers,
    },
    /// A dispatched event.
    Event(MessageEvent),
    /// A valid `retry` field set the reconnection time to this many milliseconds.
    Retry(u64),
    /// A comment line (heartbeats are empty comments); only with
    /// [`sluice_sse::Config::emit_comments`] (on by default).
    Comment(String),
    /// The connection ended; the client reconnects after `delay` (`EventSource`'s `error`
    /// event with `readyState` `CONNECTING`). The next request carries `Last-Event-ID`.
    Reconnecting {
        /// How long the client waits: the reconnection time, with exponential backoff and
        /// jitter after attempts that failed before a valid response.
        delay: Duration,
        /// Why the connection ended.
        cause: Disconnect,
    },
}

/// Why an [`SseClient`] stopped for good.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// The response cannot carry an event stream: a status other than 200/204 or a content
    /// type other than `text/event-stream` (WHATWG: "fail the connection"; no reconnect).
    #[error(transparent)]
    Response(ResponseError),
    /// The request cannot be sent as given (caller misuse or a futile target): invalid URL,
    /// scheme without connector, invalid method, too many redirects.
    #[error(transparent)]
    Request(ClientError),
    /// The connection ended with an error and reconnecting is off (or, for a request that
    /// is not idempotent, not safe: see [`SseClientConfig::resend`]).
    #[error("connection lost: {0}")]
    Disconnected(Disconnect),
    /// The stream reported an error ([`SseClientConfig::dialect`]): `{"error":…}` data,
    /// `event: error`, `response.failed`… The event itself was returned just before.
    #[error(transparent)]
    Failed(StreamError),
    /// The stream ended before its terminal event ([`SseClientConfig::dialect`]): the
    /// generation was cut, and reconnecting is off or not safe.
    #[error("the stream ended before its terminal event: {0}")]
    Incomplete(Disconnect),
}

enum Phase<S> {
    Connect,
    Open(Box<ClientResponse<S>>),
    Wait(Instant),
    Done,
}

/// An `EventSource` client: connects, reads events, reconnects with `Last-Event-ID` per the
/// WHATWG rules ([`sluice_sse::Client`]), until a `204`, a fatal response or
/// [`close`](SseClient::close).
///
/// Any method, header fields and body are allowed (LLM APIs answer a `POST` with
/// `Authorization` with an event stream); `Accept: text/event-stream` and `Cache-Control:
/// no-cache` are added unless given, `Last-Event-ID` whenever the last event ID is not empty.
/// Redirects are followed; every reconnection goes to the original URL (as browsers do).
///
/// The [`DefaultConnector`] opens `http://` and `https://` URLs (TLS with `webpki-roots`
/// trust anchors); [`SseClient::with_connector`] takes any other [`Connector`] — a
/// `DefaultConnector` with a custom CA or client certificate, a proxy, an in-memory pipe.
///
/// ```no_run
/// use sluice_http::ClientRequest;
/// use sluice_tokio::sse::{SseClient, SseClientConfig, SseEvent};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let req = ClientRequest::post("http://127.0.0.1:8080/v1/chat", r#"{"stream":true}"#)?
///     .header("authorization", "Bearer sk-...")
///     .header("content-type", "application/json");
/// let mut client = SseClient::new(req, SseClientConfig::default().with_reconnect(false));
/// while let Some(ev) = client.next().await? {
///     if let SseEvent::Event(e) = ev {
///         println!("{}: {}", e.event_type(), e.data);
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct SseClient<C: Connector = DefaultConnector> {
    connector: C,
    request: ClientRequest,
    config: SseClientConfig,
    machine: sluice_sse::Client,
    phase: Phase<C::Stream>,
    /// The dialect tracker ([`SseClientConfig::dialect`]).
    completion: Option<Completion>,
    /// A terminal event was returned: no more items; `Some(Err)` once, then `Ok(None)`.
    finished: Option<Option<StreamError>>,
    /// When the open stream counts as idle ([`SseClientConfig::idle_timeout`]).
    idle_at: Option<Instant>,
    /// The server answered `204 No Content`: stop (WHATWG).
    told_to_stop: bool,
}

impl<C: Connector> std::fmt::Debug for SseClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseClient")
            .field("url", self.request.url())
            .field("state", &self.machine.state())
            .field("last_event_id", &self.machine.last_event_id())
            .finish_non_exhaustive()
    }
}

impl SseClient<DefaultConnector> {
    /// A client for `request` with the [`DefaultConnector`]. Nothing is sent before the first
    /// [`next`](SseClient::next).
    #[must_use]
    pub fn new(request: ClientRequest, config: SseClientConfig) -> Self {
        Self::with_connector(DefaultConnector::default(), request, config)
    }

    /// A `GET` of `url` with the default configuration.
    ///
    /// # Errors
    /// The URL does not parse.
    pub fn get(url: &str) -> Result<Self, UrlError> {
        Ok(Self::new(
            ClientRequest::get(url)?,
            SseClientConfig::default(),
        ))
    }
}

impl<C: Connector> SseClient<C> {
    /// A client whose connections come from `connector` (e.g. TLS for `https://`).
    #[must_use]
    pub fn with_connector(connector: C, request: ClientRequest, config: SseClientConfig) -> Self {
        let machine = sluice_sse::Client::new(config.sse.clone());
        Self {
            connector,
            request,
            completion: config.dialect.map(Completion::new),
            config,
            machine,
            phase: Phase::Connect,
            finished: None,
            idle_at: None,
            told_to_stop: false,
        }
    }

    /// Starts from a known last event ID (resuming an earlier session): the first request
    /// already carries it as `Last-Event-ID`.
    #[must_use]
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        self.machine = self.machine.with_last_event_id(id);
        self
    }

    /// The last event ID (sent as `Last-Event-ID` on the next request when not empty).
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.machine.last_event_id()
    }

    /// The current reconnection time (the last valid `retry`, else the initial one; floored).
    #[must_use]
    pub fn reconnection_time(&self) -> Duration {
        self.machine.reconnection_time()
    }

    /// Where the state machine stands.
    #[must_use]
    pub fn state(&self) -> State {
        self.machine.state()
    }

    /// The request sent on every (re)connection.
    #[must_use]
    pub fn request(&self) -> &ClientRequest {
        &self.request
    }

    /// The dialect recognised so far ([`SseClientConfig::dialect`]).
    #[must_use]
    pub fn dialect(&self) -> Option<Dialect> {
        self.completion.as_ref().and_then(Completion::detected)
    }

    /// The stream's terminal success event was received ([`SseClientConfig::dialect`]).
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.completion.as_ref().is_some_and(Completion::is_done)
    }

    /// Whether items the parser has read wait to be returned by [`next`](SseClient::next).
    /// While they do, [`last_event_id`](SseClient::last_event_id) may already be the id of one
    /// of them; once none waits, it is the id of the last thing the stream committed (an event,
    /// or an id-only dispatch such as a server's opening head).
    #[must_use]
    pub fn has_queued(&self) -> bool {
        self.machine.has_items()
    }

    /// Whether the server answered `204 No Content` (the WHATWG way of telling a client to stop
    /// reconnecting): the reason [`next`](SseClient::next) returned `Ok(None)`, as opposed to a
    /// stream that ended (without reconnection) or [`close`](SseClient::close).
    #[must_use]
    pub fn told_to_stop(&self) -> bool {
        self.told_to_stop
    }

    /// Stops for good and drops the connection; [`next`](SseClient::next) returns `Ok(None)`.
    pub fn close(&mut self) {
        self.machine.close();
        self.phase = Phase::Done;
    }

    /// The next event, `retry`, comment or connection change. `Ok(None)`: finished for good
    /// without error (the server answered `204`, the stream ended with reconnecting off, or
    /// [`close`](SseClient::close)). An `Err` is final too.
    ///
    /// Cancel-safe as far as data goes: no item already received is lost, and a pending
    /// reconnection delay keeps its deadline; a cancelled connection attempt is started again
    /// by the next call.
    ///
    /// # Errors
    /// [`SseError`]: a response that cannot carry the stream, a request that cannot be sent,
    /// or (reconnecting off) a lost connection.
    pub async fn next(&mut self) -> Result<Option<SseEvent>, SseError> {
        loop {
            if let Some(end) = &mut self.finished {
                return match end.take() {
                    Some(e) => Err(SseError::Failed(e)),
                    None => Ok(None),
                };
            }
            if let Some(item) = self.machine.poll_item() {
                match item {
                    Item::Event(e) => {
                        self.on_event(&e);
                        return Ok(Some(SseEvent::Event(e)));
                    }
                    Item::Retry(ms) => return Ok(Some(SseEvent::Retry(ms))),
                    Item::Comment(c) => return Ok(Some(SseEvent::Comment(c))),
                    _ => continue,
                }
            }
            match &mut self.phase {
                Phase::Done => return Ok(None),
                Phase::Wait(at) => {
                    sleep_until(*at).await;
                    self.machine.handle_reconnect();
                    self.phase = Phase::Connect;
                }
                Phase::Connect => {
                    let req = self.attempt_request();
                    match http::fetch_with(&self.connector, req, &self.config.http).await {
                        Ok(resp) => {
                            let ct = resp.headers().get("content-type").map(|v| &v[..]);
                            match self.machine.handle_response(resp.status().as_u16(), ct) {
                                Ok(()) => {
                                    let open = SseEvent::Open {
                                        url: resp.url().clone(),
                                        headers: resp.headers().clone(),
                                    };
                                    self.phase = Phase::Open(Box::new(resp));
                                    self.idle_at =
                                        self.config.idle_timeout.map(|d| Instant::now() + d);
                                    return Ok(Some(open));
                                }
                                Err(ResponseError::NoContent) => {
                                    self.phase = Phase::Done;
                                    self.told_to_stop = true;
                                    return Ok(None);
                                }
                                Err(e) => {
                                    self.phase = Phase::Done;
                                    return Err(SseError::Response(e));
                                }
                            }
                        }
                        Err(e) if is_fatal(&e) => {
                            self.close();
                            return Err(SseError::Request(e));
                        }
                        Err(e) => return self.disconnect(Disconnect::Http(e)),
                    }
                }
                Phase::Open(resp) => match read_chunk(resp, self.idle_at).await {
                    None => {
                        let after = self.config.idle_timeout.unwrap_or_default();
                        return self.disconnect(Disconnect::Idle { after });
                    }
                    Some(Ok(Some(bytes))) => {
                        if let Err(e) = self.machine.handle_input(&bytes) {
                            return self.disconnect(Disconnect::Parse(e));
                        }
                    }
                    Some(Ok(None)) => return self.disconnect(Disconnect::Ended),
                    Some(Err(e)) => return self.disconnect(Disconnect::Http(e)),
                },
            }
        }
    }

    /// The client as a [`futures_core::Stream`] of [`SseClient::next`] results; it ends after
    /// `Ok(None)` or the first error.
    pub fn into_stream(self) -> impl futures_core::Stream<Item = Result<SseEvent, SseError>> + Send
    where
        C: 'static,
        C::Stream: 'static,
    {
        // One `next()` at a time; the stream ends after `Ok(None)` or an error.
        Box::pin(futures_util::stream::unfold(
            Some(self),
            |client| async move {
                let mut c = client?;
                match c.next().await {
                    Ok(Some(ev)) => Some((Ok(ev), Some(c))),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), None)),
                }
            },
        ))
    }

    /// The request for one attempt: the caller's, plus the event-stream fields.
    fn attempt_request(&self) -> ClientRequest {
        let mut req = self.request.clone();
        for (name, value) in self.machine.request_headers() {
            let headers = req.headers_mut();
            if name.eq_ignore_ascii_case("last-event-id") {
                headers.remove(name);
            } else if headers.contains(name) {
                continue;
            }
            // An id with a control byte cannot be a field value: such a request goes without
            // it (the id is still kept for later events).
            let _ = headers.append(Bytes::from_static(name.as_bytes()), value.to_owned());
        }
        req
    }

    /// Keeps the idle clock and the dialect's outcome for a dispatched event.
    fn on_event(&mut self, e: &MessageEvent) {
        // With a dialect, its classification already says whether this is a keep-alive (the
        // data's JSON is read once per event, not twice).
        let signal = self.completion.as_mut().map(|c| c.handle_event(e));
        if let Some(d) = self.config.idle_timeout {
            let keep_alive = match &signal {
                Some(s) => *s == Signal::KeepAlive,
                None => sluice_sse::llm::is_keep_alive(e),
            };
            if !keep_alive {
                self.idle_at = Some(Instant::now() + d);
            }
        }
        match signal {
            Some(Signal::Done) => {
                self.close();
                self.finished = Some(None);
            }
            Some(Signal::Failed(err)) => {
                self.close();
                self.finished = Some(Some(err));
            }
            _ => {}
        }
    }

    /// Whether reconnecting may repeat the request: an idempotent method (RFC 9110 §9.2.2),
    /// or the caller opted in.
    fn may_resend(&self) -> bool {
        self.config.resend
            || matches!(
                self.request.method(),
                "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
            )
    }

    fn disconnect(&mut self, cause: Disconnect) -> Result<Option<SseEvent>, SseError> {
        self.idle_at = None;
        if !self.config.reconnect || !self.may_resend() {
            self.close();
            return match cause {
                _ if self.completion.is_some() => Err(SseError::Incomplete(cause)),
                Disconnect::Ended => Ok(None),
                cause => Err(SseError::Disconnected(cause)),
            };
        }
        let random = getrandom::u64().unwrap_or_default();
        match self.machine.handle_disconnect(random) {
            Some(delay) => {
                self.phase = Phase::Wait(Instant::now() + delay);
                Ok(Some(SseEvent::Reconnecting { delay, cause }))
            }
            None => {
                self.phase = Phase::Done;
                Ok(None)
            }
        }
    }
}

/// The next chunk of the body; `None` when `idle_at` passed first.
async fn read_chunk<S>(
    resp: &mut ClientResponse<S>,
    idle_at: Option<Instant>,
) -> Option<Result<Option<Bytes>, ClientError>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    match idle_at {
        Some(at) => timeout_at(at, resp.chunk()).await.ok(),
        None => Some(resp.chunk().await),
    }
}

/// Request errors that no reconnection can fix.
fn is_fatal(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Url(_)
            | ClientError::UnsupportedScheme(_)
            | ClientError::InvalidMethod(_)
            | ClientError::TooManyRedirects { .. }
            | ClientError::Certificate { .. }
    )
}
