//! The retention log: one topic's recent history, the replay log behind every transport.
//!
//! Events are kept in a `VecDeque<Arc<Event>>` indexed by `seq - oldest_seq`: append is O(1)
//! amortised, seeking to a cursor is O(1), and a read borrows the log without copying or
//! touching reference counts ([`Batch`]). Each [`Event`] carries its data as [`Bytes`] and
//! caches its JSON object once ([`Event::json`]), so fan-out to any number of readers encodes
//! an event once.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::cursor::{Cursor, EncodedCursor};

/// Longest accepted event type, in bytes.
pub const MAX_EVENT_TYPE_LEN: usize = 256;

/// The event type that ends a log (`docs/longpoll.md` §7, "Ended streams"): appended once,
/// after the last event; nothing is appended after it ([`AppendError::Ended`]). It takes a
/// sequence number like any event, so a reader that has seen it is at the head, and every
/// store keeps it like any event (the end survives restarts and reaches every node).
pub const END_EVENT_TYPE: &str = "sluice-end";

/// Retention limits of a [`Log`]. Oldest events are dropped first when any limit is exceeded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogConfig {
    /// Most events retained. Default 10,000. Values below 1 are treated as 1.
    pub max_events: usize,
    /// Most bytes retained, counted as [`Event::size`] (event type + data). Default 64 MiB.
    /// The newest event is always retained, even if it alone is larger.
    pub max_bytes: usize,
    /// Events older than this (by the `now` passed to [`Log::append`]) are dropped by
    /// [`Log::expire`] and [`Log::append`]. Default 1 hour.
    pub max_age: Duration,
    /// Largest event ([`Event::size`]) accepted by [`Log::append`]. Default 1 MiB.
    pub max_event_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            max_events: 10_000,
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(3600),
            max_event_bytes: 1 << 20,
        }
    }
}

impl LogConfig {
    /// Default limits with `max_events` set (convenience for tests and small setups).
    pub fn with_max_events(mut self, n: usize) -> Self {
        self.max_events = n;
        self
    }

    /// Default limits with `max_bytes` set.
    pub fn with_max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Default limits with `max_age` set.
    pub fn with_max_age(mut self, d: Duration) -> Self {
        self.max_age = d;
        self
    }
}

/// Why an event was not appended (caller misuse: the hub maps these to 400/413 on publish).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The event data is not UTF-8 (every transport carries data as text).
    #[error("event data is not valid UTF-8")]
    DataNotUtf8,
    /// The event type is empty, too long, or contains CR, LF or NUL.
    #[error("invalid event type")]
    BadEventType,
    /// The event is larger than [`LogConfig::max_event_bytes`].
    #[error("event too large: {size} bytes, max {max}")]
    TooLarge {
        /// [`Event::size`] of the rejected event.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The log ended ([`END_EVENT_TYPE`]): nothing is appended after the end.
    #[error("the stream has ended")]
    Ended,
    /// [`Log::append_at`] with a sequence number that is not after the head (a replica fed
    /// out of order: the caller's bug, or a duplicate it should have dropped).
    #[error("sequence number {seq} is not after the head {head}")]
    NotAfterHead {
        /// The sequence number given.
        seq: u64,
        /// The log's head sequence number.
        head: u64,
    },
}

/// One retained event. Shared as `Arc<Event>` between the log and every reader.
#[derive(Debug)]
pub struct Event {
    cursor: Cursor,
    id: EncodedCursor,
    event_type: Box<str>,
    data: Bytes,
    appended: Instant,
    json: OnceLock<Bytes>,
}

impl Event {
    /// The event's sequence number (first event of an epoch: 1).
    pub fn seq(&self) -> u64 {
        self.cursor.seq()
    }

    /// The cursor right after this event: its id.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// The event id (the encoded [`Event::cursor`]), the same string on every transport.
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    /// The event type (SSE `event:`).
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// This is the end of its log ([`END_EVENT_TYPE`]), not an event for the application.
    pub fn is_end(&self) -> bool {
        &*self.event_type == END_EVENT_TYPE
    }

    /// The data, as shared bytes (validated UTF-8).
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The data as text.
    pub fn data_str(&self) -> &str {
        // Validated by `Log::append`; the fallback is unreachable.
        std::str::from_utf8(&self.data).unwrap_or("")
    }

    /// The `now` at which the event was appended.
    pub fn appended_at(&self) -> Instant {
        self.appended
    }

    /// Bytes counted against [`LogConfig::max_bytes`] and read limits: type + data length.
    pub fn size(&self) -> usize {
        self.event_type.len() + self.data.len()
    }

    /// The event as the JSON object `{"id":…,"event":…,"data":…}`, encoded on first use and
    /// shared afterwards (long-poll bodies, WebSocket frames).
    pub fn json(&self) -> &Bytes {
        self.json.get_or_init(|| {
            let mut out = Vec::with_capacity(self.size() + 48);
            out.extend_from_slice(b"{\"id\":\"");
            out.extend_from_slice(self.id.as_bytes());
            out.extend_from_slice(b"\",\"event\":");
            crate::response::write_json_str(&mut out, &self.event_type);
            out.extend_from_slice(b",\"data\":");
            crate::response::write_json_str(&mut out, self.data_str());
            out.push(b'}');
            Bytes::from(out)
        })
    }
}

/// Limits of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Most events returned (at least one is returned when any is available).
    pub max_events: usize,
    /// Most bytes ([`Event::size`]) returned; the first event is returned even if larger.
    pub max_bytes: usize,
}

/// A contiguous run of events borrowed from a [`Log`].
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    events: std::collections::vec_deque::Iter<'a, Arc<Event>>,
    next: Cursor,
    more: bool,
    ended: bool,
}

impl<'a> Batch<'a> {
    /// The events, oldest first.
    pub fn events(&self) -> std::collections::vec_deque::Iter<'a, Arc<Event>> {
        self.events.clone()
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// No events.
    pub fn is_empty(&self) -> bool {
        self.events.len() == 0
    }

    /// Where to resume: the last event's id, or the read position if the batch is empty.
    pub fn next(&self) -> Cursor {
        self.next
    }

    /// The batch was cut by a limit: more events are available right now.
    pub fn more(&self) -> bool {
        self.more
    }

    /// The batch reaches the end of an ended log: its last event is the end (or the reader
    /// was already past it), and nothing will follow.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

/// The typed result of [`Log::read`]: never a silent skip.
#[derive(Debug, Clone)]
pub enum ReadOutcome<'a> {
    /// Events right after the cursor (possibly none: the cursor is at the head).
    Events(Batch<'a>),
    /// The cursor fell out of retention: exactly `missed` events are gone; the batch starts at
    /// the oldest retained event (or is empty, at the head, if none is retained).
    Gap {
        /// Events between the cursor and the oldest retained event.
        missed: u64,
        /// Events from the oldest retained.
        batch: Batch<'a>,
    },
    /// The cursor's epoch is not the log's: history was lost. The batch starts at the oldest
    /// retained event of the current epoch; `missed` counts events of the current epoch no
    /// longer retained (usually 0).
    Reset {
        /// Events of the current epoch already dropped.
        missed: u64,
        /// Events from the oldest retained of the current epoch.
        batch: Batch<'a>,
    },
    /// The cursor is ahead of the head in the current epoch (peer fault, HTTP 400).
    BadCursor {
        /// The log's head.
        head: Cursor,
    },
}

/// A topic's retention log. See the module docs.
#[derive(Debug)]
pub struct Log {
    config: LogConfig,
    epoch: u64,
    /// Sequence number of `events[0]`, or `head_seq + 1` when empty.
    oldest_seq: u64,
    head_seq: u64,
    bytes: usize,
    events: VecDeque<Arc<Event>>,
    /// The end was appended in this epoch ([`END_EVENT_TYPE`]), even if no longer retained.
    ended: bool,
}

impl Log {
    /// An empty log in `epoch`. The epoch must be fresh randomness from the caller (e.g. 64
    /// random bits) whenever this log may not hold the history of a previous one: a new
    /// process with an in-memory log gets a new epoch.
    pub fn new(epoch: u64, config: LogConfig) -> Self {
        Self {
            config,
            epoch,
            oldest_seq: 1,
            head_seq: 0,
            bytes: 0,
            events: VecDeque::new(),
            ended: false,
        }
    }

    /// An empty log in `epoch` whose head is `head_seq`: events up to `head_seq` existed but
    /// none is retained. For a replica of a log kept elsewhere (a durable or shared store): a
    /// reader at `head_seq` is up to date, one before it gets an exact gap.
    pub fn resume(epoch: u64, head_seq: u64, config: LogConfig) -> Self {
        let mut log = Self::new(epoch, config);
        log.reset(epoch, head_seq);
        log
    }

    /// The retention limits.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The head: the id of the newest event ever appended in this epoch (seq 0 if none).
    pub fn head(&self) -> Cursor {
        Cursor::new(self.epoch, self.head_seq)
    }

    /// Sequence number of the oldest retained event (`head + 1` when none is retained).
    pub fn oldest_seq(&self) -> u64 {
        self.oldest_seq
    }

    /// The cursor from which a read returns the oldest retained event without a gap.
    pub fn oldest(&self) -> Cursor {
        Cursor::new(self.epoch, self.oldest_seq - 1)
    }

    /// The end was appended ([`END_EVENT_TYPE`]): the head is the end, nothing follows.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Marks the log ended at its head, as if the head were an appended end
    /// ([`END_EVENT_TYPE`]) that is no longer retained: for a replica of a log kept elsewhere
    /// whose end has left retention there but is still known (a durable store keeps the
    /// end's sequence number), loaded or reset at that head. Nothing is appended afterwards
    /// ([`AppendError::Ended`]) and a read that reaches the head says [`Batch::ended`].
    /// [`Log::reset`] and [`Log::purge`] clear it, as they clear an appended end.
    pub fn mark_ended(&mut self) {
        self.ended = true;
    }

    /// Number of retained events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// No event retained.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Retained bytes ([`Event::size`] summed).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The retained event with sequence number `seq`.
    pub fn get(&self, seq: u64) -> Option<&Arc<Event>> {
        let i = usize::try_from(seq.checked_sub(self.oldest_seq)?).ok()?;
        self.events.get(i)
    }

    /// Append an event at `now`; returns its cursor (its id). Applies retention (count,
    /// bytes, and age relative to `now`). Never blocks on readers. An event of type
    /// [`END_EVENT_TYPE`] ends the log.
    ///
    /// # Errors
    /// [`AppendError`]: a bad event, or [`AppendError::Ended`] after the end.
    pub fn append(
        &mut self,
        now: Instant,
        event_type: &str,
        data: Bytes,
    ) -> Result<Cursor, AppendError> {
        self.check(event_type, &data)?;
        self.push(now, self.head_seq + 1, event_type, data)
    }

    /// Append an event whose sequence number was assigned elsewhere (a replica of a log kept
    /// in a durable or shared store): `seq` must be after the head. When it is not the next
    /// one, the events in between are unknown here: everything retained is dropped and the
    /// log restarts at `seq`, so a reader before it gets a gap with the exact count (nothing
    /// is ever replayed out of order or silently skipped). Retention applies as in
    /// [`Log::append`].
    ///
    /// # Errors
    /// As [`Log::append`], and [`AppendError::NotAfterHead`].
    pub fn append_at(
        &mut self,
        now: Instant,
        seq: u64,
        event_type: &str,
        data: Bytes,
    ) -> Result<Cursor, AppendError> {
        if seq <= self.head_seq {
            return Err(AppendError::NotAfterHead {
                seq,
                head: self.head_seq,
            });
        }
        self.check(event_type, &data)?;
        if seq != self.head_seq + 1 {
            self.reset(self.epoch, seq - 1);
        }
        self.push(now, seq, event_type, data)
    }

    fn check(&self, event_type: &str, data: &Bytes) -> Result<(), AppendError> {
        if self.ended {
            return Err(AppendError::Ended);
        }
        if event_type.is_empty()
            || event_type.len() > MAX_EVENT_TYPE_LEN
            || event_type.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
        {
            return Err(AppendError::BadEventType);
        }
        let size = event_type.len() + data.len();
        if size > self.config.max_event_bytes {
            return Err(AppendError::TooLarge {
                size,
                max: self.config.max_event_bytes,
            });
        }
        if std::str::from_utf8(data).is_err() {
            return Err(AppendError::DataNotUtf8);
        }
        Ok(())
    }

    /// Appends a checked event as `seq` (the head's successor).
    fn push(
        &mut self,
        now: Instant,
        seq: u64,
        event_type: &str,
        data: Bytes,
    ) -> Result<Cursor, AppendError> {
        let size = event_type.len() + data.len();
        self.head_seq = seq;
        self.ended = event_type == END_EVENT_TYPE;
        let cursor = Cursor::new(self.epoch, self.head_seq);
        self.events.push_back(Arc::new(Event {
            cursor,
            id: cursor.encode(),
            event_type: event_type.into(),
            data,
            appended: now,
            json: OnceLock::new(),
        }));
        self.bytes += size;
        self.expire(now);
        let max_events = self.config.max_events.max(1);
        while self.events.len() > max_events
            || (self.bytes > self.config.max_bytes && self.events.len() > 1)
        {
            self.pop_oldest();
        }
        Ok(cursor)
    }

    fn pop_oldest(&mut self) {
        if let Some(e) = self.events.pop_front() {
            self.bytes -= e.size();
            self.oldest_seq += 1;
        }
    }

    /// Drop events older than [`LogConfig::max_age`] at `now`; returns how many were dropped.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some(e) = self.events.front() {
            if now.saturating_duration_since(e.appended) <= self.config.max_age {
                break;
            }
            self.pop_oldest();
            n += 1;
        }
        n
    }

    /// When the oldest retained event expires (for a caller that wants to expire on a timer).
    pub fn next_expiry(&self) -> Option<Instant> {
        let e = self.events.front()?;
        e.appended.checked_add(self.config.max_age)
    }

    /// Forget all history and move to `new_epoch` (fresh randomness from the caller); every
    /// existing cursor now reads as [`ReadOutcome::Reset`]. Sequence numbers restart at 1.
    pub fn purge(&mut self, new_epoch: u64) {
        self.reset(new_epoch, 0);
    }

    /// Forget all history and move to `epoch` with head `head_seq` (for a replica that
    /// follows a log kept elsewhere: its epoch changed, or it lost track of it). A reader in
    /// another epoch gets [`ReadOutcome::Reset`]; one in `epoch` before `head_seq` an exact
    /// gap.
    pub fn reset(&mut self, epoch: u64, head_seq: u64) {
        self.events.clear();
        self.bytes = 0;
        self.ended = false;
        self.epoch = epoch;
        self.head_seq = head_seq;
        self.oldest_seq = head_seq + 1;
    }

    /// Read from `from` (the last event the reader has seen). The epoch is checked first:
    /// another epoch is a [`ReadOutcome::Reset`] even if the sequence number is ahead.
    pub fn read(&self, from: Cursor, limits: ReadLimits) -> ReadOutcome<'_> {
        if from.epoch() != self.epoch {
            return ReadOutcome::Reset {
                missed: self.oldest_seq - 1,
                batch: self.batch_from(self.oldest_seq, limits),
            };
        }
        if from.seq() > self.head_seq {
            return ReadOutcome::BadCursor { head: self.head() };
        }
        let want = from.seq() + 1;
        if want < self.oldest_seq {
            ReadOutcome::Gap {
                missed: self.oldest_seq - want,
                batch: self.batch_from(self.oldest_seq, limits),
            }
        } else {
            ReadOutcome::Events(self.batch_from(want, limits))
        }
    }

    /// An empty read at the head (a reader "from now").
    pub fn read_head(&self) -> Batch<'_> {
        self.batch_from(
            self.head_seq + 1,
            ReadLimits {
                max_events: 0,
                max_bytes: 0,
            },
        )
    }

    /// Read from the oldest retained event (`cursor=earliest`): never a gap.
    pub fn read_earliest(&self, limits: ReadLimits) -> Batch<'_> {
        self.batch_from(self.oldest_seq, limits)
    }

    /// Events from `first` (with `oldest_seq <= first <= head_seq + 1`) within `limits`.
    fn batch_from(&self, first: u64, limits: ReadLimits) -> Batch<'_> {
        let start = usize::try_from(first - self.oldest_seq).unwrap_or(usize::MAX);
        let start = start.min(self.events.len());
        let avail = self.events.len() - start;
        let max_events = limits.max_events.max(1);
        let mut n = 0;
        let mut bytes = 0usize;
        for e in self.events.range(start..) {
            if n == max_events || (n > 0 && bytes + e.size() > limits.max_bytes) {
                break;
            }
            bytes += e.size();
            n += 1;
        }
        Batch {
            events: self.events.range(start..start + n),
            next: Cursor::new(self.epoch, first - 1 + n as u64),
            more: n < avail,
            ended: self.ended && n == avail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: ReadLimits = ReadLimits {
        max_events: usize::MAX,
        max_bytes: usize::MAX,
    };

    fn log(cfg: LogConfig) -> (Log, Instant) {
        (Log::new(7, cfg), Instant::now())
    }

    fn seqs(b: &Batch<'_>) -> Vec<u64> {
        b.events().map(|e| e.seq()).collect()
    }

    #[test]
    fn append_and_read() {
        let (mut l, t) = log(LogConfig::default());
        assert_eq!(l.head(), Cursor::new(7, 0));
        for i in 1..=5u64 {
            let c = l.append(t, "m", Bytes::from(i.to_string())).unwrap();
            assert_eq!(c, Cursor::new(7, i));
        }
        let ReadOutcome::Events(b) = l.read(Cursor::new(7, 2), ALL) else {
            panic!()
        };
        assert_eq!(seqs(&b), [3, 4, 5]);
        assert_eq!(b.next(), Cursor::new(7, 5));
        assert!(!b.more());
        let ReadOutcome::Events(b) = l.read(l.head(), ALL) else {
            panic!()
        };
        assert!(b.is_empty());
        assert_eq!(b.next(), l.head());
        assert_eq!(l.get(3).unwrap().data_str(), "3");
        assert!(l.get(0).is_none() && l.get(6).is_none());
    }

    #[test]
    fn limits_cut_batches() {
        let (mut l, t) = log(LogConfig::default());
        for _ in 0..10 {
            l.append(t, "m", Bytes::from_static(b"0123456789")).unwrap();
        }
        let lim = ReadLimits {
            max_events: 3,
            max_bytes: usize::MAX,
        };
        let ReadOutcome::Events(b) = l.read(Cursor::new(7, 0), lim) else {
            panic!()
        };
        assert_eq!((seqs(&b), b.more()), (vec![1, 2, 3], true));
        let lim = ReadLimits {
            max_events: 100,
            max_bytes: 25,
        };
        let ReadOutcome::Events(b) = l.read(Cursor::new(7, 8), lim) else {
            panic!()
        };
        assert_eq!((seqs(&b), b.more()), (vec![9, 10], false));
        let lim = ReadLimits {
            max_events: 100,
            max_bytes: 1,
        };
        let ReadOutcome::Events(b) = l.read(Cursor::new(7, 0), lim) else {
            panic!()
        };
        assert_eq!(
            (seqs(&b), b.more()),
            (vec![1], true),
            "first event always fits"
        );
    }

    #[test]
    fn retention_by_count_bytes_age() {
        let (mut l, t) = log(LogConfig::default().with_max_events(3));
        for _ in 0..5 {
            l.append(t, "m", Bytes::new()).unwrap();
        }
        assert_eq!((l.len(), l.oldest_seq(), l.head().seq()), (3, 3, 5));

        let (mut l, t) = log(LogConfig::default().with_max_bytes(10));
        for _ in 0..5 {
            l.append(t, "m", Bytes::from_static(b"abcd")).unwrap();
        }
        assert_eq!((l.len(), l.bytes()), (2, 10));

        let (mut l, t) = log(LogConfig::default().with_max_age(Duration::from_secs(10)));
        l.append(t, "m", Bytes::new()).unwrap();
        l.append(t + Duration::from_secs(5), "m", Bytes::new())
            .unwrap();
        assert_eq!(l.next_expiry(), Some(t + Duration::from_secs(10)));
        assert_eq!(l.expire(t + Duration::from_secs(10)), 0);
        assert_eq!(l.expire(t + Duration::from_secs(11)), 1);
        assert_eq!(l.oldest_seq(), 2);
        l.append(t + Duration::from_secs(30), "m", Bytes::new())
            .unwrap();
        assert_eq!((l.len(), l.oldest_seq()), (1, 3));
    }

    #[test]
    fn gap_reset_bad_cursor() {
        let (mut l, t) = log(LogConfig::default().with_max_events(2));
        for _ in 0..5 {
            l.append(t, "m", Bytes::new()).unwrap();
        }
        match l.read(Cursor::new(7, 1), ALL) {
            ReadOutcome::Gap { missed, batch } => {
                assert_eq!((missed, seqs(&batch)), (2, vec![4, 5]));
            }
            o => panic!("{o:?}"),
        }
        assert!(matches!(
            l.read(Cursor::new(7, 3), ALL),
            ReadOutcome::Events(_)
        ));
        assert!(matches!(
            l.read(Cursor::new(7, 6), ALL),
            ReadOutcome::BadCursor { head } if head.seq() == 5
        ));
        // Epoch first: a far-ahead cursor of another epoch is a reset, not a bad cursor.
        match l.read(Cursor::new(8, 99), ALL) {
            ReadOutcome::Reset { missed, batch } => {
                assert_eq!((missed, seqs(&batch)), (3, vec![4, 5]));
            }
            o => panic!("{o:?}"),
        }
        l.purge(9);
        assert_eq!((l.head(), l.len(), l.bytes()), (Cursor::new(9, 0), 0, 0));
        assert!(matches!(
            l.read(Cursor::new(7, 5), ALL),
            ReadOutcome::Reset { missed: 0, ref batch } if batch.is_empty()
        ));
    }

    #[test]
    fn append_validation() {
        let (mut l, t) = log(LogConfig {
            max_event_bytes: 8,
            ..LogConfig::default()
        });
        assert_eq!(
            l.append(t, "", Bytes::new()),
            Err(AppendError::BadEventType)
        );
        assert_eq!(
            l.append(t, "a\nb", Bytes::new()),
            Err(AppendError::BadEventType)
        );
        assert_eq!(
            l.append(t, "m", Bytes::from_static(b"\xff")),
            Err(AppendError::DataNotUtf8)
        );
        assert_eq!(
            l.append(t, "m", Bytes::from_static(b"12345678")),
            Err(AppendError::TooLarge { size: 9, max: 8 })
        );
        assert_eq!(
            l.head().seq(),
            0,
            "rejected appends take no sequence number"
        );
    }

    #[test]
    fn json_is_cached_and_escaped() {
        let (mut l, t) = log(LogConfig::default());
        l.append(t, "m\"x", Bytes::from_static("a\"\\\u{1}é".as_bytes()))
            .unwrap();
        let e = l.get(1).unwrap();
        let j = e.json().clone();
        assert_eq!(
            &j[..],
            "{\"id\":\"1.7.1\",\"event\":\"m\\\"x\",\"data\":\"a\\\"\\\\\\u0001é\"}".as_bytes()
        );
        assert_eq!(e.json().as_ptr(), j.as_ptr(), "encoded once");
    }

    #[test]
    fn replica_appends_store_sequence_numbers_with_exact_gaps() {
        // A replica of a store's log: it starts at the store's head and takes the store's
        // sequence numbers; a jump is a hole, which readers see as an exact gap.
        let t = Instant::now();
        let mut l = Log::resume(9, 40, LogConfig::default());
        assert_eq!(l.head(), Cursor::new(9, 40));
        assert!(matches!(l.read(Cursor::new(9, 40), ALL), ReadOutcome::Events(b) if b.is_empty()));
        assert!(
            matches!(
                l.read(Cursor::new(9, 35), ALL),
                ReadOutcome::Gap { missed: 5, .. }
            ),
            "events before the replica's start are a gap of the exact count"
        );
        l.append_at(t, 41, "m", Bytes::from_static(b"a")).unwrap();
        l.append_at(t, 42, "m", Bytes::from_static(b"b")).unwrap();
        assert_eq!(
            l.append_at(t, 42, "m", Bytes::new()),
            Err(AppendError::NotAfterHead { seq: 42, head: 42 }),
            "duplicates are refused, not appended twice"
        );
        // 43 and 44 are gone from the store: the replica jumps to 45.
        l.append_at(t, 45, "m", Bytes::from_static(b"e")).unwrap();
        let ReadOutcome::Gap { missed, batch } = l.read(Cursor::new(9, 42), ALL) else {
            panic!("a gap expected");
        };
        assert_eq!((missed, seqs(&batch)), (2, vec![45]));
        let ReadOutcome::Gap { missed, batch } = l.read(Cursor::new(9, 41), ALL) else {
            panic!("a gap expected");
        };
        assert_eq!(
            (missed, seqs(&batch)),
            (3, vec![45]),
            "42 went with the hole"
        );
        // The store's epoch changed: reset to its head.
        l.reset(10, 3);
        assert!(matches!(
            l.read(Cursor::new(9, 45), ALL),
            ReadOutcome::Reset { .. }
        ));
        assert_eq!(l.head(), Cursor::new(10, 3));
        l.append_at(t, 4, "m", Bytes::from_static(b"x")).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l.bytes(), 2);
    }

    #[test]
    fn a_replica_marked_ended_at_its_head_reads_and_refuses_as_ended() {
        // A store's topic ended at 5 and the end left retention: the replica starts there.
        let t = Instant::now();
        let mut l = Log::resume(9, 5, LogConfig::default());
        assert!(!l.is_ended());
        l.mark_ended();
        assert!(l.is_ended());
        let ReadOutcome::Events(b) = l.read(Cursor::new(9, 5), ALL) else {
            panic!("events expected");
        };
        assert!(
            b.is_empty() && b.ended(),
            "a reader at the end gets the end"
        );
        assert_eq!(b.next(), Cursor::new(9, 5));
        let ReadOutcome::Gap { missed, batch } = l.read(Cursor::new(9, 3), ALL) else {
            panic!("a gap expected");
        };
        assert_eq!((missed, batch.is_empty(), batch.ended()), (2, true, true));
        assert!(l.read_earliest(ALL).ended());
        assert_eq!(l.append(t, "m", Bytes::new()), Err(AppendError::Ended));
        assert_eq!(
            l.append_at(t, 6, "m", Bytes::new()),
            Err(AppendError::Ended)
        );
        assert_eq!(l.head(), Cursor::new(9, 5), "nothing after the end");
        l.reset(10, 0);
        assert!(!l.is_ended(), "another epoch has not ended");
        l.append(t, "m", Bytes::new()).unwrap();
    }
}
