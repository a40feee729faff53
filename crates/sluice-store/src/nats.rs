//! [`NatsStore`]: NATS JetStream, shared by any number of hub nodes.
//!
//! No hub we know keeps history in JetStream, so this design is ours:
//!
//! - **One stream** (`SLUICE`) on subjects `sluice.t.<topic>` (the topic's `.`s written as
//!   `~`, so a topic is one subject token), file storage,
//!   `max_msgs_per_subject` = the retention count, a duplicate window = the idempotency TTL,
//!   direct get on, and **RePublish** of every stored message to `sluice.live.<topic>` — the
//!   live fan-out every node subscribes to with plain core NATS. No stream `max_age` and no
//!   stream `max_bytes`: either could empty a subject, and the last message of a subject is what
//!   carries its head; age retention is applied when reading (and by every replica), and disk
//!   use is bounded by `max_msgs_per_subject` × topics × message size.
//! - **Per-topic contiguous sequence numbers** in a `Sluice-Seq` header, made safe by
//!   optimistic concurrency: each publish says `Nats-Expected-Last-Subject-Sequence` = the
//!   stream sequence of the subject's last message, so of two nodes publishing `n + 1` at once
//!   one wins and the other re-reads the subject's last message and publishes `n + 2` — or,
//!   when that last message is the topic's end, publishes nothing
//!   ([`StoreError::Ended`]): so nothing is ever stored after the end.
//! - **Epoch**: each message carries `Sluice-Epoch`; a topic's first message takes
//!   a hash of the stream's creation time and the topic name (FNV-1a), so every node hands out
//!   the same cursors for a topic nobody published to yet, and a re-created stream (data wiped)
//!   gives every topic a new epoch: a reset for every reader.
//! - **Idempotency**: `Nats-Msg-Id: <topic>:<key>` — JetStream's own deduplication; a
//!   duplicate is acknowledged with the first message's stream sequence, whose headers give
//!   the first answer.
//! - **Reading** "after seq N": the subject's last message gives epoch and head (and, when it
//!   is the topic's end, that the topic ended there, even once it is older than the retention
//!   age and no longer read as an event); the first message after N is found by a binary
//!   search over stream sequences (each probe one direct get of "the subject's first message
//!   at or after S"), then one direct get per message.
//!   Nodes remember where their replica's head is, so a catch-up starts there with no search.
//! - **Presence and ephemeral events** use core NATS only (nothing about them is stored):
//!   each node publishes its members of a topic on `sluice.x.pres.<topic>` (headers
//!   `Sluice-Node`, `Sluice-Ttl`) whenever they change and as a heartbeat well within the TTL;
//!   every node keeps the latest record per (topic, node) and forgets one older than its TTL —
//!   so a node that dies has its members gone within the TTL. Ephemeral events go on
//!   `sluice.x.eph.<topic>` (`Sluice-Node`, `Sluice-Type`). A node that just started knows
//!   the others' members after their next heartbeat.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_nats::{HeaderMap, HeaderValue};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::{
    Appended, BoxFuture, Cursor, END_EVENT_TYPE, History, NewEvent, Notice, NoticeFn, Store,
    StoreConfig, StoreError, StoredEvent, derive_epoch, now_ms,
};

const STREAM: &str = "SLUICE";
const SEQ: &str = "Sluice-Seq";
const EPOCH: &str = "Sluice-Epoch";
const TYPE: &str = "Sluice-Type";
const NODE: &str = "Sluice-Node";
const TTL: &str = "Sluice-Ttl";
const TIMEOUT: Duration = Duration::from_secs(2);
/// Topics whose last message / read position a node caches (memory bound; beyond it unused
/// entries are dropped and re-read from the stream when needed).
const MAX_CACHED_TOPICS: usize = 4096;
/// Publishes lost to another node's at the same sequence before giving up.
const MAX_RACES: usize = 64;

/// A topic as one subject token: `.` separates NATS tokens (and `a..b`, `.a` are not valid
/// subjects), so it becomes `~`, which no topic name contains.
fn subject(topic: &str) -> String {
    format!("sluice.t.{}", topic.replace('.', "~"))
}

/// The last message of a topic, as far as a node knows.
#[derive(Debug, Clone, Copy, Default)]
struct Last {
    /// Stream sequence (0: the subject is empty).
    stream_seq: u64,
    topic_seq: u64,
    epoch: u64,
    /// It is the topic's end ([`END_EVENT_TYPE`]): the subject's last message always stays,
    /// so the end is known after it has aged out, and nothing is published after it (a
    /// subject written by an older version may hold a publish that raced the close after it:
    /// the end is then not known from here).
    ended: bool,
}

/// A topic's last message as this node knows it (`None`: read it from the stream), behind
/// the lock of this node's publishes to the topic.
type TopicLast = Arc<tokio::sync::Mutex<Option<Last>>>;

/// NATS JetStream. See the [module docs](self).
pub struct NatsStore {
    client: async_nats::Client,
    js: jetstream::Context,
    config: StoreConfig,
    /// The stream's creation time (ns), for the epochs of empty topics.
    created: Mutex<i128>,
    /// Per topic: its last message as this node last saw it, behind a lock that serialises
    /// this node's own publishes to the topic (other nodes race through the expected
    /// sequence).
    last: Mutex<HashMap<Arc<str>, TopicLast>>,
    /// Per topic: topic seq → stream seq of recent events (where a catch-up starts).
    positions: Mutex<HashMap<Arc<str>, (u64, u64)>>,
    notify: Arc<Mutex<Option<NoticeFn>>>,
    task: crate::sync::NoticeTask,
    /// The stream handle and when it was last looked up.
    stream: Mutex<Option<(stream::Stream, std::time::Instant)>>,
    /// Every node's latest presence record per topic: (topic, node) → (members JSON, valid
    /// until).
    presence: Arc<Mutex<PresenceView>>,
}

/// Every node's latest presence record per (topic, node): members JSON and valid-until.
#[derive(Default)]
struct PresenceView {
    records: HashMap<(String, String), (String, std::time::Instant)>,
    /// When expired records were last dropped (at most once a second, on insert: records of
    /// topics nobody reads must not pile up).
    pruned: Option<std::time::Instant>,
}

/// How long a looked-up stream handle (and its creation time) is trusted.
const STREAM_REFRESH: Duration = Duration::from_secs(1);

impl std::fmt::Debug for NatsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::unavailable(e)
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get_last(name)?.as_str().parse().ok()
}

fn decode(
    headers: &HeaderMap,
    payload: &Bytes,
    time_ms: u64,
) -> Result<(u64, StoredEvent), StoreError> {
    let bad = || StoreError::corrupt("a message without Sluice headers on a sluice subject");
    let seq = header_u64(headers, SEQ)
        .filter(|&s| s > 0)
        .ok_or_else(bad)?;
    let epoch = header_u64(headers, EPOCH).ok_or_else(bad)?;
    // Written as `[type]`: NATS trims header values, and an event type may start or end
    // with a space.
    let t = headers
        .get_last(TYPE)
        .map(|v| v.as_str())
        .and_then(|v| v.strip_prefix('[')?.strip_suffix(']'))
        .ok_or_else(bad)?;
    Ok((epoch, StoredEvent::new(seq, t, payload.clone(), time_ms)))
}

fn time_ms(unix_nanos: i128) -> u64 {
    u64::try_from(unix_nanos / 1_000_000).unwrap_or(0)
}

impl NatsStore {
    /// Connects to `url` (`nats://HOST:PORT`) and creates the stream if it does not exist.
    /// The client reconnects by itself; a request not answered within 2 s fails with
    /// [`StoreError::Unavailable`].
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]: the server cannot be reached or has no JetStream.
    pub async fn connect(url: &str, config: StoreConfig) -> Result<NatsStore, StoreError> {
        let notify: Arc<Mutex<Option<NoticeFn>>> = Arc::new(Mutex::new(None));
        let n2 = Arc::clone(&notify);
        let client = async_nats::ConnectOptions::new()
            .name("sluice")
            .connection_timeout(TIMEOUT)
            .request_timeout(Some(TIMEOUT))
            .event_callback(move |ev| {
                let n = Arc::clone(&n2);
                async move {
                    // After a reconnect, or when our subscription dropped messages, the
                    // notices in between are gone: everyone re-reads.
                    if matches!(
                        ev,
                        async_nats::Event::Connected | async_nats::Event::SlowConsumer(_)
                    ) && let Some(f) = crate::sync::lock(&n).clone()
                    {
                        f(Notice::Lost);
                    }
                }
            })
            .connect(url)
            .await
            .map_err(unavailable)?;
        let js = jetstream::ContextBuilder::new()
            .timeout(TIMEOUT)
            .build(client.clone());
        let s = NatsStore {
            client,
            js,
            config,
            created: Mutex::new(0),
            last: Mutex::new(HashMap::new()),
            positions: Mutex::new(HashMap::new()),
            notify,
            task: crate::sync::NoticeTask::default(),
            stream: Mutex::new(None),
            presence: Arc::new(Mutex::new(PresenceView::default())),
        };
        s.ensure_stream().await?;
        Ok(s)
    }

    fn stream_config(&self) -> stream::Config {
        let r = &self.config.retention;
        stream::Config {
            name: STREAM.into(),
            subjects: vec!["sluice.t.>".into()],
            max_messages_per_subject: i64::try_from(r.max_events.max(1)).unwrap_or(i64::MAX),
            duplicate_window: self.config.idempotency_ttl,
            storage: stream::StorageType::File,
            allow_direct: true,
            republish: Some(stream::Republish {
                source: "sluice.t.>".into(),
                destination: "sluice.live.>".into(),
                headers_only: false,
            }),
            ..Default::default()
        }
    }

    /// Gets (or creates) the stream and remembers its creation time.
    async fn ensure_stream(&self) -> Result<stream::Stream, StoreError> {
        let s = self
            .js
            .get_or_create_stream(self.stream_config())
            .await
            .map_err(unavailable)?;
        let info = s.get_info().await.map_err(unavailable)?;
        let created = info.created.unix_timestamp_nanos();
        let mut c = crate::sync::lock(&self.created);
        if *c != created {
            if *c != 0 {
                tracing::warn!("the JetStream stream was re-created: every topic gets a new epoch");
                crate::sync::lock(&self.last).clear();
                crate::sync::lock(&self.positions).clear();
            }
            *c = created;
        }
        drop(c);
        *crate::sync::lock(&self.stream) = Some((s.clone(), std::time::Instant::now()));
        Ok(s)
    }

    fn empty_epoch(&self, topic: &str) -> u64 {
        let c = *crate::sync::lock(&self.created);
        derive_epoch(&c.to_le_bytes(), topic)
    }

    /// The subject's last message (`stream_seq` 0 when empty), from the stream's leader (a
    /// direct get may be answered by a lagging replica). `fresh_epoch`: re-read the stream's
    /// creation time before deriving an empty topic's epoch (a publish, which writes it for
    /// good; a read uses the creation time looked up within the last second).
    async fn read_last(
        &self,
        s: &stream::Stream,
        topic: &str,
        fresh_epoch: bool,
    ) -> Result<Last, StoreError> {
        match s.get_last_raw_message_by_subject(&subject(topic)).await {
            Ok(m) => {
                let (epoch, ev) = decode(
                    &m.headers,
                    &m.payload,
                    time_ms(m.time.unix_timestamp_nanos()),
                )?;
                Ok(Last {
                    stream_seq: m.sequence,
                    topic_seq: ev.seq,
                    epoch,
                    ended: &*ev.event_type == END_EVENT_TYPE,
                })
            }
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                if fresh_epoch {
                    self.ensure_stream().await?;
                }
                Ok(Last {
                    stream_seq: 0,
                    topic_seq: 0,
                    epoch: self.empty_epoch(topic),
                    ended: false,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The first message of the subject at or after stream sequence `from` (from the leader).
    async fn first_from(
        s: &stream::Stream,
        topic: &str,
        from: u64,
    ) -> Result<Option<(u64, u64, StoredEvent)>, StoreError> {
        match s
            .get_first_raw_message_by_subject(subject(topic), from)
            .await
        {
            Ok(m) => {
                let (epoch, ev) = decode(
                    &m.headers,
                    &m.payload,
                    time_ms(m.time.unix_timestamp_nanos()),
                )?;
                Ok(Some((m.sequence, epoch, ev)))
            }
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn topic_lock(&self, topic: &str) -> TopicLast {
        let mut m = crate::sync::lock(&self.last);
        if m.len() >= MAX_CACHED_TOPICS && !m.contains_key(topic) {
            // Forget topics no publish is using (a cache: re-read from the stream if needed).
            m.retain(|_, l| Arc::strong_count(l) > 1);
        }
        Arc::clone(m.entry(Arc::from(topic)).or_default())
    }

    fn remember(&self, topic: &str, topic_seq: u64, stream_seq: u64) {
        let mut p = crate::sync::lock(&self.positions);
        if p.len() >= MAX_CACHED_TOPICS && !p.contains_key(topic) {
            p.clear(); // hints only: a miss costs a binary search
        }
        p.insert(Arc::from(topic), (topic_seq, stream_seq));
    }

    /// The stream sequence to start from for topic sequences after `after`.
    async fn start_after(
        &self,
        s: &stream::Stream,
        topic: &str,
        after: u64,
        last: &Last,
    ) -> Result<u64, StoreError> {
        if after == 0 {
            return Ok(1);
        }
        if let Some(&(t, ss)) = crate::sync::lock(&self.positions).get(topic)
            && t == after
        {
            return Ok(ss + 1);
        }
        // Binary search: the smallest stream seq whose next subject message has Sluice-Seq
        // > after. Sequences of one subject grow with stream sequences.
        let (mut lo, mut hi) = (1u64, last.stream_seq);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match Self::first_from(s, topic, mid).await? {
                Some((ss, _, ev)) if ev.seq > after => hi = mid.min(ss),
                Some((ss, _, _)) => lo = ss + 1,
                None => hi = mid,
            }
        }
        Ok(lo)
    }
}

/// The subject of a topic's live-only traffic (`pres` or `eph`).
fn live_subject(kind: &str, topic: &str) -> String {
    format!("sluice.x.{kind}.{}", topic.replace('.', "~"))
}

/// Presence records and ephemeral events of other nodes (`sluice.x.>`).
fn on_live_only(
    m: &async_nats::Message,
    view: &Mutex<PresenceView>,
    notify: &Mutex<Option<NoticeFn>>,
) {
    let h = m.headers.as_ref();
    let header = |n: &str| h.and_then(|h| h.get_last(n)).map(|v| v.as_str().to_owned());
    let Some(node) = header(NODE) else {
        return;
    };
    if let Some(token) = m.subject.as_str().strip_prefix("sluice.x.pres.") {
        let topic = token.replace('~', ".");
        let mut v = crate::sync::lock(view);
        let ttl = header(TTL).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
        match std::str::from_utf8(&m.payload) {
            Ok(members) if !members.is_empty() && members != "[]" && ttl > 0 => {
                let now = std::time::Instant::now();
                v.records.insert(
                    (topic, node),
                    (members.to_owned(), now + Duration::from_millis(ttl)),
                );
                if v.pruned
                    .is_none_or(|p| now.duration_since(p) >= Duration::from_secs(1))
                {
                    v.records.retain(|_, (_, until)| *until > now);
                    v.pruned = Some(now);
                }
            }
            _ => {
                v.records.remove(&(topic, node));
            }
        }
    } else if let Some(token) = m.subject.as_str().strip_prefix("sluice.x.eph.") {
        let Some(event) = header(TYPE) else {
            return;
        };
        if std::str::from_utf8(&m.payload).is_err() {
            return;
        }
        let f = crate::sync::lock(notify).clone();
        if let Some(f) = f {
            f(Notice::Ephemeral {
                topic: Arc::from(token.replace('~', ".").as_str()),
                node: Arc::from(node.as_str()),
                event,
                data: m.payload.clone(),
            });
        }
    }
}

async fn live_loop(
    sub: async_nats::Subscriber,
    live_only: async_nats::Subscriber,
    notify: Arc<Mutex<Option<NoticeFn>>>,
    view: Arc<Mutex<PresenceView>>,
) {
    let mut both = futures_util::stream::select(sub, live_only);
    while let Some(m) = both.next().await {
        if m.subject.as_str().starts_with("sluice.x.") {
            on_live_only(&m, &view, &notify);
            continue;
        }
        let Some(token) = m.subject.as_str().strip_prefix("sluice.live.") else {
            continue;
        };
        let topic = token.replace('~', ".");
        let Some(h) = m.headers.as_ref() else {
            continue;
        };
        let Ok((epoch, event)) = decode(h, &m.payload, now_ms()) else {
            continue;
        };
        let f = crate::sync::lock(&notify).clone();
        if let Some(f) = f {
            f(Notice::Appended {
                topic: Arc::from(topic.as_str()),
                epoch,
                event,
            });
        }
    }
}

impl Store for NatsStore {
    fn kind(&self) -> &'static str {
        "nats"
    }

    fn append<'a>(
        &'a self,
        topic: &'a str,
        event: NewEvent<'a>,
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        Box::pin(async move {
            let lock = self.topic_lock(topic);
            let mut cached = lock.lock().await;
            let mut s = self.ensure_stream_cached().await?;
            for _ in 0..MAX_RACES {
                let last = match *cached {
                    Some(l) => l,
                    None => self.read_last(&s, topic, true).await?,
                };
                if last.ended {
                    // Nothing after the end. Atomic across nodes: a publish that raced the
                    // close expected the same last message as the close did; the loser gets
                    // "wrong last sequence", re-reads, and finds the end here.
                    return Err(StoreError::Ended {
                        end: Cursor::new(last.epoch, last.topic_seq),
                    });
                }
                let seq = last.topic_seq + 1;
                let mut msg = jetstream::message::PublishMessage::build()
                    .payload(Bytes::copy_from_slice(event.data))
                    .expected_last_subject_sequence(last.stream_seq)
                    .header(SEQ, HeaderValue::from(seq))
                    .header(EPOCH, HeaderValue::from(last.epoch))
                    .header(TYPE, format!("[{}]", event.event_type).as_str());
                if let Some(k) = event.idempotency_key {
                    msg = msg.message_id(format!("{topic}:{k}"));
                }
                let ack = self
                    .js
                    .send_publish(subject(topic), msg)
                    .await
                    .map_err(unavailable)?
                    .await;
                match ack {
                    Ok(ack) if ack.duplicate => {
                        *cached = None;
                        let m = match s.direct_get(ack.sequence).await {
                            Ok(m) => m,
                            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => {
                                // A retry of a publish whose event retention has dropped: it
                                // was appended once; its cursor is no longer known.
                                return Err(StoreError::Conflict {
                                    reason: "already published with this Idempotency-Key; the event is no longer retained".into(),
                                });
                            }
                            Err(e) => return Err(unavailable(e)),
                        };
                        let (epoch, ev) = decode(&m.headers, &m.payload, 0)?;
                        return Ok(Appended {
                            cursor: Cursor::new(epoch, ev.seq),
                            duplicate: true,
                        });
                    }
                    Ok(ack) => {
                        *cached = Some(Last {
                            stream_seq: ack.sequence,
                            topic_seq: seq,
                            epoch: last.epoch,
                            ended: event.event_type == END_EVENT_TYPE,
                        });
                        return Ok(Appended {
                            cursor: Cursor::new(last.epoch, seq),
                            duplicate: false,
                        });
                    }
                    Err(e)
                        if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence =>
                    {
                        // Another node published first: re-read and take the next number.
                        *cached = None;
                    }
                    Err(e) if e.kind() == jetstream::context::PublishErrorKind::StreamNotFound => {
                        // The stream was deleted (data wiped): re-create it, new epochs.
                        *cached = None;
                        s = self.ensure_stream().await?;
                    }
                    Err(e) => {
                        *cached = None;
                        return Err(unavailable(e));
                    }
                }
            }
            Err(unavailable("too many concurrent publishes to one topic"))
        })
    }

    fn read<'a>(
        &'a self,
        topic: &'a str,
        after: u64,
        max_events: usize,
    ) -> BoxFuture<'a, Result<History, StoreError>> {
        Box::pin(async move {
            let s = self.ensure_stream_cached().await?;
            let last = self.read_last(&s, topic, false).await?;
            let mut events = Vec::new();
            if last.topic_seq > after {
                let oldest =
                    now_ms().saturating_sub(self.config.retention.max_age.as_millis() as u64);
                let mut next = self.start_after(&s, topic, after, &last).await?;
                while events.len() < max_events.max(1) && next <= last.stream_seq {
                    let Some((ss, epoch, ev)) = Self::first_from(&s, topic, next).await? else {
                        break;
                    };
                    next = ss + 1;
                    if epoch != last.epoch || ev.seq <= after {
                        continue; // an older generation, or before the position asked for
                    }
                    self.remember(topic, ev.seq, ss);
                    if ev.time_ms >= oldest {
                        events.push(ev);
                    }
                }
            }
            Ok(History {
                epoch: last.epoch,
                head: last.topic_seq,
                events,
                end: last.ended.then_some(last.topic_seq),
            })
        })
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn presence_put<'a>(
        &'a self,
        topic: &'a str,
        node: &'a str,
        members: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut h = HeaderMap::new();
            h.insert(NODE, node);
            h.insert(TTL, ttl.as_millis().to_string().as_str());
            self.client
                .publish_with_headers(
                    live_subject("pres", topic),
                    h,
                    Bytes::copy_from_slice(members.as_bytes()),
                )
                .await
                .map_err(unavailable)
        })
    }

    fn presence_get<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, StoreError>> {
        Box::pin(async move {
            let now = std::time::Instant::now();
            let v = crate::sync::lock(&self.presence);
            Ok(v.records
                .iter()
                .filter(|(_, (_, until))| *until > now)
                .filter(|((t, _), _)| t == topic)
                .map(|((_, n), (m, _))| (n.clone(), m.clone()))
                .collect())
        })
    }

    fn ephemeral<'a>(
        &'a self,
        topic: &'a str,
        node: &'a str,
        event: &'a str,
        data: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut h = HeaderMap::new();
            h.insert(NODE, node);
            h.insert(TYPE, event);
            self.client
                .publish_with_headers(live_subject("eph", topic), h, Bytes::copy_from_slice(data))
                .await
                .map_err(unavailable)
        })
    }

    fn subscribe(&self, notify: NoticeFn) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            *crate::sync::lock(&self.notify) = Some(notify);
            let sub = self
                .client
                .subscribe("sluice.live.>")
                .await
                .map_err(unavailable)?;
            let live_only = self
                .client
                .subscribe("sluice.x.>")
                .await
                .map_err(unavailable)?;
            // The subscription is registered with the server once a round trip completes.
            self.client.flush().await.map_err(unavailable)?;
            let task = tokio::spawn(live_loop(
                sub,
                live_only,
                Arc::clone(&self.notify),
                Arc::clone(&self.presence),
            ));
            self.task.replace(task);
            Ok(())
        })
    }
}

impl NatsStore {
    /// The stream handle, looked up again (and re-created if gone) once it is older than
    /// [`STREAM_REFRESH`]: a re-created stream (new creation time, so new epochs for empty
    /// topics) is noticed within that.
    async fn ensure_stream_cached(&self) -> Result<stream::Stream, StoreError> {
        let cached = crate::sync::lock(&self.stream).clone();
        match cached {
            Some((s, at)) if at.elapsed() < STREAM_REFRESH => Ok(s),
            _ => self.ensure_stream().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_stable_and_distinct() {
        assert_eq!(derive_epoch(b"a", "b"), derive_epoch(b"a", "b"));
        assert_ne!(derive_epoch(b"a", "b"), derive_epoch(b"ab", ""));
        assert_ne!(
            derive_epoch(&1i128.to_le_bytes(), "t"),
            derive_epoch(&2i128.to_le_bytes(), "t")
        );
        assert_ne!(derive_epoch(b"", ""), 0);
    }

    #[test]
    fn topics_are_one_subject_token() {
        assert_eq!(subject("a..b"), "sluice.t.a~~b");
        assert_eq!(subject(".x."), "sluice.t.~x~");
        assert_eq!(subject("chat-1_x"), "sluice.t.chat-1_x");
    }
}
