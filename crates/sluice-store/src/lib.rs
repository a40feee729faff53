#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod error;
#[cfg(feature = "file")]
pub mod file;
mod idempotency;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "redis")]
pub mod redis;
mod sync;
mod url;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use error::StoreError;
pub use idempotency::{IdempotencyCache, MAX_IDEMPOTENCY_KEY_LEN, is_valid_idempotency_key};
pub use sluice_longpoll::{Cursor, END_EVENT_TYPE, LogConfig};
pub use url::{FsyncPolicy, StoreUrl, StoreUrlError};

/// A boxed future (the [`Store`] trait is object safe: the hub holds an `Arc<dyn Store>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An event to append.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct NewEvent<'a> {
    /// The event type (validated by the caller: 1–256 bytes, no CR/LF/NUL).
    pub event_type: &'a str,
    /// The data (UTF-8, validated by the caller).
    pub data: &'a [u8],
    /// A client's `Idempotency-Key`: a retry with the same key (on this topic, within
    /// [`StoreConfig::idempotency_ttl`]) gets the first answer instead of a second append.
    pub idempotency_key: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    /// An event without an idempotency key.
    #[must_use]
    pub fn new(event_type: &'a str, data: &'a [u8]) -> Self {
        NewEvent {
            event_type,
            data,
            idempotency_key: None,
        }
    }

    /// With an idempotency key.
    #[must_use]
    pub fn idempotency_key(mut self, key: Option<&'a str>) -> Self {
        self.idempotency_key = key;
        self
    }
}

/// What [`Store::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Appended {
    /// The event's cursor (its id): the topic's epoch and the event's sequence number.
    pub cursor: Cursor,
    /// The idempotency key was seen before: nothing was appended, `cursor` is the first
    /// append's answer.
    pub duplicate: bool,
}

/// One event as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredEvent {
    /// Sequence number in the topic's epoch (first event: 1; consecutive).
    pub seq: u64,
    /// The event type.
    pub event_type: Box<str>,
    /// The data (UTF-8).
    pub data: Bytes,
    /// When the store accepted it, Unix milliseconds.
    pub time_ms: u64,
}

impl StoredEvent {
    /// An event.
    #[must_use]
    pub fn new(seq: u64, event_type: &str, data: Bytes, time_ms: u64) -> Self {
        StoredEvent {
            seq,
            event_type: event_type.into(),
            data,
            time_ms,
        }
    }
}

/// A read of a topic ([`Store::read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct History {
    /// The topic's epoch: the identity of its history in the store. It changes only when the
    /// store lost the history (data wiped, stream re-created).
    pub epoch: u64,
    /// The newest sequence number ever appended in this epoch (0: none).
    pub head: u64,
    /// Retained events after the position asked for, oldest first, consecutive. When the
    /// first one is not right after that position, the ones in between are gone (retention):
    /// the reader has a gap of exactly that many.
    pub events: Vec<StoredEvent>,
    /// The sequence number of this epoch's end ([`END_EVENT_TYPE`]), if the topic ended:
    /// kept by the store after the end itself has left retention, so that a reader loading
    /// the topic later (after a restart, on another node) still knows it ended there. Stores
    /// refuse appends after the end ([`StoreError::Ended`]), but `head` and `events` may go
    /// past it in data written by an older version (a publish on another node that raced the
    /// close, hub §2.8); nothing after the end is for readers.
    pub end: Option<u64>,
}

/// What a store tells its subscriber ([`Store::subscribe`]) about appends, by any node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// An event was appended to `topic` in `epoch`. Notices of one topic come in sequence
    /// order; one may be missed (a dropped connection): the receiver sees the jump in
    /// sequence numbers (or gets [`Notice::Lost`]) and catches up with [`Store::read`].
    Appended {
        /// The topic.
        topic: Arc<str>,
        /// Its epoch.
        epoch: u64,
        /// The event.
        event: StoredEvent,
    },
    /// Notices may have been lost (the notification connection dropped and came back):
    /// re-read every topic of interest.
    Lost,
    /// An ephemeral event sent by `node` ([`Store::ephemeral`]): for the live subscribers of
    /// `topic`, never stored.
    Ephemeral {
        /// The topic.
        topic: Arc<str>,
        /// The sending node (which delivered it to its own subscribers already).
        node: Arc<str>,
        /// The event type.
        event: String,
        /// The data (UTF-8).
        data: Bytes,
    },
}

/// Receives [`Notice`]s. Called on the store's own task: keep it short (no blocking).
pub type NoticeFn = Arc<dyn Fn(Notice) + Send + Sync>;

/// Settings every store shares. Build from [`StoreConfig::default`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreConfig {
    /// Retention per topic, enforced by the store: most events, most bytes (type + data), and
    /// oldest age; `max_event_bytes` is the largest event accepted.
    pub retention: LogConfig,
    /// How long an `Idempotency-Key` is remembered. Default 10 minutes.
    pub idempotency_ttl: Duration,
    /// Redis: how long a topic's stream key lives after its last publish (at least the
    /// retention age). Default 24 hours. The topic's meta hash (epoch and head) does not
    /// expire, so an idle topic keeps its numbers: a reader that comes back gets an exact gap.
    pub meta_ttl: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention: LogConfig::default(),
            idempotency_ttl: Duration::from_secs(600),
            meta_ttl: Duration::from_secs(86_400),
        }
    }
}

impl StoreConfig {
    /// Default settings with this retention.
    #[must_use]
    pub fn with_retention(mut self, retention: LogConfig) -> Self {
        self.retention = retention;
        self
    }

    /// With this idempotency window.
    #[must_use]
    pub fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_ttl = ttl;
        self
    }
}

/// A durable or shared event log per topic: the seam behind which the hub keeps history
/// (`memory` needs none: the hub's own logs are the history). Every store gives each topic
/// an **epoch** (the identity of its history: it changes only when the store lost it) and
/// consecutive **sequence numbers**, so a cursor `(epoch, seq)` means the same on every node
/// and across restarts.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// `file`, `redis`, `nats` (for logs, metrics and `/healthz`).
    fn kind(&self) -> &'static str;

    /// Appends an event to `topic` (creating its epoch if it has none) and answers once the
    /// store accepted it (for the file store: written with its fsync policy). Retention is
    /// applied. Notifies subscribers ([`Store::subscribe`]) of every node. Nothing is
    /// appended after the topic's end ([`StoreError::Ended`], decided atomically with the
    /// append, across nodes; the file and Redis stores still answer a retry with a known
    /// idempotency key with its first answer).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached (answer 503),
    /// [`StoreError::Ended`] after the end, others per [`StoreError`].
    fn append<'a>(
        &'a self,
        topic: &'a str,
        event: NewEvent<'a>,
    ) -> BoxFuture<'a, Result<Appended, StoreError>>;

    /// The topic's epoch and head, and at most `max_events` retained events with sequence
    /// numbers after `after` (`0`: from the oldest), oldest first, none older than the
    /// retention age. A topic the store has never seen gets an epoch here, so that every node
    /// hands out the same cursors for it. An ended topic's end is in [`History::end`], even
    /// once the end event is no longer retained.
    ///
    /// # Errors
    /// As [`Store::append`].
    fn read<'a>(
        &'a self,
        topic: &'a str,
        after: u64,
        max_events: usize,
    ) -> BoxFuture<'a, Result<History, StoreError>>;

    /// Gives `topic` a new epoch (and no history) if its epoch is still `lost`: for a store
    /// that went back in time within an epoch (a Redis restarted from an older AOF, a failover
    /// to a lagging replica), whose sequence numbers would otherwise be handed out twice.
    /// Readers then get a reset, never a second event under an id they already have.
    ///
    /// # Errors
    /// As [`Store::append`]; [`StoreError::Corrupt`] from a store that cannot do it.
    fn restart_epoch<'a>(
        &'a self,
        topic: &'a str,
        lost: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (topic, lost);
        Box::pin(async {
            Err(StoreError::corrupt(
                "the store lost acknowledged events and cannot start a new epoch",
            ))
        })
    }

    /// Starts delivering [`Notice`]s of every topic to `notify` (replacing an earlier
    /// receiver). For a shared store this is the subscription to the store's notification
    /// channel; it is in place when this returns, so a read made afterwards misses nothing
    /// (join first, then read, then merge by sequence number).
    ///
    /// # Errors
    /// As [`Store::append`].
    fn subscribe(&self, notify: NoticeFn) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Whether several hub processes share this store (presence and ephemeral events then go
    /// through it). `false` for the file store.
    fn is_shared(&self) -> bool {
        false
    }

    /// Records `node`'s members of `topic` (`members`: a JSON array; empty: none) for `ttl`:
    /// the node refreshes it well within, so a node that dies has its members gone after at
    /// most `ttl`.
    ///
    /// # Errors
    /// As [`Store::append`].
    fn presence_put<'a>(
        &'a self,
        topic: &'a str,
        node: &'a str,
        members: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (topic, node, members, ttl);
        Box::pin(async { Ok(()) })
    }

    /// Every node's unexpired presence record of `topic`: `(node, members JSON)`.
    ///
    /// # Errors
    /// As [`Store::append`].
    fn presence_get<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, StoreError>> {
        let _ = topic;
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Sends an ephemeral event of `node` to every node's subscriber ([`Notice::Ephemeral`]);
    /// at most once, never stored.
    ///
    /// # Errors
    /// As [`Store::append`].
    fn ephemeral<'a>(
        &'a self,
        topic: &'a str,
        node: &'a str,
        event: &'a str,
        data: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (topic, node, event, data);
        Box::pin(async { Ok(()) })
    }
}

/// 64 random bits from the operating system: a new epoch.
#[must_use]
pub fn new_epoch() -> u64 {
    // A zero epoch would be legal but is easy to confuse with "unset" in stored metadata.
    loop {
        let e = getrandom::u64().unwrap_or_else(|_| {
            // No OS randomness: the clock's nanoseconds are unique enough for an epoch.
            now_ms().wrapping_mul(0x9e37_79b9_7f4a_7c15)
        });
        if e != 0 {
            return e;
        }
    }
}

/// The epoch of a topic that has no history yet in a store whose history identity is `salt`
/// (one random value per store, replaced when the store is wiped): FNV-1a 64 of both, the
/// same on every node and build, never 0. Reading a topic then writes nothing.
#[must_use]
pub fn derive_epoch(salt: &[u8], topic: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [salt, topic.as_bytes()] {
        for &b in part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

/// Unix milliseconds now.
#[must_use]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Opens the store a [`StoreUrl`] names (`file:DIR`, `redis://…`), with the features built
/// in; `memory` has no store (`Ok(None)`).
///
/// # Errors
/// [`StoreError`]: the store cannot be opened or reached, or its kind is not built in.
pub async fn open(
    url: &StoreUrl,
    config: StoreConfig,
) -> Result<Option<Arc<dyn Store>>, StoreError> {
    // Used by every store built in; with none, only `memory` opens.
    let _ = &config;
    match url {
        StoreUrl::Memory => Ok(None),
        #[cfg(feature = "file")]
        StoreUrl::File { dir, fsync } => {
            let s = file::FileStore::open(dir, *fsync, config).await?;
            Ok(Some(Arc::new(s)))
        }
        #[cfg(feature = "redis")]
        StoreUrl::Redis { url } => {
            let s = redis::RedisStore::connect(url, config).await?;
            Ok(Some(Arc::new(s)))
        }
        #[cfg(feature = "nats")]
        StoreUrl::Nats { url } => {
            let s = nats::NatsStore::connect(url, config).await?;
            Ok(Some(Arc::new(s)))
        }
        #[allow(unreachable_patterns)]
        other => Err(StoreError::NotBuiltIn { kind: other.kind() }),
    }
}
