//! [`RedisStore`]: Redis Streams, shared by any number of hub nodes.
//!
//! After Centrifugo's design (`centrifugal/centrifuge`, `broker_redis.go`): per topic a
//! **stream** of events and a **meta hash** holding the epoch (`e`), the top sequence
//! number (`s`) and, once the topic ended, the end's sequence number (`x`, kept after the end
//! event has left the stream; a publish after it is refused); one Lua script per publish
//! creates the epoch if missing, `HINCRBY`s the sequence, `XADD`s with `MAXLEN`, refreshes the
//! keys' expiry and `PUBLISH`es the event on the topic's notification channel — atomically,
//! so notifications of a topic come in sequence order. Changed from Centrifugo: the stream entry id *is* the sequence number
//! (`0-<seq>`), so "events after N" is one `XRANGE` from `0-<N+1>` with no scan; age retention
//! trims entries by their `ts` field in the same script (instead of `MINID` over time-based
//! ids); the idempotency key is a `SET … EX` inside the publish script, so a retry on any
//! node gets the first answer; nodes `PSUBSCRIBE` one pattern for all topics (instead of a
//! channel per topic) before they read anything.
//!
//! Keys: `sluice:{T}:s` stream, `sluice:{T}:m` meta, `sluice:{T}:i:<key>` idempotency,
//! `sluice:salt` one random value per Redis; channel `sluice:n:T`. Presence: per node a key
//! `sluice:{T}:p:<node>` (its members, JSON, with a TTL the node refreshes) and the set
//! `sluice:{T}:pn` of nodes that wrote one (pruned when a node's key has expired); ephemeral
//! events on channel `sluice:e:T` (`node\ntype\ndata`). (A single Redis or a
//! primary with replicas; Redis Cluster is not supported: the scripts touch the salt key
//! beside a topic's keys.) A topic without meta hash has the epoch SHA-1(salt, topic): reads
//! write nothing per topic, and the first publish creates the meta hash with that epoch. A
//! wiped store (FLUSHALL) has a new salt, so every topic gets a new epoch: a reset for every
//! reader. Event times (`ts`) are Redis's own clock (`TIME`), so retention does not depend on
//! the nodes' clocks.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{Script, Value};

use crate::{
    Appended, BoxFuture, Cursor, END_EVENT_TYPE, History, NewEvent, Notice, NoticeFn, Store,
    StoreConfig, StoreError, StoredEvent, new_epoch, now_ms,
};

/// The epoch of a topic without metadata, created with it: the first 16 hex digits of
/// SHA-1(salt "/" topic), where the salt is one random value per Redis (`sluice:salt`, set
/// by the first script that needs it). A read creates nothing per topic; a wiped Redis has a
/// new salt, so every topic gets a new epoch.
const EPOCH_OF: &str = r"
local function epoch_of(salt_key, new_salt, topic)
  local salt = redis.call('get', salt_key)
  if not salt then
    salt = new_salt
    redis.call('set', salt_key, salt)
  end
  return string.sub(redis.sha1hex(salt .. '/' .. topic), 1, 16)
end
";

/// The publish script. KEYS: stream, meta, idempotency key, salt. ARGV: a new salt (used if
/// Redis has none), MAXLEN, key ttl (s), channel, type, data, idempotency ttl (s), max age
/// (ms), topic, whether KEYS[3] is used ("1"/"0"), whether the event is the topic's end
/// ("1"/"0": the end of the epoch is kept in the meta hash as `x`). Answers epoch, sequence
/// number and 0 (appended), 1 (a known idempotency key: its first answer) or 2 (the topic
/// ended: nothing appended; the sequence number is the end's). Every check comes before the
/// first write that matters: a failing or refused script must not burn a sequence number.
const PUBLISH_BODY: &str = r"
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = epoch_of(KEYS[4], ARGV[1], ARGV[9])
  -- A stream without its meta hash is the history of a lost epoch: not ours to continue.
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[2], 'e', epoch, 's', 0)
end
if ARGV[10] == '1' then
  local prev = redis.call('get', KEYS[3])
  if prev then
    local sep = string.find(prev, ':', 1, true)
    if sep and string.sub(prev, 1, sep - 1) == epoch then
      return {epoch, string.sub(prev, sep + 1), 1}
    end
  end
end
local ended = redis.call('hget', KEYS[2], 'x')
if ended then
  -- Nothing after the end: refused here, atomically, so a publish that raced a close on
  -- another node is not stored after it.
  return {epoch, ended, 2}
end
local seq = redis.call('hincrby', KEYS[2], 's', 1)
if ARGV[11] == '1' then
  -- The end outlives its stream entry (age retention, the stream's expiry).
  redis.call('hset', KEYS[2], 'x', seq)
end
local id = '0-' .. seq
redis.call('xadd', KEYS[1], 'MAXLEN', ARGV[2], id, 't', ARGV[5], 'd', ARGV[6], 'ts', now)
local oldest = now - tonumber(ARGV[8])
while true do
  local first = redis.call('xrange', KEYS[1], '-', '+', 'COUNT', 1)
  if #first == 0 or first[1][1] == id then break end
  local f = first[1][2]
  local ts = 0
  for i = 1, #f, 2 do
    if f[i] == 'ts' then ts = tonumber(f[i + 1]) end
  end
  if ts >= oldest then break end
  redis.call('xdel', KEYS[1], first[1][1])
end
-- The stream expires with its retention; the meta hash (epoch and head, ~100 bytes) stays:
-- a topic idle past its retention keeps its numbers, so a reader coming back gets an exact
-- gap, and an epoch never comes back with its sequence numbers restarted.
redis.call('expire', KEYS[1], ARGV[3])
if ARGV[10] == '1' then
  redis.call('set', KEYS[3], epoch .. ':' .. seq, 'EX', ARGV[7])
end
redis.call('publish', ARGV[4], epoch .. '\n' .. seq .. '\n' .. now .. '\n' .. ARGV[5] .. '\n' .. ARGV[6])
return {epoch, tostring(seq), 0}
";

/// The read script. KEYS: stream, meta, salt. ARGV: a new salt (if Redis has none), first
/// entry id, count, topic. Answers epoch, top sequence, entries and the end's sequence ('0':
/// not ended). Writes nothing for a topic without metadata.
const READ_BODY: &str = r"
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  return {epoch_of(KEYS[3], ARGV[1], ARGV[4]), '0', {}, '0'}
end
local top = redis.call('hget', KEYS[2], 's') or '0'
local e = redis.call('hget', KEYS[2], 'x') or '0'
return {epoch, top, redis.call('xrange', KEYS[1], ARGV[2], '+', 'COUNT', ARGV[3]), e}
";

/// Starts a new epoch if the topic's is still the lost one (its end, if any, was the old
/// epoch's). KEYS: stream, meta. ARGV: lost epoch, new epoch.
const RESTART: &str = r"
if redis.call('hget', KEYS[2], 'e') == ARGV[1] then
  redis.call('del', KEYS[1])
  redis.call('hdel', KEYS[2], 'x')
  redis.call('hset', KEYS[2], 'e', ARGV[2], 's', 0)
  return 1
end
return 0
";

const SALT_KEY: &str = "sluice:salt";

/// How long a command may take before the store counts as unreachable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Redis Streams. See the [module docs](self).
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    config: StoreConfig,
    publish: Script,
    read: Script,
    restart: Script,
    pubsub_task: crate::sync::NoticeTask,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: &redis::RedisError) -> StoreError {
    StoreError::unavailable(e)
}

fn stream_key(topic: &str) -> String {
    format!("sluice:{{{topic}}}:s")
}
fn meta_key(topic: &str) -> String {
    format!("sluice:{{{topic}}}:m")
}
fn channel(topic: &str) -> String {
    format!("sluice:n:{topic}")
}
const CHANNEL_PATTERN: &str = "sluice:n:*";
const EPHEMERAL_PATTERN: &str = "sluice:e:*";
fn presence_key(topic: &str, node: &str) -> String {
    format!("sluice:{{{topic}}}:p:{node}")
}
fn presence_nodes_key(topic: &str) -> String {
    format!("sluice:{{{topic}}}:pn")
}

fn secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

fn as_str(v: &Value) -> Option<&str> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

/// An epoch as the scripts keep it: 16 hex digits.
fn as_epoch(v: &Value) -> Option<u64> {
    u64::from_str_radix(as_str(v)?, 16).ok()
}

fn epoch_hex(e: u64) -> String {
    format!("{e:016x}")
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => as_str(other)?.parse().ok(),
    }
}

/// One `XRANGE` entry `[id, [field, value, …]]`.
fn parse_entry(v: &Value) -> Result<StoredEvent, StoreError> {
    let bad = || StoreError::corrupt("malformed stream entry");
    let Value::Array(e) = v else {
        return Err(bad());
    };
    let id = e.first().and_then(as_str).ok_or_else(bad)?;
    let seq: u64 = id
        .strip_prefix("0-")
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let Some(Value::Array(fields)) = e.get(1) else {
        return Err(bad());
    };
    let (mut t, mut d, mut ts) = (None, None, 0);
    for kv in fields.chunks(2) {
        let [k, val] = kv else { return Err(bad()) };
        match as_str(k) {
            Some("t") => t = as_str(val).map(str::to_owned),
            Some("d") => {
                if let Value::BulkString(b) = val {
                    d = Some(Bytes::copy_from_slice(b));
                }
            }
            Some("ts") => ts = as_u64(val).unwrap_or(0),
            _ => {}
        }
    }
    Ok(StoredEvent::new(
        seq,
        &t.ok_or_else(bad)?,
        d.ok_or_else(bad)?,
        ts,
    ))
}

/// A notification `epoch\nseq\nts\ntype\ndata` on channel `sluice:n:T`, or an ephemeral
/// event `node\ntype\ndata` on `sluice:e:T`.
fn parse_notice(channel: &str, payload: &[u8]) -> Option<Notice> {
    if let Some(topic) = channel.strip_prefix("sluice:e:") {
        let mut parts = payload.splitn(3, |&b| b == b'\n');
        let node = std::str::from_utf8(parts.next()?).ok()?;
        let event = std::str::from_utf8(parts.next()?).ok()?.to_owned();
        let data = parts.next()?;
        std::str::from_utf8(data).ok()?;
        return Some(Notice::Ephemeral {
            topic: Arc::from(topic),
            node: Arc::from(node),
            event,
            data: Bytes::copy_from_slice(data),
        });
    }
    let topic = channel.strip_prefix("sluice:n:")?;
    let mut parts = payload.splitn(5, |&b| b == b'\n');
    let num = |p: Option<&[u8]>| -> Option<u64> { std::str::from_utf8(p?).ok()?.parse().ok() };
    let epoch = u64::from_str_radix(std::str::from_utf8(parts.next()?).ok()?, 16).ok()?;
    let seq = num(parts.next())?;
    let ts = num(parts.next())?;
    let t = std::str::from_utf8(parts.next()?).ok()?;
    let data = Bytes::copy_from_slice(parts.next()?);
    Some(Notice::Appended {
        topic: Arc::from(topic),
        epoch,
        event: StoredEvent::new(seq, t, data, ts),
    })
}

impl RedisStore {
    /// Connects to `url` (`redis://HOST:PORT[/DB]`). Commands reconnect by themselves; one
    /// that cannot be answered within 2 s fails with [`StoreError::Unavailable`].
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]: a malformed URL or an unreachable server.
    pub async fn connect(url: &str, config: StoreConfig) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(|e| unavailable(&e))?;
        let cm = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client.clone(), cm)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(RedisStore {
            client,
            conn,
            config,
            publish: Script::new(&format!("{EPOCH_OF}{PUBLISH_BODY}")),
            read: Script::new(&format!("{EPOCH_OF}{READ_BODY}")),
            restart: Script::new(RESTART),
            pubsub_task: crate::sync::NoticeTask::default(),
        })
    }

    async fn pubsub(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
        let mut ps = tokio::time::timeout(RESPONSE_TIMEOUT, client.get_async_pubsub())
            .await
            .map_err(|_| {
                redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
            })??;
        ps.psubscribe(CHANNEL_PATTERN).await?;
        ps.psubscribe(EPHEMERAL_PATTERN).await?;
        Ok(ps)
    }
}

/// Reads notifications until the connection drops, then reconnects (with backoff) and says
/// [`Notice::Lost`], so the receiver re-reads what it may have missed.
async fn pubsub_loop(client: redis::Client, mut ps: redis::aio::PubSub, notify: NoticeFn) {
    let mut delay = Duration::from_millis(100);
    loop {
        {
            let mut msgs = ps.on_message();
            while let Some(m) = msgs.next().await {
                if let Some(n) = parse_notice(m.get_channel_name(), m.get_payload_bytes()) {
                    notify(n);
                }
            }
        }
        tracing::warn!("redis notification connection lost; reconnecting");
        loop {
            tokio::time::sleep(delay).await;
            match RedisStore::pubsub(&client).await {
                Ok(p) => {
                    ps = p;
                    delay = Duration::from_millis(100);
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "redis notification reconnect failed");
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
        notify(Notice::Lost);
    }
}

impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn append<'a>(
        &'a self,
        topic: &'a str,
        event: NewEvent<'a>,
    ) -> BoxFuture<'a, Result<Appended, StoreError>> {
        Box::pin(async move {
            let r = &self.config.retention;
            let key = event.idempotency_key;
            let idem = format!("sluice:{{{topic}}}:i:{}", key.unwrap_or(""));
            let mut conn = self.conn.clone();
            let v: Value = self
                .publish
                .key(stream_key(topic))
                .key(meta_key(topic))
                .key(idem)
                .key(SALT_KEY)
                .arg(epoch_hex(new_epoch()))
                .arg(r.max_events.max(1))
                .arg(secs(self.config.meta_ttl.max(r.max_age)))
                .arg(channel(topic))
                .arg(event.event_type)
                .arg(event.data)
                .arg(secs(self.config.idempotency_ttl))
                .arg(r.max_age.as_millis() as u64)
                .arg(topic)
                .arg(if key.is_some() { "1" } else { "0" })
                .arg(if event.event_type == END_EVENT_TYPE {
                    "1"
                } else {
                    "0"
                })
                .invoke_async(&mut conn)
                .await
                .map_err(|e| unavailable(&e))?;
            let bad = || StoreError::corrupt("unexpected publish script answer");
            let Value::Array(a) = v else {
                return Err(bad());
            };
            let epoch = a.first().and_then(as_epoch).ok_or_else(bad)?;
            let seq = a.get(1).and_then(as_u64).ok_or_else(bad)?;
            let cursor = Cursor::new(epoch, seq);
            match a.get(2).and_then(as_u64).ok_or_else(bad)? {
                0 => Ok(Appended {
                    cursor,
                    duplicate: false,
                }),
                1 => Ok(Appended {
                    cursor,
                    duplicate: true,
                }),
                2 => Err(StoreError::Ended { end: cursor }),
                _ => Err(bad()),
            }
        })
    }

    fn read<'a>(
        &'a self,
        topic: &'a str,
        after: u64,
        max_events: usize,
    ) -> BoxFuture<'a, Result<History, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let r = &self.config.retention;
            let v: Value = self
                .read
                .key(stream_key(topic))
                .key(meta_key(topic))
                .key(SALT_KEY)
                .arg(epoch_hex(new_epoch()))
                .arg(format!("0-{}", after.saturating_add(1)))
                .arg(max_events.max(1))
                .arg(topic)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| unavailable(&e))?;
            let bad = || StoreError::corrupt("unexpected read script answer");
            let Value::Array(a) = v else {
                return Err(bad());
            };
            let epoch = a.first().and_then(as_epoch).ok_or_else(bad)?;
            let head = a.get(1).and_then(as_u64).ok_or_else(bad)?;
            let Some(Value::Array(entries)) = a.get(2) else {
                return Err(bad());
            };
            // '0' (or missing, or not a number): not ended.
            let end = a.get(3).and_then(as_u64).filter(|&e| e > 0);
            let oldest = now_ms().saturating_sub(r.max_age.as_millis() as u64);
            let mut events = Vec::with_capacity(entries.len());
            for e in entries {
                let ev = parse_entry(e)?;
                // Entries the publish script has not trimmed yet (no publish since): only a
                // prefix is dropped, so a batch stays consecutive whatever the clocks say.
                if events.is_empty() && ev.time_ms < oldest {
                    continue;
                }
                events.push(ev);
            }
            Ok(History {
                epoch,
                head,
                events,
                end,
            })
        })
    }

    fn restart_epoch<'a>(
        &'a self,
        topic: &'a str,
        lost: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: Value = self
                .restart
                .key(stream_key(topic))
                .key(meta_key(topic))
                .arg(epoch_hex(lost))
                .arg(epoch_hex(new_epoch()))
                .invoke_async(&mut conn)
                .await
                .map_err(|e| unavailable(&e))?;
            Ok(())
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
            let mut conn = self.conn.clone();
            let mut p = redis::pipe();
            p.atomic();
            if members.is_empty() || members == "[]" {
                p.del(presence_key(topic, node))
                    .srem(presence_nodes_key(topic), node);
            } else {
                let ms = ttl.as_millis().max(1) as u64;
                p.cmd("SET")
                    .arg(presence_key(topic, node))
                    .arg(members)
                    .arg("PX")
                    .arg(ms)
                    .sadd(presence_nodes_key(topic), node)
                    .pexpire(presence_nodes_key(topic), (ms * 4) as i64);
            }
            let _: Value = tokio::time::timeout(RESPONSE_TIMEOUT, p.query_async(&mut conn))
                .await
                .map_err(|_| StoreError::unavailable("redis: presence write timed out"))?
                .map_err(|e| unavailable(&e))?;
            Ok(())
        })
    }

    fn presence_get<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let work = async {
                let nodes: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(presence_nodes_key(topic))
                    .query_async(&mut conn)
                    .await?;
                if nodes.is_empty() {
                    return Ok(Vec::new());
                }
                let keys: Vec<String> = nodes.iter().map(|n| presence_key(topic, n)).collect();
                let vals: Vec<Option<String>> =
                    redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
                let mut out = Vec::new();
                let mut gone = Vec::new();
                for (n, v) in nodes.into_iter().zip(vals) {
                    match v {
                        Some(v) => out.push((n, v)),
                        None => gone.push(n),
                    }
                }
                if !gone.is_empty() {
                    // Nodes whose record expired (dead, or without members): prune the set.
                    let _: i64 = redis::cmd("SREM")
                        .arg(presence_nodes_key(topic))
                        .arg(&gone)
                        .query_async(&mut conn)
                        .await?;
                }
                Ok::<_, redis::RedisError>(out)
            };
            tokio::time::timeout(RESPONSE_TIMEOUT, work)
                .await
                .map_err(|_| StoreError::unavailable("redis: presence read timed out"))?
                .map_err(|e| unavailable(&e))
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
            let mut conn = self.conn.clone();
            let mut payload = Vec::with_capacity(node.len() + event.len() + data.len() + 2);
            payload.extend_from_slice(node.as_bytes());
            payload.push(b'\n');
            payload.extend_from_slice(event.as_bytes());
            payload.push(b'\n');
            payload.extend_from_slice(data);
            let _: i64 = tokio::time::timeout(
                RESPONSE_TIMEOUT,
                redis::cmd("PUBLISH")
                    .arg(format!("sluice:e:{topic}"))
                    .arg(payload)
                    .query_async(&mut conn),
            )
            .await
            .map_err(|_| StoreError::unavailable("redis: publish timed out"))?
            .map_err(|e| unavailable(&e))?;
            Ok(())
        })
    }

    fn subscribe(&self, notify: NoticeFn) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let ps = RedisStore::pubsub(&self.client)
                .await
                .map_err(|e| unavailable(&e))?;
            let task = tokio::spawn(pubsub_loop(self.client.clone(), ps, notify));
            self.pubsub_task.replace(task);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_parse() {
        let n = parse_notice("sluice:n:chat.1", b"2a\n7\n1000\nmessage\nline\nline2").unwrap();
        assert_eq!(
            n,
            Notice::Appended {
                topic: Arc::from("chat.1"),
                epoch: 42,
                event: StoredEvent::new(7, "message", Bytes::from_static(b"line\nline2"), 1000),
            }
        );
        assert!(parse_notice("other", b"1\n1\n1\nm\nd").is_none());
        assert_eq!(
            parse_notice("sluice:e:room", b"n1\ntyping\na\nb").unwrap(),
            Notice::Ephemeral {
                topic: Arc::from("room"),
                node: Arc::from("n1"),
                event: "typing".into(),
                data: Bytes::from_static(b"a\nb"),
            }
        );
        assert!(parse_notice("sluice:e:room", b"n1").is_none());
        assert!(parse_notice("sluice:n:t", b"x\n1\n1\nm\nd").is_none());
        assert!(parse_notice("sluice:n:t", b"1\nx\n1\nm\nd").is_none());
        assert!(parse_notice("sluice:n:t", b"1\n1\n1").is_none());
    }

    proptest::proptest! {
        /// A notification in the publish script's format reads back exactly; any other payload
        /// or channel is dropped, never a panic.
        #[test]
        fn notices_round_trip_and_never_panic(
            epoch in proptest::prelude::any::<u64>(),
            seq in proptest::prelude::any::<u64>(),
            ts in proptest::prelude::any::<u64>(),
            t in "[a-z ]{1,40}",
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            channel in "\\PC{0,30}",
        ) {
            let mut payload = format!("{}\n{seq}\n{ts}\n{t}\n", epoch_hex(epoch)).into_bytes();
            payload.extend_from_slice(&data);
            let n = parse_notice("sluice:n:x", &payload);
            proptest::prop_assert_eq!(
                n,
                Some(Notice::Appended {
                    topic: Arc::from("x"),
                    epoch,
                    event: StoredEvent::new(seq, &t, Bytes::from(data), ts),
                })
            );
            let _ = parse_notice(&channel, &junk);
            let _ = parse_notice("sluice:n:x", &junk);
        }
    }
}
