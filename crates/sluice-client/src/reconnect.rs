//! [`ReconnectingWebSocket`]: a WebSocket to any server that comes back by itself — backoff
//! with full jitter, dead-peer detection by a ping deadline, a bounded offline send queue and a
//! stream of state changes.
//!
//! One task owns the connection. The handle queues messages ([`ReconnectingWebSocket::send`]
//! never waits for the network) and receives what the server sends. A message leaves the queue
//! once it has been written to a connection; the messages the `on_open` hook returns are sent
//! first on every (re)open, so a caller can re-subscribe or re-authenticate.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use sluice_http::{ClientRequest, DefaultConnector};
use sluice_tokio::ws::{self, CloseCode, Message, ResponseError, WsConfig};
use tokio::sync::{Notify, mpsc, watch};

use crate::backoff::Backoff;

/// What [`ReconnectingWebSocket::send`] does when the offline queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Refuse the new message ([`SendError::QueueFull`]).
    Error,
    /// Drop the oldest queued message to make room.
    DropOldest,
}

/// Settings of a [`ReconnectingWebSocket`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReconnectConfig {
    /// Delays between attempts and when to give up.
    pub backoff: Backoff,
    /// The WebSocket settings (limits, deflate). Its ping interval and idle timeout are set
    /// from [`ReconnectConfig::ping_interval`] and [`ReconnectConfig::pong_timeout`].
    pub ws: WsConfig,
    /// Deadline for TCP, TLS and the opening handshake of one attempt. Default 10 s.
    pub connect_timeout: Duration,
    /// A Ping after this much silence from the server (`None`: never). Default 15 s.
    pub ping_interval: Option<Duration>,
    /// A connection whose server sends nothing (no Pong, no data) for `ping_interval +
    /// pong_timeout` is dead: dropped and reconnected. Default 10 s.
    pub pong_timeout: Duration,
    /// Messages held while not connected (and not yet written). Default 1,024.
    pub queue_capacity: usize,
    /// What a full queue does with the next message. Default [`Overflow::Error`].
    pub overflow: Overflow,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            backoff: Backoff::default(),
            ws: WsConfig::default(),
            connect_timeout: Duration::from_secs(10),
            ping_interval: Some(Duration::from_secs(15)),
            pong_timeout: Duration::from_secs(10),
            queue_capacity: 1_024,
            overflow: Overflow::Error,
        }
    }
}

impl ReconnectConfig {
    /// Sets [`ReconnectConfig::backoff`].
    #[must_use]
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
    /// Sets [`ReconnectConfig::ws`].
    #[must_use]
    pub fn with_ws(mut self, ws: WsConfig) -> Self {
        self.ws = ws;
        self
    }
    /// Sets [`ReconnectConfig::connect_timeout`].
    #[must_use]
    pub fn with_connect_timeout(mut self, after: Duration) -> Self {
        self.connect_timeout = after;
        self
    }
    /// Sets [`ReconnectConfig::ping_interval`] and [`ReconnectConfig::pong_timeout`].
    #[must_use]
    pub fn with_ping(mut self, interval: Option<Duration>, pong_timeout: Duration) -> Self {
        self.ping_interval = interval;
        self.pong_timeout = pong_timeout;
        self
    }
    /// Sets [`ReconnectConfig::queue_capacity`] and [`ReconnectConfig::overflow`].
    #[must_use]
    pub fn with_queue(mut self, capacity: usize, overflow: Overflow) -> Self {
        self.queue_capacity = capacity;
        self.overflow = overflow;
        self
    }
}

/// The connection's state, as reported by [`ReconnectingWebSocket::states`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnState {
    /// The first attempt is under way.
    Connecting,
    /// A connection is open (`opens` counts them: 1 for the first, 2 after one reconnect…).
    Open {
        /// How many times a connection has opened, this one included.
        opens: u32,
    },
    /// The connection failed or was lost; the next attempt starts after `delay`.
    Reconnecting {
        /// Failed attempts in a row (1 = the first retry).
        attempt: u32,
        /// The wait before it.
        delay: Duration,
        /// Why the previous connection or attempt ended.
        reason: String,
    },
    /// Finished for good; [`ReconnectingWebSocket::recv`] returns `None`.
    Closed {
        /// Why.
        reason: Closed,
    },
}

/// Why a [`ReconnectingWebSocket`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Closed {
    /// [`ReconnectingWebSocket::close`] (or dropping the handle).
    ByCaller,
    /// The server refused the handshake with a status retrying cannot change (a 4xx other than
    /// 408 and 429).
    Refused {
        /// The HTTP status.
        status: u16,
    },
    /// [`Backoff::max_attempts`] failed attempts in a row.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed.
        last: String,
    },
    /// The URL or the configuration cannot work (caller misuse).
    Invalid(String),
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::ByCaller => f.write_str("closed"),
            Closed::Refused { status } => {
                write!(f, "the server refused the WebSocket (HTTP {status})")
            }
            Closed::GaveUp { attempts, last } => {
                write!(f, "gave up after {attempts} attempts: {last}")
            }
            Closed::Invalid(s) => f.write_str(s),
        }
    }
}

/// Why [`ReconnectingWebSocket::send`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The queue holds `size` messages, its capacity (`max`), and the policy is
    /// [`Overflow::Error`].
    #[error("send queue full: {size} messages, max {max}")]
    QueueFull {
        /// Messages queued.
        size: usize,
        /// [`ReconnectConfig::queue_capacity`].
        max: usize,
    },
    /// The socket is closed for good (or closing).
    #[error("the connection is closed")]
    Closed,
}

/// The hook run on every (re)open: the messages to send first (re-subscribe, resend).
type OnOpen = Box<dyn FnMut(u32) -> Vec<Message> + Send>;

struct Queue {
    items: VecDeque<(u64, Message)>,
    next_id: u64,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
    closing: watch::Sender<bool>,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A WebSocket client that reconnects: one task owns the connection; the handle queues
/// messages ([`ReconnectingWebSocket::send`] never waits for the network) and receives what
/// the server sends. A message leaves the queue once written to a connection; the messages
/// the `on_open` hook returns are sent first on every (re)open.
pub struct ReconnectingWebSocket {
    shared: Arc<Shared>,
    config: ReconnectConfig,
    msgs: mpsc::Receiver<Message>,
    state: watch::Receiver<ConnState>,
    states: Option<States>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for ReconnectingWebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectingWebSocket")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

/// Builds a [`ReconnectingWebSocket`]: [`ReconnectingWebSocket::builder`].
pub struct Builder {
    request: ClientRequest,
    connector: DefaultConnector,
    config: ReconnectConfig,
    on_open: OnOpen,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("url", &self.request.url().path_and_query())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Connect with `connector` (a custom CA, client certificates).
    #[must_use]
    pub fn connector(mut self, connector: DefaultConnector) -> Self {
        self.connector = connector;
        self
    }

    /// The settings.
    #[must_use]
    pub fn config(mut self, config: ReconnectConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs `hook(opens)` on every open (`opens` = 1 for the first connection); the messages it
    /// returns are sent before anything queued.
    #[must_use]
    pub fn on_open(mut self, hook: impl FnMut(u32) -> Vec<Message> + Send + 'static) -> Self {
        self.on_open = Box::new(hook);
        self
    }

    /// Starts the connection task (on the current tokio runtime) and returns the handle.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn connect(self) -> ReconnectingWebSocket {
        let (closing, closing_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                next_id: 0,
                closed: false,
            }),
            wake: Notify::new(),
            closing,
        });
        let (msg_tx, msgs) = mpsc::channel(64);
        let (state_tx, state) = watch::channel(ConnState::Connecting);
        let (changes_tx, changes) = mpsc::channel(STATE_BACKLOG);
        let config = self.config.clone();
        let task = Task {
            shared: Arc::clone(&shared),
            request: self.request,
            connector: self.connector,
            config: self.config,
            on_open: self.on_open,
            msgs: msg_tx,
            state: state_tx,
            changes: changes_tx,
            closing: closing_rx,
        };
        let task = tokio::spawn(task.run());
        ReconnectingWebSocket {
            shared,
            config,
            msgs,
            state,
            states: Some(States { rx: changes }),
            task: Some(task),
        }
    }
}

/// State changes kept for a [`States`] reader that falls behind; older ones beyond this are
/// dropped (the current state is always [`ReconnectingWebSocket::state`]).
const STATE_BACKLOG: usize = 256;

impl ReconnectingWebSocket {
    /// A builder for a client of `request` (a `ws://`/`wss://` GET; its headers, e.g.
    /// `Authorization`, are sent on every attempt).
    pub fn builder(request: ClientRequest) -> Builder {
        Builder {
            request,
            connector: DefaultConnector::default(),
            config: ReconnectConfig::default(),
            on_open: Box::new(|_| Vec::new()),
        }
    }

    /// Queues `msg` to be sent on the current connection, or the next one. Never waits.
    ///
    /// # Errors
    /// [`SendError::QueueFull`] under [`Overflow::Error`]; [`SendError::Closed`] once closed.
    pub fn send(&self, msg: Message) -> Result<(), SendError> {
        let mut q = self.shared.queue();
        if q.closed || *self.shared.closing.borrow() {
            return Err(SendError::Closed);
        }
        let max = self.config.queue_capacity;
        if q.items.len() >= max {
            match self.config.overflow {
                Overflow::Error => {
                    return Err(SendError::QueueFull {
                        size: q.items.len(),
                        max,
                    });
                }
                Overflow::DropOldest => {
                    q.items.pop_front();
                    if max == 0 {
                        return Ok(());
                    }
                }
            }
        }
        let id = q.next_id;
        q.next_id += 1;
        q.items.push_back((id, msg));
        drop(q);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Messages queued and not yet written.
    pub fn queued(&self) -> usize {
        self.shared.queue().items.len()
    }

    /// The next message from the server (across reconnects); `None` once closed for good.
    pub async fn recv(&mut self) -> Option<Message> {
        self.msgs.recv().await
    }

    /// The current state.
    pub fn state(&self) -> ConnState {
        self.state.borrow().clone()
    }

    /// The stream of state changes (each change once, in order; the first call takes it).
    pub fn states(&mut self) -> Option<States> {
        self.states.take()
    }

    /// Closes: sends a Close (1000) on an open connection, stops reconnecting. Queued messages
    /// not yet written are dropped.
    pub fn close(&self) {
        self.shared.closing.send_replace(true);
        self.shared.wake.notify_one();
    }

    /// Waits until the connection task has finished (after [`Self::close`], a refusal or giving
    /// up).
    pub async fn closed(&mut self) {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for ReconnectingWebSocket {
    fn drop(&mut self) {
        // The task finishes the closing handshake by itself (bounded by the close timeout).
        self.close();
    }
}

/// State changes of a [`ReconnectingWebSocket`], a [`futures_core::Stream`].
#[derive(Debug)]
pub struct States {
    rx: mpsc::Receiver<ConnState>,
}

impl States {
    /// The next change; `None` after `Closed`.
    pub async fn next(&mut self) -> Option<ConnState> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for States {
    type Item = ConnState;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConnState>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

struct Task {
    shared: Arc<Shared>,
    request: ClientRequest,
    connector: DefaultConnector,
    config: ReconnectConfig,
    on_open: OnOpen,
    msgs: mpsc::Sender<Message>,
    state: watch::Sender<ConnState>,
    changes: mpsc::Sender<ConnState>,
    closing: watch::Receiver<bool>,
}

/// How one open connection ended.
enum SessionEnd {
    Caller,
    Lost(String),
}

impl Task {
    fn set(&self, s: ConnState) {
        let _ = self.changes.try_send(s.clone());
        self.state.send_replace(s);
    }

    async fn run(mut self) {
        let reason = self.run_inner().await;
        self.shared.queue().closed = true;
        self.set(ConnState::Closed { reason });
    }

    async fn run_inner(&mut self) -> Closed {
        let mut failed = 0u32;
        let mut opens = 0u32;
        let mut ws_config = self.config.ws.clone();
        ws_config = ws_config
            .ping_interval(self.config.ping_interval)
            .idle_timeout(
                self.config
                    .ping_interval
                    .map(|p| p + self.config.pong_timeout),
            )
            .handshake_timeout(self.config.connect_timeout);
        loop {
            if *self.closing.borrow() {
                return Closed::ByCaller;
            }
            let attempt = tokio::time::timeout(
                self.config.connect_timeout,
                ws::connect_request(&self.connector, &self.request, ws_config.clone()),
            );
            let mut closing = self.closing.clone();
            let result = tokio::select! {
                r = attempt => r,
                _ = closing.wait_for(|c| *c) => return Closed::ByCaller,
            };
            let why = match result {
                Ok(Ok((socket, _))) => {
                    opens += 1;
                    failed = 0;
                    self.set(ConnState::Open { opens });
                    match self.session(socket, opens).await {
                        SessionEnd::Caller => return Closed::ByCaller,
                        SessionEnd::Lost(why) => why,
                    }
                }
                Ok(Err(ws::Error::Response(ResponseError::UnexpectedStatus {
                    status, ..
                }))) if status.is_client_error() && !matches!(status.as_u16(), 408 | 429) => {
                    return Closed::Refused {
                        status: status.as_u16(),
                    };
                }
                Ok(Err(e @ (ws::Error::Url(_) | ws::Error::Build(_)))) => {
                    return Closed::Invalid(e.to_string());
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!(
                    "no handshake answer within {} ms",
                    self.config.connect_timeout.as_millis()
                ),
            };
            failed += 1;
            if self.config.backoff.exhausted(failed) {
                return Closed::GaveUp {
                    attempts: failed,
                    last: why,
                };
            }
            let delay = self.config.backoff.delay(failed);
            self.set(ConnState::Reconnecting {
                attempt: failed,
                delay,
                reason: why,
            });
            let mut closing = self.closing.clone();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = closing.wait_for(|c| *c) => return Closed::ByCaller,
            }
        }
    }

    async fn session(
        &mut self,
        socket: ws::WebSocket<sluice_http::ClientStream>,
        opens: u32,
    ) -> SessionEnd {
        let hello = (self.on_open)(opens);
        let (mut rd, mut wr) = socket.split();
        let shared = &self.shared;
        let mut closing = self.closing.clone();
        let msgs = &self.msgs;
        let writer = async {
            for m in hello {
                if let Err(e) = wr.send(m).await {
                    return SessionEnd::Lost(e.to_string());
                }
            }
            loop {
                let woken = shared.wake.notified();
                if *closing.borrow_and_update() {
                    let _ = wr.close(CloseCode::NORMAL, "").await;
                    return SessionEnd::Caller;
                }
                let front = shared.queue().items.front().cloned();
                let Some((id, m)) = front else {
                    tokio::select! {
                        () = woken => {}
                        _ = closing.changed() => {}
                    }
                    continue;
                };
                if let Err(e) = wr.send(m).await {
                    return SessionEnd::Lost(e.to_string());
                }
                // Written: it leaves the queue (unless DropOldest already dropped it).
                let mut q = shared.queue();
                if q.items.front().is_some_and(|(f, _)| *f == id) {
                    q.items.pop_front();
                }
            }
        };
        let reader = async {
            loop {
                match rd.recv().await {
                    Some(Ok(m)) => {
                        if msgs.send(m).await.is_err() {
                            return SessionEnd::Caller;
                        }
                    }
                    Some(Err(e)) => return SessionEnd::Lost(e.to_string()),
                    None => return SessionEnd::Lost("closed by the server".into()),
                }
            }
        };
        tokio::pin!(reader);
        tokio::select! {
            r = &mut reader => r,
            w = writer => match w {
                SessionEnd::Caller => {
                    // Finish the closing handshake: the reader ends at the server's Close (the
                    // driver's close timeout bounds the wait).
                    let _ = reader.await;
                    SessionEnd::Caller
                }
                lost => lost,
            },
        }
    }
}
