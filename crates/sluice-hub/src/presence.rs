//! Presence and live-only traffic of a node: who is subscribed to a topic right now (and over
//! which transport), join/leave notices, and ephemeral events — none of it in the topic's log.
//!
//! A WebSocket or SSE subscriber is present while its connection is open; a long-poll client
//! that names itself (`?client=ID`) while a request of it is parked and for
//! [`HubConfig::presence_grace`](crate::HubConfig::presence_grace) after each answer. One
//! client id on several connections counts once (it leaves with its last connection); a member
//! is its id under its token's `sub` ([`MemberKey`]), so the same id under another subject is
//! another member.
//!
//! Live traffic goes through two bounded [`tokio::sync::broadcast`] channels per topic: join and
//! leave notices (only subscribers that asked, `?presence=1`, listen: 10,000 subscribers
//! joining must not wake 10,000 others each) and ephemeral events (every live subscriber). A
//! subscriber that falls more than [`LIVE_BACKLOG`] items behind misses the oldest (best
//! effort, at most once — never replayed; presence itself stays exact, `GET /presence` reads
//! the table).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::metrics::Transport;

/// Live items a subscriber may fall behind before it misses the oldest.
pub(crate) const LIVE_BACKLOG: usize = 1_024;

/// Longest client id (`[A-Za-z0-9_-]`).
pub(crate) const MAX_CLIENT_ID: usize = 64;

/// Whether `id` is a valid client id: 1–64 of `A-Z a-z 0-9 _ -`.
pub(crate) fn is_valid_client_id(id: &str) -> bool {
    (1..=MAX_CLIENT_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// A fresh client id for a connection that did not name itself: 16 random hex digits.
pub(crate) fn new_client_id() -> String {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        b = t.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One present client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its id (`?client=`, or made by the hub).
    pub client: String,
    /// The `sub` of its token (`None` without auth or without `sub`).
    pub sub: Option<String>,
    /// `ws`, `sse` or `poll`.
    pub transport: &'static str,
    /// Since when (Unix milliseconds).
    pub since: u64,
}

/// Who a member is: its client id under its token's `sub`. The same id under another
/// subject is another member, so a token holder cannot pose as — or keep present — a client
/// of another subject by naming its id.
pub(crate) type MemberKey = (String, Option<String>);

impl Member {
    /// Its identity in the table ([`MemberKey`]).
    pub(crate) fn key(&self) -> MemberKey {
        (self.client.clone(), self.sub.clone())
    }

    /// Whether `other` is the same member (the same id under the same subject).
    pub(crate) fn same(&self, other: &Member) -> bool {
        self.client == other.client && self.sub == other.sub
    }

    pub(crate) fn new(client: String, sub: Option<String>, transport: Transport) -> Self {
        Self {
            client,
            sub,
            transport: transport_name(transport),
            since: unix_ms(),
        }
    }

    /// `{"client":…,"sub":…,"transport":…}` (the notices' body).
    pub(crate) fn notice_json(&self) -> String {
        serde_json::json!({
            "client": self.client,
            "sub": self.sub,
            "transport": self.transport,
        })
        .to_string()
    }

    /// A member as another node wrote it ([`Member::to_json`]); `None` if malformed.
    pub(crate) fn from_json(v: &serde_json::Value) -> Option<Member> {
        let client = v.get("client")?.as_str()?;
        if !is_valid_client_id(client) {
            return None;
        }
        Some(Member {
            client: client.to_owned(),
            sub: v
                .get("sub")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            transport: match v.get("transport")?.as_str()? {
                "ws" => "ws",
                "sse" => "sse",
                "poll" => "poll",
                _ => return None,
            },
            since: v.get("since")?.as_u64()?,
        })
    }

    /// The entry of `GET /presence`: the notice's members and `since`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "client": self.client,
            "sub": self.sub,
            "transport": self.transport,
            "since": self.since,
        })
    }
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Ws => "ws",
        Transport::Sse => "sse",
        Transport::Poll => "poll",
    }
}

/// One item of a topic's live traffic.
#[derive(Debug, Clone)]
pub(crate) enum Live {
    Join(Arc<Member>),
    Leave(Arc<Member>),
    Ephemeral { event: Arc<str>, data: Bytes },
}

impl Live {
    /// The WebSocket frame: `{"join":{…}}`, `{"leave":{…}}`,
    /// `{"ephemeral":{"event":…,"data":…}}`.
    pub(crate) fn ws_frame(&self) -> String {
        match self {
            Live::Join(m) => format!("{{\"join\":{}}}", m.notice_json()),
            Live::Leave(m) => format!("{{\"leave\":{}}}", m.notice_json()),
            Live::Ephemeral { event, data } => format!(
                "{{\"ephemeral\":{{\"event\":{},\"data\":{}}}}}",
                serde_json::Value::from(&**event),
                serde_json::Value::from(String::from_utf8_lossy(data)),
            ),
        }
    }

    /// The SSE event: `sluice-join` / `sluice-leave` with the member, `sluice-ephemeral` with
    /// `{"event","data"}` — never with an `id:` (live items take no cursor).
    pub(crate) fn sse_bytes(&self) -> Bytes {
        let (name, json) = match self {
            Live::Join(m) => ("sluice-join", m.notice_json()),
            Live::Leave(m) => ("sluice-leave", m.notice_json()),
            Live::Ephemeral { event, data } => (
                "sluice-ephemeral",
                format!(
                    "{{\"event\":{},\"data\":{}}}",
                    serde_json::Value::from(&**event),
                    serde_json::Value::from(String::from_utf8_lossy(data)),
                ),
            ),
        };
        // serde_json never writes a raw line break: one `data:` line.
        Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
    }
}

struct Entry {
    member: Arc<Member>,
    /// Open connections (WebSocket, SSE, parked polls) under this id.
    conns: u32,
    /// A long-poll client between requests: present until then.
    until: Option<Instant>,
}

/// A topic's live channel, made when its first subscriber listens: tokio allocates a
/// broadcast channel's whole backlog up front (~80 KiB for [`LIVE_BACKLOG`] items), and a
/// topic whose members are only long-poll clients has nobody to send to.
#[derive(Default)]
struct LiveChannel(Option<broadcast::Sender<Live>>);

impl LiveChannel {
    /// Sends to the current listeners; how many (0 without any).
    fn send(&self, item: Live) -> usize {
        self.0.as_ref().map_or(0, |tx| tx.send(item).unwrap_or(0))
    }

    fn subscribe(&mut self) -> broadcast::Receiver<Live> {
        self.0
            .get_or_insert_with(|| broadcast::channel(LIVE_BACKLOG).0)
            .subscribe()
    }

    fn receiver_count(&self) -> usize {
        self.0.as_ref().map_or(0, broadcast::Sender::receiver_count)
    }
}

struct TopicPresence {
    members: HashMap<MemberKey, Entry>,
    notices: LiveChannel,
    ephemeral: LiveChannel,
}

impl TopicPresence {
    fn new() -> Self {
        Self {
            members: HashMap::new(),
            notices: LiveChannel::default(),
            ephemeral: LiveChannel::default(),
        }
    }

    fn unused(&self) -> bool {
        self.members.is_empty()
            && self.notices.receiver_count() == 0
            && self.ephemeral.receiver_count() == 0
    }
}

/// A subscriber's share of a topic's live traffic.
pub(crate) struct LiveRx {
    notices: Option<broadcast::Receiver<Live>>,
    ephemeral: broadcast::Receiver<Live>,
}

impl LiveRx {
    /// The next live item (waits forever when there is none; cancel-safe). Items missed by
    /// falling behind are skipped.
    pub(crate) async fn recv(&mut self) -> Live {
        async fn one(rx: Option<&mut broadcast::Receiver<Live>>) -> Live {
            let Some(rx) = rx else {
                return std::future::pending().await;
            };
            loop {
                match rx.recv().await {
                    Ok(l) => return l,
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    // The sender lives as long as a receiver does.
                    Err(broadcast::error::RecvError::Closed) => {
                        return std::future::pending().await;
                    }
                }
            }
        }
        tokio::select! {
            l = one(self.notices.as_mut()) => l,
            l = one(Some(&mut self.ephemeral)) => l,
        }
    }
}

/// The presence table of a node. See the [module docs](self).
#[derive(Default)]
pub(crate) struct Presence {
    topics: Mutex<HashMap<Arc<str>, TopicPresence>>,
    /// Topics whose local members changed since the last [`Presence::take_dirty`] (with a
    /// shared store: to be written there).
    dirty: Mutex<HashSet<Arc<str>>>,
    /// Whether anything drains `dirty` (a shared store's sync task): without one, every topic
    /// name ever joined would stay in it.
    shared: bool,
    /// Members other nodes have, per topic watched by a local subscriber with notices (with a
    /// shared store), as last read.
    remote: Mutex<HashMap<Arc<str>, Members>>,
}

/// Members by identity.
type Members = HashMap<MemberKey, Arc<Member>>;

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence").finish_non_exhaustive()
    }
}

impl Presence {
    /// A table; `shared`: a shared store's sync task reads the changes ([`Presence::take_dirty`]).
    pub(crate) fn new(shared: bool) -> Self {
        Self {
            shared,
            ..Self::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, TopicPresence>> {
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mark(&self, topic: &Arc<str>) {
        if !self.shared {
            return;
        }
        self.dirty
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(Arc::clone(topic));
    }

    /// Topics whose local members changed since the last call.
    pub(crate) fn take_dirty(&self) -> Vec<Arc<str>> {
        let mut d = self.dirty.lock().unwrap_or_else(PoisonError::into_inner);
        d.drain().collect()
    }

    /// Topics with local members.
    pub(crate) fn topics_with_members(&self) -> Vec<Arc<str>> {
        self.lock()
            .iter()
            .filter(|(_, tp)| !tp.members.is_empty())
            .map(|(t, _)| Arc::clone(t))
            .collect()
    }

    /// Topics a local subscriber watches with notices (or whose remote view is not empty).
    pub(crate) fn watched_topics(&self) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self
            .lock()
            .iter()
            .filter(|(_, tp)| tp.notices.receiver_count() > 0)
            .map(|(t, _)| Arc::clone(t))
            .collect();
        let r = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        v.extend(
            r.keys()
                .filter(|t| !v.contains(t))
                .cloned()
                .collect::<Vec<_>>(),
        );
        v
    }

    /// The local members of `topic` as the JSON array a shared store keeps.
    pub(crate) fn local_json(&self, topic: &str) -> String {
        let list: Vec<serde_json::Value> = self.local(topic).iter().map(|m| m.to_json()).collect();
        serde_json::Value::from(list).to_string()
    }

    /// What other nodes report for `topic` now: announces who came and went (to local
    /// subscribers with notices) since the last call, and remembers it.
    pub(crate) fn apply_remote(&self, topic: &Arc<str>, members: Vec<Member>) {
        let now: Members = members
            .into_iter()
            .map(|m| (m.key(), Arc::new(m)))
            .collect();
        let mut remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        let before = remote.remove(topic).unwrap_or_default();
        let t = self.lock();
        if let Some(tp) = t.get(topic) {
            for (id, m) in &now {
                if !before.contains_key(id) && !tp.members.contains_key(id) {
                    tp.notices.send(Live::Join(Arc::clone(m)));
                }
            }
            for (id, m) in &before {
                if !now.contains_key(id) && !tp.members.contains_key(id) {
                    tp.notices.send(Live::Leave(Arc::clone(m)));
                }
            }
        }
        let watched = t
            .get(topic)
            .is_some_and(|tp| tp.notices.receiver_count() > 0);
        drop(t);
        if watched && !now.is_empty() {
            remote.insert(Arc::clone(topic), now);
        }
    }

    /// The topic's live traffic from now on: ephemeral events, and join/leave notices when
    /// `notices`.
    pub(crate) fn live(&self, topic: &Arc<str>, notices: bool) -> LiveRx {
        let mut t = self.lock();
        let tp = t
            .entry(Arc::clone(topic))
            .or_insert_with(TopicPresence::new);
        LiveRx {
            notices: notices.then(|| tp.notices.subscribe()),
            ephemeral: tp.ephemeral.subscribe(),
        }
    }

    /// `member` is present on `topic` until the guard is dropped (a joining id announces
    /// itself; a second connection of the same id does not).
    pub(crate) fn join(self: &Arc<Self>, topic: &Arc<str>, member: Member) -> PresenceGuard {
        PresenceGuard {
            presence: Arc::clone(self),
            topic: Arc::clone(topic),
            member: self.add(topic, member, None),
        }
    }

    /// A long-poll request of `member`: present while parked (the guard) and until `grace`
    /// after it (set when the guard drops).
    pub(crate) fn poll(
        self: &Arc<Self>,
        topic: &Arc<str>,
        member: Member,
        grace: Duration,
    ) -> PollGuard {
        PollGuard {
            presence: Arc::clone(self),
            topic: Arc::clone(topic),
            member: self.add(topic, member, None),
            grace,
        }
    }

    /// Adds a connection of `member`; the table's copy of it (the first connection's).
    fn add(&self, topic: &Arc<str>, member: Member, until: Option<Instant>) -> Arc<Member> {
        let mut t = self.lock();
        let tp = t
            .entry(Arc::clone(topic))
            .or_insert_with(TopicPresence::new);
        let key = member.key();
        match tp.members.get_mut(&key) {
            Some(e) => {
                e.conns += 1;
                e.until = until.or(e.until);
                Arc::clone(&e.member)
            }
            None => {
                let member = Arc::new(member);
                tp.members.insert(
                    key,
                    Entry {
                        member: Arc::clone(&member),
                        conns: 1,
                        until,
                    },
                );
                tp.notices.send(Live::Join(Arc::clone(&member)));
                drop(t);
                self.mark(topic);
                member
            }
        }
    }

    /// One connection of `member` ended; it leaves unless another is open or (long-poll) its
    /// grace runs.
    fn release(&self, topic: &Arc<str>, member: &Member, grace: Option<Instant>) {
        let key = &member.key();
        let mut t = self.lock();
        let Some(tp) = t.get_mut(topic) else {
            return;
        };
        if let Some(e) = tp.members.get_mut(key) {
            e.conns = e.conns.saturating_sub(1);
            if grace.is_some() {
                e.until = grace;
            }
            if e.conns == 0 && e.until.is_none() {
                let e = tp.members.remove(key).expect("present");
                tp.notices.send(Live::Leave(e.member));
                drop(t);
                self.mark(topic);
                let mut t = self.lock();
                if t.get(topic).is_some_and(TopicPresence::unused) {
                    t.remove(topic);
                }
                return;
            }
        }
        if tp.unused() {
            t.remove(topic);
        }
    }

    /// Long-poll clients whose grace ran out leave; unused topics are dropped.
    pub(crate) fn sweep(&self, now: Instant) {
        let mut t = self.lock();
        let mut changed = Vec::new();
        for (name, tp) in t.iter_mut() {
            let expired: Vec<MemberKey> = tp
                .members
                .iter()
                .filter(|(_, e)| e.conns == 0 && e.until.is_some_and(|u| u <= now))
                .map(|(k, _)| k.clone())
                .collect();
            for k in expired {
                if let Some(e) = tp.members.remove(&k) {
                    tp.notices.send(Live::Leave(e.member));
                    changed.push(Arc::clone(name));
                }
            }
        }
        t.retain(|_, tp| !tp.unused());
        drop(t);
        for name in &changed {
            self.mark(name);
        }
    }

    /// Who is present on `topic` on this node, oldest first.
    pub(crate) fn local(&self, topic: &str) -> Vec<Arc<Member>> {
        let t = self.lock();
        let mut v: Vec<Arc<Member>> = t
            .get(topic)
            .map(|tp| tp.members.values().map(|e| Arc::clone(&e.member)).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.since.cmp(&b.since).then_with(|| a.client.cmp(&b.client)));
        v
    }

    /// Sends an ephemeral event to the topic's live subscribers on this node; how many.
    pub(crate) fn ephemeral(&self, topic: &str, event: &str, data: Bytes) -> usize {
        let t = self.lock();
        t.get(topic).map_or(0, |tp| {
            tp.ephemeral.send(Live::Ephemeral {
                event: Arc::from(event),
                data,
            })
        })
    }
}

/// Presence of one WebSocket/SSE connection; leaving when dropped.
pub(crate) struct PresenceGuard {
    presence: Arc<Presence>,
    topic: Arc<str>,
    /// The table's copy (a pointer: every session holds one).
    member: Arc<Member>,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        self.presence.release(&self.topic, &self.member, None);
    }
}

/// Presence of one long-poll request; the client stays for its grace after the drop.
pub(crate) struct PollGuard {
    presence: Arc<Presence>,
    topic: Arc<str>,
    member: Arc<Member>,
    grace: Duration,
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        let until = Instant::now() + self.grace;
        self.presence
            .release(&self.topic, &self.member, Some(until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, t: Transport) -> Member {
        Member::new(id.into(), Some("alice".into()), t)
    }

    fn next(rx: &mut LiveRx) -> Option<String> {
        rx.notices.as_mut()?.try_recv().ok().map(|l| l.ws_frame())
    }

    #[test]
    fn live_channels_exist_only_once_someone_listens() {
        let p = Arc::new(Presence::default());
        let topic: Arc<str> = Arc::from("polled");
        let poller = p.poll(&topic, m("a", Transport::Poll), Duration::from_secs(10));
        assert_eq!(p.local("polled").len(), 1);
        let channels = |p: &Presence| {
            let t = p.lock();
            let tp = t.get("polled").expect("present");
            (tp.notices.0.is_some(), tp.ephemeral.0.is_some())
        };
        // A topic whose only members poll holds no backlog (no one could read it).
        assert_eq!(channels(&p), (false, false));
        assert_eq!(p.ephemeral("polled", "typing", Bytes::from_static(b"x")), 0);
        let mut rx = p.live(&topic, true);
        assert_eq!(channels(&p), (true, true));
        assert_eq!(p.ephemeral("polled", "typing", Bytes::from_static(b"x")), 1);
        drop(poller);
        assert_eq!(next(&mut rx), None, "a poller stays for its grace");
    }

    #[test]
    fn join_and_leave_once_per_client() {
        let p = Arc::new(Presence::default());
        let topic: Arc<str> = Arc::from("room");
        let mut rx = p.live(&topic, true);
        let quiet = p.live(&topic, false);
        let a1 = p.join(&topic, m("a", Transport::Ws));
        let a2 = p.join(&topic, m("a", Transport::Sse));
        let b = p.join(&topic, m("b", Transport::Sse));
        assert_eq!(
            next(&mut rx).as_deref(),
            Some(r#"{"join":{"client":"a","sub":"alice","transport":"ws"}}"#)
        );
        assert!(next(&mut rx).unwrap().contains(r#""client":"b""#));
        assert_eq!(
            next(&mut rx),
            None,
            "a's second connection is no second join"
        );
        assert_eq!(p.local("room").len(), 2);
        drop(a1);
        assert_eq!(next(&mut rx), None, "a is still connected");
        drop(a2);
        assert!(
            next(&mut rx)
                .unwrap()
                .starts_with(r#"{"leave":{"client":"a""#)
        );
        drop(b);
        assert!(
            next(&mut rx)
                .unwrap()
                .starts_with(r#"{"leave":{"client":"b""#)
        );
        assert!(p.local("room").is_empty());
        assert!(quiet.notices.is_none());
        drop((rx, quiet));
        p.sweep(Instant::now());
        assert!(
            p.lock().is_empty(),
            "an unused topic is dropped by the sweep"
        );
    }

    #[test]
    fn an_id_under_another_subject_is_another_member() {
        let p = Arc::new(Presence::default());
        let topic: Arc<str> = Arc::from("room");
        let mut rx = p.live(&topic, true);
        let alice = p.join(&topic, m("a1", Transport::Ws));
        assert!(next(&mut rx).unwrap().contains(r#""sub":"alice""#));
        // Bob's token names Alice's client id: he joins as himself, next to her.
        let bob = p.join(
            &topic,
            Member::new("a1".into(), Some("bob".into()), Transport::Sse),
        );
        assert_eq!(
            next(&mut rx).as_deref(),
            Some(r#"{"join":{"client":"a1","sub":"bob","transport":"sse"}}"#)
        );
        assert_eq!(p.local("room").len(), 2);
        // Alice leaves: her member goes although Bob's connection with her id stays.
        drop(alice);
        assert_eq!(
            next(&mut rx).as_deref(),
            Some(r#"{"leave":{"client":"a1","sub":"alice","transport":"ws"}}"#)
        );
        let left = p.local("room");
        assert_eq!((left.len(), left[0].sub.as_deref()), (1, Some("bob")));
        drop(bob);
        assert!(next(&mut rx).unwrap().contains(r#""sub":"bob""#));
        assert!(p.local("room").is_empty());
    }

    #[test]
    fn a_poller_stays_for_its_grace() {
        let p = Arc::new(Presence::default());
        let topic: Arc<str> = Arc::from("room");
        let mut rx = p.live(&topic, true);
        let g = p.poll(&topic, m("p", Transport::Poll), Duration::from_secs(5));
        assert!(next(&mut rx).unwrap().starts_with(r#"{"join""#));
        drop(g);
        p.sweep(Instant::now());
        assert_eq!(p.local("room").len(), 1, "within the grace");
        // Back within the grace: no second join.
        let g = p.poll(&topic, m("p", Transport::Poll), Duration::from_secs(5));
        assert_eq!(next(&mut rx), None);
        drop(g);
        p.sweep(Instant::now() + Duration::from_secs(6));
        assert!(next(&mut rx).unwrap().starts_with(r#"{"leave""#));
        assert!(p.local("room").is_empty());
    }

    #[test]
    fn ephemeral_goes_to_live_receivers_only() {
        let p = Arc::new(Presence::default());
        let topic: Arc<str> = Arc::from("t");
        assert_eq!(p.ephemeral("t", "typing", Bytes::from_static(b"x")), 0);
        let mut rx = p.live(&topic, false);
        assert_eq!(
            p.ephemeral("t", "typing", Bytes::from_static(b"\"x\"\n")),
            1
        );
        let l = rx.ephemeral.try_recv().unwrap();
        assert_eq!(
            l.ws_frame(),
            r#"{"ephemeral":{"event":"typing","data":"\"x\"\n"}}"#
        );
        assert_eq!(
            &l.sse_bytes()[..],
            b"event: sluice-ephemeral\ndata: {\"event\":\"typing\",\"data\":\"\\\"x\\\"\\n\"}\n\n"
        );
    }

    #[test]
    fn client_ids() {
        assert!(is_valid_client_id("a-Z_9"));
        assert!(!is_valid_client_id(""));
        assert!(!is_valid_client_id("a.b"));
        assert!(!is_valid_client_id(&"x".repeat(65)));
        let a = new_client_id();
        assert_eq!(a.len(), 16);
        assert!(is_valid_client_id(&a));
        assert_ne!(a, new_client_id());
    }

    #[test]
    fn changes_are_kept_only_for_a_shared_store() {
        for shared in [false, true] {
            let p = Arc::new(Presence::new(shared));
            let topic: Arc<str> = Arc::from("t");
            drop(p.join(&topic, m("a", Transport::Ws)));
            assert_eq!(p.take_dirty().len(), usize::from(shared), "shared {shared}");
        }
    }
}
