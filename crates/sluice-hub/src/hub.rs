//! [`Hub`]: the topic store shared by every transport, the router, and the policies (auth,
//! origins, limits) every route applies before it reads a body or upgrades.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use sluice_http::{Handler, Reply, Request, RequestHead, Response, StatusCode};
use sluice_longpoll::{Cursor, ReadLimits, Start};
use sluice_tokio::longpoll::{LongPoll, LongPollConfig, ReadBatch, ReadError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, watch};

use crate::auth::{Action, Claims, TokenError, Verifier, token_from};
use crate::config::HubConfig;
use crate::frames::FrameCache;
use crate::metrics::{Counters, GaugeGuard, MetricsSnapshot, Transport, rss_bytes};
use crate::presence::{Member, Presence, is_valid_client_id};
use crate::replica::Replica;
use crate::server::ConnSlot;
use crate::topic::is_valid_topic;
use sluice_store::{IdempotencyCache, NewEvent, Store, StoreError, is_valid_idempotency_key};

/// The built-in topic the hub publishes its own metrics to, every second.
pub const SYS_METRICS_TOPIC: &str = "sys.metrics";

/// Topics whose name starts with this are written by the hub only: clients get 403 when they
/// publish there.
pub const RESERVED_PREFIX: &str = "sys.";

/// The web page served at `GET /`.
const INDEX_HTML: &str = include_str!("../assets/index.html");
/// The browser client (an ES module, no build step) and its TypeScript declarations.
const SLUICE_JS: &str = include_str!("../assets/sluice.js");
const SLUICE_DTS: &str = include_str!("../assets/sluice.d.ts");
/// The WebRTC signaling room (`GET /webrtc?room=R`): peers meet through presence and swap
/// offers, answers and ICE candidates as ephemeral events; the chat itself is peer to peer.
const WEBRTC_HTML: &str = include_str!("../assets/webrtc.html");

use sluice_longpoll::END_EVENT_TYPE;
use sluice_longpoll::log::MAX_EVENT_TYPE_LEN;

/// Why [`Hub::publish`] did not append an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The topic name is not `[A-Za-z0-9._-]{1,128}` (HTTP 400).
    #[error("invalid topic name")]
    BadTopic,
    /// Creating the topic would exceed [`HubConfig::max_topics`] (HTTP 503).
    #[error("too many topics (max {max})")]
    TooManyTopics {
        /// The limit.
        max: usize,
    },
    /// The event type is empty, longer than 256 bytes, contains CR, LF or NUL, or starts with
    /// the reserved `sluice-` (HTTP 400).
    #[error("invalid event type")]
    BadEventType,
    /// The data is larger than [`HubConfig::max_message_size`] (HTTP 413).
    #[error("event data of {size} bytes exceeds {max}")]
    TooLarge {
        /// Data length.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The data is not UTF-8 (HTTP 400).
    #[error("event data is not valid UTF-8")]
    NotUtf8,
    /// The `Idempotency-Key` is not 1–128 visible ASCII characters (HTTP 400).
    #[error("invalid Idempotency-Key")]
    BadIdempotencyKey,
    /// The topic has ended ([`Hub::close`]): nothing is appended after its end (HTTP 409).
    #[error("the topic has ended")]
    Ended,
    /// The store did not accept the event (unreachable, or failing): nothing was appended
    /// (HTTP 503 with `Retry-After`; retry with the same `Idempotency-Key`).
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl PublishError {
    /// The HTTP status a publish request gets for this error (a total mapping).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            PublishError::BadTopic
            | PublishError::BadEventType
            | PublishError::NotUtf8
            | PublishError::BadIdempotencyKey => StatusCode::BAD_REQUEST,
            PublishError::TooManyTopics { .. } => StatusCode::SERVICE_UNAVAILABLE,
            PublishError::Store(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            PublishError::Store(StoreError::Conflict { .. } | StoreError::Ended { .. })
            | PublishError::Ended => StatusCode::CONFLICT,
            PublishError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            PublishError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            PublishError::BadTopic => "bad_topic",
            PublishError::TooManyTopics { .. } => "too_many_topics",
            PublishError::BadEventType => "bad_event_type",
            PublishError::TooLarge { .. } => "too_large",
            PublishError::NotUtf8 => "not_utf8",
            PublishError::BadIdempotencyKey => "bad_idempotency_key",
            PublishError::Ended | PublishError::Store(StoreError::Ended { .. }) => "ended",
            PublishError::Store(StoreError::Conflict { .. }) => "conflict",
            PublishError::Store(_) => "store_unavailable",
        }
    }
}

/// One topic as the hub sees it: the interned name (the long-poll store's key) and the cache
/// of encoded frames. Every subscriber holds an `Arc` of it, which is how the reaper knows a
/// topic is unused.
#[derive(Debug)]
pub(crate) struct TopicState {
    pub(crate) name: Arc<str>,
    pub(crate) frames: FrameCache,
    /// Loading and following the store (unused without one).
    pub(crate) replica: Replica,
}

#[derive(Debug)]
pub(crate) struct TopicEntry {
    pub(crate) state: Arc<TopicState>,
    /// Since when the topic has had no subscriber and nothing retained.
    idle_since: Option<Instant>,
}

pub(crate) struct Inner {
    pub(crate) cfg: HubConfig,
    pub(crate) lp: LongPoll<Arc<str>>,
    verifier: Option<Verifier>,
    topics: Mutex<HashMap<Arc<str>, TopicEntry>>,
    pub(crate) counters: Counters,
    pub(crate) shutdown: watch::Sender<bool>,
    /// Woken by [`Hub::shutdown`] for [`Hub::shutdown_signal`]: a `Notify`'s waiter is about
    /// half the size of a `watch` receiver's wait, and every connection and session future
    /// holds one for its whole life (their tasks grow in 128-byte steps).
    stopping: Notify,
    /// Without authentication only loopback `Host` names are answered (see
    /// [`HubConfig::allow_hosts`]): on from the start, so every way of routing requests to the
    /// hub (its own listener, `sluice-axum`'s `HubService`, your own server) is guarded;
    /// cleared when the hub's own listener is bound to a non-loopback address.
    pub(crate) loopback_guard: AtomicBool,
    /// Which schemes the hub is served on ([`crate::origin::SERVED_HTTP`] | `SERVED_HTTPS`; 0:
    /// routed by another server, scheme unknown).
    pub(crate) schemes: AtomicU8,
    /// Set while [`Hub::run_housekeeping`] runs (at most one at a time).
    pub(crate) housekeeping: AtomicBool,
    /// Where history lives besides this process (`None`: memory only).
    pub(crate) store: Option<Arc<dyn Store>>,
    /// The runtime replica followers run on (the one [`Hub::with_store`] was called in).
    pub(crate) runtime: Option<tokio::runtime::Handle>,
    /// The store answered the last operation.
    pub(crate) store_ok: AtomicBool,
    /// `Idempotency-Key`s of a hub without a store (a store keeps its own, for every node).
    pub(crate) idempotency: IdempotencyCache,
    /// Who is subscribed where on this node, and the live-only traffic (join/leave notices,
    /// ephemeral events).
    pub(crate) presence: Arc<Presence>,
    /// This process's id among the nodes of a shared store (presence records, ephemeral
    /// events).
    pub(crate) node: Arc<str>,
}

/// A publish/subscribe hub: topics with retention logs, served over WebSocket, Server-Sent
/// Events and long-polling from the same log (one cursor space), with JWT access control,
/// origin checks, limits, metrics and graceful shutdown. Cheap to clone (an `Arc`).
///
/// Serve it with [`Hub::serve`] (its own accept loop, connection caps, shutdown), or route
/// requests of your own [`sluice_http`] server to it: `Hub` implements
/// [`Handler`], and [`Hub::route`] answers one request.
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

/// A refusal: the response to send.
type Refusal = Box<Response>;

/// A routed request ([`Hub::route_in`]): answered already, or the chosen route's boxed future.
pub(crate) enum Routed<'a, S> {
    /// The answer (taken by the first poll).
    Ready(Option<Reply<S>>),
    /// The route's future.
    Boxed(Pin<Box<dyn Future<Output = Reply<S>> + Send + 'a>>),
}

impl<S> Future for Routed<'_, S> {
    type Output = Reply<S>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Reply<S>> {
        match self.get_mut() {
            Routed::Ready(r) => {
                std::task::Poll::Ready(r.take().expect("Routed polled after it was ready"))
            }
            Routed::Boxed(f) => f.as_mut().poll(cx),
        }
    }
}

impl Hub {
    /// A hub with the built-in `sys.metrics` topic and no other. Needs no runtime until it
    /// serves.
    #[must_use]
    pub fn new(config: HubConfig) -> Hub {
        Hub::build(config, None)
    }

    /// A hub that keeps every topic's history in `store` (`sys.*` topics stay in the process):
    /// it survives restarts (same epochs, every cursor still valid) and, with a shared store,
    /// any number of hub processes serve the same topics in the same order. Subscribes to the
    /// store's notices before it returns; call it inside the runtime that serves the hub.
    ///
    /// # Errors
    /// [`StoreError`] when the store's notification channel cannot be joined.
    pub async fn with_store(config: HubConfig, store: Arc<dyn Store>) -> Result<Hub, StoreError> {
        let hub = Hub::build(config, Some(Arc::clone(&store)));
        let weak = Arc::downgrade(&hub.inner);
        store
            .subscribe(Arc::new(move |n| Hub::on_notice(&weak, n)))
            .await?;
        if store.is_shared() {
            tokio::spawn(crate::presence_sync::run(Arc::downgrade(&hub.inner)));
        }
        Ok(hub)
    }

    fn build(mut config: HubConfig, store: Option<Arc<dyn Store>>) -> Hub {
        let config_has_no_auth = config.auth_secret.is_none();
        // Data up to `max_message_size` with any valid event type always fits a log entry.
        config.retention.max_event_bytes = config.max_message_size + MAX_EVENT_TYPE_LEN;
        let lp = LongPoll::new({
            let mut c = LongPollConfig::default();
            c.server = config.longpoll.clone();
            c.log = config.retention.clone();
            c.allow_origins = config.allow_origins.clone();
            c
        });
        let verifier = config.auth_secret.as_deref().map(Verifier::new);
        let config_idempotency_keys = config.idempotency_keys;
        let config_retention_age = config.retention.max_age;
        let shared = store.as_ref().is_some_and(|s| s.is_shared());
        let hub = Hub {
            inner: Arc::new(Inner {
                cfg: config,
                lp,
                verifier,
                topics: Mutex::new(HashMap::new()),
                counters: Counters::default(),
                shutdown: watch::Sender::new(false),
                stopping: Notify::new(),
                loopback_guard: AtomicBool::new(config_has_no_auth),
                housekeeping: AtomicBool::new(false),
                schemes: AtomicU8::new(0),
                runtime: store
                    .as_ref()
                    .and_then(|_| tokio::runtime::Handle::try_current().ok()),
                idempotency: IdempotencyCache::new(config_idempotency_keys, config_retention_age),
                store,
                store_ok: AtomicBool::new(true),
                presence: Arc::new(Presence::new(shared)),
                node: Arc::from(crate::presence::new_client_id().as_str()),
            }),
        };
        // Within the topic cap unless it is 0, which then refuses every other topic.
        let _ = hub.topic_state(SYS_METRICS_TOPIC);
        hub
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &HubConfig {
        &self.inner.cfg
    }

    /// The shared topic store (the long-poll endpoint and the replay logs): for reading a
    /// topic's log directly, or custom retention with
    /// [`LongPoll::create_topic`] before first use.
    #[must_use]
    pub fn longpoll(&self) -> &LongPoll<Arc<str>> {
        &self.inner.lp
    }

    /// Publishes an event (as `POST /publish/{topic}?event=event_type` does, minus the auth
    /// and reserved-topic checks): creates the topic if needed, appends (to the store first,
    /// when the hub has one: answered once the store accepted it), wakes subscribers of every
    /// transport; never waits for a subscriber. Returns the event's id (its cursor).
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn publish(
        &self,
        topic: &str,
        event_type: &str,
        data: impl Into<Bytes>,
    ) -> Result<Cursor, PublishError> {
        let data = data.into();
        if !is_valid_event_type(event_type) {
            return Err(PublishError::BadEventType);
        }
        let max = self.inner.cfg.max_message_size;
        if data.len() > max {
            return Err(PublishError::TooLarge {
                size: data.len(),
                max,
            });
        }
        let state = self.topic_state(topic)?;
        self.append(&state, event_type, data, None).await
    }

    /// Ends `topic` (as `POST /close/{topic}` does, minus the auth and reserved-topic checks):
    /// appends its end after the last event (`docs/hub.md` §2.8), so every subscriber gets
    /// the events, then the end (SSE `event: sluice-end` and the stream ends; WebSocket
    /// `{"end":true,…}` and close 1000; long-poll `"end": true`), and later publishes get
    /// [`PublishError::Ended`]. Creates the topic if needed (it then ends with no event).
    /// Closing an ended topic changes nothing and returns the same cursor. Returns the end's
    /// cursor: a client resuming from it gets the end at once (SSE: 204).
    ///
    /// # Errors
    /// [`PublishError`] (bad topic, topic cap, store).
    pub async fn close(&self, topic: &str) -> Result<Cursor, PublishError> {
        let state = self.topic_state(topic)?;
        self.end(&state, None).await
    }

    /// Appends the end unless the topic already ended (then: its head, the end's cursor).
    async fn end(
        &self,
        state: &Arc<TopicState>,
        key: Option<&str>,
    ) -> Result<Cursor, PublishError> {
        if let Err(e) = self.load(state).await {
            return Err(PublishError::Store(e));
        }
        if self.inner.lp.is_ended(&state.name) == Some(true)
            && let Some(h) = self.inner.lp.head(&state.name)
        {
            return Ok(h);
        }
        match self.append(state, END_EVENT_TYPE, Bytes::new(), key).await {
            // A concurrent close won the race (here or on another node: the replica caught
            // up with it): same answer.
            Err(PublishError::Ended) => self
                .inner
                .lp
                .head(&state.name)
                .filter(|_| self.inner.lp.is_ended(&state.name) == Some(true))
                .ok_or(PublishError::Ended),
            r => r,
        }
    }

    /// A subscriber's start on `state`: "from now" on an ended topic would be nothing
    /// forever, so a new subscriber gets what is retained, then the end.
    pub(crate) fn start_for(&self, state: &TopicState, start: Start) -> Start {
        match start {
            Start::Now if self.inner.lp.is_ended(&state.name) == Some(true) => Start::Earliest,
            s => s,
        }
    }

    /// Appends to the topic: into the store and then the replica (stored topics), or into the
    /// process's log. `key` is the request's `Idempotency-Key`: a retry gets the first answer.
    pub(crate) async fn append(
        &self,
        state: &Arc<TopicState>,
        event_type: &str,
        data: Bytes,
        key: Option<&str>,
    ) -> Result<Cursor, PublishError> {
        if key.is_some_and(|k| !is_valid_idempotency_key(k)) {
            return Err(PublishError::BadIdempotencyKey);
        }
        if self.is_stored(&state.name)
            && let Err(e) = self.load(state).await
        {
            return Err(PublishError::Store(e));
        }
        if !self.is_stored(&state.name) {
            let append = || {
                if self.inner.lp.is_ended(&state.name) == Some(true) {
                    return Err(PublishError::Ended);
                }
                self.append_local(state, event_type, data)
            };
            let Some(k) = key else {
                return append();
            };
            // A retry gets the first answer, even after the topic ended (memory topics: a
            // store keeps its own keys, and a stored topic's retry after the end gets 409).
            // Looked up and remembered under one lock, around the append: a retry that races
            // the first attempt (the client lost the connection, not the request) must not
            // append twice.
            let (c, duplicate) = self.inner.idempotency.first_or_insert_with(
                Instant::now(),
                &state.name,
                k,
                |c| {
                    self.inner
                        .lp
                        .head(&state.name)
                        .is_some_and(|h| h.epoch() == c.epoch())
                },
                append,
            )?;
            if duplicate {
                self.inner.counters.duplicates.fetch_add(1, Relaxed);
            }
            return Ok(c);
        }
        if self.inner.lp.is_ended(&state.name) == Some(true) {
            return Err(PublishError::Ended);
        }
        if let Some(store) = self.store().filter(|_| self.is_stored(&state.name)) {
            if std::str::from_utf8(&data).is_err() {
                return Err(PublishError::NotUtf8);
            }
            let ev = NewEvent::new(event_type, &data).idempotency_key(key);
            let a = match store.append(&state.name, ev).await {
                Ok(a) => a,
                Err(StoreError::Ended { .. }) => {
                    // Closed on another node (or by this one, the notice not yet applied):
                    // the replica learns the end from the store (a failure is retried by the
                    // follower).
                    self.store_worked();
                    let _ = self.catch_up(state).await;
                    return Err(PublishError::Ended);
                }
                Err(e) => {
                    self.store_failed(&e);
                    return Err(PublishError::Store(e));
                }
            };
            self.store_worked();
            if a.duplicate {
                self.inner.counters.duplicates.fetch_add(1, Relaxed);
            } else {
                self.inner.counters.published.fetch_add(1, Relaxed);
                // Copied out of the request's buffer (see `append_local`).
                let data = Bytes::copy_from_slice(&data);
                self.applied_own(state, a.cursor, event_type, data).await;
            }
            return Ok(a.cursor);
        }
        self.append_local(state, event_type, data)
    }

    fn append_local(
        &self,
        state: &TopicState,
        event_type: &str,
        data: Bytes,
    ) -> Result<Cursor, PublishError> {
        use sluice_longpoll::{AppendError, PublishError as LpError};
        // Retained data is copied out of whatever buffer it arrived in (an HTTP/1.1 read
        // buffer, an HTTP/2 connection's frame buffer, a WebSocket read buffer): a retained
        // slice would keep the whole buffer alive, so retention limits would not bound real
        // memory. One copy of at most `max_message_size` per publish.
        let data = Bytes::copy_from_slice(&data);
        match self.inner.lp.publish(&state.name, event_type, data) {
            Ok(c) => {
                self.inner.counters.published.fetch_add(1, Relaxed);
                Ok(c)
            }
            Err(LpError::Append(AppendError::DataNotUtf8)) => Err(PublishError::NotUtf8),
            Err(LpError::Append(AppendError::TooLarge { size, max })) => {
                Err(PublishError::TooLarge { size, max })
            }
            Err(LpError::Append(AppendError::BadEventType)) => Err(PublishError::BadEventType),
            Err(LpError::Append(AppendError::Ended)) => Err(PublishError::Ended),
            // Removed by the reaper between lookup and publish: impossible while `state` is
            // held (the reaper only removes topics nobody holds); report it as a full table.
            Err(_) => Err(PublishError::TooManyTopics {
                max: self.inner.cfg.max_topics,
            }),
        }
    }

    /// A reading of the counters and gauges (`GET /metrics` renders it).
    #[must_use]
    pub fn metrics(&self) -> MetricsSnapshot {
        let c = &self.inner.counters;
        MetricsSnapshot {
            connections: c.tcp.load(Relaxed),
            ws: c.ws.load(Relaxed),
            sse: c.sse.load(Relaxed),
            poll: c.poll.load(Relaxed),
            parked_polls: self.inner.lp.parked() as u64,
            topics: self.topics().len() as u64,
            events_in: c.published.load(Relaxed),
            events_out_ws: c.delivered_ws.load(Relaxed),
            events_out_sse: c.delivered_sse.load(Relaxed),
            events_out_poll: self.inner.lp.delivered_events(),
            refused_max_connections: c.refused_max_connections.load(Relaxed),
            refused_per_ip: c.refused_per_ip.load(Relaxed),
            refused_max_topics: c.refused_max_topics.load(Relaxed),
            auth_failures: c.auth_failures.load(Relaxed),
            origin_refusals: c.origin_refusals.load(Relaxed),
            host_refusals: c.host_refusals.load(Relaxed),
            tls_failures: c.tls_failed.load(Relaxed),
            ws_h2: c.ws_h2.load(Relaxed),
            requests_h2: c.requests_h2.load(Relaxed),
            rss_bytes: rss_bytes(),
            store_errors: c.store_errors.load(Relaxed),
            store_up: u64::from(self.inner.store_ok.load(Relaxed)),
            idempotent_replays: c.duplicates.load(Relaxed),
        }
    }

    /// Starts a graceful shutdown: [`Hub::serve`] stops accepting, WebSocket subscribers are
    /// closed with 1001, SSE streams end after a `retry:` hint, parked polls are answered,
    /// and `serve` returns once connections are done (or after
    /// [`HubConfig::shutdown_grace`]). Routes answer 503 from now on.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        self.inner.stopping.notify_waiters();
        self.inner.lp.release_all();
    }

    /// Whether [`Hub::shutdown`] was called.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Resolves once [`Hub::shutdown`] is called (at once if it was).
    pub async fn shutdown_signal(&self) {
        let stopping = self.inner.stopping.notified();
        tokio::pin!(stopping);
        // Registered before the check, so a shutdown between the two is not missed.
        stopping.as_mut().enable();
        if self.is_shutting_down() {
            return;
        }
        stopping.await;
    }

    pub(crate) fn topics(&self) -> MutexGuard<'_, HashMap<Arc<str>, TopicEntry>> {
        self.inner
            .topics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The topic, created (with the configured retention) on first use within the cap.
    pub(crate) fn topic_state(&self, name: &str) -> Result<Arc<TopicState>, PublishError> {
        if !is_valid_topic(name) {
            return Err(PublishError::BadTopic);
        }
        let mut topics = self.topics();
        if let Some(e) = topics.get_mut(name) {
            e.idle_since = None;
            return Ok(Arc::clone(&e.state));
        }
        let max = self.inner.cfg.max_topics;
        if topics.len() >= max {
            self.inner.counters.refused_max_topics.fetch_add(1, Relaxed);
            return Err(PublishError::TooManyTopics { max });
        }
        let key: Arc<str> = Arc::from(name);
        if !self.is_stored(name) {
            // A stored topic's log is created by `load`, in the store's epoch.
            self.inner.lp.ensure_topic(&key);
        }
        let state = Arc::new(TopicState {
            name: Arc::clone(&key),
            frames: FrameCache::new(
                self.inner.cfg.frame_cache_events,
                self.inner.cfg.frame_cache_bytes,
            ),
            replica: Replica::default(),
        });
        topics.insert(
            key,
            TopicEntry {
                state: Arc::clone(&state),
                idle_since: None,
            },
        );
        tracing::debug!(topic = name, "topic created");
        Ok(state)
    }

    /// The topic if this node has it (no creation).
    pub(crate) fn topic_if_present(&self, name: &str) -> Option<Arc<TopicState>> {
        self.topics().get(name).map(|e| Arc::clone(&e.state))
    }

    /// Every topic of this node.
    pub(crate) fn all_topics(&self) -> Vec<Arc<TopicState>> {
        self.topics()
            .values()
            .map(|e| Arc::clone(&e.state))
            .collect()
    }

    /// The topic, created on first use and, for a stored topic, loaded from the store: what
    /// every subscriber route needs before it reads. `Err` is the answer (400, 503).
    ///
    /// A cursor ahead of a stored topic's replica, or of another epoch, may come from a node
    /// that is further along (a client resuming here after its node died): the replica first
    /// catches up with the store (for at most 2 s), so that only a cursor the store never
    /// handed out is `cursor_ahead`, and only a really lost epoch a reset.
    pub(crate) async fn ready_topic(
        &self,
        name: &str,
        start: Start,
        cors: Option<&str>,
    ) -> Result<Arc<TopicState>, Refusal> {
        let state = self.subscriber_topic(name, cors)?;
        if let Err(e) = self.load(&state).await {
            return Err(Box::new(publish_error(&PublishError::Store(e), cors)));
        }
        let behind = |c: Cursor| {
            self.inner
                .lp
                .head(&state.name)
                .is_some_and(|h| h.epoch() != c.epoch() || h.seq() < c.seq())
        };
        if let Start::At(c) = start
            && self.is_stored(name)
            && behind(c)
        {
            let caught_up =
                tokio::time::timeout(std::time::Duration::from_secs(2), self.catch_up(&state))
                    .await
                    .unwrap_or_else(|_| {
                        Err(StoreError::Unavailable {
                            reason: "catching up with the store took over 2 s".into(),
                        })
                    });
            // The store could not say whether the cursor is real: not a 400 (`cursor_ahead`,
            // final for every client) nor a reset, but a 503 to retry — whatever the store's
            // error was (a subscriber's GET is no place for a 409 or a 500).
            if let Err(e) = caught_up
                && behind(c)
            {
                let e = StoreError::Unavailable {
                    reason: e.to_string(),
                };
                return Err(Box::new(publish_error(&PublishError::Store(e), cors)));
            }
        }
        Ok(state)
    }

    /// Removes topics that nobody holds and that retain nothing live (never published to, or
    /// whose newest event is older than the retention age) once they have been so for
    /// [`HubConfig::topic_idle`]. `sys.metrics` stays. Returns how many were removed.
    pub(crate) fn reap_topics(&self, now: Instant) -> usize {
        let cfg = &self.inner.cfg;
        let lp = &self.inner.lp;
        let mut topics = self.topics();
        let mut removed = Vec::new();
        for (name, e) in topics.iter_mut() {
            if &**name == SYS_METRICS_TOPIC || Arc::strong_count(&e.state) > 1 {
                e.idle_since = None;
                continue;
            }
            let idle = match lp.head(name) {
                None => true,
                Some(h) if h.seq() == 0 => true,
                Some(h) => {
                    let last = lp.read(
                        name,
                        Start::At(Cursor::new(h.epoch(), h.seq() - 1)),
                        ReadLimits {
                            max_events: 1,
                            max_bytes: usize::MAX,
                        },
                    );
                    match last {
                        Ok(b) => b.events.last().is_none_or(|ev| {
                            now.saturating_duration_since(ev.appended_at()) >= cfg.retention.max_age
                        }),
                        Err(_) => true,
                    }
                }
            };
            if !idle {
                e.idle_since = None;
                continue;
            }
            let since = *e.idle_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= cfg.topic_idle {
                removed.push(Arc::clone(name));
            }
        }
        for name in &removed {
            topics.remove(name);
            lp.remove_topic(name);
            tracing::debug!(topic = &**name, "idle topic removed");
        }
        removed.len()
    }

    /// Answers one request: the hub's routes (see `docs/hub.md`). Unknown paths get 404.
    /// A WebSocket session continues in a task of its own after the handshake (the request's
    /// task is done with it), hence `'static`.
    pub async fn route<S>(&self, req: Request<S>) -> Reply<S>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.route_in(req, None).await
    }

    /// [`Hub::route`] for a request of one of the hub's own connections: a session detached
    /// from it carries `conn` (the connection's slots stay taken while the session runs).
    pub(crate) fn route_in<S>(&self, req: Request<S>, conn: Option<ConnSlot>) -> Routed<'_, S>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // The route is chosen here, synchronously, and its future boxed: a connection's task
        // holds a pointer to the state of the route it is in — not room for the largest route,
        // nor the request a second time beside it. One allocation per routed request; the
        // static answers (page, health, metrics, 404) need none.
        let path = req.path();
        tracing::trace!(
            method = req.method(),
            path,
            version = req.version().as_str(),
            "request"
        );
        if req.version() == sluice_http::Version::Http2 {
            self.inner.counters.requests_h2.fetch_add(1, Relaxed);
        }
        if let Err(r) = self.check_host(&req) {
            return Routed::Ready(Some(req.respond(*r)));
        }
        if let Some(t) = path.strip_prefix("/publish/") {
            let t = t.to_owned();
            return Routed::Boxed(Box::pin(self.publish_route(req, t, false)));
        }
        if let Some(t) = path.strip_prefix("/close/") {
            let t = t.to_owned();
            return Routed::Boxed(Box::pin(self.publish_route(req, t, true)));
        }
        if let Some(t) = path.strip_prefix("/ws/") {
            let t = t.to_owned();
            return Routed::Boxed(Box::pin(crate::ws::route(self, req, t, conn)));
        }
        if let Some(t) = path.strip_prefix("/sse/") {
            let t = t.to_owned();
            return Routed::Boxed(Box::pin(crate::sse::route(self, req, t, conn)));
        }
        if path.starts_with("/poll/") {
            // The topic stays in the request (no copy: a parked poll is the request a hub
            // answers most often).
            return Routed::Boxed(Box::pin(self.poll_route(req)));
        }
        if let Some(t) = path.strip_prefix("/presence/") {
            let t = t.to_owned();
            return Routed::Boxed(Box::pin(self.presence_route(req, t)));
        }
        let resp = match path {
            "/" | "/index.html" => Response::new(StatusCode::OK)
                .header("content-type", "text/html; charset=utf-8")
                .header("cache-control", "no-cache")
                .body(INDEX_HTML),
            "/webrtc" | "/webrtc.html" => Response::new(StatusCode::OK)
                .header("content-type", "text/html; charset=utf-8")
                .header("cache-control", "no-cache")
                .body(WEBRTC_HTML),
            "/sluice.js" => Response::new(StatusCode::OK)
                .header("content-type", "text/javascript; charset=utf-8")
                .header("cache-control", "no-cache")
                .body(SLUICE_JS),
            "/sluice.d.ts" => Response::new(StatusCode::OK)
                .header("content-type", "application/typescript; charset=utf-8")
                .header("cache-control", "no-cache")
                .body(SLUICE_DTS),
            "/healthz" if self.is_shutting_down() => {
                Response::text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            }
            "/healthz" if !self.inner.store_ok.load(Relaxed) => Response::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "degraded: store unreachable\n",
            ),
            "/healthz" => Response::text(StatusCode::OK, "ok\n"),
            "/metrics" => Response::new(StatusCode::OK)
                .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                .header("cache-control", "no-store")
                .body(self.metrics().prometheus()),
            _ => {
                let r = error(StatusCode::NOT_FOUND, "not_found", "no such route", None);
                return Routed::Ready(Some(req.respond(r)));
            }
        };
        if !matches!(req.method(), "GET" | "HEAD") {
            return Routed::Ready(Some(req.respond(use_get(None))));
        }
        Routed::Ready(Some(req.respond(resp)))
    }

    /// Checks the request's token for `action` on `topic`: `Ok(None)` when authentication is
    /// off, `Ok(Some(claims))` when granted, else the 401/403 response (with CORS headers for
    /// `cors`).
    pub(crate) fn authorize(
        &self,
        head: &RequestHead,
        topic: &str,
        action: Action,
        cors: Option<&str>,
    ) -> Result<Option<Claims>, Refusal> {
        let Some(v) = &self.inner.verifier else {
            return Ok(None);
        };
        let refuse = |e: TokenError| {
            self.inner.counters.auth_failures.fetch_add(1, Relaxed);
            let challenge = match e {
                TokenError::Missing => "Bearer realm=\"sluice\"",
                _ => "Bearer realm=\"sluice\", error=\"invalid_token\"",
            };
            Box::new(
                error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    &e.to_string(),
                    cors,
                )
                .header("www-authenticate", challenge),
            )
        };
        if head.headers().get_all(b"authorization").nth(1).is_some() {
            self.inner.counters.auth_failures.fetch_add(1, Relaxed);
            return Err(Box::new(
                error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "more than one Authorization field",
                    cors,
                )
                .header("connection", "close"),
            ));
        }
        let token = token_from(head.header("authorization"), head.query_param("token"))
            .ok_or(TokenError::Missing)
            .map_err(refuse)?;
        let claims = v.verify(&token).map_err(refuse)?;
        if !claims.allows(action, topic) {
            self.inner.counters.auth_failures.fetch_add(1, Relaxed);
            let what = match action {
                Action::Subscribe => "subscribe to",
                Action::Publish => "publish to",
            };
            let msg = format!("the token may not {what} this topic");
            return Err(Box::new(error(
                StatusCode::FORBIDDEN,
                "forbidden",
                &msg,
                cors,
            )));
        }
        Ok(Some(claims))
    }

    /// The read position a subscriber asked for: `None` (absent or empty) is "from now",
    /// `earliest`, or a cursor. `Err` is the 400 answer.
    pub(crate) fn parse_start(raw: Option<&str>, cors: Option<&str>) -> Result<Start, Refusal> {
        let Some(raw) = raw.filter(|s| !s.is_empty()) else {
            return Ok(Start::Now);
        };
        let decoded = crate::query::percent_decode(raw);
        match decoded.as_deref() {
            Some("earliest") => Ok(Start::Earliest),
            Some(c) => Cursor::parse(c).map(Start::At).map_err(|e| {
                Box::new(error(
                    StatusCode::BAD_REQUEST,
                    "bad_cursor",
                    &format!("bad cursor: {e}"),
                    cors,
                ))
            }),
            None => Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "bad_cursor",
                "bad percent-encoding",
                cors,
            ))),
        }
    }

    /// The topic for a subscriber route, or the refusal (400, 503).
    pub(crate) fn subscriber_topic(
        &self,
        name: &str,
        cors: Option<&str>,
    ) -> Result<Arc<TopicState>, Refusal> {
        if self.is_shutting_down() {
            return Err(Box::new(
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting_down",
                    "the server is shutting down",
                    cors,
                )
                .header("retry-after", "1")
                .header("connection", "close"),
            ));
        }
        self.topic_state(name)
            .map_err(|e| Box::new(publish_error(&e, cors)))
    }

    /// The first read of a subscriber, before its response head: `CursorAhead` is a 400.
    pub(crate) fn first_read(
        &self,
        state: &TopicState,
        start: Start,
        cors: Option<&str>,
    ) -> Result<ReadBatch, Refusal> {
        match self.inner.lp.read(&state.name, start, self.read_limits()) {
            Ok(b) => Ok(b),
            Err(ReadError::CursorAhead { head }) => Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "cursor_ahead",
                &format!("the cursor is ahead of the head {head}"),
                cors,
            ))),
            Err(_) => Err(Box::new(error(
                StatusCode::GONE,
                "gone",
                "the topic was removed",
                cors,
            ))),
        }
    }

    pub(crate) fn read_limits(&self) -> ReadLimits {
        ReadLimits {
            max_events: self.inner.cfg.read_batch_events.max(1) as usize,
            max_bytes: self.inner.cfg.read_batch_bytes,
        }
    }

    /// `POST /publish/{topic}[?event=TYPE]` (and its CORS preflight).
    /// `POST /publish/{topic}`, or with `close` `POST /close/{topic}` (same checks; the body
    /// is ignored).
    async fn publish_route<S>(&self, mut req: Request<S>, topic: String, close: bool) -> Reply<S>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let topic = topic.as_str();
        let cors = self.cors_origin(&req);
        let cors = cors.as_deref();
        if !is_valid_topic(topic) {
            return req.respond(publish_error(&PublishError::BadTopic, cors));
        }
        match req.method() {
            "POST" => {}
            "OPTIONS" => {
                let r = self.preflight(&req);
                return req.respond(r);
            }
            _ => {
                let r = error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "use POST",
                    cors,
                )
                .header("allow", "POST, OPTIONS");
                return req.respond(r);
            }
        }
        if !self.origin_allowed(req.header("origin"), req.header("host")) {
            let r = error(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "cross-origin publish from an origin not in the allow-list",
                None,
            );
            return req.respond(r);
        }
        if let Err(r) = self.authorize(&req, topic, Action::Publish, cors) {
            return req.respond(*r);
        }
        if topic.starts_with(RESERVED_PREFIX) {
            let r = error(
                StatusCode::FORBIDDEN,
                "reserved_topic",
                "topics starting with `sys.` are written by the hub only",
                cors,
            );
            return req.respond(r);
        }
        let event_type = match req.query_param("event").filter(|e| !e.is_empty()) {
            None => "message".to_owned(),
            Some(raw) => match crate::query::percent_decode(raw) {
                Some(e) if is_valid_event_type(&e) => e,
                _ => return req.respond(publish_error(&PublishError::BadEventType, cors)),
            },
        };
        if self.is_shutting_down() {
            let r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down",
                cors,
            )
            .header("retry-after", "1");
            return req.respond(r.header("connection", "close"));
        }
        req.set_body_limit(self.inner.cfg.max_message_size as u64);
        let body = match req.body().await {
            Ok(b) => b,
            Err(e) => {
                let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "too_large"
                } else {
                    "bad_body"
                };
                let r = error(e.status(), code, &e.to_string(), cors);
                return req.respond(r);
            }
        };
        if close {
            let state = match self.topic_state(topic) {
                Ok(s) => s,
                Err(e) => return req.respond(publish_error(&e, cors)),
            };
            let key = req.header("idempotency-key").map(str::to_owned);
            return match self.end(&state, key.as_deref()).await {
                Ok(c) => {
                    let body = format!("{{\"id\":\"{c}\",\"end\":true}}");
                    req.respond(json(StatusCode::OK, body, cors))
                }
                Err(e) => req.respond(publish_error(&e, cors)),
            };
        }
        if flag(req.query_param("ephemeral")) {
            // Live subscribers only: no topic created, nothing appended, no id.
            if std::str::from_utf8(&body).is_err() {
                return req.respond(publish_error(&PublishError::NotUtf8, cors));
            }
            let n = self
                .inner
                .presence
                .ephemeral(topic, &event_type, body.clone());
            crate::presence_sync::ephemeral_to_others(self, topic, &event_type, &body).await;
            let body = format!("{{\"ephemeral\":true,\"receivers\":{n}}}");
            return req.respond(json(StatusCode::OK, body, cors));
        }
        // The topic is created only for a body that arrived whole.
        let state = match self.topic_state(topic) {
            Ok(s) => s,
            Err(e) => return req.respond(publish_error(&e, cors)),
        };
        let key = req.header("idempotency-key").map(str::to_owned);
        match self.append(&state, &event_type, body, key.as_deref()).await {
            Ok(c) => {
                let body = format!("{{\"id\":\"{c}\"}}");
                req.respond(json(StatusCode::OK, body, cors))
            }
            Err(e) => req.respond(publish_error(&e, cors)),
        }
    }

    /// The answer to `OPTIONS /publish/{topic}`: 204 with the CORS grant for an allowed
    /// origin, 403 otherwise.
    fn preflight(&self, head: &RequestHead) -> Response {
        match self.cors_origin(head) {
            Some(o) => with_cors(Response::new(StatusCode::NO_CONTENT), Some(&o))
                .header("access-control-allow-methods", "POST, OPTIONS")
                .header(
                    "access-control-allow-headers",
                    "authorization, content-type, idempotency-key",
                )
                .header("access-control-max-age", "600"),
            None => {
                self.inner.counters.origin_refusals.fetch_add(1, Relaxed);
                error(
                    StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    "origin not in the allow-list",
                    None,
                )
            }
        }
    }

    /// `GET /poll/{topic}`: policies here, the protocol in [`LongPoll::handle`].
    /// The parked request's state lives for the whole wait, so it is an `async` block over its
    /// captures (an `async fn` keeps the 376-byte request twice) and holds only what the wait
    /// needs (the token's `sub`, not its claims).
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    fn poll_route<'a, S>(&'a self, req: Request<S>) -> impl Future<Output = Reply<S>> + Send + 'a
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'a,
    {
        async move {
            let topic = &req.path()["/poll/".len()..];
            let cors = self.cors_origin(&req);
            let cors = cors.as_deref();
            if !is_valid_topic(topic) {
                return req.respond(publish_error(&PublishError::BadTopic, cors));
            }
            if req.method() != "GET" {
                // The endpoint answers 405 (with `Allow` and CORS) without touching the topic.
                let key: Arc<str> = Arc::from(topic);
                return self.inner.lp.handle(&key, req).await;
            }
            let claims = match self.authorize(&req, topic, Action::Subscribe, cors) {
                Ok(c) => c,
                Err(r) => return req.respond(*r),
            };
            let client = match client_param(&req, cors) {
                Ok(c) => c,
                Err(r) => return req.respond(*r),
            };
            // A poll that waits for nothing (`timeout=0`, or a query the protocol answers 400)
            // must not leave behind a topic it created: a burst of them on made-up names would
            // fill the topic table. The query is parsed here only for a topic that is new.
            let new_and_idle = !self.topics().contains_key(topic)
                && !matches!(
                    sluice_longpoll::Request::parse_query(req.query().unwrap_or("")),
                    Ok(q) if q.timeout != Some(std::time::Duration::ZERO)
                );
            // Where the poll starts matters here only for a stored topic (a catch-up first);
            // the protocol parses the query again anyway.
            let start = if self.is_stored(topic) {
                sluice_longpoll::Request::parse_query(req.query().unwrap_or(""))
                    .map_or(Start::Now, |q| q.start)
            } else {
                Start::Now
            };
            let state = match self.ready_topic(topic, start, cors).await {
                Ok(s) => s,
                Err(r) => return req.respond(*r),
            };
            let sub = claims.and_then(|c| c.sub);
            tracing::trace!(topic, sub, "poll");
            let _gauge = GaugeGuard::new(self.inner.counters.gauge(Transport::Poll));
            // A poller that names itself is present while parked and for the grace after —
            // not on a topic made for a poll that waits for nothing (it goes at once, and a
            // burst on made-up names would fill the presence table instead).
            let _present = client.filter(|_| !new_and_idle).map(|id| {
                let m = Member::new(id, sub, Transport::Poll);
                self.inner
                    .presence
                    .poll(&state.name, m, self.inner.cfg.presence_grace)
            });
            let reply = self.inner.lp.handle(&state.name, req).await;
            if new_and_idle {
                self.discard_if_unused(state);
            }
            reply
        }
    }

    /// `GET /presence/{topic}`: who is subscribed on this node (subscribe permission needed).
    async fn presence_route<S>(&self, req: Request<S>, topic: String) -> Reply<S>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let topic = topic.as_str();
        let cors = self.cors_origin(&req);
        let cors = cors.as_deref();
        if !is_valid_topic(topic) {
            return req.respond(publish_error(&PublishError::BadTopic, cors));
        }
        if !matches!(req.method(), "GET" | "HEAD") {
            return req.respond(use_get(cors));
        }
        if let Err(r) = self.authorize(&req, topic, Action::Subscribe, cors) {
            return req.respond(*r);
        }
        let clients = crate::presence_sync::everyone(self, topic).await;
        let body = serde_json::json!({ "count": clients.len(), "clients": clients }).to_string();
        req.respond(json(StatusCode::OK, body, cors))
    }

    /// Removes `state`'s topic if it was created for nothing: never published to, and held by
    /// nobody but the caller (who hands its hold in).
    fn discard_if_unused(&self, state: Arc<TopicState>) {
        let mut topics = self.topics();
        let unused = &*state.name != SYS_METRICS_TOPIC
            && Arc::strong_count(&state) == 2
            && self.inner.lp.head(&state.name).is_none_or(|h| h.seq() == 0);
        if unused && topics.remove(&state.name).is_some() {
            self.inner.lp.remove_topic(&state.name);
            tracing::debug!(
                topic = &*state.name,
                "topic of a non-waiting request removed"
            );
        }
    }
}

impl<S> Handler<S> for Hub
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn handle(&self, req: Request<S>) -> impl Future<Output = Reply<S>> + Send {
        self.route(req)
    }
}

/// Event types the hub accepts: 1–256 bytes, no CR/LF/NUL, not starting with `sluice-`
/// (reserved for the hub's own SSE events `sluice-gap` and `sluice-reset`).
/// `405` for a GET-only route.
pub(crate) fn use_get(cors: Option<&str>) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "use GET",
        cors,
    )
    .header("allow", "GET, HEAD")
}

/// A boolean query flag: `1`, `true` or `yes`.
pub(crate) fn flag(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "true" | "yes"))
}

/// The `?client=ID` of a subscription (`None` when absent), or the 400 for a malformed one.
pub(crate) fn client_param(
    head: &RequestHead,
    cors: Option<&str>,
) -> Result<Option<String>, Refusal> {
    match head.query_param("client") {
        None => Ok(None),
        Some(id) if is_valid_client_id(id) => Ok(Some(id.to_owned())),
        Some(_) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "bad_client_id",
            "client ids are 1-64 of A-Z a-z 0-9 _ -",
            cors,
        ))),
    }
}

pub(crate) fn is_valid_event_type(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= MAX_EVENT_TYPE_LEN
        && !t.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
        && !t.starts_with("sluice-")
}

/// Adds `Access-Control-Allow-Origin: <origin>` and `Vary: Origin` when `cors` is set.
pub(crate) fn with_cors(r: Response, cors: Option<&str>) -> Response {
    match cors {
        Some(o) => match r.try_header("access-control-allow-origin", o.to_owned()) {
            Ok(r) => r.header("vary", "origin"),
            Err(_) => Response::from_status(StatusCode::BAD_REQUEST),
        },
        None => r,
    }
}

/// A JSON error answer `{"error":"<code>","message":"<text>"}` (the long-poll protocol's
/// shape, used on every route).
pub(crate) fn error(status: StatusCode, code: &str, message: &str, cors: Option<&str>) -> Response {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    json(status, body, cors)
}

/// A JSON answer, never cached, with the CORS grant for `cors`.
pub(crate) fn json(status: StatusCode, body: String, cors: Option<&str>) -> Response {
    with_cors(
        Response::new(status)
            .header("content-type", "application/json")
            .header("cache-control", "no-store"),
        cors,
    )
    .body(body)
}

pub(crate) fn publish_error(e: &PublishError, cors: Option<&str>) -> Response {
    let r = error(e.status(), e.code(), &e.to_string(), cors);
    match e {
        PublishError::TooManyTopics { .. } => r.header("retry-after", "10"),
        PublishError::Store(s) if s.is_transient() => r.header("retry-after", "2"),
        _ => r,
    }
}
