//! [`HubConfig`]: every limit, timeout and policy of a hub, with finite defaults.

use std::time::Duration;

use sluice_http::ServerConfig;
use sluice_longpoll::LogConfig;

/// Settings of a [`Hub`](crate::Hub). Build from [`HubConfig::default`] and adjust fields.
///
/// Memory bound: each topic retains at most [`retention`](Self::retention)`.max_bytes` of event
/// type + data (plus a small per-event overhead) and there are at most
/// [`max_topics`](Self::max_topics) topics. A retained event read by a WebSocket or long-poll
/// subscriber also keeps its JSON form (shared by both): typically its data + ~60 bytes, at
/// most 6 × (type + data) + ~60 for text made of control characters (each `\u00XX`), so the
/// retained events of a topic take at most ~7 × `max_bytes`; the SSE frames of the newest
/// events are a window of [`frame_cache_bytes`](Self::frame_cache_bytes). Each connection holds its HTTP read buffer (bounded by
/// [`http`](Self::http)`.max_head_size`) and, for WebSocket, at most
/// [`ws_write_buffer`](Self::ws_write_buffer) plus one event of queued output.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// Retention of every topic's log: most events (default 1,000), most bytes (default
    /// 16 MiB), oldest age (default 10 minutes). `max_event_bytes` is set from
    /// [`max_message_size`](Self::max_message_size) by [`Hub::new`](crate::Hub::new).
    pub retention: LogConfig,
    /// Most topics; a request that would create one more gets 503. Default 1,024 (counting
    /// the built-in `sys.metrics`). Topics with no retained events and no subscriber are
    /// removed after [`topic_idle`](Self::topic_idle).
    pub max_topics: usize,
    /// A topic with no subscriber whose newest event is older than the retention age (or that
    /// never had one) is removed once it has been so for this long. Default 60 s.
    pub topic_idle: Duration,
    /// Largest event data, in bytes: a `POST /publish` body (413 beyond) or a WebSocket text
    /// message (closed with 1009 beyond). Default 64 KiB.
    pub max_message_size: usize,
    /// Most open connections; one more is answered 503 and closed. Default 16,384. While
    /// serving, the cap is also kept below what the process's file-descriptor limit
    /// (`RLIMIT_NOFILE`) leaves room for, with a reserve, so that a client beyond it gets its
    /// 503 instead of hanging in the accept queue.
    pub max_connections: usize,
    /// Most open connections from one IP address; one more is answered 429 and closed.
    /// Default `None` (no per-address cap: behind a reverse proxy every client has the
    /// proxy's address).
    pub max_connections_per_ip: Option<usize>,
    /// HS256 secret for access tokens. `None` (default): no authentication, every client may
    /// subscribe and publish.
    pub auth_secret: Option<Vec<u8>>,
    /// Origins allowed cross-origin: CORS for SSE, long-poll and publish (with preflight), and
    /// the WebSocket handshake's `Origin` check. An exact origin (`https://app.example`) or
    /// `*`. Same-origin requests (`Origin` matching `Host`) and requests without `Origin`
    /// (non-browser clients) are always allowed. Default: empty.
    pub allow_origins: Vec<String>,
    /// Host names the hub answers to, besides loopback names (`localhost`, 127.0.0.0/8,
    /// `[::1]`): the `Host` field (HTTP/2: `:authority`) without its port, compared
    /// case-insensitively; `*` for any name. A request for another name gets 403 before any
    /// route runs.
    ///
    /// Empty (default): any name — except while [`Hub::serve`](crate::Hub::serve) listens on a
    /// loopback address without [`auth_secret`](Self::auth_secret), when only loopback names
    /// are answered. That is the DNS-rebinding guard: a page on `http://evil.example:PORT`
    /// whose name now resolves to 127.0.0.1 is same-origin as far as the browser can tell,
    /// and would otherwise publish, subscribe and poll on a hub nobody exposed.
    pub allow_hosts: Vec<String>,
    /// WebSocket: send a Ping after this long without receiving anything. Default 20 s.
    pub ws_ping_interval: Duration,
    /// WebSocket: drop a peer that sent nothing (not even a Pong) for this long. Default 60 s.
    pub ws_idle_timeout: Duration,
    /// WebSocket: outgoing bytes queued per connection before the writer waits for the socket
    /// (a slow subscriber then reads from its cursor later instead of buffering). Default
    /// 64 KiB. A peer that stops reading is dropped once a write has waited for the write
    /// timeout ([`http`](Self::http)`.write_timeout`), as for SSE.
    pub ws_write_buffer: usize,
    /// WebSocket permessage-deflate (RFC 7692) for clients that offer it. Default `None`
    /// (off): compression is per connection, so every subscriber would compress every event
    /// again (the shared once-encoded frame is lost) and hold a compressor (about 300 KiB with
    /// default windows). Turn it on for few subscribers on slow links, preferably with
    /// `server_no_context_takeover`.
    pub ws_deflate: Option<sluice_ws::deflate::DeflateConfig>,
    /// SSE: a comment line is sent after this long without an event. Default 15 s. A peer that
    /// stops reading is dropped by the write timeout ([`http`](Self::http)`.write_timeout`).
    pub sse_heartbeat: Duration,
    /// SSE: the `retry:` reconnection hint sent first on every stream and last at shutdown.
    /// Default 2 s.
    pub sse_retry: Duration,
    /// Most events (and bytes) a WebSocket or SSE subscriber reads from the log per wake-up.
    /// Default 256 events, 256 KiB.
    pub read_batch_events: u32,
    /// See [`read_batch_events`](Self::read_batch_events).
    pub read_batch_bytes: usize,
    /// Encoded frames (SSE and WebSocket forms) kept per topic so that a broadcast encodes
    /// each event once. Default 256 events and 1 MiB per topic.
    pub frame_cache_events: usize,
    /// See [`frame_cache_events`](Self::frame_cache_events).
    pub frame_cache_bytes: usize,
    /// Publish `sys.metrics` every second while serving. Default `true`.
    pub sys_metrics: bool,
    /// How long a graceful shutdown waits for connections to finish (WebSocket closing
    /// handshakes, SSE streams, answered polls) before dropping the rest. Default 5 s.
    pub shutdown_grace: Duration,
    /// The HTTP layer's limits (head size → 431, timeouts). Default: its defaults.
    pub http: ServerConfig,
    /// The long-poll protocol limits (timeouts, `max`, parked-request cap → 503).
    pub longpoll: sluice_longpoll::ServerConfig,
    /// With a store ([`Hub::with_store`](crate::Hub::with_store)): how often each topic's
    /// replica checks the store for events it was not told about (a lost notification, a
    /// store that was unreachable). Default 2 s.
    pub store_sync_interval: Duration,
    /// Without a store: most `Idempotency-Key`s remembered (each for the retention age).
    /// Default 100,000. (A store keeps its own, shared by every node.)
    pub idempotency_keys: usize,
    /// A long-poll client that names itself (`?client=ID`) stays present this long after each
    /// answer (it is back with its next request well within it). Default 10 s.
    pub presence_grace: Duration,
    /// With a shared store (Redis, NATS): how long a node's presence record lives without a
    /// refresh (it refreshes every third of it), so a node that dies has its clients leave
    /// within this. Default 15 s.
    pub presence_ttl: Duration,
}

impl Default for HubConfig {
    fn default() -> HubConfig {
        HubConfig {
            retention: LogConfig::default()
                .with_max_events(1000)
                .with_max_bytes(16 << 20)
                .with_max_age(Duration::from_secs(600)),
            max_topics: 1024,
            topic_idle: Duration::from_secs(60),
            max_message_size: 64 << 10,
            max_connections: 16_384,
            max_connections_per_ip: None,
            auth_secret: None,
            allow_origins: Vec::new(),
            allow_hosts: Vec::new(),
            ws_ping_interval: Duration::from_secs(20),
            ws_idle_timeout: Duration::from_secs(60),
            ws_write_buffer: 64 << 10,
            ws_deflate: None,
            sse_heartbeat: Duration::from_secs(15),
            sse_retry: Duration::from_secs(2),
            read_batch_events: 256,
            read_batch_bytes: 256 << 10,
            frame_cache_events: 256,
            frame_cache_bytes: 1 << 20,
            sys_metrics: true,
            shutdown_grace: Duration::from_secs(5),
            http: ServerConfig::default(),
            longpoll: sluice_longpoll::ServerConfig::default(),
            store_sync_interval: Duration::from_secs(2),
            idempotency_keys: 100_000,
            presence_grace: Duration::from_secs(10),
            presence_ttl: Duration::from_secs(15),
        }
    }
}
