//! [`LongPoll`]: the long-poll endpoint and shared topic store.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use sluice_longpoll::response::{CACHE_CONTROL, CONTENT_TYPE};
use sluice_longpoll::{
    Cursor, Event, Handled, LogConfig, PublishError, ReadLimits, ReadOutcome,
    Request as PollRequest, Response as PollResponse, Server, ServerConfig, Start, WaiterId,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, oneshot, watch};
use tokio::time::Instant;

use super::rng::{Jitter, os_u64};
use sluice_http::{Headers, Reply, Request, Response, StatusCode};

/// Settings of a [`LongPoll`]. Build from [`LongPollConfig::default`] and adjust fields.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LongPollConfig {
    /// The protocol limits: timeouts and their jitter, `max`, bytes per response, the waiter
    /// cap (503 beyond) and its `Retry-After`. Defaults per `docs/longpoll.md` section 6.
    pub server: ServerConfig,
    /// Retention of topics created by [`LongPoll::ensure_topic`]. Default: 10,000 events,
    /// 64 MiB, 1 hour, 1 MiB per event.
    pub log: LogConfig,
    /// Origins allowed to read cross-origin (CORS): an exact `Origin` value such as
    /// `https://app.example`, or `*` for any. A request whose `Origin` matches gets
    /// `Access-Control-Allow-Origin: <that origin>` and `Vary: Origin`. Default: empty (no
    /// CORS headers; same-origin pages and non-browser clients are unaffected).
    pub allow_origins: Vec<String>,
}

/// A read of a topic's log by another transport ([`LongPoll::read`]), owning its events.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReadBatch {
    /// The events, oldest first (shared with the log: no copy of the data).
    pub events: Vec<Arc<Event>>,
    /// Where to resume: the last event's id, or the read position if there is none.
    pub next: Cursor,
    /// The batch was cut by a limit: more events are available right now.
    pub more: bool,
    /// Exactly this many events were lost right before the first event (or before `next`).
    pub gap: Option<u64>,
    /// The cursor's epoch is not the topic's: history was lost, resynchronise.
    pub reset: bool,
    /// The batch reaches the end of an ended topic (its last event is the end, or the reader
    /// was already past it): nothing will follow. See [`sluice_longpoll::END_EVENT_TYPE`].
    pub ended: bool,
}

/// Why [`LongPoll::read`] has no batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// No such topic (long-poll answers 410).
    #[error("no such topic")]
    NoTopic,
    /// The cursor is ahead of the head in the current epoch (a peer fault: 400).
    #[error("cursor is ahead of the head {head}")]
    CursorAhead {
        /// The topic's head.
        head: Cursor,
    },
}

struct State<K> {
    server: Server<K>,
    /// Keyed by the core's ids, which this process makes (no peer picks them): hashed by
    /// [`IdHasher`], not SipHash.
    waiters: HashMap<WaiterId, oneshot::Sender<PollResponse>, BuildHasherDefault<IdHasher>>,
    heads: HashMap<K, watch::Sender<Cursor>>,
    jitter: Jitter,
    /// The deadline the timer task sleeps until (`None`: idle or not started).
    armed: Option<std::time::Instant>,
    timer_started: bool,
}

struct Shared<K> {
    state: Mutex<State<K>>,
    config: LongPollConfig,
    timer: Arc<Notify>,
    /// Events in the answers handed to the HTTP layer (see [`LongPoll::delivered_events`]).
    delivered: AtomicU64,
}

impl<K> Drop for Shared<K> {
    fn drop(&mut self) {
        // Let the timer task see that the store is gone and end.
        self.timer.notify_one();
    }
}

/// The long-poll endpoint and the shared topic store (one retention log per topic) for every
/// transport. Cheap to clone (an `Arc`). See the [module docs](super).
pub struct LongPoll<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for LongPoll<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K> std::fmt::Debug for LongPoll<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LongPoll")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

type Deliveries = Vec<(oneshot::Sender<PollResponse>, PollResponse)>;

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl<K> LongPoll<K>
where
    K: Clone + Eq + Hash + Send + 'static,
{
    /// A store with no topics. Needs no runtime; the timer task starts with the first parked
    /// request (inside the runtime that runs [`LongPoll::handle`]).
    pub fn new(config: LongPollConfig) -> Self {
        let state = State {
            server: Server::new(config.server.clone()),
            waiters: HashMap::default(),
            heads: HashMap::new(),
            jitter: Jitter::new(),
            armed: None,
            timer_started: false,
        };
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                config,
                timer: Arc::new(Notify::new()),
                delivered: AtomicU64::new(0),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &LongPollConfig {
        &self.shared.config
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        // A panic while holding the lock cannot leave the core half-updated in a way that
        // matters more than losing the whole store; keep serving.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Create `topic` with retention `log` and a fresh random epoch. Returns `false` (and
    /// changes nothing) if it exists.
    pub fn create_topic(&self, topic: K, log: LogConfig) -> bool {
        let mut st = self.lock();
        let epoch = os_u64();
        if !st.server.create_topic(topic.clone(), epoch, log) {
            return false;
        }
        st.heads
            .insert(topic, watch::Sender::new(Cursor::new(epoch, 0)));
        true
    }

    /// Create `topic` with [`LongPollConfig::log`] retention unless it exists. Returns `true`
    /// if it was created.
    pub fn ensure_topic<Q>(&self, topic: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut st = self.lock();
        if st.server.log(topic).is_some() {
            return false;
        }
        let epoch = os_u64();
        let created =
            st.server
                .create_topic(topic.to_owned(), epoch, self.shared.config.log.clone());
        st.heads
            .insert(topic.to_owned(), watch::Sender::new(Cursor::new(epoch, 0)));
        created
    }

    /// Remove `topic`: parked long-poll requests end (see [`LongPoll::handle`]) and
    /// [`LongPoll::subscribe`] watchers see the sender dropped. Returns `false` if it did not
    /// exist.
    pub fn remove_topic<Q>(&self, topic: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (found, out) = {
            let mut st = self.lock();
            let found = st.server.remove_topic(topic).is_some();
            st.heads.remove(topic);
            (found, drain(&mut st))
        };
        deliver(out);
        found
    }

    /// Forget `topic`'s history and move it to a fresh random epoch: every reader gets a
    /// reset. Returns `false` if there is no such topic.
    pub fn purge<Q>(&self, topic: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let out = {
            let mut st = self.lock();
            let epoch = os_u64();
            if !st.server.purge(topic, epoch) {
                return false;
            }
            notify_head(&mut st, topic);
            drain(&mut st)
        };
        deliver(out);
        true
    }

    /// Append an event to `topic` and wake its readers on every transport: parked long-poll
    /// requests are answered, [`LongPoll::subscribe`] watchers see the new head. Never blocks
    /// on a reader. Returns the event's id.
    ///
    /// # Errors
    /// [`PublishError::NoTopic`], or the log's [`sluice_longpoll::AppendError`] (data not
    /// UTF-8, bad event type, event too large: map to 400/413).
    pub fn publish<Q>(
        &self,
        topic: &Q,
        event_type: &str,
        data: impl Into<Bytes>,
    ) -> Result<Cursor, PublishError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let data = data.into();
        let (c, out) = {
            let mut st = self.lock();
            let c = st.server.publish(now(), topic, event_type, data)?;
            notify_head(&mut st, topic);
            (c, drain(&mut st))
        };
        deliver(out);
        Ok(c)
    }

    /// Create `topic` as a replica of a log kept elsewhere (a durable or shared store): empty,
    /// in `epoch`, with head `head_seq`; fill it with [`LongPoll::publish_at`]. Returns `false`
    /// (and changes nothing) if it exists.
    pub fn create_topic_at(&self, topic: K, epoch: u64, head_seq: u64, log: LogConfig) -> bool {
        let mut st = self.lock();
        if !st
            .server
            .create_topic_at(topic.clone(), epoch, head_seq, log)
        {
            return false;
        }
        st.heads
            .insert(topic, watch::Sender::new(Cursor::new(epoch, head_seq)));
        true
    }

    /// [`LongPoll::create_topic_at`] and its first events, under one lock: nobody sees the
    /// topic before it holds them all (a reader starting "from now" meanwhile would get them
    /// as new). `events` are `(seq, type, data)`, ascending from `head_seq + 1` (a jump is a
    /// gap). Returns `false` (and changes nothing) if the topic exists.
    pub fn create_topic_filled<I, T>(
        &self,
        topic: K,
        epoch: u64,
        head_seq: u64,
        log: LogConfig,
        events: I,
    ) -> bool
    where
        I: IntoIterator<Item = (u64, T, Bytes)>,
        T: AsRef<str>,
    {
        self.create_filled(topic, epoch, head_seq, log, events, None)
    }

    /// Append an event whose sequence number the store assigned (see
    /// [`sluice_longpoll::Log::append_at`]: a sequence number past the next one leaves an exact
    /// gap) and wake the topic's readers on every transport, as [`LongPoll::publish`] does.
    ///
    /// # Errors
    /// As [`LongPoll::publish`], and [`sluice_longpoll::AppendError::NotAfterHead`].
    pub fn publish_at<Q>(
        &self,
        topic: &Q,
        seq: u64,
        event_type: &str,
        data: impl Into<Bytes>,
    ) -> Result<Cursor, PublishError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let data = data.into();
        let (c, out) = {
            let mut st = self.lock();
            let c = st.server.publish_at(now(), topic, seq, event_type, data)?;
            notify_head(&mut st, topic);
            (c, drain(&mut st))
        };
        deliver(out);
        Ok(c)
    }

    /// Append an event as `(epoch, seq)` only if the topic's head is `(epoch, seq - 1)`, checked
    /// and done under one lock: for a replica fed from several places at once (a store's
    /// notices, its own publishes, catch-up reads), so that none of them can append on a view
    /// of the head that another has just changed. `Ok(false)`: not the next event (nothing
    /// changed).
    ///
    /// # Errors
    /// As [`LongPoll::publish`].
    pub fn publish_next<Q>(
        &self,
        topic: &Q,
        epoch: u64,
        seq: u64,
        event_type: &str,
        data: impl Into<Bytes>,
    ) -> Result<bool, PublishError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let data = data.into();
        let out = {
            let mut st = self.lock();
            let head = st.server.log(topic).ok_or(PublishError::NoTopic)?.head();
            if head.epoch() != epoch || seq == 0 || head.seq() != seq - 1 {
                return Ok(false);
            }
            st.server.publish_at(now(), topic, seq, event_type, data)?;
            notify_head(&mut st, topic);
            drain(&mut st)
        };
        deliver(out);
        Ok(true)
    }

    /// [`LongPoll::reset_topic`] only if the topic's head is still `expected` (checked under
    /// the same lock): a replica's catch-up moves it only from the head it read. Returns
    /// whether it did.
    pub fn reset_topic_if<Q>(&self, topic: &Q, expected: Cursor, epoch: u64, head_seq: u64) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.move_if(topic, expected, |server| {
            server.reset_topic(topic, epoch, head_seq)
        })
    }

    /// Applies `change` to the core only if `topic`'s head is still `expected`, under one lock;
    /// when it changed anything, wakes the head's watchers and answers the requests it freed.
    fn move_if<Q>(
        &self,
        topic: &Q,
        expected: Cursor,
        change: impl FnOnce(&mut Server<K>) -> bool,
    ) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let out = {
            let mut st = self.lock();
            if st.server.log(topic).map(sluice_longpoll::Log::head) != Some(expected)
                || !change(&mut st.server)
            {
                return false;
            }
            notify_head(&mut st, topic);
            drain(&mut st)
        };
        deliver(out);
        true
    }

    /// Move a replica topic to `epoch` with head `end_seq` and mark it ended there (see
    /// [`sluice_longpoll::Server::reset_ended_topic`]), only if its head is still `expected`,
    /// all under one lock: for a replica whose store's topic ended at `end_seq`, the end no
    /// longer retained. Nothing is appended between the move and the mark: an event after
    /// the end that arrives meanwhile from elsewhere is refused
    /// ([`sluice_longpoll::AppendError::Ended`]). Parked long-poll requests are answered with
    /// the end, [`LongPoll::subscribe`] watchers see the new head. Returns whether it did.
    pub fn reset_ended_topic_if<Q>(
        &self,
        topic: &Q,
        expected: Cursor,
        epoch: u64,
        end_seq: u64,
    ) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.move_if(topic, expected, |server| {
            server.reset_ended_topic(topic, epoch, end_seq)
        })
    }

    /// Mark `topic` ended at `head` (see [`sluice_longpoll::Log::mark_ended`]) only if `head` is
    /// still its head (checked under the same lock), and wake its readers on every transport:
    /// parked long-poll requests are answered with `end: true`, [`LongPoll::subscribe`]
    /// watchers are notified (a read at the head now says [`ReadBatch::ended`]). For a replica
    /// whose store knows the end after the end event left retention. Returns whether the
    /// topic is ended at `head` now.
    pub fn end_topic_if<Q>(&self, topic: &Q, head: Cursor) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let out = {
            let mut st = self.lock();
            match st.server.log(topic) {
                Some(log) if log.head() == head && log.is_ended() => return true,
                Some(log) if log.head() == head => {}
                _ => return false,
            }
            st.server.end_topic_at(topic, head);
            notify_head(&mut st, topic);
            drain(&mut st)
        };
        deliver(out);
        true
    }

    /// [`LongPoll::create_topic_filled`] for a topic that ended at `end_seq`, created ended
    /// under the same lock (nobody sees it before it is ended): events after `end_seq` are left
    /// out, and if the events do not reach it (the end left retention) what they hold is
    /// dropped too and the topic starts at `end_seq` (a reader before it gets a gap, then the
    /// end). Returns `false` (and changes nothing) if the topic exists.
    pub fn create_ended_topic_filled<I, T>(
        &self,
        topic: K,
        epoch: u64,
        head_seq: u64,
        log: LogConfig,
        events: I,
        end_seq: u64,
    ) -> bool
    where
        I: IntoIterator<Item = (u64, T, Bytes)>,
        T: AsRef<str>,
    {
        self.create_filled(topic, epoch, head_seq, log, events, Some(end_seq))
    }

    fn create_filled<I, T>(
        &self,
        topic: K,
        epoch: u64,
        head_seq: u64,
        log: LogConfig,
        events: I,
        end_seq: Option<u64>,
    ) -> bool
    where
        I: IntoIterator<Item = (u64, T, Bytes)>,
        T: AsRef<str>,
    {
        let mut st = self.lock();
        if !st
            .server
            .create_topic_at(topic.clone(), epoch, head_seq, log)
        {
            return false;
        }
        let t = now();
        for (seq, event_type, data) in events {
            if end_seq.is_some_and(|e| seq > e) {
                break;
            }
            // An event the log refuses (too large for this node) is left out: the next one
            // jumps past it, a gap of one.
            let _ = st
                .server
                .publish_at(t, &topic, seq, event_type.as_ref(), data);
        }
        if let Some(e) = end_seq {
            let end = Cursor::new(epoch, e);
            if st.server.log(&topic).map(sluice_longpoll::Log::head) != Some(end) {
                st.server.reset_topic(&topic, epoch, e);
            }
            // Nobody is parked on a topic that did not exist: this only marks the log.
            st.server.end_topic_at(&topic, end);
        }
        let head = st
            .server
            .log(&topic)
            .map_or(Cursor::new(epoch, head_seq), sluice_longpoll::Log::head);
        st.heads.insert(topic, watch::Sender::new(head));
        true
    }

    /// Move a replica topic to `epoch` with head `head_seq`, forgetting what it retains (its
    /// store lost its history, or the replica lost track): readers of another epoch get a
    /// reset, readers of `epoch` before `head_seq` a gap. Returns `false` if there is no such
    /// topic.
    pub fn reset_topic<Q>(&self, topic: &Q, epoch: u64, head_seq: u64) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let out = {
            let mut st = self.lock();
            if !st.server.reset_topic(topic, epoch, head_seq) {
                return false;
            }
            notify_head(&mut st, topic);
            drain(&mut st)
        };
        deliver(out);
        true
    }

    /// The topic's head cursor (`Start::Now` for a new subscriber), or `None` if it does not
    /// exist.
    pub fn head<Q>(&self, topic: &Q) -> Option<Cursor>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.with_log(topic, sluice_longpoll::Log::head)
    }

    /// Whether `topic` has ended ([`sluice_longpoll::END_EVENT_TYPE`]); `None` if it does not
    /// exist.
    pub fn is_ended<Q>(&self, topic: &Q) -> Option<bool>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.with_log(topic, sluice_longpoll::Log::is_ended)
    }

    /// `f` of `topic`'s log, under the lock; `None` if the topic does not exist.
    fn with_log<Q, R>(&self, topic: &Q, f: impl FnOnce(&sluice_longpoll::Log) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().server.log(topic).map(f)
    }

    /// A watch of `topic`'s head cursor, updated by every publish and purge (a new epoch shows
    /// as a cursor of another epoch). `changed()` fails once the topic is removed. For SSE and
    /// WebSocket subscribers: mark the value seen, [`LongPoll::read`], send, then await
    /// `changed()` (see the module example). `None` if the topic does not exist.
    pub fn subscribe<Q>(&self, topic: &Q) -> Option<watch::Receiver<Cursor>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().heads.get(topic).map(watch::Sender::subscribe)
    }

    /// Read `topic`'s log from `from` within `limits`, with the protocol's outcomes (section 4
    /// of `docs/longpoll.md`): events after the cursor, a gap with its exact count, a reset
    /// (other epoch: events from the oldest of the new epoch), or [`ReadError::CursorAhead`].
    /// `Start::Now` returns no events and the head; `Start::Earliest` the oldest retained.
    ///
    /// Events are `Arc`s into the log (each carries its id, type, data and once-encoded JSON),
    /// so any number of subscribers share one copy. Events older than the retention age are
    /// dropped lazily, by the next publish or long-poll request on the topic.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn read<Q>(
        &self,
        topic: &Q,
        from: Start,
        limits: ReadLimits,
    ) -> Result<ReadBatch, ReadError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let st = self.lock();
        let log = st.server.log(topic).ok_or(ReadError::NoTopic)?;
        let own = |b: sluice_longpoll::Batch<'_>, gap: Option<u64>, reset: bool| ReadBatch {
            events: b.events().cloned().collect(),
            next: b.next(),
            more: b.more(),
            gap,
            reset,
            ended: b.ended(),
        };
        Ok(match from {
            Start::Now => own(log.read_head(), None, false),
            Start::Earliest => own(log.read_earliest(limits), None, false),
            Start::At(c) => match log.read(c, limits) {
                ReadOutcome::Events(b) => own(b, None, false),
                ReadOutcome::Gap { missed, batch } => own(batch, Some(missed), false),
                ReadOutcome::Reset { missed, batch } => {
                    own(batch, (missed > 0).then_some(missed), true)
                }
                ReadOutcome::BadCursor { head } => return Err(ReadError::CursorAhead { head }),
            },
        })
    }

    /// Number of topics.
    pub fn topic_count(&self) -> usize {
        self.lock().server.topic_count()
    }

    /// Events delivered so far: the events of every answer [`LongPoll::handle`] has handed to
    /// the HTTP layer (each event counted once per response carrying it).
    pub fn delivered_events(&self) -> u64 {
        self.shared.delivered.load(Relaxed)
    }

    /// Number of parked long-poll requests (all topics).
    pub fn parked(&self) -> usize {
        self.lock().server.parked()
    }

    /// Answer every parked request now as a timeout (empty `200`, cursor unchanged): for a
    /// graceful shutdown, so clients resume from where they were.
    pub fn release_all(&self) {
        let out = {
            let mut st = self.lock();
            st.server
                .handle_timeout(now() + Duration::from_secs(100 * 365 * 86_400));
            drain(&mut st)
        };
        deliver(out);
    }

    /// Answer a long-poll request on `topic` (the caller's router picked it from the path):
    /// `GET <endpoint>?cursor=&timeout=&max=` per `docs/longpoll.md`. Every answer has
    /// `Content-Type: application/json`, `Cache-Control: no-store` and, for an allow-listed
    /// `Origin`, CORS headers; a `503` has `Retry-After`. Other methods get `405`.
    ///
    /// Every answer is one write with a `Content-Length` body. A request that must wait is
    /// parked (register-then-read under the store's lock) and answered on publish, purge,
    /// topic removal (`410`) or timeout, with the connection kept alive. While parked the
    /// connection is watched ([`Request::closed`]): a client that goes away is cancelled in the
    /// core at once; so is a handler future that is dropped.
    ///
    /// The future is an `async` block over the request, not an `async fn`: a parked request's
    /// state lives for the whole wait, and an `async fn` keeps each argument twice (the request
    /// is 376 bytes).
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    pub fn handle<'a, S, Q>(
        &'a self,
        topic: &'a Q,
        mut req: Request<S>,
    ) -> impl Future<Output = Reply<S>> + Send + 'a
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'a,
        K: Borrow<Q>,
        Q: Hash + Eq + Sync + ?Sized,
    {
        async move {
            let origin = self.cors_origin(req.header("origin"));
            if req.method() != "GET" {
                return req.respond(
                    answer(StatusCode::METHOD_NOT_ALLOWED, origin.as_deref())
                        .header("allow", "GET")
                        .body(error_body("method_not_allowed", "use GET")),
                );
            }
            let query = match PollRequest::parse_query(req.query().unwrap_or("")) {
                Ok(q) => q,
                Err(e) => {
                    let r = answer(StatusCode::BAD_REQUEST, origin.as_deref());
                    return req.respond(r.body(error_body("bad_request", &e.to_string())));
                }
            };
            let (rx, id) = {
                let mut st = self.lock();
                let jitter = st.jitter.next_u64();
                match st.server.handle_request(now(), topic, &query, jitter) {
                    Handled::Ready(r) => {
                        drop(st);
                        self.count_delivered(&r);
                        return req.respond(full_response(&r, origin.as_deref()));
                    }
                    Handled::Parked(id) => {
                        let (tx, rx) = oneshot::channel();
                        st.waiters.insert(id, tx);
                        self.arm_timer(&mut st);
                        (rx, id)
                    }
                }
            };
            let mut guard = WaiterGuard {
                store: self,
                id,
                done: false,
            };
            // Wait without writing anything: the whole answer goes out in one write, with its
            // real status (200, or 410 if the topic was removed meanwhile) and a Content-Length.
            let answer = tokio::select! {
                biased;
                r = rx => r,
                () = req.closed() => return Reply::closed(),
            };
            guard.done = true;
            match answer {
                Ok(r) => {
                    self.count_delivered(&r);
                    req.respond(full_response(&r, origin.as_deref()))
                }
                // The store was dropped (shutdown): nothing to say.
                Err(_) => Reply::closed(),
            }
        }
    }

    fn count_delivered(&self, r: &PollResponse) {
        let n = events_in(r);
        if n > 0 {
            self.shared.delivered.fetch_add(n, Relaxed);
        }
    }

    /// Start the timer task if needed and wake it if the earliest deadline moved earlier.
    fn arm_timer(&self, st: &mut State<K>) {
        let next = st.server.poll_timeout();
        if !st.timer_started {
            st.timer_started = true;
            st.armed = next;
            tokio::spawn(timer_loop(
                Arc::downgrade(&self.shared),
                Arc::clone(&self.shared.timer),
            ));
        } else if let Some(d) = next
            && st.armed.is_none_or(|a| d < a)
        {
            st.armed = Some(d);
            self.shared.timer.notify_one();
        }
    }

    fn cors_origin(&self, origin: Option<&str>) -> Option<String> {
        let origin = origin?;
        self.shared
            .config
            .allow_origins
            .iter()
            .any(|a| a == "*" || a == origin)
            .then(|| origin.to_owned())
    }
}

/// Cancels a parked waiter whose handler ends (disconnect, write failure, future dropped)
/// before its answer arrived.
struct WaiterGuard<'a, K: Clone + Eq + Hash + Send + 'static> {
    store: &'a LongPoll<K>,
    id: WaiterId,
    done: bool,
}

impl<K: Clone + Eq + Hash + Send + 'static> Drop for WaiterGuard<'_, K> {
    fn drop(&mut self) {
        if !self.done {
            let mut st = self.store.lock();
            st.server.cancel(self.id);
            st.waiters.remove(&self.id);
        }
    }
}

async fn timer_loop<K>(shared: Weak<Shared<K>>, notify: Arc<Notify>)
where
    K: Clone + Eq + Hash + Send + 'static,
{
    loop {
        let deadline = {
            let Some(s) = shared.upgrade() else { return };
            let lp = LongPoll { shared: s };
            let (deadline, out) = {
                let mut st = lp.lock();
                st.server.handle_timeout(now());
                let out = drain(&mut st);
                let d = st.server.poll_timeout();
                st.armed = d;
                (d, out)
            };
            deliver(out);
            deadline
        };
        match deadline {
            Some(d) => {
                tokio::select! {
                    () = tokio::time::sleep_until(Instant::from_std(d)) => {}
                    () = notify.notified() => {}
                }
            }
            None => notify.notified().await,
        }
    }
}

fn notify_head<K, Q>(st: &mut State<K>, topic: &Q)
where
    K: Clone + Eq + Hash + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    if let (Some(tx), Some(log)) = (st.heads.get(topic), st.server.log(topic)) {
        tx.send_replace(log.head());
    }
}

/// Take the core's ready responses with their waiters' senders (sent after unlocking).
fn drain<K: Clone + Eq + Hash>(st: &mut State<K>) -> Deliveries {
    let mut out = Vec::new();
    while let Some((id, r)) = st.server.poll_response() {
        if let Some(tx) = st.waiters.remove(&id) {
            out.push((tx, r));
        }
    }
    out
}

fn deliver(out: Deliveries) {
    for (tx, r) in out {
        // The receiver is gone only if its handler ended; the guard already cancelled it.
        let _ = tx.send(r);
    }
}

/// A multiplicative hash for the waiter map's keys (two `u32`s the core hands out: a slot and
/// its generation). Keys are never chosen by a peer, so flooding is not a concern, and SipHash
/// cost each parked poll two hashes' worth of rounds (insert and remove).
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        // Fx-style step: the multiply spreads each word's bits upwards (hashbrown's tag is the
        // top 7 bits), the rotation brings the previous word's top bits down into the low ones
        // (the bucket index). Simulated over dense slots (10k and 100k keys): as many distinct
        // buckets as a random 64-bit hash, all 128 tags in use.
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The number of events in an answer (counted by the core as it wrote the body).
fn events_in(r: &PollResponse) -> u64 {
    r.event_count() as u64
}

/// The two fields of every long-poll answer, checked once: an answer with no more fields (a
/// delivery without CORS, the usual case) clones them — one allocation, no check of the bytes
/// again.
static BASE_HEADERS: LazyLock<Headers> = LazyLock::new(|| {
    let mut h = Headers::with_capacity(BASE_FIELDS.len());
    for (name, value) in BASE_FIELDS {
        h.append(name, value)
            .expect("the long-poll content type and cache control are valid fields");
    }
    h
});

/// See [`BASE_HEADERS`].
const BASE_FIELDS: [(&str, &str); 2] = [
    ("content-type", CONTENT_TYPE),
    ("cache-control", CACHE_CONTROL),
];

/// A long-poll answer with `status`, its two fields and, for an allowed `origin`, the CORS
/// ones (the caller adds any other field after).
fn answer(status: StatusCode, origin: Option<&str>) -> Response {
    let mut r = Response::new(status);
    match origin {
        None => {
            *r.headers_mut() = BASE_HEADERS.clone();
            r
        }
        // Four fields from the start: one allocation, where the clone and two more would take
        // two.
        Some(o) => BASE_FIELDS
            .into_iter()
            .fold(r, |r, (name, value)| r.header(name, value))
            .header(
                "access-control-allow-origin",
                Bytes::copy_from_slice(o.as_bytes()),
            )
            .header("vary", "origin"),
    }
}

fn full_response(r: &PollResponse, origin: Option<&str>) -> Response {
    let status = r.status();
    let mut out = answer(status, origin);
    if let Some(s) = r.retry_after() {
        out = out.header("retry-after", s.to_string());
    }
    out.body(r.body().clone())
}

fn error_body(code: &str, message: &str) -> Bytes {
    let mut out = Vec::with_capacity(message.len() + 40);
    out.extend_from_slice(b"{\"error\":");
    out.extend_from_slice(serde_json_str(code).as_bytes());
    out.extend_from_slice(b",\"message\":");
    out.extend_from_slice(serde_json_str(message).as_bytes());
    out.push(b'}');
    Bytes::from(out)
}

/// A JSON string literal (escapes `"`, `\` and control characters).
fn serde_json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_longpoll::END_EVENT_TYPE as END_EVENT;

    #[test]
    fn json_error_body() {
        assert_eq!(
            &error_body("bad_request", "a\"b\\c\n")[..],
            br#"{"error":"bad_request","message":"a\"b\\c\u000a"}"#
        );
    }

    #[test]
    fn events_in_counts_event_objects_only() {
        let mut server: Server<&'static str> = Server::new(ServerConfig::default());
        let t0 = std::time::Instant::now();
        server.create_topic("t", 5, LogConfig::default());
        // Data that looks like an event object must not be counted.
        for d in [r#"{"id":"x"}"#, "plain", "{\"id\":\""] {
            server.publish(t0, &"t", "message", Bytes::from(d)).unwrap();
        }
        let q = PollRequest::parse_query("cursor=earliest&timeout=0").unwrap();
        let Handled::Ready(r) = server.handle_request(t0, &"t", &q, 0) else {
            panic!("not ready")
        };
        assert_eq!(events_in(&r), 3);
        let q = PollRequest::parse_query("timeout=0").unwrap();
        let Handled::Ready(r) = server.handle_request(t0, &"t", &q, 0) else {
            panic!("not ready")
        };
        assert_eq!(events_in(&r), 0);
    }

    #[test]
    fn replicas_ended_by_a_stored_end_mark() {
        let lp: LongPoll<&'static str> = LongPoll::new(LongPollConfig::default());
        let lim = ReadLimits {
            max_events: 10,
            max_bytes: 1 << 20,
        };
        // Loaded from a store whose end (seq 4) left retention: no events, ended at 4.
        let none = || std::iter::empty::<(u64, &str, Bytes)>();
        assert!(lp.create_ended_topic_filled("a", 7, 4, LogConfig::default(), none(), 4));
        let b = lp.read(&"a", Start::At(Cursor::new(7, 4)), lim).unwrap();
        assert!(b.ended && b.events.is_empty() && b.next == Cursor::new(7, 4));
        assert_eq!(
            lp.publish(&"a", "m", "late"),
            Err(PublishError::Append(sluice_longpoll::AppendError::Ended))
        );
        // Events after the end (a publish that raced the close elsewhere) are left out; so
        // are events that do not reach the end.
        let evs = [
            (5, "m", Bytes::new()),
            (6, END_EVENT, Bytes::new()),
            (7, "m", Bytes::new()),
        ];
        assert!(lp.create_ended_topic_filled("b", 7, 4, LogConfig::default(), evs, 6));
        let b = lp.read(&"b", Start::At(Cursor::new(7, 4)), lim).unwrap();
        assert_eq!((b.events.len(), b.ended, b.next.seq()), (2, true, 6));
        let evs = [(5, "m", Bytes::new())];
        assert!(lp.create_ended_topic_filled("c", 7, 4, LogConfig::default(), evs, 6));
        let b = lp.read(&"c", Start::At(Cursor::new(7, 4)), lim).unwrap();
        assert_eq!(
            (b.gap, b.events.len(), b.ended, b.next.seq()),
            (Some(2), 0, true, 6)
        );
        assert!(!lp.create_ended_topic_filled("c", 7, 4, LogConfig::default(), none(), 4));

        // A replica reset to a store's head that is the end: marked only at that head.
        assert!(lp.create_topic_at("d", 7, 3, LogConfig::default()));
        let mut w = lp.subscribe(&"d").unwrap();
        w.borrow_and_update();
        assert!(!lp.end_topic_if(&"d", Cursor::new(7, 4)), "another head");
        assert!(!lp.end_topic_if(&"nope", Cursor::new(7, 3)));
        assert!(!w.has_changed().unwrap());
        assert_eq!(lp.is_ended(&"d"), Some(false));
        assert!(lp.end_topic_if(&"d", Cursor::new(7, 3)));
        assert!(
            w.has_changed().unwrap(),
            "subscribers are woken to read the end"
        );
        assert_eq!(lp.is_ended(&"d"), Some(true));
        let b = lp.read(&"d", Start::At(Cursor::new(7, 3)), lim).unwrap();
        assert!(b.ended && b.events.is_empty());
        assert!(
            lp.end_topic_if(&"d", Cursor::new(7, 3)),
            "still ended there"
        );
    }

    #[test]
    fn a_replica_reset_ended_refuses_what_comes_after_the_end() {
        let lp: LongPoll<&'static str> = LongPoll::new(LongPollConfig::default());
        let lim = ReadLimits {
            max_events: 10,
            max_bytes: 1 << 20,
        };
        assert!(lp.create_topic_at("t", 7, 1, LogConfig::default()));
        let mut w = lp.subscribe(&"t").unwrap();
        w.borrow_and_update();
        let at1 = Cursor::new(7, 1);
        assert!(
            !lp.reset_ended_topic_if(&"t", Cursor::new(7, 0), 7, 4),
            "another head"
        );
        assert!(!lp.reset_ended_topic_if(&"nope", at1, 7, 4));
        assert_eq!((lp.head(&"t"), lp.is_ended(&"t")), (Some(at1), Some(false)));
        assert!(lp.reset_ended_topic_if(&"t", at1, 7, 4));
        assert_eq!(*w.borrow_and_update(), Cursor::new(7, 4));
        assert_eq!(lp.is_ended(&"t"), Some(true));
        // A store's event after the end (a publish that raced the close on another node),
        // arriving as a notice right after the move: refused, the end stays the head.
        assert_eq!(
            lp.publish_next(&"t", 7, 5, "m", "late"),
            Err(PublishError::Append(sluice_longpoll::AppendError::Ended))
        );
        let b = lp.read(&"t", Start::At(at1), lim).unwrap();
        assert_eq!(
            (b.gap, b.events.len(), b.ended, b.next),
            (Some(3), 0, true, Cursor::new(7, 4))
        );
    }

    #[test]
    fn read_outcomes_and_watch() {
        let lp: LongPoll<&'static str> = LongPoll::new(LongPollConfig::default());
        assert!(lp.create_topic("t", LogConfig::default().with_max_events(2)));
        assert!(!lp.ensure_topic(&"t"));
        let mut w = lp.subscribe(&"t").unwrap();
        let h0 = *w.borrow_and_update();
        assert_eq!(h0.seq(), 0);
        let lim = ReadLimits {
            max_events: 10,
            max_bytes: 1 << 20,
        };
        for i in 0..3 {
            lp.publish(&"t", "m", Bytes::from(format!("{i}"))).unwrap();
        }
        assert!(w.has_changed().unwrap());
        assert_eq!(w.borrow_and_update().seq(), 3);
        let b = lp.read(&"t", Start::At(h0), lim).unwrap();
        assert_eq!((b.gap, b.reset, b.events.len()), (Some(1), false, 2));
        assert_eq!(b.events[0].data_str(), "1");
        let b = lp.read(&"t", Start::Now, lim).unwrap();
        assert_eq!((b.events.len(), b.next.seq()), (0, 3));
        assert_eq!(
            lp.read(&"t", Start::At(Cursor::new(h0.epoch(), 9)), lim)
                .unwrap_err(),
            ReadError::CursorAhead {
                head: Cursor::new(h0.epoch(), 3)
            }
        );
        assert!(lp.purge(&"t"));
        let h1 = *w.borrow_and_update();
        assert_ne!(h1.epoch(), h0.epoch());
        let b = lp
            .read(&"t", Start::At(Cursor::new(h0.epoch(), 3)), lim)
            .unwrap();
        assert!(b.reset && b.events.is_empty() && b.next == h1);
        assert!(lp.remove_topic(&"t"));
        assert!(w.has_changed().is_err());
        assert_eq!(
            lp.read(&"t", Start::Now, lim).unwrap_err(),
            ReadError::NoTopic
        );
        assert_eq!(lp.head(&"t"), None);
    }

    /// Every answer carries the content type and cache control, and the CORS fields for an
    /// allowed origin, whichever way its fields were made.
    #[test]
    fn answers_carry_their_fields_with_and_without_cors() {
        let fields = |r: &Response| -> Vec<(String, String)> {
            r.headers()
                .iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8_lossy(n).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect()
        };
        let base = vec![
            ("content-type".to_owned(), CONTENT_TYPE.to_owned()),
            ("cache-control".to_owned(), CACHE_CONTROL.to_owned()),
        ];
        let plain = answer(StatusCode::OK, None);
        assert_eq!(plain.status(), StatusCode::OK);
        assert_eq!(fields(&plain), base);
        let cors = answer(StatusCode::GONE, Some("https://app.example"));
        assert_eq!(cors.status(), StatusCode::GONE);
        let mut want = base.clone();
        want.push((
            "access-control-allow-origin".to_owned(),
            "https://app.example".to_owned(),
        ));
        want.push(("vary".to_owned(), "origin".to_owned()));
        assert_eq!(fields(&cors), want);
        // A second answer gets its own copy of the shared fields.
        let mut again = answer(StatusCode::OK, None);
        again.headers_mut().append("retry-after", "1").unwrap();
        assert_eq!(fields(&answer(StatusCode::OK, None)), base);
    }
}
