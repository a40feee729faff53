//! The server state machine: parks long-poll requests on topics and releases them on publish,
//! timeout, purge or removal. No I/O, no clock: `now` is always passed in.
//!
//! One [`Server`] serves many topics, keyed by a caller type `K` (e.g. `Arc<str>`), so that
//! the waiter cap and the timer queue are global and a driver has one `poll_timeout` to arm.
//! The server owns each topic's [`Log`]; other transports read it through [`Server::log`] and
//! all appends go through [`Server::publish`], which releases parked waiters.
//!
//! Register-then-read: [`Server::handle_request`] reads the log and, if nothing is there,
//! parks the waiter in the same `&mut self` call, so no publish can fall between the read and
//! the registration. A driver must feed requests and publishes through the one `Server`
//! (behind one lock or task); then a publish racing a request is either seen by the read or
//! releases the waiter.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::cursor::Cursor;
use crate::log::{AppendError, Log, LogConfig, ReadLimits, ReadOutcome};
use crate::query::{Request, Start};
use crate::response::{Response, StatusCode};

/// Server limits. Every field has a finite default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Wait when the request has no `timeout`. Default 25 s.
    pub default_timeout: Duration,
    /// Cap on `timeout`; below common proxy idle timeouts (30–60 s). Default 25 s.
    pub max_timeout: Duration,
    /// A request waiting the full cap waits `max_timeout - jitter`, with `jitter` uniform in
    /// `[0, timeout_jitter]` from the caller's random input, so that parked crowds do not time
    /// out (and come back) in lockstep. Default 5 s.
    pub timeout_jitter: Duration,
    /// Events per response when the request has no `max`. Default 100.
    pub default_max: u32,
    /// Cap on `max`. Default 1,000.
    pub max_max: u32,
    /// Most event bytes ([`crate::Event::size`]) per response (the first event always fits).
    /// Default 1 MiB.
    pub max_response_bytes: usize,
    /// Most parked waiters over all topics; beyond, `503` with `Retry-After`. Default 10,000.
    pub max_waiters: usize,
    /// `Retry-After` seconds on a 503. Default 2.
    pub retry_after: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            default_timeout: Duration::from_secs(25),
            max_timeout: Duration::from_secs(25),
            timeout_jitter: Duration::from_secs(5),
            default_max: 100,
            max_max: 1000,
            max_response_bytes: 1 << 20,
            max_waiters: 10_000,
            retry_after: 2,
        }
    }
}

impl ServerConfig {
    /// How long `req` may wait, given caller randomness `jitter` (uniform over `u64`, the
    /// random input type of every Sluice protocol crate).
    /// Never more than [`ServerConfig::max_timeout`].
    pub fn effective_timeout(&self, req: &Request, jitter: u64) -> Duration {
        let asked = req.timeout.unwrap_or(self.default_timeout);
        if asked < self.max_timeout {
            return asked;
        }
        let j = self.timeout_jitter.min(self.max_timeout).as_nanos() * u128::from(jitter)
            / u128::from(u64::MAX);
        self.max_timeout
            .saturating_sub(Duration::from_nanos(u64::try_from(j).unwrap_or(u64::MAX)))
    }

    /// Most events for `req`: its `max` (or the default), capped at
    /// [`ServerConfig::max_max`], at least 1.
    pub fn effective_max(&self, req: &Request) -> u32 {
        req.max.unwrap_or(self.default_max).min(self.max_max).max(1)
    }
}

/// Identifies a parked request until its response is polled or it is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaiterId {
    index: u32,
    generation: u32,
}

/// What [`Server::handle_request`] did.
#[derive(Debug)]
#[must_use]
pub enum Handled {
    /// Answer now.
    Ready(Response),
    /// Parked: the response comes from [`Server::poll_response`] with this id.
    Parked(WaiterId),
}

/// Why a publish failed (caller misuse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// No such topic.
    #[error("no such topic")]
    NoTopic,
    /// The log refused the event.
    #[error(transparent)]
    Append(#[from] AppendError),
}

#[derive(Debug)]
struct Waiter<K> {
    topic: K,
    cursor: Cursor,
    max_events: u32,
    /// Position in the topic's `waiters` list.
    pos: usize,
}

#[derive(Debug)]
struct Slot<K> {
    generation: u32,
    waiter: Option<Waiter<K>>,
}

#[derive(Debug)]
struct Topic<K> {
    /// The map's own key, kept here too: a parked waiter keeps a clone of it, and taking it
    /// from here saves a second lookup (a hash of the name) per parked request. A key that
    /// owns its bytes (`String`) is then held twice per topic; the hub's `Arc<str>` is
    /// shared.
    key: K,
    log: Log,
    waiters: Vec<u32>,
}

/// The long-poll server over many topics. See the module docs.
#[derive(Debug)]
pub struct Server<K> {
    config: ServerConfig,
    topics: HashMap<K, Topic<K>>,
    slots: Vec<Slot<K>>,
    free: Vec<u32>,
    parked: usize,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    stale_timers: usize,
    ready: VecDeque<(WaiterId, Response)>,
}

impl<K: Clone + Eq + Hash> Server<K> {
    /// A server with no topics.
    pub fn new(config: ServerConfig) -> Self {
        Self {
            config,
            topics: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            parked: 0,
            timers: BinaryHeap::new(),
            stale_timers: 0,
            ready: VecDeque::new(),
        }
    }

    /// The limits.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Create `topic` with an empty log in `epoch` (fresh caller randomness). Returns `false`
    /// and changes nothing if it exists.
    pub fn create_topic(&mut self, topic: K, epoch: u64, config: LogConfig) -> bool {
        match self.topics.entry(topic) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                let key = v.key().clone();
                v.insert(Topic {
                    key,
                    log: Log::new(epoch, config),
                    waiters: Vec::new(),
                });
                true
            }
        }
    }

    /// Remove `topic`; its parked waiters are answered `410 Gone`. Returns its log.
    pub fn remove_topic<Q>(&mut self, topic: &Q) -> Option<Log>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let t = self.topics.remove(topic)?;
        for idx in t.waiters {
            let id = self.free_slot(idx, true);
            self.ready.push_back((id, gone()));
        }
        Some(t.log)
    }

    /// The topic's log, for reads by other transports.
    pub fn log<Q>(&self, topic: &Q) -> Option<&Log>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.topics.get(topic).map(|t| &t.log)
    }

    /// Number of topics.
    pub fn topic_count(&self) -> usize {
        self.topics.len()
    }

    /// Number of parked waiters.
    pub fn parked(&self) -> usize {
        self.parked
    }

    /// Append an event at `now` and release the topic's parked waiters. Never blocks: a slow
    /// reader only ever falls out of retention and gets a gap.
    pub fn publish<Q>(
        &mut self,
        now: Instant,
        topic: &Q,
        event_type: &str,
        data: Bytes,
    ) -> Result<Cursor, PublishError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let t = self.topics.get_mut(topic).ok_or(PublishError::NoTopic)?;
        let c = t.log.append(now, event_type, data)?;
        self.release(topic);
        Ok(c)
    }

    /// Append an event whose sequence number was assigned elsewhere (a replica of a store's
    /// log, see [`Log::append_at`]) and release the topic's parked waiters.
    ///
    /// # Errors
    /// As [`Server::publish`], and [`AppendError::NotAfterHead`].
    pub fn publish_at<Q>(
        &mut self,
        now: Instant,
        topic: &Q,
        seq: u64,
        event_type: &str,
        data: Bytes,
    ) -> Result<Cursor, PublishError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let t = self.topics.get_mut(topic).ok_or(PublishError::NoTopic)?;
        let c = t.log.append_at(now, seq, event_type, data)?;
        self.release(topic);
        Ok(c)
    }

    /// Create `topic` as a replica of a log kept elsewhere: empty, in `epoch`, head
    /// `head_seq` (see [`Log::resume`]). Returns `false` and changes nothing if it exists.
    pub fn create_topic_at(
        &mut self,
        topic: K,
        epoch: u64,
        head_seq: u64,
        config: LogConfig,
    ) -> bool {
        match self.topics.entry(topic) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                let key = v.key().clone();
                v.insert(Topic {
                    key,
                    log: Log::resume(epoch, head_seq, config),
                    waiters: Vec::new(),
                });
                true
            }
        }
    }

    /// Move the topic to `epoch` with head `head_seq`, forgetting what it retains (a replica
    /// whose store lost its history or that lost track of it, see [`Log::reset`]). Parked
    /// waiters of another epoch are answered with `reset`. Returns `false` if there is no
    /// such topic.
    pub fn reset_topic<Q>(&mut self, topic: &Q, epoch: u64, head_seq: u64) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(t) = self.topics.get_mut(topic) else {
            return false;
        };
        t.log.reset(epoch, head_seq);
        self.release(topic);
        true
    }

    /// [`Server::reset_topic`] to `epoch` with head `end_seq`, and the topic marked ended
    /// there ([`Log::mark_ended`]) in the same step: a replica whose store's topic ended at
    /// `end_seq` after what the replica holds, the end no longer retained. Nothing can be
    /// appended between the move and the mark. Parked waiters are answered once, as readers
    /// of the ended log (a reset or a gap, then `end: true`). Returns `false` if there is no
    /// such topic.
    pub fn reset_ended_topic<Q>(&mut self, topic: &Q, epoch: u64, end_seq: u64) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(t) = self.topics.get_mut(topic) else {
            return false;
        };
        t.log.reset(epoch, end_seq);
        t.log.mark_ended();
        self.release(topic);
        true
    }

    /// Marks the topic ended at `head` ([`Log::mark_ended`]) if `head` is its log's head: a
    /// replica whose store still knows the end after the end event left retention. Parked
    /// waiters are answered with `end: true`. Returns whether the log is ended at `head` now
    /// (`false`: no such topic, or another head).
    pub fn end_topic_at<Q>(&mut self, topic: &Q, head: Cursor) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(t) = self.topics.get_mut(topic) else {
            return false;
        };
        if t.log.head() != head {
            return false;
        }
        if !t.log.is_ended() {
            t.log.mark_ended();
            self.release(topic);
        }
        true
    }

    /// Forget the topic's history and move it to `new_epoch` (fresh caller randomness).
    /// Parked waiters are answered with `reset`. Returns `false` if there is no such topic.
    pub fn purge<Q>(&mut self, topic: &Q, new_epoch: u64) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(t) = self.topics.get_mut(topic) else {
            return false;
        };
        t.log.purge(new_epoch);
        self.release(topic);
        true
    }

    /// Handle a parsed request on `topic` at `now`; `jitter` is caller randomness for the
    /// timeout (see [`ServerConfig::timeout_jitter`]).
    pub fn handle_request<Q>(
        &mut self,
        now: Instant,
        topic: &Q,
        req: &Request,
        jitter: u64,
    ) -> Handled
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(t) = self.topics.get_mut(topic) else {
            return Handled::Ready(gone());
        };
        t.log.expire(now);
        let max_events = self.config.effective_max(req);
        let limits = ReadLimits {
            max_events: max_events as usize,
            max_bytes: self.config.max_response_bytes,
        };
        // "From now" on an ended stream would be nothing, forever: a new reader gets what is
        // retained, then the end.
        let start = match req.start {
            Start::Now if t.log.is_ended() => Start::Earliest,
            s => s,
        };
        let cursor = match start {
            Start::Now => return Handled::Ready(Response::empty(t.log.head())),
            Start::Earliest => {
                let b = t.log.read_earliest(limits);
                if !b.is_empty() || b.ended() {
                    return Handled::Ready(Response::events(&b, None, false));
                }
                b.next()
            }
            Start::At(c) => match outcome_response(t.log.read(c, limits)) {
                Some(r) => return Handled::Ready(r),
                None => c,
            },
        };
        let timeout = self.config.effective_timeout(req, jitter);
        if timeout.is_zero() {
            return Handled::Ready(Response::empty(cursor));
        }
        if self.parked >= self.config.max_waiters {
            return Handled::Ready(Response::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many waiting requests; retry later",
                Some(self.config.retry_after),
            ));
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    waiter: None,
                });
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let pos = t.waiters.len();
        t.waiters.push(index);
        // The waiter keeps the topic's own key (the caller may have looked it up by a
        // borrowed form, `&str` for `String`).
        let key = t.key.clone();
        let slot = &mut self.slots[index as usize];
        slot.waiter = Some(Waiter {
            topic: key,
            cursor,
            max_events,
            pos,
        });
        self.parked += 1;
        let deadline = now.checked_add(timeout).unwrap_or(now);
        self.timers
            .push(Reverse((deadline, index, slot.generation)));
        Handled::Parked(WaiterId {
            index,
            generation: slot.generation,
        })
    }

    /// Answer waiters whose deadline is at or before `now` (empty 200, cursor unchanged).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, index, generation))) = self.timers.peek() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            if !self.is_live(index, generation) {
                self.stale_timers -= 1;
                continue;
            }
            let cursor = self.unlink(index);
            let id = self.free_slot(index, false);
            self.ready.push_back((id, Response::empty(cursor)));
        }
    }

    /// The client went away: forget the waiter. Returns `false` if it is not parked (already
    /// answered, cancelled, or never existed); a response already queued is still returned by
    /// [`Server::poll_response`] and may be dropped by the driver.
    pub fn cancel(&mut self, id: WaiterId) -> bool {
        if !self.is_live(id.index, id.generation) {
            return false;
        }
        self.unlink(id.index);
        self.free_slot(id.index, true);
        true
    }

    /// The next response for a parked waiter.
    #[must_use]
    pub fn poll_response(&mut self) -> Option<(WaiterId, Response)> {
        self.ready.pop_front()
    }

    /// The earliest waiter deadline: call [`Server::handle_timeout`] then.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, index, generation))) = self.timers.peek() {
            if self.is_live(index, generation) {
                return Some(deadline);
            }
            self.timers.pop();
            self.stale_timers -= 1;
        }
        None
    }

    fn is_live(&self, index: u32, generation: u32) -> bool {
        self.slots
            .get(index as usize)
            .is_some_and(|s| s.generation == generation && s.waiter.is_some())
    }

    /// Remove a live waiter from its topic's list; returns its cursor.
    fn unlink(&mut self, index: u32) -> Cursor {
        let Some(w) = self.slots[index as usize].waiter.as_ref() else {
            return Cursor::new(0, 0);
        };
        let (pos, cursor) = (w.pos, w.cursor);
        if let Some(t) = self.topics.get_mut(&w.topic) {
            t.waiters.swap_remove(pos);
            if let Some(&moved) = t.waiters.get(pos)
                && let Some(m) = self.slots[moved as usize].waiter.as_mut()
            {
                m.pos = pos;
            }
        }
        cursor
    }

    /// Free a slot whose waiter is no longer in any topic list; its timer entry, if still
    /// queued (`timer_queued`), turns stale.
    fn free_slot(&mut self, index: u32, timer_queued: bool) -> WaiterId {
        let slot = &mut self.slots[index as usize];
        let id = WaiterId {
            index,
            generation: slot.generation,
        };
        slot.waiter = None;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.parked -= 1;
        if !timer_queued {
            return id;
        }
        self.stale_timers += 1;
        let live = self.timers.len() - self.stale_timers;
        if self.stale_timers > 1024 && self.stale_timers > live {
            let slots = &self.slots;
            self.timers.retain(|&Reverse((_, i, g))| {
                slots
                    .get(i as usize)
                    .is_some_and(|s| s.generation == g && s.waiter.is_some())
            });
            self.stale_timers = 0;
        }
        id
    }

    /// Answer every waiter of `topic` that now has something to read.
    fn release<Q>(&mut self, topic: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(t) = self.topics.get_mut(topic) else {
            return;
        };
        let waiters = std::mem::take(&mut t.waiters);
        // Waiters of one topic almost always share (cursor, max): encode each body once.
        let mut cache: Vec<(Cursor, u32, Response)> = Vec::new();
        let mut keep = Vec::new();
        let mut released = Vec::new();
        for index in waiters {
            let Some(w) = self.slots[index as usize].waiter.as_mut() else {
                continue;
            };
            let key = (w.cursor, w.max_events);
            let resp = match cache.iter().find(|c| (c.0, c.1) == key) {
                Some(c) => Some(c.2.clone()),
                None => {
                    let limits = ReadLimits {
                        max_events: w.max_events as usize,
                        max_bytes: self.config.max_response_bytes,
                    };
                    let r = outcome_response(t.log.read(w.cursor, limits));
                    if let (Some(r), true) = (&r, cache.len() < 8) {
                        cache.push((key.0, key.1, r.clone()));
                    }
                    r
                }
            };
            match resp {
                None => {
                    w.pos = keep.len();
                    keep.push(index);
                }
                Some(r) => released.push((index, r)),
            }
        }
        t.waiters = keep;
        for (index, r) in released {
            let id = self.free_slot(index, true);
            self.ready.push_back((id, r));
        }
    }
}

fn gone() -> Response {
    Response::error(StatusCode::GONE, "gone", "the stream does not exist", None)
}

/// The response for a read, or `None` when there is nothing to say yet (park).
fn outcome_response(o: ReadOutcome<'_>) -> Option<Response> {
    match o {
        ReadOutcome::Events(b) if b.is_empty() && !b.ended() => None,
        ReadOutcome::Events(b) => Some(Response::events(&b, None, false)),
        ReadOutcome::Gap { missed, batch } => Some(Response::events(&batch, Some(missed), false)),
        ReadOutcome::Reset { missed, batch } => Some(Response::events(
            &batch,
            (missed > 0).then_some(missed),
            true,
        )),
        ReadOutcome::BadCursor { head } => Some(Response::error(
            StatusCode::BAD_REQUEST,
            "cursor_ahead",
            &format!("cursor is ahead of the head {head}"),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> (Server<&'static str>, Instant) {
        let mut s = Server::new(ServerConfig::default());
        assert!(s.create_topic("t", 1, LogConfig::default()));
        assert!(!s.create_topic("t", 2, LogConfig::default()));
        (s, Instant::now())
    }

    fn at(seq: u64) -> Request {
        Request::new(Start::At(Cursor::new(1, seq)))
    }

    #[test]
    fn park_publish_release() {
        let (mut s, t) = server();
        let Handled::Parked(id) = s.handle_request(t, &"t", &at(0), 0) else {
            panic!()
        };
        assert_eq!(s.parked(), 1);
        assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(25)));
        s.publish(t, &"t", "m", Bytes::from_static(b"x")).unwrap();
        let (rid, r) = s.poll_response().unwrap();
        assert_eq!((rid, r.status()), (id, StatusCode::OK));
        assert_eq!(s.parked(), 0);
        assert_eq!(s.poll_timeout(), None, "stale timer skipped");
        assert!(!s.cancel(id));
        assert!(s.poll_response().is_none());
    }

    #[test]
    fn timeout_and_jitter() {
        let (mut s, t) = server();
        let cfg = s.config().clone();
        assert_eq!(cfg.effective_timeout(&at(0), 0), Duration::from_secs(25));
        assert_eq!(
            cfg.effective_timeout(&at(0), u64::MAX),
            Duration::from_secs(20)
        );
        let mut r = at(0);
        r.timeout = Some(Duration::from_secs(3));
        assert_eq!(cfg.effective_timeout(&r, u64::MAX), Duration::from_secs(3));
        let Handled::Parked(id) = s.handle_request(t, &"t", &r, 0) else {
            panic!()
        };
        s.handle_timeout(t + Duration::from_secs(2));
        assert!(s.poll_response().is_none());
        s.handle_timeout(t + Duration::from_secs(3));
        let (rid, resp) = s.poll_response().unwrap();
        assert_eq!(rid, id);
        assert_eq!(resp, Response::empty(Cursor::new(1, 0)));
        assert_eq!(s.parked(), 0);
        r.timeout = Some(Duration::ZERO);
        assert!(matches!(
            s.handle_request(t, &"t", &r, 0),
            Handled::Ready(_)
        ));
    }

    #[test]
    fn cancel_keeps_other_positions() {
        let (mut s, t) = server();
        let ids: Vec<_> = (0..5)
            .map(|_| match s.handle_request(t, &"t", &at(0), 0) {
                Handled::Parked(id) => id,
                Handled::Ready(_) => panic!(),
            })
            .collect();
        assert!(s.cancel(ids[1]));
        assert!(s.cancel(ids[3]));
        assert!(!s.cancel(ids[3]));
        s.publish(t, &"t", "m", Bytes::new()).unwrap();
        let mut got: Vec<_> = std::iter::from_fn(|| s.poll_response())
            .map(|r| r.0)
            .collect();
        got.sort_by_key(|id| id.index);
        assert_eq!(got, [ids[0], ids[2], ids[4]]);
    }

    #[test]
    fn gone_and_purge() {
        let (mut s, t) = server();
        assert!(matches!(
            s.handle_request(t, &"nope", &at(0), 0),
            Handled::Ready(r) if r.status() == StatusCode::GONE
        ));
        let _ = s.handle_request(t, &"t", &at(0), 0);
        assert!(s.purge(&"t", 2));
        let (_, r) = s.poll_response().unwrap();
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["reset"], true);
        assert_eq!(v["cursor"], "1.2.0");
        let _ = s.handle_request(t, &"t", &Request::new(Start::At(Cursor::new(2, 0))), 0);
        assert!(s.remove_topic(&"t").is_some());
        assert_eq!(s.poll_response().unwrap().1.status(), StatusCode::GONE);
        assert_eq!(s.parked(), 0);
        assert_eq!(
            s.publish(t, &"t", "m", Bytes::new()),
            Err(PublishError::NoTopic)
        );
    }

    #[test]
    fn a_replica_reset_ended_answers_parked_waiters_once_with_the_end() {
        let mut s = Server::new(ServerConfig::default());
        let t = Instant::now();
        assert!(s.create_topic_at("t", 1, 2, LogConfig::default()));
        let Handled::Parked(behind) = s.handle_request(t, &"t", &at(2), 0) else {
            panic!("parked expected")
        };
        assert!(!s.reset_ended_topic(&"nope", 1, 5));
        assert!(s.reset_ended_topic(&"t", 1, 5));
        // One answer: the gap to the end, and the end (not a gap now and the end later).
        let (id, r) = s.poll_response().unwrap();
        assert_eq!(id, behind);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            (
                v["gap"]["missed"].as_u64(),
                v["end"].as_bool(),
                v["cursor"].as_str()
            ),
            (Some(3), Some(true), Some("1.1.5"))
        );
        assert!(s.poll_response().is_none());
        assert_eq!(s.log(&"t").unwrap().head(), Cursor::new(1, 5));
        assert!(s.log(&"t").unwrap().is_ended());
        assert_eq!(
            s.publish_at(t, &"t", 6, "m", Bytes::new()),
            Err(PublishError::Append(AppendError::Ended)),
            "nothing after the end"
        );
        // Another epoch: the end is in that epoch.
        assert!(s.reset_ended_topic(&"t", 2, 1));
        assert_eq!(s.log(&"t").unwrap().head(), Cursor::new(2, 1));
        assert!(s.log(&"t").unwrap().is_ended());
    }

    #[test]
    fn ending_a_replica_at_its_head_answers_parked_waiters() {
        let mut s = Server::new(ServerConfig::default());
        let t = Instant::now();
        assert!(s.create_topic_at("t", 1, 4, LogConfig::default()));
        let Handled::Parked(id) = s.handle_request(t, &"t", &at(4), 0) else {
            panic!("parked expected")
        };
        assert!(!s.end_topic_at(&"t", Cursor::new(1, 3)), "another head");
        assert!(!s.end_topic_at(&"t", Cursor::new(2, 4)), "another epoch");
        assert!(!s.end_topic_at(&"nope", Cursor::new(1, 4)));
        assert!(s.poll_response().is_none());
        assert!(s.end_topic_at(&"t", Cursor::new(1, 4)));
        let (rid, r) = s.poll_response().unwrap();
        assert_eq!(rid, id);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            (v["end"].as_bool(), v["cursor"].as_str()),
            (Some(true), Some("1.1.4"))
        );
        assert!(
            s.end_topic_at(&"t", Cursor::new(1, 4)),
            "again: still ended there"
        );
        // A poll at the end, or "from now", is answered at once with the end.
        for q in [at(4), Request::new(Start::Now)] {
            let Handled::Ready(r) = s.handle_request(t, &"t", &q, 0) else {
                panic!("not answered at once")
            };
            let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
            assert_eq!(v["end"], true);
        }
        assert_eq!(
            s.publish(t, &"t", "m", Bytes::new()),
            Err(PublishError::Append(AppendError::Ended))
        );
    }

    #[test]
    fn stale_timers_are_compacted() {
        let (mut s, t) = server();
        for _ in 0..5000 {
            let Handled::Parked(id) = s.handle_request(t, &"t", &at(0), 0) else {
                panic!()
            };
            assert!(s.cancel(id));
        }
        assert!(s.timers.len() <= 2 * 1024 + 2, "{}", s.timers.len());
        assert_eq!(s.slots.len(), 1, "slot reused");
    }
}
