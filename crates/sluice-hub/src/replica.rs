//! A hub with a [`Store`]: each node keeps one in-memory **replica** of every topic in use —
//! the same `LongPoll` log every transport already reads — fed from the store, so that the
//! store is read once per node and event, never once per subscriber (node-local fan-out),
//! and every node delivers a topic in the store's order.
//!
//! - **Load**: the first use of a topic on a node reads its retained events from the store
//!   and creates the replica in the store's epoch, at the store's sequence numbers. A topic
//!   that ended ([`History::end`]) is created ended at its end, even when the end event has
//!   left retention, and holds nothing after it.
//! - **Notices**: the store tells every node of every append ([`Notice`]); the next event in
//!   sequence is appended to the replica at once; a jump in sequence numbers, another epoch or
//!   [`Notice::Lost`] wakes the topic's follower, which reads what is missing from the store.
//! - **Follower**: one task per replica, woken by a notice or every
//!   [`HubConfig::store_sync_interval`](crate::HubConfig::store_sync_interval) (a node that
//!   missed a notice and then heard nothing more still catches up), ending with the topic.
//! - **Own publishes** are applied to the replica as soon as the store answers, so a publisher
//!   reads its own write on its node without waiting for the notice.
//!
//! A replica never invents an order: it appends only the store's sequence numbers, in order;
//! what the store no longer has is an exact gap, another epoch a reset.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use sluice_store::{History, Notice, Store, StoreError, StoredEvent};
use tokio::sync::Notify;

use crate::hub::{Hub, Inner, TopicState};

/// Per-topic replica state (inside [`TopicState`]).
#[derive(Debug, Default)]
pub(crate) struct Replica {
    /// Serialises loads and catch-ups of this topic (notices apply without it: they only
    /// ever append the head's successor, which a catch-up would skip as a duplicate).
    pub(crate) sync: tokio::sync::Mutex<()>,
    /// Wakes the follower (which holds its own reference, not the topic's).
    pub(crate) wake: Arc<Notify>,
    /// Set once the follower task runs.
    pub(crate) following: std::sync::atomic::AtomicBool,
}

/// What [`Hub::apply`] did with one event.
#[derive(Debug, PartialEq, Eq)]
enum Applied {
    /// Appended to the replica.
    Appended,
    /// Already there.
    Duplicate,
    /// Not the head's successor, or another epoch: the follower must read the store.
    Behind,
    /// The topic has no replica on this node.
    NotHere,
}

impl Hub {
    pub(crate) fn store(&self) -> Option<&Arc<dyn Store>> {
        self.inner.store.as_ref()
    }

    /// Whether `topic` lives in the store (not only in this process).
    pub(crate) fn is_stored(&self, topic: &str) -> bool {
        self.inner.store.is_some() && !topic.starts_with(crate::hub::RESERVED_PREFIX)
    }

    pub(crate) fn store_failed(&self, e: &StoreError) {
        if !e.is_store_failure() {
            return;
        }
        self.inner.counters.store_errors.fetch_add(1, Relaxed);
        if self.inner.store_ok.swap(false, Relaxed) {
            tracing::warn!(error = %e, "store unavailable");
        }
    }

    pub(crate) fn store_worked(&self) {
        if !self.inner.store_ok.swap(true, Relaxed) {
            tracing::info!("store available again");
        }
    }

    /// Runs `f` if `state` is still the node's topic of its name, holding the topic table's
    /// lock (the reaper removes a topic and its log under the same lock): a load or catch-up
    /// that outlived its topic must not write into the log of a newer one of the same name.
    fn if_current<R>(&self, state: &Arc<TopicState>, f: impl FnOnce() -> R) -> Option<R> {
        let topics = self.topics();
        let current = topics
            .get(&state.name)
            .is_some_and(|e| Arc::ptr_eq(&e.state, state));
        let r = current.then(f);
        drop(topics);
        r
    }

    /// Makes sure `state`'s replica exists (reads the store on first use).
    pub(crate) async fn load(&self, state: &Arc<TopicState>) -> Result<(), StoreError> {
        let Some(store) = self.store() else {
            return Ok(());
        };
        if !self.is_stored(&state.name) || self.inner.lp.head(&state.name).is_some() {
            return Ok(());
        }
        let _g = state.replica.sync.lock().await;
        if self.inner.lp.head(&state.name).is_some() {
            return Ok(());
        }
        let max = self.inner.cfg.retention.max_events.max(1);
        let mut h = match store.read(&state.name, 0, max).await {
            Ok(h) => h,
            Err(e) => {
                self.store_failed(&e);
                return Err(e);
            }
        };
        if h.events.last().is_some_and(|e| e.seq < top(&h)) {
            // The store retains more than this node does: load the newest `max`, not the
            // oldest (which would reach `Start::Now` readers as new events while catching up).
            h = match store
                .read(&state.name, top(&h).saturating_sub(max as u64), max)
                .await
            {
                Ok(h) => h,
                Err(e) => {
                    self.store_failed(&e);
                    return Err(e);
                }
            };
        }
        self.store_worked();
        let end = cut_at_end(&mut h, true);
        let start = h.events.first().map_or(top(&h), |e| e.seq - 1);
        let created = self.if_current(state, || {
            let events = h
                .events
                .into_iter()
                .filter(|e| e.seq > start)
                .map(|e| (e.seq, e.event_type, e.data));
            let (name, retention) = (Arc::clone(&state.name), self.inner.cfg.retention.clone());
            match end {
                // Ended (even if the end left retention): created ended, in one step, so that
                // no publish gets in between.
                Some(e) => self
                    .inner
                    .lp
                    .create_ended_topic_filled(name, h.epoch, start, retention, events, e),
                None => self
                    .inner
                    .lp
                    .create_topic_filled(name, h.epoch, start, retention, events),
            }
        });
        if created == Some(true) {
            self.start_follower(state);
            // Notices that arrived between the read and the replica's creation found no
            // replica: the follower reads them now.
            state.replica.wake.notify_one();
        }
        Ok(())
    }

    /// Appends `ev` if it is the replica's next event in `epoch`; says whether it did.
    fn append_next(&self, topic: &Arc<str>, epoch: u64, ev: StoredEvent) -> bool {
        use sluice_longpoll::PublishError as LpError;
        let seq = ev.seq;
        if seq == 0 {
            return false; // not an event (stores number from 1)
        }
        match self
            .inner
            .lp
            .publish_next(topic, epoch, seq, &ev.event_type, ev.data)
        {
            Ok(done) => done,
            Err(LpError::NoTopic) => false,
            // An event after the end: stores refuse those now, but one written by an older
            // version (a publish that raced a close on another node) may still be there.
            // Nothing after the end is ever read: drop it, and keep the end at the head.
            Err(LpError::Append(sluice_longpoll::AppendError::Ended)) => {
                tracing::warn!(topic = &**topic, seq, "stored event after the end ignored");
                true
            }
            Err(e) => {
                // An event this node cannot hold (another node's larger message limit): the
                // replica moves past it, so readers see it as a gap of one.
                tracing::warn!(topic = &**topic, seq, error = %e, "stored event skipped");
                let head = sluice_longpoll::Cursor::new(epoch, seq - 1);
                self.inner.lp.reset_topic_if(topic, head, epoch, seq)
            }
        }
    }

    /// Applies one event of `epoch` if it is the replica's next; says what it did.
    fn apply(&self, topic: &Arc<str>, epoch: u64, ev: StoredEvent) -> Applied {
        let seq = ev.seq;
        if self.append_next(topic, epoch, ev) {
            return Applied::Appended;
        }
        match self.inner.lp.head(topic) {
            None => Applied::NotHere,
            Some(h) if h.epoch() == epoch && seq <= h.seq() => Applied::Duplicate,
            Some(_) => Applied::Behind,
        }
    }

    /// After this node's own append was accepted by the store: into the replica now (the
    /// notice that follows is then a duplicate), or catch up when others appended first.
    pub(crate) async fn applied_own(
        &self,
        state: &Arc<TopicState>,
        cursor: sluice_longpoll::Cursor,
        event_type: &str,
        data: Bytes,
    ) {
        let ev = StoredEvent::new(cursor.seq(), event_type, data, sluice_store::now_ms());
        if matches!(
            self.apply(&state.name, cursor.epoch(), ev),
            Applied::Behind | Applied::NotHere
        ) {
            // A store failure is retried by the follower.
            let _ = self.catch_up(state).await;
        }
    }

    /// Reads what the replica misses from the store (in batches) and applies it: new events,
    /// an exact gap for what the store no longer has, a reset for another epoch. Every change
    /// is conditional on the head it was computed from (notices may move it meanwhile: then
    /// the loop reads again).
    ///
    /// `Err` when the store failed (the replica stays where it was; the follower tries again).
    pub(crate) async fn catch_up(&self, state: &Arc<TopicState>) -> Result<(), StoreError> {
        let Some(store) = self.store() else {
            return Ok(());
        };
        let _g = state.replica.sync.lock().await;
        let batch = self.inner.cfg.read_batch_events.max(1) as usize;
        let max = self.inner.cfg.retention.max_events.max(1);
        // Bounded: each round either applies events or ends; a store that keeps changing
        // under us is caught up by the next wake-up.
        let mut restarted = false;
        for _ in 0..64 {
            let Some(local) = self.inner.lp.head(&state.name) else {
                return Ok(()); // removed meanwhile
            };
            let h: History = match store.read(&state.name, local.seq(), batch).await {
                Ok(h) => h,
                Err(e) => {
                    self.store_failed(&e);
                    return Err(e);
                }
            };
            self.store_worked();
            if h.epoch == local.epoch() && h.head < local.seq() {
                if restarted {
                    return Ok(()); // the store did not move: try again at the next wake-up
                }
                restarted = true;
                // The store went back in time within an epoch (a Redis restarted from an
                // older AOF, a failover to a lagging replica): what we delivered after its
                // head is gone and its numbers will be reused. Only a new epoch is honest.
                tracing::error!(
                    topic = &*state.name,
                    store_head = h.head,
                    replica_head = local.seq(),
                    "the store lost acknowledged events: starting a new epoch"
                );
                if let Err(e) = store.restart_epoch(&state.name, h.epoch).await {
                    tracing::error!(topic = &*state.name, error = %e, "cannot start a new epoch");
                    return Err(e);
                }
                continue;
            }
            let (mut h, full) = if h.epoch == local.epoch() {
                let full = h.events.len() >= batch;
                (h, full)
            } else {
                // Another epoch: the store lost the history the replica holds. Restart from
                // what it has now: its newest `max` (the read above was after our seq).
                let after = h.head.saturating_sub(max as u64);
                match store.read(&state.name, after, max).await {
                    Ok(h2) if h2.epoch == h.epoch => (h2, false),
                    Ok(_) => continue, // changed again meanwhile
                    Err(e) => {
                        self.store_failed(&e);
                        return Err(e);
                    }
                }
            };
            let epoch = h.epoch;
            let end = cut_at_end(&mut h, !full);
            let head = top(&h);
            // The store's end, no longer retained there: the replica moves straight to it.
            let end_aged_out = end.filter(|_| h.events.is_empty());
            // Moves the replica from `local` to `at` in `epoch`, forgetting what it holds. To
            // the end that aged out: moved and marked ended in one step, so that nothing (the
            // notice of an event that raced the close on another node) gets in between.
            let move_to = |at: u64| match end_aged_out {
                Some(e) if e == at => {
                    self.inner
                        .lp
                        .reset_ended_topic_if(&state.name, local, epoch, e)
                }
                _ => self.inner.lp.reset_topic_if(&state.name, local, epoch, at),
            };
            let moved = self.if_current(state, || {
                if epoch != local.epoch() {
                    tracing::info!(topic = &*state.name, epoch, "store epoch changed: reset");
                    let start = h.events.first().map_or(head, |e| e.seq - 1);
                    if !move_to(start) {
                        return false;
                    }
                } else if let Some(first) = h.events.first() {
                    if first.seq > local.seq() + 1 && !move_to(first.seq - 1) {
                        return false; // the head moved: read again
                    }
                } else if head > local.seq()
                    // Everything after us is gone from the store: an exact gap.
                    && !move_to(head)
                {
                    return false;
                }
                #[cfg(test)]
                tests::after_move(&state.name);
                for ev in h.events {
                    self.append_next(&state.name, epoch, ev);
                }
                if let Some(e) = end {
                    // The store's end: a replica at it is ended too (an appended end did
                    // that already; so did a move to an end that aged out), whatever brought
                    // it there.
                    let end = sluice_longpoll::Cursor::new(epoch, e);
                    self.inner.lp.end_topic_if(&state.name, end);
                }
                true
            });
            match moved {
                None => return Ok(()), // the topic was removed or replaced
                Some(false) => continue,
                // More to read, unless the replica reached the end: nothing after it is read.
                Some(true) if full && self.inner.lp.is_ended(&state.name) != Some(true) => {
                    continue;
                }
                Some(true) => return Ok(()),
            }
        }
        Ok(())
    }

    fn start_follower(&self, state: &Arc<TopicState>) {
        if state.replica.following.swap(true, Relaxed) {
            return;
        }
        let weak_hub = Arc::downgrade(&self.inner);
        let weak_state = Arc::downgrade(state);
        let every = self.inner.cfg.store_sync_interval;
        let task = follower(weak_hub, weak_state, Arc::clone(&state.replica.wake), every);
        match &self.inner.runtime {
            Some(h) => drop(h.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }

    /// Handles one notice from the store (called on the store's task or thread).
    pub(crate) fn on_notice(inner: &Weak<Inner>, n: Notice) {
        let Some(inner) = inner.upgrade() else { return };
        let hub = Hub { inner };
        match n {
            Notice::Appended {
                topic,
                epoch,
                event,
            } => {
                let state = hub.topic_if_present(&topic);
                let Some(state) = state else { return };
                if hub.apply(&state.name, epoch, event) == Applied::Behind {
                    state.replica.wake.notify_one();
                }
            }
            Notice::Lost => {
                for s in hub.all_topics() {
                    s.replica.wake.notify_one();
                }
            }
            // Another node's: for our live subscribers (ours were served already).
            Notice::Ephemeral {
                topic,
                node,
                event,
                data,
            } if node != hub.inner.node => {
                hub.inner.presence.ephemeral(&topic, &event, data);
            }
            _ => {}
        }
    }
}

/// The sequence number a replica of `h` goes up to: the store's head, or the end of an ended
/// topic (anything after it, written by an older version that let a publish racing the close
/// on another node in, is never read).
fn top(h: &History) -> u64 {
    h.end.filter(|&e| e <= h.head).unwrap_or(h.head)
}

/// The store's end of `h`'s epoch, if the topic ended, with `h.events` cut to what a replica
/// may hold: nothing after the end, and, when `complete` (the read reached the store's head,
/// not a batch limit) and the end itself is not among them (it left retention), nothing at
/// all: the replica then starts at the end.
fn cut_at_end(h: &mut History, complete: bool) -> Option<u64> {
    let end = h.end.filter(|&e| e <= h.head)?;
    h.events.retain(|ev| ev.seq <= end);
    if complete && h.events.last().is_none_or(|ev| ev.seq != end) {
        h.events.clear();
    }
    Some(end)
}

/// Catches up whenever woken, and every `every` regardless; ends with the topic or the hub.
async fn follower(
    hub: Weak<Inner>,
    state: Weak<TopicState>,
    wake: Arc<Notify>,
    every: std::time::Duration,
) {
    loop {
        // Holding only weak references while waiting: the reaper can drop the topic.
        let _ = tokio::time::timeout(every, wake.notified()).await;
        let (Some(inner), Some(s)) = (hub.upgrade(), state.upgrade()) else {
            return;
        };
        if inner.lp.head(&s.name).is_none() {
            return; // removed from the replica set
        }
        let _ = Hub { inner }.catch_up(&s).await; // failed: the next wake-up tries again
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, AtomicUsize};
    use std::time::{Duration, Instant};

    use sluice_longpoll::{Cursor, LogConfig, ReadLimits, Start};
    use sluice_store::file::FileStore;
    use sluice_store::{Appended, BoxFuture, FsyncPolicy, NewEvent, NoticeFn, StoreConfig};

    use super::*;
    use crate::{HubConfig, PublishError};

    type Hook = Box<dyn FnOnce() + Send>;

    /// Steps to run inside a catch-up, per topic, right after it moved the replica and before
    /// it appends or marks anything: another thread's step at that point (a notice applied).
    static AFTER_MOVE: Mutex<Vec<(String, Hook)>> = Mutex::new(Vec::new());

    /// Runs (once) the step set for `topic` by [`after_move_run`], if any.
    pub(super) fn after_move(topic: &str) {
        let hook = {
            let mut hooks = AFTER_MOVE.lock().unwrap();
            let i = hooks.iter().position(|(t, _)| t == topic);
            i.map(|i| hooks.swap_remove(i).1)
        };
        if let Some(f) = hook {
            f();
        }
    }

    /// The next catch-up of `topic` runs `f` right after it moved the replica.
    fn after_move_run(topic: &str, f: impl FnOnce() + Send + 'static) {
        AFTER_MOVE
            .lock()
            .unwrap()
            .push((topic.to_owned(), Box::new(f)));
    }

    /// A store seen through a counter of reads and, once told to, in another epoch (as a
    /// store that lost the topic's history and started over, ended since).
    #[derive(Debug)]
    struct Watched {
        inner: Arc<dyn Store>,
        reads: AtomicUsize,
        epoch_shift: AtomicU64,
    }

    impl Watched {
        fn new(inner: Arc<dyn Store>) -> Arc<Watched> {
            Arc::new(Watched {
                inner,
                reads: AtomicUsize::new(0),
                epoch_shift: AtomicU64::new(0),
            })
        }

        fn reads(&self) -> usize {
            self.reads.load(Relaxed)
        }

        /// Waits until the store has been read `n` times for `state` and the load or catch-up
        /// that made the last read is done (each holds the replica's sync lock throughout).
        async fn until_read(&self, state: &TopicState, n: usize) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.reads() < n {
                assert!(Instant::now() < deadline, "{} reads, not {n}", self.reads());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            drop(state.replica.sync.lock().await);
            assert_eq!(self.reads(), n, "only the reads expected");
        }
    }

    impl Store for Watched {
        fn kind(&self) -> &'static str {
            self.inner.kind()
        }

        fn append<'a>(
            &'a self,
            topic: &'a str,
            event: NewEvent<'a>,
        ) -> BoxFuture<'a, Result<Appended, StoreError>> {
            self.inner.append(topic, event)
        }

        fn read<'a>(
            &'a self,
            topic: &'a str,
            after: u64,
            max_events: usize,
        ) -> BoxFuture<'a, Result<History, StoreError>> {
            Box::pin(async move {
                self.reads.fetch_add(1, Relaxed);
                let mut h = self.inner.read(topic, after, max_events).await?;
                h.epoch += self.epoch_shift.load(Relaxed);
                Ok(h)
            })
        }

        fn subscribe(&self, notify: NoticeFn) -> BoxFuture<'_, Result<(), StoreError>> {
            self.inner.subscribe(notify)
        }
    }

    const AGE: Duration = Duration::from_millis(200);
    const ALL: ReadLimits = ReadLimits {
        max_events: 100,
        max_bytes: 1 << 20,
    };

    async fn file_store(dir: &std::path::Path) -> Arc<dyn Store> {
        let cfg = StoreConfig::default().with_retention(LogConfig::default().with_max_age(AGE));
        Arc::new(
            FileStore::open(dir, FsyncPolicy::Always, cfg)
                .await
                .unwrap(),
        )
    }

    fn config() -> HubConfig {
        HubConfig {
            retention: LogConfig::default().with_max_age(AGE),
            topic_idle: Duration::ZERO,
            // Catch-ups happen when a test asks for them.
            store_sync_interval: Duration::from_secs(600),
            ..HubConfig::default()
        }
    }

    /// What every reader of an ended topic must get, however its replica came to be: 409 for
    /// a publish, the same end for a close, the end for a read at it.
    async fn assert_ended(hub: &Hub, topic: &str, end: Cursor) {
        assert_eq!(
            hub.publish(topic, "message", "late").await,
            Err(PublishError::Ended),
            "a publish after the end"
        );
        assert_eq!(
            hub.close(topic).await,
            Ok(end),
            "closing again: the same end"
        );
        let b = hub.longpoll().read(topic, Start::At(end), ALL).unwrap();
        assert!(b.ended && b.events.is_empty() && b.next == end, "{b:?}");
        let b = hub.longpoll().read(topic, Start::Now, ALL).unwrap();
        assert_eq!(b.next, end);
        let h = hub.store().unwrap().read(topic, 0, 10).await.unwrap();
        assert_eq!(
            (h.epoch, h.head, h.end),
            (end.epoch(), end.seq(), Some(end.seq())),
            "nothing stored after the end"
        );
    }

    /// hub §2.8: an ended topic reaped after its end aged out and loaded again from the store
    /// (as after a restart, or on another node) is still ended.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reloaded_topic_stays_ended_after_its_end_aged_out() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::with_store(config(), file_store(dir.path()).await)
            .await
            .unwrap();
        hub.publish("gen", "message", "a").await.unwrap();
        let end = hub.close("gen").await.unwrap();
        assert_eq!(end.seq(), 2);
        tokio::time::sleep(AGE + Duration::from_millis(100)).await;
        assert_eq!(hub.reap_topics(Instant::now()), 1, "reaped: nothing live");
        assert!(hub.longpoll().head("gen").is_none());
        assert_ended(&hub, "gen", end).await;
    }

    /// Hub `a` on a watched view of a file store, hub `b` on the store itself: the file store
    /// notifies only its last subscriber, so `a` hears nothing of what `b` appends. `a` has
    /// published to `topic` (seq 1) and its follower has done its first catch-up (woken by
    /// the load), so that nothing but the test catches `a` up from now on.
    async fn two_hubs(
        dir: &std::path::Path,
        topic: &str,
        cfg: HubConfig,
    ) -> (Hub, Hub, Arc<Watched>) {
        let store = file_store(dir).await;
        let watched = Watched::new(Arc::clone(&store));
        let a = Hub::with_store(cfg.clone(), Arc::clone(&watched) as Arc<dyn Store>)
            .await
            .unwrap();
        let b = Hub::with_store(cfg, store).await.unwrap();
        a.publish(topic, "message", "a").await.unwrap();
        // The load's read, then the follower's.
        watched.until_read(&a.topic_state(topic).unwrap(), 2).await;
        (a, b, watched)
    }

    /// A replica that missed the end (no notice) and catches up after the end aged out in the
    /// store: moved to the store's head, and ended there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_that_catches_up_after_the_end_aged_out_is_ended() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, _) = two_hubs(dir.path(), "gen", config()).await;
        let end = b.close("gen").await.unwrap();
        assert_eq!(end.seq(), 2);
        assert_eq!(
            a.longpoll().is_ended("gen"),
            Some(false),
            "a missed the end"
        );
        tokio::time::sleep(AGE + Duration::from_millis(100)).await;
        let state = a.topic_state("gen").unwrap();
        a.catch_up(&state).await.unwrap();
        drop(state);
        assert_eq!(a.longpoll().head("gen"), Some(end));
        assert_eq!(a.longpoll().is_ended("gen"), Some(true));
        assert_ended(&a, "gen", end).await;
    }

    /// A catch-up that moves a replica to an end that aged out marks it ended in the same
    /// step: the notice of an event after the end (stored by another node that raced the
    /// close, before stores refused that) applied right after the move is refused, and the
    /// replica stays ended at the end. `epoch_changed`: the store's topic is in another epoch
    /// than the replica (the reset path), else in the same one (the gap path).
    async fn the_move_to_an_aged_out_end_lets_nothing_in(topic: &str, epoch_changed: bool) {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, watched) = two_hubs(dir.path(), topic, config()).await;
        let end = b.close(topic).await.unwrap();
        tokio::time::sleep(AGE + Duration::from_millis(100)).await;
        let epoch = if epoch_changed {
            watched.epoch_shift.store(1, Relaxed);
            end.epoch() + 1
        } else {
            end.epoch()
        };
        let (hub, name) = (a.clone(), Arc::<str>::from(topic));
        let late = Arc::new(Mutex::new(None));
        let late2 = Arc::clone(&late);
        after_move_run(topic, move || {
            let ev = StoredEvent::new(end.seq() + 1, "message", Bytes::from("late"), 0);
            *late2.lock().unwrap() = Some(hub.apply(&name, epoch, ev));
        });
        let state = a.topic_state(topic).unwrap();
        a.catch_up(&state).await.unwrap();
        drop(state);
        assert!(
            late.lock().unwrap().is_some(),
            "the catch-up moved the replica"
        );
        let end = Cursor::new(epoch, end.seq());
        assert_eq!(a.longpoll().head(topic), Some(end));
        assert_eq!(a.longpoll().is_ended(topic), Some(true));
        let b = a.longpoll().read(topic, Start::At(end), ALL).unwrap();
        assert!(b.ended && b.events.is_empty(), "{b:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gap_to_an_aged_out_end_lets_nothing_in() {
        the_move_to_an_aged_out_end_lets_nothing_in("gap", false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reset_to_an_aged_out_end_lets_nothing_in() {
        the_move_to_an_aged_out_end_lets_nothing_in("reset", true).await;
    }

    /// A publish on a node that has not heard of a close on another node: the store refuses
    /// it (409 `ended`, not 200 for an event nobody would read), and the node learns the end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_publish_racing_a_close_elsewhere_is_refused_by_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, _) = two_hubs(dir.path(), "raced", config()).await;
        let end = b.close("raced").await.unwrap();
        assert_eq!(a.longpoll().is_ended("raced"), Some(false), "a missed it");
        assert_eq!(
            a.publish("raced", "message", "late").await,
            Err(PublishError::Ended)
        );
        assert_eq!(a.longpoll().head("raced"), Some(end), "a caught up");
        assert_eq!(a.longpoll().is_ended("raced"), Some(true));
        assert_ended(&a, "raced", end).await;
        // A close on `a` that did not know either: the same end.
        let (c, d, _) = two_hubs(&dir.path().join("2"), "raced", config()).await;
        let end = d.close("raced").await.unwrap();
        assert_eq!(c.close("raced").await, Ok(end));
        assert_eq!(c.longpoll().is_ended("raced"), Some(true));
    }

    /// A catch-up in full batches stops at the end: nothing after it is for readers, so
    /// there is nothing more to read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_catch_up_stops_reading_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = HubConfig {
            read_batch_events: 2,
            ..config()
        };
        let (a, b, watched) = two_hubs(dir.path(), "batches", cfg).await;
        b.publish("batches", "message", "b").await.unwrap();
        let end = b.close("batches").await.unwrap();
        assert_eq!(end.seq(), 3);
        let before = watched.reads();
        let state = a.topic_state("batches").unwrap();
        a.catch_up(&state).await.unwrap();
        drop(state);
        assert_eq!(a.longpoll().head("batches"), Some(end));
        assert_eq!(a.longpoll().is_ended("batches"), Some(true));
        assert_eq!(
            watched.reads() - before,
            1,
            "one full batch, ending with the end: no second read"
        );
    }
}
