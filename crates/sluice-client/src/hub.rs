//! [`HubClient`]: subscribe to a Sluice hub topic over the best transport that gets through —
//! WebSocket, else Server-Sent Events, else long-poll — on one cursor, and publish with
//! retries and an `Idempotency-Key`. The rules are written down in `docs/clients.md`.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use sluice_http::{ClientRequest, DefaultConnector, UrlError, percent_encode};
use sluice_longpoll::Start;
use sluice_sse::ResponseError as SseResponseError;
use sluice_tokio::longpoll::{LongPollClient, LongPollClientConfig};
use sluice_tokio::sse::{SseClient, SseClientConfig, SseError, SseEvent};
use sluice_tokio::ws::{self, Message, ResponseError, WebSocket, WsConfig};
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::frames::{self, Item, PresenceMember, WsFrame};
use crate::position::{Position, Verdict};

/// A transport of the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `GET /ws/{topic}`: WebSocket.
    Ws,
    /// `GET /sse/{topic}`: Server-Sent Events.
    Sse,
    /// `GET /poll/{topic}`: long-poll.
    Poll,
}

impl Transport {
    /// The route's name: `ws`, `sse` or `poll`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Sse => "sse",
            Transport::Poll => "poll",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which transports a subscription may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportMode {
    /// WebSocket first; SSE when the upgrade is refused or blocked; long-poll when the SSE
    /// body does not arrive; the better transports are retried later.
    Auto,
    /// Only this one.
    Only(Transport),
}

/// Settings of a [`HubClient`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubClientConfig {
    /// Delays between reconnection attempts and when to give up. Default: 250 ms doubling to
    /// 10 s, full jitter, never give up.
    pub backoff: Backoff,
    /// A WebSocket attempt with no `101` within this time counts as blocked. Default 5 s.
    pub ws_open_timeout: Duration,
    /// An SSE response whose body has not started within this time counts as withheld (the hub
    /// sends `retry:` at once; a buffering proxy holds it back). Default 3 s.
    pub sse_first_byte_timeout: Duration,
    /// After a fallback, the better transports are tried again after this long (and then at
    /// this interval). Default 30 s.
    pub upgrade_after: Duration,
    /// The WebSocket settings: pings every 15 s, dead after 40 s of silence by default (the
    /// hub pings every 30 s).
    pub ws: WsConfig,
    /// The long-poll client's settings.
    pub poll: LongPollClientConfig,
    /// Attempts of one publish before giving up. Default 8.
    pub publish_attempts: u32,
    /// Deadline of one publish request. Default 10 s.
    pub request_timeout: Duration,
}

impl Default for HubClientConfig {
    fn default() -> Self {
        Self {
            backoff: Backoff::default(),
            ws_open_timeout: Duration::from_secs(5),
            sse_first_byte_timeout: Duration::from_secs(3),
            upgrade_after: Duration::from_secs(30),
            ws: WsConfig::default()
                .ping_interval(Some(Duration::from_secs(15)))
                .idle_timeout(Some(Duration::from_secs(40))),
            poll: LongPollClientConfig::default(),
            publish_attempts: 8,
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl HubClientConfig {
    /// Sets [`HubClientConfig::backoff`].
    #[must_use]
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
    /// Sets [`HubClientConfig::ws_open_timeout`] and
    /// [`HubClientConfig::sse_first_byte_timeout`].
    #[must_use]
    pub fn with_fallback_timeouts(mut self, ws_open: Duration, sse_first_byte: Duration) -> Self {
        self.ws_open_timeout = ws_open;
        self.sse_first_byte_timeout = sse_first_byte;
        self
    }
    /// Sets [`HubClientConfig::upgrade_after`].
    #[must_use]
    pub fn with_upgrade_after(mut self, after: Duration) -> Self {
        self.upgrade_after = after;
        self
    }
}

/// A client of one hub (`http(s)://host:port[/prefix]`, or the same with `ws(s)://`).
#[derive(Debug, Clone)]
pub struct HubClient {
    secure: bool,
    authority: String,
    prefix: String,
    token: Option<String>,
    connector: DefaultConnector,
    config: HubClientConfig,
}

impl HubClient {
    /// A client of the hub at `base` (its routes are `base/ws/{topic}`, `base/publish/{topic}`…;
    /// a query is ignored).
    ///
    /// # Errors
    /// `base` does not parse or is not `http(s)://` / `ws(s)://`.
    pub fn new(base: &str) -> Result<Self, UrlError> {
        let url = sluice_http::Url::parse(base)?;
        let secure = match url.scheme() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            other => return Err(UrlError::UnsupportedScheme(other.to_owned())),
        };
        Ok(Self {
            secure,
            authority: url.authority(),
            prefix: url.path().trim_end_matches('/').to_owned(),
            token: None,
            connector: DefaultConnector::default(),
            config: HubClientConfig::default(),
        })
    }

    /// Sends `token` (a JWT) on every request: `Authorization: Bearer`, `?token=` for
    /// long-poll.
    #[must_use]
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Connects with `connector` (a custom CA, client certificates).
    #[must_use]
    pub fn with_connector(mut self, connector: DefaultConnector) -> Self {
        self.connector = connector;
        self
    }

    /// The settings.
    #[must_use]
    pub fn with_config(mut self, config: HubClientConfig) -> Self {
        self.config = config;
        self
    }

    /// The URL of `route` for `topic` with `query` pairs (values are cursors, tokens and event
    /// types: percent-encoded here).
    fn url(&self, route: &str, topic: &str, query: &[(&str, &str)]) -> String {
        let scheme = match (route, self.secure) {
            ("ws", false) => "ws",
            ("ws", true) => "wss",
            (_, false) => "http",
            (_, true) => "https",
        };
        let mut url = format!(
            "{scheme}://{}{}/{route}/{topic}",
            self.authority, self.prefix
        );
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&percent_encode(v));
        }
        url
    }

    fn authorized(&self, mut req: ClientRequest) -> Result<ClientRequest, String> {
        if let Some(t) = &self.token {
            req = req
                .try_header("authorization", format!("Bearer {t}"))
                .map_err(|_| "the token contains characters not allowed in a header")?;
        }
        Ok(req)
    }

    /// A subscription to `topic` from `start`, over `mode`. Nothing happens until
    /// [`Subscription::next`] is called.
    pub fn subscribe(&self, topic: &str, start: Start, mode: TransportMode) -> Subscription {
        let first = match mode {
            TransportMode::Auto => Transport::Ws,
            TransportMode::Only(t) => t,
        };
        Subscription {
            client: self.clone(),
            topic: topic.to_owned(),
            mode,
            current: first,
            conn: Conn::Idle,
            pos: Position::new(start),
            pending: VecDeque::new(),
            failed: 0,
            retry_at: None,
            upgrade_at: None,
            announced: false,
            ended: false,
            over: None,
            presence: false,
            client_id: crate::backoff::random_hex(8),
        }
    }

    /// Who is present on `topic` (`GET /presence/{topic}`; on a hub with a shared store, on
    /// every node).
    ///
    /// # Errors
    /// [`PublishError`]'s variants (a refusal, an unreachable hub, a malformed answer).
    pub async fn presence(&self, topic: &str) -> Result<Vec<PresenceMember>, PublishError> {
        let url = self.url("presence", topic, &[]);
        let req = ClientRequest::get(&url)
            .map_err(|e| PublishError::Invalid(format!("bad URL {url:?}: {e}")))?;
        let req = self.authorized(req).map_err(PublishError::Invalid)?;
        let mut http = sluice_http::ClientConfig::default();
        http.connect_timeout = self.config.request_timeout;
        http.response_timeout = self.config.request_timeout;
        http.read_timeout = Some(self.config.request_timeout);
        let mut resp = sluice_http::fetch_with(&self.connector, req, &http)
            .await
            .map_err(|e| PublishError::GaveUp {
                attempts: 1,
                last: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes(4 << 20)
            .await
            .map_err(|e| PublishError::GaveUp {
                attempts: 1,
                last: e.to_string(),
            })?;
        if status != 200 {
            return Err(PublishError::Refused {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| PublishError::BadAnswer)?;
        v.get("clients")
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(PresenceMember::from_json).collect())
            .ok_or(PublishError::BadAnswer)
    }

    /// Publishes `data` as an event of type `event` to `topic` (`POST /publish/{topic}`) and
    /// returns its id. Network errors, timeouts, 408, 429 and 5xx answers are retried with
    /// backoff, each time with the same `Idempotency-Key`, so the event is appended once
    /// however many attempts it takes.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn publish(
        &self,
        topic: &str,
        event: &str,
        data: impl Into<Bytes>,
    ) -> Result<String, PublishError> {
        let query: &[(&str, &str)] = if event.is_empty() || event == "message" {
            &[]
        } else {
            &[("event", event)]
        };
        self.post("publish", topic, query, data.into()).await
    }

    /// Ends `topic` (`POST /close/{topic}`, publish permission): its subscribers get the end
    /// after the last event and stop, later publishes are refused (409). Returns the end's id.
    /// Retried like [`HubClient::publish`]; closing an ended topic is not an error.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn close(&self, topic: &str) -> Result<String, PublishError> {
        self.post("close", topic, &[], Bytes::new()).await
    }

    /// `POST /{route}/{topic}` with one `Idempotency-Key` across retries; the answer's `id`.
    async fn post(
        &self,
        route: &str,
        topic: &str,
        query: &[(&str, &str)],
        data: Bytes,
    ) -> Result<String, PublishError> {
        let key = idempotency_key();
        let url = self.url(route, topic, query);
        let mut failed = 0u32;
        let mut http = sluice_http::ClientConfig::default();
        http.connect_timeout = self.config.request_timeout;
        http.response_timeout = self.config.request_timeout;
        http.read_timeout = Some(self.config.request_timeout);
        loop {
            let req = ClientRequest::post(&url, data.clone())
                .map_err(|e| PublishError::Invalid(format!("bad URL {url:?}: {e}")))?
                .header("content-type", "text/plain; charset=utf-8")
                .header("idempotency-key", key.clone());
            let req = self.authorized(req).map_err(PublishError::Invalid)?;
            let why = match sluice_http::fetch_with(&self.connector, req, &http).await {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    match resp.bytes(64 * 1024).await {
                        Ok(body) if status == 200 => {
                            return serde_json::from_slice::<serde_json::Value>(&body)
                                .ok()
                                .and_then(|v| v.get("id")?.as_str().map(str::to_owned))
                                .ok_or(PublishError::BadAnswer);
                        }
                        Ok(body) if is_terminal(status) => {
                            return Err(PublishError::Refused {
                                status,
                                body: String::from_utf8_lossy(&body).into_owned(),
                            });
                        }
                        Ok(_) => format!("HTTP {status}"),
                        Err(e) => e.to_string(),
                    }
                }
                Err(e) => e.to_string(),
            };
            failed += 1;
            if failed >= self.config.publish_attempts {
                return Err(PublishError::GaveUp {
                    attempts: failed,
                    last: why,
                });
            }
            tokio::time::sleep(self.config.backoff.delay(failed)).await;
        }
    }
}

/// Whether an HTTP status means "do not retry": a 4xx other than 408 and 429.
fn is_terminal(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 408 | 429)
}

/// 128 random bits, hex.
fn idempotency_key() -> String {
    crate::backoff::random_hex(16)
}

/// Why a publish failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The hub refused it (a 4xx other than 408/429): retrying cannot help.
    #[error("the hub refused the publish: HTTP {status} {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The answer's body (the hub's JSON error).
        body: String,
    },
    /// [`HubClientConfig::publish_attempts`] attempts failed.
    #[error("publish failed after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed.
        last: String,
    },
    /// A 200 without an `id`: not a Sluice hub.
    #[error("the hub answered 200 without an event id")]
    BadAnswer,
    /// The URL or token cannot be used (caller misuse).
    #[error("{0}")]
    Invalid(String),
}

/// Why a subscription stopped for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The hub refused the subscription (401, 403, 404, 400…) on `transport`.
    #[error("the hub refused the {transport} subscription: HTTP {status}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The transport that got it.
        transport: Transport,
    },
    /// The topic ended ([`Item::End`] was delivered): a normal finish, nothing will follow.
    #[error("the topic ended")]
    Ended,
    /// [`Backoff::max_attempts`] attempts in a row failed.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed.
        last: String,
    },
    /// The URL or token cannot be used (caller misuse).
    #[error("{0}")]
    Invalid(String),
}

/// What [`Subscription::next`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An event, gap or reset: each exactly once, in order.
    Item(Item),
    /// The connection's state changed.
    Status(Status),
}

/// Connection states of a [`Subscription`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// The first attempt on `transport` is under way.
    Connecting {
        /// The transport tried.
        transport: Transport,
    },
    /// A connection is open and delivering (for long-poll: its first answer arrived).
    Open {
        /// Its transport.
        transport: Transport,
    },
    /// The connection failed or was lost; the next attempt starts after `delay`.
    Reconnecting {
        /// The transport of the next attempt.
        transport: Transport,
        /// Failed attempts in a row (1 = the first retry).
        attempt: u32,
        /// The wait before it.
        delay: Duration,
        /// Why the previous connection or attempt ended.
        reason: String,
    },
    /// The subscription moved to another transport: down after a blocked upgrade or a withheld
    /// body, up when a better one got through again.
    Switched {
        /// The transport left.
        from: Transport,
        /// The transport taken.
        to: Transport,
        /// Why.
        reason: String,
    },
}

enum Conn {
    Idle,
    Ws(Box<WebSocket<sluice_http::ClientStream>>),
    Sse {
        client: Box<SseClient>,
        /// Until the body's first byte: when it counts as withheld.
        deadline: Option<Instant>,
    },
    Poll {
        client: Box<LongPollClient>,
        answered: bool,
    },
}

/// A subscription of a [`HubClient`]: every event of the topic after its start, exactly once
/// and in order across reconnects and transport switches, with gaps and resets.
pub struct Subscription {
    client: HubClient,
    topic: String,
    mode: TransportMode,
    current: Transport,
    conn: Conn,
    pos: Position,
    pending: VecDeque<Event>,
    failed: u32,
    retry_at: Option<Instant>,
    upgrade_at: Option<Instant>,
    announced: bool,
    /// [`Item::End`] was queued: no more reads, no reconnects.
    ended: bool,
    /// The error that ended the subscription, answered again by every later call.
    over: Option<SubscribeError>,
    presence: bool,
    client_id: String,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("transport", &self.current)
            .field("cursor", &self.pos.cursor())
            .finish_non_exhaustive()
    }
}

/// What a WebSocket attempt's failure says.
enum WsFailure {
    /// The hub (or the network to it) is down: retry the same transport.
    Down(String),
    /// Something between refuses or breaks the upgrade: another transport may get through.
    Blocked { status: Option<u16>, reason: String },
}

impl Subscription {
    /// The resume point: the id of the last event delivered (or the hub's head announced at
    /// the start of a live subscription). Pass it as the start of a later subscription.
    pub fn cursor(&self) -> Option<String> {
        self.pos.cursor()
    }

    /// The transport in use (or being tried).
    pub fn transport(&self) -> Transport {
        self.current
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Asks for join/leave notices ([`Item::Join`], [`Item::Leave`]; WebSocket and SSE).
    #[must_use]
    pub fn with_presence(mut self, on: bool) -> Self {
        self.presence = on;
        self
    }

    /// The client id this subscription presents (`?client=`; kept across reconnects, so a
    /// reconnect is not a new member). Default: 16 random hex digits.
    #[must_use]
    pub fn with_client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// The client id this subscription presents.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The query of a subscribe URL: cursor, client id, presence.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(c) = self.pos.param() {
            q.push(("cursor", c));
        }
        q.push(("client", self.client_id.clone()));
        if self.presence {
            q.push(("presence", "1".to_owned()));
        }
        q
    }

    /// Publishes `data` as a `message` event: over the open WebSocket when there is one (no
    /// acknowledgement: `Ok(None)`), else with [`HubClient::publish`] (retried, idempotent:
    /// `Ok(Some(id))`).
    ///
    /// # Errors
    /// [`PublishError`] from the HTTP publish.
    pub async fn publish(&mut self, data: &str) -> Result<Option<String>, PublishError> {
        if let Conn::Ws(ws) = &mut self.conn
            && ws.send(Message::text(data.to_owned())).await.is_ok()
        {
            return Ok(None);
        }
        let topic = self.topic.clone();
        self.client
            .publish(&topic, "message", data.to_owned())
            .await
            .map(Some)
    }

    /// The next event, gap, reset or status change. Reconnects, falls back and upgrades as
    /// needed.
    ///
    /// Dropping the future at worst drops the current connection (the next call reconnects
    /// from the position): nothing delivered is lost or repeated.
    ///
    /// # Errors
    /// [`SubscribeError`]: the subscription is over (every later call answers the same).
    pub async fn next(&mut self) -> Result<Event, SubscribeError> {
        if let Some(e) = &self.over {
            return Err(e.clone());
        }
        let r = self.next_inner().await;
        if let Err(e) = &r {
            self.conn = Conn::Idle;
            self.over = Some(e.clone());
        }
        r
    }

    async fn next_inner(&mut self) -> Result<Event, SubscribeError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            if self.ended {
                self.conn = Conn::Idle;
                return Err(SubscribeError::Ended);
            }
            // Long-poll and SSE clients are read in place (see `read_poll`, `read_sse`).
            match self.conn {
                Conn::Poll { .. } => self.read_poll().await?,
                Conn::Sse { .. } => self.read_sse().await?,
                Conn::Idle | Conn::Ws(_) => {
                    let conn = std::mem::replace(&mut self.conn, Conn::Idle);
                    self.conn = match conn {
                        Conn::Ws(ws) => self.read_ws(ws).await?,
                        _ => self.open().await?,
                    };
                }
            }
        }
    }

    fn status(&mut self, s: Status) {
        if !self.ended {
            self.pending.push_back(Event::Status(s));
        }
    }

    fn item(&mut self, it: Item) {
        let verdict = match &it {
            Item::End if self.ended => Verdict::Duplicate,
            Item::End => {
                self.ended = true;
                Verdict::Deliver
            }
            other => self.pos.item(other),
        };
        if verdict == Verdict::Deliver {
            self.pending.push_back(Event::Item(it));
        }
    }

    fn opened(&mut self) {
        self.failed = 0;
        let transport = self.current;
        self.status(Status::Open { transport });
    }

    /// A connection or attempt failed: back off (or give up).
    fn retry(&mut self, reason: String) -> Result<Conn, SubscribeError> {
        self.failed += 1;
        if self.client.config.backoff.exhausted(self.failed) {
            return Err(SubscribeError::GaveUp {
                attempts: self.failed,
                last: reason,
            });
        }
        let delay = self.client.config.backoff.delay(self.failed);
        self.retry_at = Some(Instant::now() + delay);
        let transport = self.current;
        self.status(Status::Reconnecting {
            transport,
            attempt: self.failed,
            delay,
            reason,
        });
        Ok(Conn::Idle)
    }

    /// Moves to `to` at once (a fallback, or an upgrade that got through).
    fn switch(&mut self, to: Transport, reason: String) {
        let from = self.current;
        self.current = to;
        self.upgrade_at = match (self.mode, to) {
            (TransportMode::Auto, Transport::Sse | Transport::Poll) => {
                Some(Instant::now() + self.client.config.upgrade_after)
            }
            _ => None,
        };
        self.status(Status::Switched { from, to, reason });
    }

    fn refused(&self, status: u16) -> SubscribeError {
        SubscribeError::Refused {
            status,
            transport: self.current,
        }
    }

    async fn open(&mut self) -> Result<Conn, SubscribeError> {
        if let Some(at) = self.retry_at {
            tokio::time::sleep_until(at).await;
            // Cleared only once slept: a `next()` cancelled during the backoff keeps it.
            self.retry_at = None;
        }
        if !self.announced {
            self.announced = true;
            let transport = self.current;
            self.status(Status::Connecting { transport });
        }
        match self.current {
            Transport::Ws => match self.connect_ws().await {
                Ok(ws) => {
                    self.opened();
                    Ok(Conn::Ws(ws))
                }
                Err(WsFailure::Down(reason)) => self.retry(reason),
                Err(WsFailure::Blocked { reason, .. }) if self.mode == TransportMode::Auto => {
                    self.switch(Transport::Sse, reason);
                    Ok(Conn::Idle)
                }
                Err(WsFailure::Blocked {
                    status: Some(s), ..
                }) if is_terminal(s) => Err(self.refused(s)),
                Err(WsFailure::Blocked { reason, .. }) => self.retry(reason),
            },
            Transport::Sse => {
                let client = self.sse_client()?;
                let deadline = Instant::now() + self.client.config.sse_first_byte_timeout;
                Ok(Conn::Sse {
                    client: Box::new(client),
                    deadline: Some(deadline),
                })
            }
            Transport::Poll => {
                let mut q: Vec<(&str, &str)> = vec![("client", self.client_id.as_str())];
                if let Some(t) = &self.client.token {
                    q.push(("token", t));
                }
                let url = self.client.url("poll", &self.topic, &q);
                let client = LongPollClient::with_connector(
                    self.client.connector.clone(),
                    &url,
                    self.pos.start(),
                    self.client.config.poll.clone(),
                )
                .map_err(|e| SubscribeError::Invalid(format!("bad URL {url:?}: {e}")))?;
                Ok(Conn::Poll {
                    client: Box::new(client),
                    answered: false,
                })
            }
        }
    }

    async fn connect_ws(&self) -> Result<Box<WebSocket<sluice_http::ClientStream>>, WsFailure> {
        let query = self.query();
        let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let url = self.client.url("ws", &self.topic, &q);
        let req = ClientRequest::get(&url)
            .map_err(|e| WsFailure::Down(format!("bad URL {url:?}: {e}")))
            .and_then(|r| self.client.authorized(r).map_err(WsFailure::Down))?;
        let timeout = self.client.config.ws_open_timeout;
        let config = self.client.config.ws.clone().handshake_timeout(timeout);
        let attempt = ws::connect_request(&self.client.connector, &req, config);
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok((ws, _))) => Ok(Box::new(ws)),
            Ok(Err(ws::Error::Connect(e))) => Err(WsFailure::Down(e.to_string())),
            Ok(Err(ws::Error::Response(ResponseError::UnexpectedStatus { status, .. }))) => {
                let status = status.as_u16();
                Err(WsFailure::Blocked {
                    status: Some(status),
                    reason: format!("WebSocket upgrade refused (HTTP {status})"),
                })
            }
            Ok(Err(e)) => Err(WsFailure::Blocked {
                status: None,
                reason: format!("WebSocket upgrade failed: {e}"),
            }),
            Err(_) => Err(WsFailure::Blocked {
                status: None,
                reason: format!("no WebSocket 101 within {} ms", timeout.as_millis()),
            }),
        }
    }

    fn sse_client(&self) -> Result<SseClient, SubscribeError> {
        let query = self.query();
        let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let url = self.client.url("sse", &self.topic, &q);
        let req = ClientRequest::get(&url)
            .map_err(|e| SubscribeError::Invalid(format!("bad URL {url:?}: {e}")))?;
        let req = self
            .client
            .authorized(req)
            .map_err(SubscribeError::Invalid)?;
        Ok(SseClient::with_connector(
            self.client.connector.clone(),
            req,
            SseClientConfig::default().with_reconnect(false),
        ))
    }

    async fn read_ws(
        &mut self,
        mut ws: Box<WebSocket<sluice_http::ClientStream>>,
    ) -> Result<Conn, SubscribeError> {
        match ws.recv().await {
            Some(Ok(Message::Text(t))) => {
                match WsFrame::parse(t.as_str()) {
                    Some(WsFrame::Item(it)) => self.item(it),
                    Some(WsFrame::Cursor(c)) => self.pos.opening(&c),
                    None => {}
                }
                Ok(Conn::Ws(ws))
            }
            Some(Ok(_)) => Ok(Conn::Ws(ws)),
            Some(Err(e)) => self.retry(format!("connection lost: {e}")),
            None => {
                let why = match ws.close_info() {
                    Some(i) => format!("closed by the hub ({} {})", i.code.0, i.reason),
                    None => "connection closed".to_owned(),
                };
                self.retry(why)
            }
        }
    }

    /// Sleeps until the next upgrade attempt (forever when none is due).
    async fn upgrade_due(at: Option<Instant>) {
        match at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    /// Reads the SSE client in place, as [`read_poll`](Self::read_poll) does the long-poll
    /// one: a `next()` cancelled mid-read keeps it, and with it the opening head of a
    /// subscription from now (an id-only dispatch, which surfaces no item to take it from).
    async fn read_sse(&mut self) -> Result<(), SubscribeError> {
        let due = self.upgrade_at;
        let Conn::Sse { client, deadline } = &mut self.conn else {
            return Ok(());
        };
        let first_byte = deadline.is_some();
        let r = if let Some(d) = *deadline {
            match tokio::time::timeout_at(d, client.next()).await {
                Ok(r) => r,
                Err(_) => {
                    let reason = format!(
                        "no SSE body within {} ms (a buffering proxy?)",
                        self.client.config.sse_first_byte_timeout.as_millis()
                    );
                    return self.leave_sse(reason, true);
                }
            }
        } else {
            // Biased: a read that is ready (items parsed, not yet returned) goes first, so an
            // upgrade never starts with items of this stream undelivered.
            tokio::select! {
                biased;
                r = client.next() => r,
                () = Self::upgrade_due(due) => {
                    self.try_upgrade().await;
                    return Ok(());
                }
            }
        };
        match r {
            Ok(Some(ev)) => {
                let body = match ev {
                    SseEvent::Event(e) => {
                        if let Some(it) = frames::from_sse(&e) {
                            self.item(it);
                        }
                        true
                    }
                    SseEvent::Retry(_) | SseEvent::Comment(_) => true,
                    _ => false,
                };
                if body
                    && let Conn::Sse { deadline, .. } = &mut self.conn
                    && deadline.take().is_some()
                {
                    // Insert Open before what this first read delivered.
                    let items = std::mem::take(&mut self.pending);
                    self.opened();
                    self.pending.extend(items);
                }
                // The hub's opening id-only dispatch (the head, for a subscription from now)
                // is the resume point — read only when nothing parsed waits to be returned,
                // else the id may be a later event's (then dropped as a replay).
                self.keep_cursor();
                Ok(())
            }
            // The hub answers 204 to a reconnect after the end of the topic.
            Ok(None) if client.told_to_stop() => {
                self.conn = Conn::Idle;
                self.item(Item::End);
                Ok(())
            }
            // The stream ended without the topic's end (the hub shutting down, a proxy's
            // limit): resume from the position, after the backoff — or, with no body byte
            // at all, as a withheld body.
            Ok(None) => self.leave_sse("the SSE stream ended".into(), first_byte),
            Err(SseError::Response(SseResponseError::Status(s))) if is_terminal(s) => {
                self.conn = Conn::Idle;
                Err(self.refused(s))
            }
            Err(e) => self.leave_sse(e.to_string(), false),
        }
    }

    /// Leaves the SSE stream (its resume point kept): falls back to long-poll when no body
    /// byte came (`withheld`, automatic mode), else retries after the backoff.
    fn leave_sse(&mut self, reason: String, withheld: bool) -> Result<(), SubscribeError> {
        self.keep_cursor();
        self.conn = Conn::Idle;
        if withheld && self.mode == TransportMode::Auto {
            self.switch(Transport::Poll, reason);
            return Ok(());
        }
        self.retry(reason).map(|c| self.conn = c)
    }

    /// Reads the long-poll client in place (not moved out of `self.conn` as a WebSocket is):
    /// a `next()` cancelled mid-poll keeps it, and with it the cursor its answers gave it (a
    /// subscription from now has no other record of the head until its first event).
    async fn read_poll(&mut self) -> Result<(), SubscribeError> {
        let due = self.upgrade_at;
        let Conn::Poll { client, .. } = &mut self.conn else {
            return Ok(());
        };
        // Biased: events already fetched are returned before an upgrade starts.
        let r = tokio::select! {
            biased;
            r = client.next() => r,
            () = Self::upgrade_due(due) => {
                self.try_upgrade().await;
                return Ok(());
            }
        };
        let Conn::Poll { client, answered } = &mut self.conn else {
            return Ok(());
        };
        let first = !*answered;
        match r {
            Ok(ev) => {
                *answered = true;
                if first {
                    self.opened();
                }
                self.item(frames::from_poll(ev));
                Ok(())
            }
            Err(e) if e.is_terminal() => {
                use sluice_longpoll::ClientError as Lp;
                use sluice_tokio::longpoll::PollError;
                let status = match &e {
                    PollError::Protocol(Lp::Refused { status }) => *status,
                    PollError::Protocol(Lp::Gone) => 410,
                    _ => 400,
                };
                self.conn = Conn::Idle;
                Err(self.refused(status))
            }
            // A new client (from the position) after our backoff.
            Err(e) => {
                let served = client.served();
                self.keep_cursor();
                self.conn = Conn::Idle;
                if first && served {
                    // Answered (without events) before it failed: it was open, and this is
                    // the first failure since.
                    self.opened();
                }
                self.retry(e.to_string()).map(|c| self.conn = c)
            }
        }
    }

    /// A subscription from now takes the hub's head from the connection it is leaving (or
    /// has just read): the long-poll client's cursor (its first answer's head, events or not),
    /// or the SSE stream's last committed id (an event's, or the opening id-only dispatch) —
    /// that one only when no parsed item waits, since the parser commits the ids of a whole
    /// read at once (a proxy that merges the opening and the first events into one chunk).
    /// The next connection starts there, not from a new "now" that would skip what was
    /// published in between.
    fn keep_cursor(&mut self) {
        // Only a subscription still at "now" takes one (after its first event it has a
        // cursor): no id copied and parsed for every SSE item.
        if self.pos.start() != Start::Now {
            return;
        }
        let head = match &self.conn {
            Conn::Poll { client, .. } => client.cursor().map(|c| c.encode().as_str().to_owned()),
            Conn::Sse { client, .. }
                if !client.has_queued() && !client.last_event_id().is_empty() =>
            {
                Some(client.last_event_id().to_owned())
            }
            _ => None,
        };
        if let Some(h) = head {
            self.pos.opening(&h);
        }
    }

    /// On a fallback transport, tries the better ones. The current connection stays in place
    /// until one gets through (a `next()` cancelled meanwhile keeps it); if none does, it
    /// goes on.
    async fn try_upgrade(&mut self) {
        self.upgrade_at = Some(Instant::now() + self.client.config.upgrade_after);
        self.keep_cursor();
        if let Ok(ws) = self.connect_ws().await {
            self.switch(Transport::Ws, "the WebSocket upgrade got through".into());
            self.failed = 0;
            self.conn = Conn::Ws(ws);
            return;
        }
        if self.current == Transport::Poll
            && let Ok(mut client) = self.sse_client()
        {
            let deadline = Instant::now() + self.client.config.sse_first_byte_timeout;
            loop {
                match tokio::time::timeout_at(deadline, client.next()).await {
                    Ok(Ok(Some(SseEvent::Open { .. }))) => {}
                    Ok(Ok(Some(ev))) => {
                        self.switch(Transport::Sse, "the SSE body got through".into());
                        self.failed = 0;
                        if let SseEvent::Event(e) = ev
                            && let Some(it) = frames::from_sse(&e)
                        {
                            self.item(it);
                        }
                        self.conn = Conn::Sse {
                            client: Box::new(client),
                            deadline: None,
                        };
                        self.keep_cursor();
                        return;
                    }
                    _ => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = HubClient::new("http://127.0.0.1:8080/rt/").unwrap();
        assert_eq!(
            c.url("ws", "news", &[("cursor", "1.a.3")]),
            "ws://127.0.0.1:8080/rt/ws/news?cursor=1.a.3"
        );
        assert_eq!(
            c.url("publish", "news", &[("event", "a b")]),
            "http://127.0.0.1:8080/rt/publish/news?event=a%20b"
        );
        let s = HubClient::new("wss://h.example").unwrap();
        assert_eq!(s.url("sse", "t", &[]), "https://h.example/sse/t");
        assert_eq!(s.url("ws", "t", &[]), "wss://h.example/ws/t");
        assert!(HubClient::new("ftp://x").is_err());
    }

    #[test]
    fn terminal_statuses() {
        for s in [400, 401, 403, 404, 409, 426] {
            assert!(is_terminal(s), "{s}");
        }
        for s in [200, 408, 429, 500, 503] {
            assert!(!is_terminal(s), "{s}");
        }
    }

    #[test]
    fn keys_are_distinct_and_valid() {
        let a = idempotency_key();
        assert_eq!(a.len(), 32);
        assert_ne!(a, idempotency_key());
    }
}
