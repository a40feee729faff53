//! [`FileStore`]: embedded and durable on one node, on [redb](https://docs.rs/redb).
//!
//! One file, `DIR/sluice.redb`, three tables:
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | topic | epoch, head seq, oldest retained seq, retained bytes, end seq (5 × u64 LE; end 0: not ended; a file written before the end seq was kept has 4) |
//! | `events` | (topic, seq) | time ms (u64 LE), type length (u16 LE), type, data |
//! | `idempotency` | (topic, key) | epoch, seq, time ms (3 × u64 LE) |
//! | `idempotency_by_time` | (time ms, topic, key) | — (the expiry order) |
//! | `store` | `salt` | one random u64: a topic with no history has the epoch derived from it
//! and its name ([`crate::derive_epoch`]), so reading a topic writes nothing |
//!
//! One writer thread owns every write transaction: appends that arrive while a commit is in
//! flight share the next one (group commit), so a burst costs one fsync, not one per event.
//! Reads run on the blocking pool against redb's MVCC snapshots, never waiting for the writer.
//! Each commit is made with [`redb::Durability::Immediate`] (fsync) before any of its appends
//! is answered; [`FsyncPolicy::Batch`] lets the writer wait a little for company first.
//! redb's commit is atomic (checksummed commit slots: a torn write rolls back to the previous
//! commit), so after `kill -9` or a power failure the file holds every acknowledged event and
//! the same epochs.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redb::{Database, Durability, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::{
    Appended, BoxFuture, Cursor, END_EVENT_TYPE, FsyncPolicy, History, NewEvent, Notice, NoticeFn,
    Store, StoreConfig, StoreError, StoredEvent, new_epoch, now_ms,
};

const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const EVENTS: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("events");
const IDEMPOTENCY: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("idempotency");
/// The same keys in the order they expire: (time ms, topic, key). Expired keys are removed a
/// bounded number at a time (with each commit, and by the sweep), never by a scan of all.
const IDEMPOTENCY_BY_TIME: TableDefinition<'_, (u64, &str, &str), ()> =
    TableDefinition::new("idempotency_by_time");
/// Expired idempotency keys removed per commit: at least twice what a commit can add, so the
/// table never grows past what the window holds.
const EXPIRE_PER_COMMIT: usize = 2 * MAX_GROUP;
/// `salt`: one random value per store file, from which topics without history get their
/// epoch (a deleted file is a new salt: new epochs).
const STORE: TableDefinition<'_, &str, u64> = TableDefinition::new("store");

/// Most appends one commit takes.
const MAX_GROUP: usize = 512;
/// How long [`FsyncPolicy::Batch`] waits for more appends before committing.
const BATCH_WINDOW: Duration = Duration::from_millis(2);
/// How often aged-out events of idle topics (and expired idempotency keys) are removed.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// A durable store in one redb file. See the [module docs](self).
pub struct FileStore {
    db: Arc<Database>,
    salt: u64,
    tx: Mutex<Option<mpsc::Sender<Cmd>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    config: StoreConfig,
    notify: Arc<Mutex<Option<NoticeFn>>>,
}

impl Drop for FileStore {
    /// Stops the writer thread after the commands already sent (their commit included), so
    /// the file is closed when this returns and may be opened again.
    fn drop(&mut self) {
        crate::sync::lock(&self.tx).take();
        if let Some(w) = crate::sync::lock(&self.writer).take() {
            let _ = w.join();
        }
    }
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

enum Cmd {
    Append {
        topic: Box<str>,
        event_type: Box<str>,
        data: Bytes,
        key: Option<Box<str>>,
        reply: oneshot::Sender<Result<Appended, StoreError>>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    epoch: u64,
    head: u64,
    /// Oldest retained seq (`head + 1` when none).
    oldest: u64,
    bytes: u64,
    /// The seq of the epoch's end ([`END_EVENT_TYPE`]), 0 if it has not ended: kept after the
    /// end itself has aged out, so that the topic stays ended when it is read again.
    end: u64,
}

impl Meta {
    fn encode(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        for (i, v) in [self.epoch, self.head, self.oldest, self.bytes, self.end]
            .into_iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    fn decode(b: &[u8]) -> Result<Meta, StoreError> {
        let v = |i: usize| -> Result<u64, StoreError> {
            b.get(i * 8..i * 8 + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| StoreError::corrupt("short topic metadata"))
        };
        Ok(Meta {
            epoch: v(0)?,
            head: v(1)?,
            oldest: v(2)?,
            bytes: v(3)?,
            // Metadata written before the end was kept has four words: not ended (as far as
            // the metadata knows; a retained end event still says so).
            end: if b.len() >= 40 { v(4)? } else { 0 },
        })
    }
}

fn encode_event(time_ms: u64, event_type: &str, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(10 + event_type.len() + data.len());
    v.extend_from_slice(&time_ms.to_le_bytes());
    // Event types are at most 256 bytes (checked by the hub); a longer one cannot be stored.
    let len = u16::try_from(event_type.len()).unwrap_or(u16::MAX);
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&event_type.as_bytes()[..usize::from(len)]);
    v.extend_from_slice(data);
    v
}

fn decode_event(seq: u64, b: &[u8]) -> Result<StoredEvent, StoreError> {
    let bad = || StoreError::corrupt(format!("event {seq} is malformed"));
    let time_ms = u64::from_le_bytes(b.get(..8).and_then(|s| s.try_into().ok()).ok_or_else(bad)?);
    let len = u16::from_le_bytes(
        b.get(8..10)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(bad)?,
    );
    let end = 10 + usize::from(len);
    let t = std::str::from_utf8(b.get(10..end).ok_or_else(bad)?).map_err(|_| bad())?;
    let data = Bytes::copy_from_slice(&b[end..]);
    Ok(StoredEvent::new(seq, t, data, time_ms))
}

/// The event type of an event's stored form (`None`: malformed).
fn stored_type(b: &[u8]) -> Option<&str> {
    let len = u16::from_le_bytes(b.get(8..10)?.try_into().ok()?);
    std::str::from_utf8(b.get(10..10 + usize::from(len))?).ok()
}

/// Size of an event as retention counts it (type + data), from its stored form.
fn stored_size(b: &[u8]) -> u64 {
    b.len().saturating_sub(10) as u64
}

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Storage {
        reason: e.to_string(),
    }
}

impl FileStore {
    /// Opens (or creates) the store in `dir` (created if missing): `dir/sluice.redb`.
    ///
    /// # Errors
    /// [`StoreError::Storage`] when the directory or file cannot be opened (another process
    /// holds it, permissions), [`StoreError::Corrupt`] for a file redb cannot read.
    pub async fn open(
        dir: &Path,
        fsync: FsyncPolicy,
        config: StoreConfig,
    ) -> Result<FileStore, StoreError> {
        let dir = dir.to_owned();
        let db = tokio::task::spawn_blocking(move || -> Result<(Database, u64), StoreError> {
            std::fs::create_dir_all(&dir).map_err(storage)?;
            let db = Database::create(dir.join("sluice.redb")).map_err(storage)?;
            // Create the tables, so that readers never see them missing.
            let tx = db.begin_write().map_err(storage)?;
            let salt = {
                tx.open_table(META).map_err(storage)?;
                tx.open_table(EVENTS).map_err(storage)?;
                tx.open_table(IDEMPOTENCY).map_err(storage)?;
                tx.open_table(IDEMPOTENCY_BY_TIME).map_err(storage)?;
                let mut t = tx.open_table(STORE).map_err(storage)?;
                let existing = t.get("salt").map_err(storage)?.map(|v| v.value());
                match existing {
                    Some(s) => s,
                    None => {
                        let s = new_epoch();
                        t.insert("salt", s).map_err(storage)?;
                        s
                    }
                }
            };
            tx.commit().map_err(storage)?;
            Ok((db, salt))
        })
        .await
        .map_err(storage)??;
        let (db, salt) = db;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel();
        let notify: Arc<Mutex<Option<NoticeFn>>> = Arc::new(Mutex::new(None));
        let writer = Writer {
            db: Arc::clone(&db),
            config: config.clone(),
            fsync,
            notify: Arc::clone(&notify),
            salt,
        };
        let handle = std::thread::Builder::new()
            .name("sluice-store-writer".into())
            .spawn(move || writer.run(&rx))
            .map_err(storage)?;
        Ok(FileStore {
            db,
            salt,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            config,
            notify,
        })
    }

    fn send(&self, cmd: Cmd) -> Result<(), StoreError> {
        crate::sync::lock(&self.tx)
            .as_ref()
            .ok_or_else(|| storage("the store is closed"))?
            .send(cmd)
            .map_err(|_| storage("the writer thread stopped"))
    }

    fn read_blocking(
        db: &Database,
        config: &StoreConfig,
        salt: u64,
        topic: &str,
        after: u64,
        max_events: usize,
    ) -> Result<History, StoreError> {
        let tx = db.begin_read().map_err(storage)?;
        let meta = tx.open_table(META).map_err(storage)?;
        let Some(m) = meta.get(topic).map_err(storage)? else {
            return Ok(History {
                epoch: crate::derive_epoch(&salt.to_le_bytes(), topic),
                head: 0,
                events: Vec::new(),
                end: None,
            });
        };
        let m = Meta::decode(m.value())?;
        let events = tx.open_table(EVENTS).map_err(storage)?;
        let oldest_time = now_ms().saturating_sub(config.retention.max_age.as_millis() as u64);
        let from = (after + 1).max(m.oldest);
        let mut out = Vec::new();
        if from <= m.head {
            for r in events
                .range((topic, from)..=(topic, m.head))
                .map_err(storage)?
            {
                let (k, v) = r.map_err(storage)?;
                let ev = decode_event(k.value().1, v.value())?;
                if out.is_empty() && ev.time_ms < oldest_time {
                    continue; // aged out, not yet swept (a prefix only: batches stay consecutive)
                }
                out.push(ev);
                if out.len() >= max_events.max(1) {
                    break;
                }
            }
        }
        Ok(History {
            epoch: m.epoch,
            head: m.head,
            events: out,
            end: (m.end != 0).then_some(m.end),
        })
    }
}

impl Store for FileStore {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn append<'a>(
        &'a self,
        topic: &'a str,
        event: NewEvent<'a>,
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.send(Cmd::Append {
                topic: topic.into(),
                event_type: event.event_type.into(),
                data: Bytes::copy_from_slice(event.data),
                key: event.idempotency_key.map(Into::into),
                reply,
            })?;
            rx.await.map_err(|_| storage("the writer thread stopped"))?
        })
    }

    fn read<'a>(
        &'a self,
        topic: &'a str,
        after: u64,
        max_events: usize,
    ) -> BoxFuture<'a, Result<History, StoreError>> {
        Box::pin(async move {
            let db = Arc::clone(&self.db);
            let config = self.config.clone();
            let salt = self.salt;
            let t = topic.to_owned();
            tokio::task::spawn_blocking(move || {
                Self::read_blocking(&db, &config, salt, &t, after, max_events)
            })
            .await
            .map_err(storage)?
        })
    }

    fn subscribe(&self, notify: NoticeFn) -> BoxFuture<'_, Result<(), StoreError>> {
        *crate::sync::lock(&self.notify) = Some(notify);
        Box::pin(async { Ok(()) })
    }
}

struct Writer {
    db: Arc<Database>,
    salt: u64,
    config: StoreConfig,
    fsync: FsyncPolicy,
    notify: Arc<Mutex<Option<NoticeFn>>>,
}

/// The result of one command inside a transaction, answered after the commit.
enum Done {
    Appended {
        reply: oneshot::Sender<Result<Appended, StoreError>>,
        result: Appended,
        notice: Option<Notice>,
    },
    /// Refused without a write: answered with `error` whatever the commit does.
    Refused {
        reply: oneshot::Sender<Result<Appended, StoreError>>,
        error: StoreError,
    },
}

impl Writer {
    fn run(self, rx: &mpsc::Receiver<Cmd>) {
        // The database closes when the last holder drops it: the store, after this returns.
        let mut last_sweep = Instant::now();
        loop {
            let first = match rx.recv_timeout(SWEEP_EVERY) {
                Ok(c) => c,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.sweep_logged();
                    last_sweep = Instant::now();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let mut group = vec![first];
            if self.fsync == FsyncPolicy::Batch {
                let until = Instant::now() + BATCH_WINDOW;
                while group.len() < MAX_GROUP {
                    let left = until.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(left) {
                        Ok(c) => group.push(c),
                        Err(_) => break,
                    }
                }
            }
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(c) => group.push(c),
                    Err(_) => break,
                }
            }
            self.commit_group(group);
            if last_sweep.elapsed() >= SWEEP_EVERY {
                self.sweep_logged();
                last_sweep = Instant::now();
            }
        }
    }

    fn commit_group(&self, group: Vec<Cmd>) {
        let mut done = Vec::with_capacity(group.len());
        let result = (|| -> Result<(), StoreError> {
            let mut tx = self.db.begin_write().map_err(storage)?;
            tx.set_durability(Durability::Immediate);
            {
                let mut meta = tx.open_table(META).map_err(storage)?;
                let mut events = tx.open_table(EVENTS).map_err(storage)?;
                let mut idem = tx.open_table(IDEMPOTENCY).map_err(storage)?;
                let mut by_time = tx.open_table(IDEMPOTENCY_BY_TIME).map_err(storage)?;
                self.expire_keys(&mut idem, &mut by_time, now_ms(), EXPIRE_PER_COMMIT)?;
                for cmd in group {
                    match cmd {
                        Cmd::Append {
                            topic,
                            event_type,
                            data,
                            key,
                            reply,
                        } => {
                            let now = now_ms();
                            let mut m = match meta.get(&*topic).map_err(storage)? {
                                Some(v) => Meta::decode(v.value())?,
                                None => Meta {
                                    epoch: crate::derive_epoch(&self.salt.to_le_bytes(), &topic),
                                    head: 0,
                                    oldest: 1,
                                    bytes: 0,
                                    end: 0,
                                },
                            };
                            if let Some(k) = key.as_deref()
                                && let Some(v) = idem.get((&*topic, k)).map_err(storage)?
                            {
                                let v = v.value();
                                let word = |i: usize| {
                                    v.get(i * 8..i * 8 + 8)
                                        .and_then(|s| s.try_into().ok())
                                        .map_or(0, u64::from_le_bytes)
                                };
                                let fresh = now.saturating_sub(word(2))
                                    < self.config.idempotency_ttl.as_millis() as u64;
                                if fresh && word(0) == m.epoch {
                                    done.push(Done::Appended {
                                        reply,
                                        result: Appended {
                                            cursor: Cursor::new(word(0), word(1)),
                                            duplicate: true,
                                        },
                                        notice: None,
                                    });
                                    continue;
                                }
                            }
                            if m.end != 0 {
                                // Nothing after the end (checked after the key: a retry gets
                                // its first answer).
                                let end = Cursor::new(m.epoch, m.end);
                                done.push(Done::Refused {
                                    reply,
                                    error: StoreError::Ended { end },
                                });
                                continue;
                            }
                            m.head += 1;
                            let seq = m.head;
                            if &*event_type == END_EVENT_TYPE {
                                // Kept in the metadata: the end event ages out like any other.
                                m.end = seq;
                            }
                            let value = encode_event(now, &event_type, &data);
                            m.bytes += stored_size(&value);
                            events.insert((&*topic, seq), &value[..]).map_err(storage)?;
                            self.trim(&mut events, &topic, &mut m, now)?;
                            meta.insert(&*topic, &m.encode()[..]).map_err(storage)?;
                            if let Some(k) = key.as_deref() {
                                let mut v = [0u8; 24];
                                v[..8].copy_from_slice(&m.epoch.to_le_bytes());
                                v[8..16].copy_from_slice(&seq.to_le_bytes());
                                v[16..].copy_from_slice(&now.to_le_bytes());
                                idem.insert((&*topic, k), &v[..]).map_err(storage)?;
                                by_time.insert((now, &*topic, k), ()).map_err(storage)?;
                            }
                            let event = StoredEvent::new(seq, &event_type, data, now);
                            done.push(Done::Appended {
                                reply,
                                result: Appended {
                                    cursor: Cursor::new(m.epoch, seq),
                                    duplicate: false,
                                },
                                notice: Some(Notice::Appended {
                                    topic: Arc::from(&*topic),
                                    epoch: m.epoch,
                                    event,
                                }),
                            });
                        }
                    }
                }
            }
            tx.commit().map_err(storage)?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                let notify = crate::sync::lock(&self.notify).clone();
                for d in done {
                    match d {
                        Done::Appended {
                            reply,
                            result,
                            notice,
                        } => {
                            if let (Some(n), Some(f)) = (notice, &notify) {
                                f(n);
                            }
                            let _ = reply.send(Ok(result));
                        }
                        Done::Refused { reply, error } => {
                            let _ = reply.send(Err(error));
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "file store commit failed");
                for d in done {
                    match d {
                        Done::Appended { reply, .. } => {
                            let _ = reply.send(Err(e.clone()));
                        }
                        Done::Refused { reply, error } => {
                            let _ = reply.send(Err(error));
                        }
                    }
                }
            }
        }
    }

    /// Drops the topic's oldest events beyond the retention limits (count, bytes, age); the
    /// newest event always stays.
    fn trim(
        &self,
        events: &mut redb::Table<'_, (&'static str, u64), &'static [u8]>,
        topic: &str,
        m: &mut Meta,
        now: u64,
    ) -> Result<(), StoreError> {
        let r = &self.config.retention;
        let max_events = r.max_events.max(1) as u64;
        let oldest_time = now.saturating_sub(r.max_age.as_millis() as u64);
        while m.oldest <= m.head {
            let count = m.head - m.oldest + 1;
            let over = count > max_events || (m.bytes > r.max_bytes as u64 && count > 1);
            let aged = {
                let Some(v) = events.get((topic, m.oldest)).map_err(storage)? else {
                    // A hole (cannot happen with this writer): skip it.
                    m.oldest += 1;
                    continue;
                };
                let v = v.value();
                let t = v
                    .get(..8)
                    .and_then(|s| s.try_into().ok())
                    .map_or(0, u64::from_le_bytes);
                t < oldest_time
            };
            if !over && !aged {
                break;
            }
            if let Some(v) = events.remove((topic, m.oldest)).map_err(storage)? {
                let v = v.value();
                m.bytes = m.bytes.saturating_sub(stored_size(v));
                if m.end == 0 && stored_type(v) == Some(END_EVENT_TYPE) {
                    // A topic that ended before the end was kept in the metadata: keep it now,
                    // before its only record goes.
                    m.end = m.oldest;
                }
            }
            m.oldest += 1;
        }
        Ok(())
    }

    fn sweep_logged(&self) {
        if let Err(e) = self.sweep() {
            tracing::warn!(error = %e, "file store sweep failed");
        }
    }

    /// Removes at most `max` idempotency keys older than the window, oldest first.
    fn expire_keys(
        &self,
        idem: &mut redb::Table<'_, (&'static str, &'static str), &'static [u8]>,
        by_time: &mut redb::Table<'_, (u64, &'static str, &'static str), ()>,
        now: u64,
        max: usize,
    ) -> Result<(), StoreError> {
        let cutoff = now.saturating_sub(self.config.idempotency_ttl.as_millis() as u64);
        let expired: Vec<(u64, String, String)> = by_time
            .range((0u64, "", "")..(cutoff, "", ""))
            .map_err(storage)?
            .take(max)
            .map(|r| {
                let (k, _) = r.map_err(storage)?;
                let (t, topic, key) = k.value();
                Ok((t, topic.to_owned(), key.to_owned()))
            })
            .collect::<Result<_, StoreError>>()?;
        for (t, topic, key) in expired {
            by_time.remove((t, &*topic, &*key)).map_err(storage)?;
            // The key may have been written again later (a new entry, a new time): keep that.
            let stale = idem
                .get((&*topic, &*key))
                .map_err(storage)?
                .is_some_and(|v| v.value().get(16..24) == Some(&t.to_le_bytes()[..]));
            if stale {
                idem.remove((&*topic, &*key)).map_err(storage)?;
            }
        }
        Ok(())
    }

    /// Removes aged-out events of every topic and expired idempotency keys.
    fn sweep(&self) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.db.begin_write().map_err(storage)?;
        tx.set_durability(Durability::Immediate);
        {
            let mut meta = tx.open_table(META).map_err(storage)?;
            let mut events = tx.open_table(EVENTS).map_err(storage)?;
            let topics: Vec<(String, Meta)> = meta
                .iter()
                .map_err(storage)?
                .map(|r| {
                    let (k, v) = r.map_err(storage)?;
                    Ok((k.value().to_owned(), Meta::decode(v.value())?))
                })
                .collect::<Result<_, StoreError>>()?;
            for (topic, mut m) in topics {
                let before = m.oldest;
                self.trim(&mut events, &topic, &mut m, now)?;
                if m.oldest != before {
                    meta.insert(&*topic, &m.encode()[..]).map_err(storage)?;
                }
            }
            let mut idem = tx.open_table(IDEMPOTENCY).map_err(storage)?;
            let mut by_time = tx.open_table(IDEMPOTENCY_BY_TIME).map_err(storage)?;
            self.expire_keys(&mut idem, &mut by_time, now, 100_000)?;
        }
        tx.commit().map_err(storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;
    use sluice_longpoll::LogConfig;

    fn cfg(max_events: usize) -> StoreConfig {
        StoreConfig::default().with_retention(LogConfig::default().with_max_events(max_events))
    }

    #[tokio::test]
    async fn append_read_retention_idempotency_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(dir.path(), FsyncPolicy::Always, cfg(3))
            .await
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = Arc::clone(&seen);
        s.subscribe(Arc::new(move |n| s2.lock().unwrap().push(n)))
            .await
            .unwrap();
        let empty = s.read("t", 0, 10).await.unwrap();
        assert_eq!((empty.head, empty.events.len()), (0, 0));
        let epoch = empty.epoch;
        for i in 1..=5u64 {
            let a = s
                .append("t", NewEvent::new("m", format!("e{i}").as_bytes()))
                .await
                .unwrap();
            assert_eq!(a.cursor, Cursor::new(epoch, i));
        }
        let h = s.read("t", 0, 10).await.unwrap();
        assert_eq!(h.head, 5);
        let seqs: Vec<u64> = h.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3, 4, 5], "count retention");
        assert_eq!(&h.events[0].data[..], b"e3");
        assert_eq!(seen.lock().unwrap().len(), 5, "one notice per append");
        // Idempotency: the retry gets the first answer and appends nothing.
        let ev = NewEvent::new("m", b"x").idempotency_key(Some("k1"));
        let a = s.append("t", ev).await.unwrap();
        let b = s.append("t", ev).await.unwrap();
        assert_eq!(
            (a.cursor, a.duplicate, b.duplicate),
            (a.cursor, false, true)
        );
        assert_eq!(b.cursor, a.cursor);
        assert_eq!(s.read("t", 0, 10).await.unwrap().head, 6);
        drop(s);
        // Reopen: the same epoch and head.
        let s = FileStore::open(dir.path(), FsyncPolicy::Batch, cfg(3))
            .await
            .unwrap();
        let h = s.read("t", 5, 10).await.unwrap();
        assert_eq!((h.epoch, h.head, h.events.len()), (epoch, 6, 1));
        let c = s.append("t", NewEvent::new("m", b"y")).await.unwrap();
        assert_eq!(c.cursor, Cursor::new(epoch, 7));
    }

    #[tokio::test]
    async fn idempotency_keys_expire_in_order_without_a_scan() {
        let dir = tempfile::tempdir().unwrap();
        // The window covers the first append's commit (its fsync) and the retry: wide enough
        // for a slow disk on a loaded machine.
        let cfg = cfg(100).with_idempotency_ttl(Duration::from_millis(500));
        let s = FileStore::open(dir.path(), FsyncPolicy::Always, cfg)
            .await
            .unwrap();
        let k1 = NewEvent::new("m", b"a").idempotency_key(Some("k1"));
        let first = s.append("t", k1).await.unwrap();
        assert!(
            s.append("t", k1).await.unwrap().duplicate,
            "within the window"
        );
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        // The next commit removes the expired key (and its expiry entry).
        s.append("t", NewEvent::new("m", b"b")).await.unwrap();
        let db = Arc::clone(&s.db);
        let (n_idem, n_time) = tokio::task::spawn_blocking(move || {
            let tx = db.begin_read().unwrap();
            let a = tx.open_table(IDEMPOTENCY).unwrap().len().unwrap();
            let b = tx.open_table(IDEMPOTENCY_BY_TIME).unwrap().len().unwrap();
            (a, b)
        })
        .await
        .unwrap();
        assert_eq!((n_idem, n_time), (0, 0));
        let again = s.append("t", k1).await.unwrap();
        assert!(!again.duplicate, "after the window a key is new");
        assert_eq!(again.cursor.seq(), first.cursor.seq() + 2);
    }

    /// A store in a new directory whose retention ages events out after 200 ms (the directory
    /// and the config, for reopening it).
    async fn aging_store() -> (tempfile::TempDir, StoreConfig, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig::default()
            .with_retention(LogConfig::default().with_max_age(Duration::from_millis(200)));
        let s = FileStore::open(dir.path(), FsyncPolicy::Always, cfg.clone())
            .await
            .unwrap();
        (dir, cfg, s)
    }

    /// The end of an ended topic outlives the end event: once retention has removed it, a
    /// read (after a reopen too) still says where the topic ended, so that it stays ended.
    #[tokio::test]
    async fn the_end_is_kept_after_the_end_event_ages_out() {
        let (dir, cfg, s) = aging_store().await;
        s.append("t", NewEvent::new("m", b"a")).await.unwrap();
        s.append("other", NewEvent::new("m", b"b")).await.unwrap();
        let end = s
            .append("t", NewEvent::new(END_EVENT_TYPE, b""))
            .await
            .unwrap();
        assert_eq!(end.cursor.seq(), 2);
        let h = s.read("t", 0, 10).await.unwrap();
        assert_eq!((h.head, h.events.len(), h.end), (2, 2, Some(2)));
        assert_eq!(s.read("other", 0, 10).await.unwrap().end, None);
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Aged out: skipped by reads, then removed by the sweep.
        let h = s.read("t", 0, 10).await.unwrap();
        assert_eq!((h.head, h.events.len(), h.end), (2, 0, Some(2)));
        let writer = Writer {
            db: Arc::clone(&s.db),
            salt: s.salt,
            config: cfg.clone(),
            fsync: FsyncPolicy::Always,
            notify: Arc::new(Mutex::new(None)),
        };
        tokio::task::spawn_blocking(move || writer.sweep())
            .await
            .unwrap()
            .unwrap();
        let db = Arc::clone(&s.db);
        let stored = tokio::task::spawn_blocking(move || {
            let tx = db.begin_read().unwrap();
            tx.open_table(EVENTS).unwrap().len().unwrap()
        })
        .await
        .unwrap();
        assert_eq!(stored, 0, "every event aged out, the end included");
        drop(s);
        let s = FileStore::open(dir.path(), FsyncPolicy::Always, cfg)
            .await
            .unwrap();
        let h = s.read("t", 2, 10).await.unwrap();
        assert_eq!(
            (h.epoch, h.head, h.events.len(), h.end),
            (end.cursor.epoch(), 2, 0, Some(2))
        );
        assert_eq!(s.read("other", 0, 10).await.unwrap().end, None);
    }

    /// Nothing is appended after the end: a publish (or a second end) is refused with the
    /// end's cursor and writes nothing; a retry with a known key still gets its first answer.
    #[tokio::test]
    async fn appends_after_the_end_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(dir.path(), FsyncPolicy::Always, cfg(100))
            .await
            .unwrap();
        let seen = Arc::new(Mutex::new(0usize));
        let s2 = Arc::clone(&seen);
        s.subscribe(Arc::new(move |_| *s2.lock().unwrap() += 1))
            .await
            .unwrap();
        let first = NewEvent::new("m", b"a").idempotency_key(Some("k"));
        let a = s.append("t", first).await.unwrap();
        let end = s
            .append("t", NewEvent::new(END_EVENT_TYPE, b""))
            .await
            .unwrap()
            .cursor;
        for ev in [
            NewEvent::new("m", b"late"),
            NewEvent::new("m", b"late").idempotency_key(Some("k2")),
            NewEvent::new(END_EVENT_TYPE, b""),
        ] {
            assert_eq!(
                s.append("t", ev).await,
                Err(StoreError::Ended { end }),
                "{ev:?}"
            );
        }
        let retry = s.append("t", first).await.unwrap();
        assert_eq!((retry.cursor, retry.duplicate), (a.cursor, true));
        let h = s.read("t", 0, 10).await.unwrap();
        assert_eq!((h.head, h.events.len(), h.end), (2, 2, Some(2)));
        assert_eq!(*seen.lock().unwrap(), 2, "no notice for a refusal");
        // Another topic in the same commit group is not affected.
        assert_eq!(
            s.append("u", NewEvent::new("m", b"x"))
                .await
                .unwrap()
                .cursor
                .seq(),
            1
        );
    }

    /// A topic that ended before the end was kept in the metadata (four-word meta row): when
    /// retention removes the end event, its sequence number goes into the metadata, so the
    /// topic stays ended.
    #[tokio::test]
    async fn an_end_from_before_the_mark_is_kept_when_it_ages_out() {
        let (_dir, cfg, s) = aging_store().await;
        s.append("t", NewEvent::new("m", b"a")).await.unwrap();
        s.append("t", NewEvent::new(END_EVENT_TYPE, b""))
            .await
            .unwrap();
        // As an older version wrote it: no end in the metadata.
        let db = Arc::clone(&s.db);
        tokio::task::spawn_blocking(move || {
            let tx = db.begin_write().unwrap();
            {
                let mut meta = tx.open_table(META).unwrap();
                let m = Meta::decode(meta.get("t").unwrap().unwrap().value()).unwrap();
                assert_eq!(m.end, 2);
                meta.insert("t", &m.encode()[..32]).unwrap();
            }
            tx.commit().unwrap();
        })
        .await
        .unwrap();
        assert_eq!(s.read("t", 0, 10).await.unwrap().end, None, "unmarked");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let writer = Writer {
            db: Arc::clone(&s.db),
            salt: s.salt,
            config: cfg,
            fsync: FsyncPolicy::Always,
            notify: Arc::new(Mutex::new(None)),
        };
        tokio::task::spawn_blocking(move || writer.sweep())
            .await
            .unwrap()
            .unwrap();
        let h = s.read("t", 0, 10).await.unwrap();
        assert_eq!(
            (h.head, h.events.len(), h.end),
            (2, 0, Some(2)),
            "the end kept as it aged out"
        );
        assert!(matches!(
            s.append("t", NewEvent::new("m", b"late")).await,
            Err(StoreError::Ended { .. })
        ));
    }

    proptest::proptest! {
        /// The stored forms read back exactly, and any bytes in the file decode to an event or
        /// a `Corrupt` error, never a panic.
        #[test]
        fn stored_forms_round_trip_and_never_panic(
            time in proptest::prelude::any::<u64>(),
            t in "[a-z ]{1,40}",
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            seq in 1u64..u64::MAX,
        ) {
            let ev = decode_event(seq, &encode_event(time, &t, &data)).unwrap();
            let stored = encode_event(time, &t, &data);
            proptest::prop_assert_eq!(stored_type(&stored), Some(&*t));
            let _ = stored_type(&junk);
            proptest::prop_assert_eq!(ev, StoredEvent::new(seq, &t, Bytes::from(data), time));
            let _ = decode_event(seq, &junk);
            let m = Meta { epoch: time, head: seq, oldest: 1, bytes: 7, end: seq / 2 };
            let back = Meta::decode(&m.encode()).unwrap();
            proptest::prop_assert_eq!(
                (back.epoch, back.head, back.oldest, back.bytes, back.end),
                (time, seq, 1, 7, seq / 2)
            );
            // The four-word metadata of older files: not ended.
            let old = Meta::decode(&m.encode()[..32]).unwrap();
            proptest::prop_assert_eq!((old.head, old.end), (seq, 0));
            let _ = Meta::decode(&junk);
        }
    }
}
