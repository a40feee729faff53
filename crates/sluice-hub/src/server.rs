//! [`Hub::serve`]: the accept loop with connection caps, the once-a-second system task
//! (`sys.metrics`, idle-topic reaping), and graceful shutdown.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Weak;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sluice_http::{
    self as http, Handler, Reply, Request, ServerConfig, ServerStream, ServerTls, StatusCode,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::hub::{Hub, Inner, SYS_METRICS_TOPIC};
use crate::metrics::{GaugeGuard, Transport};
use crate::origin::{SERVED_HTTP, SERVED_HTTPS};
use crate::presence::{LiveRx, Member, PresenceGuard};

/// Connections being refused (answered 503/429) at once; beyond this, extra connections are
/// closed without an answer. Lower when the file-descriptor limit is low (see [`fd_budget`]).
const MAX_REFUSING: usize = 256;

/// How often, at most, a failing `accept` is logged (the failures in between are counted in
/// the next line).
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

/// The connection limits a process can actually honour.
#[derive(Clone, Copy, Debug)]
struct Caps {
    /// Most connections served at once.
    connections: usize,
    /// Most connections being refused at once.
    refusing: usize,
}

/// The caps within `max_connections` that the file-descriptor limit leaves room for: the
/// soft `RLIMIT_NOFILE`, minus the descriptors already open, minus a reserve (an eighth of the
/// limit, at least 32) for refusals, log files and the like. Half the reserve may be spent on
/// connections being refused, each of which holds a descriptor while it gets its 503.
fn fd_budget(max_connections: usize) -> Caps {
    let Some((limit, open)) = fd_limit_and_open() else {
        return Caps {
            connections: max_connections,
            refusing: MAX_REFUSING,
        };
    };
    let reserve = (limit / 8).max(32);
    let room = limit.saturating_sub(open).saturating_sub(reserve).max(1);
    Caps {
        connections: max_connections.min(room),
        refusing: MAX_REFUSING.min(reserve / 2).max(1),
    }
}

/// The soft file-descriptor limit and how many are open now.
#[cfg(unix)]
fn fd_limit_and_open() -> Option<(usize, usize)> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    // Linux (and anything else with /proc/self/fd); elsewhere assume a handful.
    let open = std::fs::read_dir("/proc/self/fd").map_or(16, Iterator::count);
    Some((limit, open))
}

#[cfg(not(unix))]
fn fd_limit_and_open() -> Option<(usize, usize)> {
    None
}

impl Hub {
    /// Serves the hub on `listener` until [`Hub::shutdown`] is called, then shuts down
    /// gracefully and returns.
    ///
    /// Each accepted connection runs [`http::serve_connection`] with [`Hub::route`] under
    /// [`HubConfig::http`](crate::HubConfig::http) limits. Beyond
    /// [`HubConfig::max_connections`](crate::HubConfig::max_connections) a connection gets 503
    /// (`Retry-After: 1`), beyond the per-IP cap 429, and is closed. While serving, a system
    /// task publishes `sys.metrics` every second (if enabled) and removes idle topics.
    ///
    /// Shutdown: the listener closes; WebSocket subscribers get Close 1001, SSE streams a
    /// final `retry:` and their end, parked long-polls their (empty) answer; idle keep-alive
    /// connections are closed; requests in progress finish. Whatever is still open after
    /// [`HubConfig::shutdown_grace`](crate::HubConfig::shutdown_grace) is dropped.
    ///
    /// # Errors
    /// Only if the listener fails persistently (transient accept errors such as running out
    /// of file descriptors are waited out).
    pub async fn serve(&self, listener: TcpListener) -> io::Result<()> {
        self.serve_tls(listener, None).await
    }

    /// As [`Hub::serve`], with TLS when `tls` is given: every connection's TLS handshake (within
    /// the header-read timeout; plain HTTP gets a 400 naming https) precedes HTTP, and ALPN
    /// chooses HTTP/2 or HTTP/1.1. Without TLS, HTTP/1.1 and h2c with prior knowledge share the
    /// port. Every route is the same on both protocols (RFC 8441 WebSockets on HTTP/2).
    /// [`ServerTls::reload`] on a clone swaps the certificate for new connections while serving.
    ///
    /// # Errors
    /// As [`Hub::serve`].
    pub async fn serve_tls(&self, listener: TcpListener, tls: Option<ServerTls>) -> io::Result<()> {
        let ips: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
        let refusing = Arc::new(AtomicUsize::new(0));
        let mut conns = JoinSet::new();
        let mut system = JoinSet::new();
        self.note_listener(&listener, tls.is_some());
        let caps = fd_budget(self.inner.cfg.max_connections);
        if caps.connections < self.inner.cfg.max_connections {
            tracing::info!(
                max_connections = caps.connections,
                configured = self.inner.cfg.max_connections,
                "connection cap lowered to fit the file-descriptor limit (ulimit -n)"
            );
        }
        let hub = self.clone();
        system.spawn(async move { hub.run_housekeeping().await });
        let mut accept_failures = AcceptLog::default();
        let result = loop {
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, peer)) => self.admit(stream, peer, tls.as_ref(), caps, &ips, &refusing, &mut conns),
                    Err(e) if is_transient(&e) => {
                        accept_failures.failed(&e);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => break Err(e),
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                () = self.shutdown_signal() => break Ok(()),
            }
        };
        drop(listener);
        // Make sure every subscriber sees the signal even if serve ended on an error.
        self.shutdown();
        let deadline = tokio::time::Instant::now() + self.inner.cfg.shutdown_grace;
        tracing::info!(
            connections = conns.len(),
            sessions = self.inner.counters.sessions.load(Relaxed),
            "shutting down: closing subscribers"
        );
        loop {
            // A poll parked just after the first release is answered by the next one.
            self.inner.lp.release_all();
            if conns.is_empty() && self.inner.counters.sessions.load(Relaxed) == 0 {
                break;
            }
            tokio::select! {
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        connections = conns.len(),
                        sessions = self.inner.counters.sessions.load(Relaxed),
                        "shutdown grace over: dropping the rest"
                    );
                    break;
                }
            }
        }
        conns.shutdown().await;
        system.shutdown().await;
        result
    }

    /// The hub's housekeeping, until [`Hub::shutdown`] or until the hub is dropped: idle topics
    /// removed, and `sys.metrics` published every second (when
    /// [`HubConfig::sys_metrics`](crate::HubConfig::sys_metrics) is on). [`Hub::serve`] runs it;
    /// a hub routed by another server (`sluice-axum`'s `HubService`, your own [`http::serve`])
    /// needs it once ([`Hub::spawn_housekeeping`]). It holds the hub only while it works (a
    /// weak reference in between), so it never keeps a dropped hub alive. At most one runs per
    /// hub: a call while another runs returns at once.
    pub async fn run_housekeeping(&self) {
        housekeeping(Arc::downgrade(&self.inner)).await;
    }

    /// [`Hub::run_housekeeping`] on a task of its own (in the current tokio runtime).
    pub fn spawn_housekeeping(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(housekeeping(Arc::downgrade(&self.inner)))
    }

    /// Records what serving on `listener` means for the policies: the scheme (for the
    /// same-origin check), and that a non-loopback listener lifts the loopback-only `Host`
    /// guard (on from [`Hub::new`] for a hub without authentication).
    fn note_listener(&self, listener: &TcpListener, tls: bool) {
        let bit = if tls { SERVED_HTTPS } else { SERVED_HTTP };
        self.inner.schemes.fetch_or(bit, Relaxed);
        let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
        if !loopback {
            self.inner.loopback_guard.store(false, Relaxed);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn admit(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        tls: Option<&ServerTls>,
        caps: Caps,
        ips: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        refusing: &Arc<AtomicUsize>,
        conns: &mut JoinSet<()>,
    ) {
        let cfg = &self.inner.cfg;
        let c = &self.inner.counters;
        if cfg.http.nodelay {
            let _ = stream.set_nodelay(true);
        }
        if c.tcp.load(Relaxed) as usize >= caps.connections {
            c.refused_max_connections.fetch_add(1, Relaxed);
            tracing::debug!(%peer, "connection cap reached: 503");
            refuse(
                stream,
                tls,
                StatusCode::SERVICE_UNAVAILABLE,
                caps.refusing,
                refusing,
                conns,
            );
            return;
        }
        let ip = peer.ip();
        if let Some(cap) = cfg.max_connections_per_ip {
            let mut map = ips
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = map.entry(ip).or_insert(0);
            if *n >= cap {
                drop(map);
                c.refused_per_ip.fetch_add(1, Relaxed);
                tracing::debug!(%peer, "per-IP connection cap reached: 429");
                refuse(
                    stream,
                    tls,
                    StatusCode::TOO_MANY_REQUESTS,
                    caps.refusing,
                    refusing,
                    conns,
                );
                return;
            }
            *n += 1;
        }
        c.tcp.fetch_add(1, Relaxed);
        let guard = ConnGuard {
            hub: self.clone(),
            ip,
            ips: cfg.max_connections_per_ip.map(|_| Arc::clone(ips)),
        };
        let hub = self.clone();
        let slot = Arc::new(guard);
        match tls {
            None => conns.spawn(serve_open(hub, stream.into(), slot)),
            Some(tls) => conns.spawn(serve_tls_conn(hub, stream, peer, tls.clone(), slot)),
        };
    }

    /// Runs a long-lived session (a WebSocket after its handshake, an SSE stream after its
    /// head). On one of the hub's own HTTP/1.1 connections (`conn` given, `h2` false) it runs in
    /// a task of its own, so that the connection's task — sized for the largest request it
    /// might serve — ends instead of idling under it for the session's life; the session
    /// carries `conn` (the connection's slots stay taken). Otherwise it runs inline, in the
    /// caller's future: over HTTP/2 the connection's task must keep driving the connection
    /// (and counts the stream as a request in progress, for its idle timer and for shutdown),
    /// and a request routed by another server (`sluice-axum`) belongs to that server's task.
    /// `session` gets a [`SessionSlot`] to hold while it runs, which counts it so that
    /// shutdown waits for it within the grace period. (The slot is an argument, not held by a
    /// wrapper future around the session's: such a wrapper would reserve the session twice.)
    /// Returns the session's output when it ran inline, `None` when detached.
    pub(crate) async fn run_session<F, Fut, R>(
        &self,
        conn: Option<ConnSlot>,
        h2: bool,
        session: F,
    ) -> Option<R>
    where
        F: FnOnce(SessionSlot) -> Fut,
        Fut: Future<Output = R> + Send + 'static,
        R: Send + 'static,
    {
        self.inner.counters.sessions.fetch_add(1, Relaxed);
        let detach = Hub::detaches(conn.as_ref(), h2);
        let slot = SessionSlot {
            hub: self.clone(),
            _conn: conn,
        };
        if detach {
            tokio::spawn(session(slot));
            None
        } else {
            Some(session(slot).await)
        }
    }

    /// Whether [`Hub::run_session`] will run a session of this request in a task of its own
    /// (the hub's own HTTP/1.1 connection): an SSE response then says `Connection: close`.
    pub(crate) fn detaches(conn: Option<&ConnSlot>, h2: bool) -> bool {
        conn.is_some() && !h2
    }
}

/// Held by a detached session while it runs (see [`Hub::detach`]): its connection's slots and
/// its place in the count of sessions.
pub(crate) struct SessionSlot {
    hub: Hub,
    _conn: Option<ConnSlot>,
}

impl SessionSlot {
    /// The hub the session belongs to.
    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Registers the session's subscriber on `topic`: counted in its transport's gauge and
    /// present (with join/leave notices) until the returned guard drops. The live traffic is
    /// subscribed first, so a subscriber that asked for notices (`notices`) sees its own join.
    pub(crate) fn enter(
        &self,
        topic: &Arc<str>,
        member: Member,
        transport: Transport,
        notices: bool,
    ) -> (LiveRx, Entered<'_>) {
        let presence = &self.hub.inner.presence;
        tracing::debug!(
            topic = &**topic,
            sub = member.sub.as_deref(),
            transport = member.transport,
            "subscriber"
        );
        let gauge = GaugeGuard::new(self.hub.inner.counters.gauge(transport));
        let live = presence.live(topic, notices);
        let present = presence.join(topic, member);
        (
            live,
            Entered {
                _gauge: gauge,
                _present: present,
            },
        )
    }
}

/// A subscriber counted and present while this lives (see [`SessionSlot::enter`]).
pub(crate) struct Entered<'a> {
    _gauge: GaugeGuard<'a>,
    _present: PresenceGuard,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.hub.inner.counters.sessions.fetch_sub(1, Relaxed);
    }
}

/// A connection's slots, shared by its HTTP task and any session detached from it.
pub(crate) type ConnSlot = Arc<ConnGuard>;

/// Releases a connection's slots (total and per-IP) however its task ends.
pub(crate) struct ConnGuard {
    hub: Hub,
    ip: IpAddr,
    ips: Option<Arc<Mutex<HashMap<IpAddr, usize>>>>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.hub.inner.counters.tcp.fetch_sub(1, Relaxed);
        if let Some(ips) = &self.ips {
            let mut map = ips
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(n) = map.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&self.ip);
                }
            }
        }
    }
}

/// The per-connection handler: routes to the hub and counts the requests in progress (one
/// at a time on HTTP/1.1, many on HTTP/2), so that shutdown closes idle connections at once
/// but lets requests finish.
struct ConnHandler {
    hub: Hub,
    slot: ConnSlot,
    busy: AtomicUsize,
    idle: Notify,
}

impl Handler<ServerStream> for ConnHandler {
    fn handle(
        &self,
        req: Request<ServerStream>,
    ) -> impl Future<Output = Reply<ServerStream>> + Send {
        self.busy.fetch_add(1, Relaxed);
        // The request moves into the route's future now: an `async fn` here would keep a
        // second request-sized slot in every connection's future.
        let route = self.hub.route_in(req, Some(Arc::clone(&self.slot)));
        async move {
            let r = route.await;
            self.busy.fetch_sub(1, Relaxed);
            self.idle.notify_one();
            r
        }
    }
}

/// A TLS connection: its handshake (within the header-read timeout), then [`serve_open`].
/// Plain connections are spawned as [`serve_open`] directly: a task keeps the arguments of
/// the future it was spawned with for its whole life, so this one's (the TLS config among
/// them) and its handshake's state are paid by TLS connections only.
async fn serve_tls_conn(
    hub: Hub,
    stream: TcpStream,
    peer: SocketAddr,
    tls: ServerTls,
    slot: ConnSlot,
) {
    // Boxed: the handshake's state is large and over once the connection is open; inline it
    // would stay in the task's size for the connection's whole life.
    match Box::pin(tls.accept(stream, hub.inner.cfg.http.header_read_timeout)).await {
        Ok(s) => serve_open(hub, s.into(), slot).await,
        Err(e) => {
            hub.inner.counters.tls_failed.fetch_add(1, Relaxed);
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
        }
    }
}

/// Serves an open connection (TLS done, if any) until it ends, or until shutdown lets its
/// request in progress finish.
async fn serve_open(hub: Hub, stream: ServerStream, slot: ConnSlot) {
    let handler = ConnHandler {
        hub: hub.clone(),
        slot,
        busy: AtomicUsize::new(0),
        idle: Notify::new(),
    };
    let cfg = &hub.inner.cfg.http;
    let conn = http::serve_stream(stream, cfg, &handler);
    tokio::pin!(conn);
    tokio::select! {
        r = &mut conn => {
            if let Err(e) = r {
                tracing::debug!(ip = %handler.slot.ip, error = %e, "connection ended");
            }
            return;
        }
        () = hub.shutdown_signal() => {}
    }
    loop {
        if handler.busy.load(Relaxed) == 0 {
            // Between requests: let an answer the layer is still writing go out, then close.
            let _ = tokio::time::timeout(Duration::from_millis(50), &mut conn).await;
            return;
        }
        tokio::select! {
            _ = &mut conn => return,
            () = handler.idle.notified() => {}
        }
    }
}

/// Answers one request on a connection over a cap with `status` and closes it; bounded by
/// [`MAX_REFUSING`] (lower with few descriptors) and short timeouts. Beyond that bound a
/// plain connection gets the same answer at once, without a task or a wait (see
/// [`refuse_now`]); a TLS one, which cannot be answered before its handshake, is closed.
fn refuse(
    stream: TcpStream,
    tls: Option<&ServerTls>,
    status: StatusCode,
    max_refusing: usize,
    refusing: &Arc<AtomicUsize>,
    conns: &mut JoinSet<()>,
) {
    if refusing.fetch_add(1, Relaxed) >= max_refusing {
        refusing.fetch_sub(1, Relaxed);
        if tls.is_none() {
            refuse_now(stream, status);
        }
        return;
    }
    let refusing = Arc::clone(refusing);
    let tls = tls.cloned();
    conns.spawn(async move {
        let stream: ServerStream = match tls {
            None => stream.into(),
            Some(tls) => match tls.accept(stream, Duration::from_secs(2)).await {
                Ok(s) => s.into(),
                Err(_) => {
                    refusing.fetch_sub(1, Relaxed);
                    return;
                }
            },
        };
        let mut cfg = ServerConfig::default();
        cfg.header_read_timeout = Duration::from_secs(2);
        cfg.keep_alive_timeout = Duration::from_secs(2);
        cfg.write_timeout = Duration::from_secs(2);
        cfg.linger_timeout = Duration::from_millis(200);
        let handler = move |req: Request<ServerStream>| async move { req.respond(busy(status)) };
        let _ = http::serve_stream(stream, &cfg, &handler).await;
        refusing.fetch_sub(1, Relaxed);
    });
}

/// The answer of a connection over a cap.
fn busy(status: StatusCode) -> sluice_http::Response {
    let msg = if status == StatusCode::SERVICE_UNAVAILABLE {
        "too many connections"
    } else {
        "too many connections from this address"
    };
    crate::hub::error(status, "busy", msg, None)
        .header("retry-after", "1")
        .header("connection", "close")
}

/// Answers a plain connection with [`busy`] in one non-blocking write, without reading its
/// request, and closes it: what has already arrived is read first, so that the close sends a
/// FIN rather than a reset that could destroy the answer. Holds no descriptor after it returns.
fn refuse_now(stream: TcpStream, status: StatusCode) {
    let mut scratch = [0u8; 4096];
    for _ in 0..16 {
        match stream.try_read(&mut scratch) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let out = busy(status).to_http1_closing().unwrap_or_default();
    let _ = stream.try_write(&out);
    if let Ok(s) = stream.into_std() {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
}

/// Rate-limited logging of failed `accept` calls (out of descriptors, mostly): one line per
/// [`ACCEPT_LOG_EVERY`] with the number of failures since the last one.
#[derive(Default)]
struct AcceptLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl AcceptLog {
    fn failed(&mut self, e: &io::Error) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < ACCEPT_LOG_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(
            error = %e,
            failures_since_last_report = self.suppressed,
            "accept failed; retrying (is the file-descriptor limit too low for --max-connections?)"
        );
        self.last = Some(now);
        self.suppressed = 0;
    }
}

fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::Interrupted | K::WouldBlock | K::TimedOut
    ) || matches!(e.raw_os_error(), Some(23 | 24 | 12 | 105)) // ENFILE, EMFILE, ENOMEM, ENOBUFS
}

/// At most one [`system_task`] per hub (the `housekeeping` flag, cleared however it ends).
async fn housekeeping(weak: Weak<Inner>) {
    match weak.upgrade() {
        Some(inner) if !inner.housekeeping.swap(true, Relaxed) => {}
        _ => return,
    }
    struct Done(Weak<Inner>);
    impl Drop for Done {
        fn drop(&mut self) {
            if let Some(inner) = self.0.upgrade() {
                inner.housekeeping.store(false, Relaxed);
            }
        }
    }
    let _done = Done(weak.clone());
    system_task(weak).await;
}

/// Once a second: publish `sys.metrics` (if enabled) and reap idle topics, until shutdown or
/// until the hub is gone (it holds the hub only during a tick).
async fn system_task(weak: Weak<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let started = Instant::now();
    let Some(inner) = weak.upgrade() else { return };
    let mut shutdown = inner.shutdown.subscribe();
    let mut last = (Instant::now(), Hub { inner }.metrics());
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            // Ends on shutdown, and when the hub (the sender's owner) is dropped.
            _ = shutdown.wait_for(|v| *v) => return,
        }
        let Some(inner) = weak.upgrade() else { return };
        let hub = Hub { inner };
        let now = Instant::now();
        hub.reap_topics(now);
        hub.inner.presence.sweep(now);
        if !hub.inner.cfg.sys_metrics {
            continue;
        }
        let m = hub.metrics();
        let secs = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let rate = |a: u64, b: u64| ((a.saturating_sub(b)) as f64 / secs * 10.0).round() / 10.0;
        let json = serde_json::json!({
            "time": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            "uptime_s": started.elapsed().as_secs(),
            "connections": {
                "tcp": m.connections,
                "ws": m.ws,
                "sse": m.sse,
                "poll": m.poll,
            },
            "parked_polls": m.parked_polls,
            "topics": m.topics,
            "events_in_per_s": rate(m.events_in, last.1.events_in),
            "events_out_per_s": rate(m.events_out(), last.1.events_out()),
            "events_in_total": m.events_in,
            "events_out_total": m.events_out(),
            "rss_bytes": m.rss_bytes,
        });
        last = (now, m);
        if let Ok(state) = hub.topic_state(SYS_METRICS_TOPIC) {
            let _ = hub
                .append(&state, "message", json.to_string().into(), None)
                .await;
        }
    }
}

#[cfg(test)]
mod housekeeping_tests {
    use super::*;
    use crate::HubConfig;

    /// The task a `HubService` spawns holds the hub only during a tick: dropping the hub ends it
    /// and frees the hub.
    #[tokio::test]
    async fn housekeeping_does_not_keep_a_dropped_hub_alive() {
        let hub = Hub::new(HubConfig::default());
        let weak = Arc::downgrade(&hub.inner);
        let task = hub.spawn_housekeeping();
        tokio::time::sleep(Duration::from_millis(20)).await; // let it start
        // A second one is refused while the first runs.
        tokio::time::timeout(Duration::from_secs(5), hub.run_housekeeping())
            .await
            .expect("a second housekeeping returns at once");
        tokio::time::sleep(Duration::from_millis(1100)).await; // at least one tick ran
        drop(hub);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("housekeeping ends with its hub")
            .unwrap();
        assert!(weak.upgrade().is_none(), "the hub was kept alive");
    }
}
