//! [`RedisStore`]: Redis Streams, shared by any number of hub nodes.
//!
//! After Centrifugo's design (`centrifugal/centrifuge`, `broker_redis.go`): per topic a
//! **stream** of events and a **meta hash** holding the epoch (`e`) and the top sequence
//! number (`s`); one Lua script per publish creates the epoch if missing, `HINCRBY`s the
//! sequence, `XADD`s with `MAXLEN`, refreshes the keys' expiry and `PUBLISH`es the event on
//! the topic's notification channel — atomically, so notifications of a topic come in
//! sequence order. Changed from Centrifugo: the stream entry id *is* the sequence number
//! (`0-<seq>`), so "events after N" is one `XRANGE` from `0-<N+1>` with no scan; age retention
//! trims entries by their `ts` field in the same script (instead of `MINID` over time-based
//! ids); the idempotency key is a `SET … EX` inside the publish script, so a retry on any
//! node gets the first answer; nodes `PSUBSCRIBE` one pattern for all topics (instead of a
//! channel per topic) before they read anything.
//!
//! Keys (`{topic}` is a Redis Cluster hash tag: a topic's keys live on one shard):
//! `sluice:{T}:s` stream, `sluice:{T}:m` meta, `sluice:{T}:i:<key>` idempotency;
//! channel `sluice:n:T`. A wiped store (FLUSHALL, keys expired after `meta_ttl`) has no meta
//! hash: the next read or publish creates a new epoch, so every reader gets a reset.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{Script, Value};

use crate::{
    Appended, BoxFuture, Cursor, History, NewEvent, Notice, NoticeFn, Store, StoreConfig,
    StoreError, StoredEvent, new_epoch, now_ms,
};

/// The publish script. KEYS: stream, meta, idempotency key (or ""). ARGV: a new epoch (used
/// if the topic has none), MAXLEN, key ttl (s), channel, type, data, now (ms), idempotency
/// ttl (s), oldest time kept (ms).
const PUBLISH: &str = r"
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('hset', KEYS[2], 'e', epoch)
end
if KEYS[3] ~= '' then
  local prev = redis.call('get', KEYS[3])
  if prev then
    local sep = string.find(prev, ':', 1, true)
    if sep and string.sub(prev, 1, sep - 1) == epoch then
      return {epoch, string.sub(prev, sep + 1), 1}
    end
  end
end
local seq = redis.call('hincrby', KEYS[2], 's', 1)
local id = '0-' .. seq
redis.call('xadd', KEYS[1], 'MAXLEN', ARGV[2], id, 't', ARGV[5], 'd', ARGV[6], 'ts', ARGV[7])
local oldest = tonumber(ARGV[9])
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
redis.call('expire', KEYS[1], ARGV[3])
redis.call('expire', KEYS[2], ARGV[3])
if KEYS[3] ~= '' then
  redis.call('set', KEYS[3], epoch .. ':' .. seq, 'EX', ARGV[8])
end
redis.call('publish', ARGV[4], epoch .. '\n' .. seq .. '\n' .. ARGV[7] .. '\n' .. ARGV[5] .. '\n' .. ARGV[6])
return {epoch, tostring(seq), 0}
";

/// The read script. KEYS: stream, meta. ARGV: a new epoch (if the topic has none), first
/// entry id, count, key ttl (s).
const READ: &str = r"
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('hset', KEYS[2], 'e', epoch)
  redis.call('expire', KEYS[2], ARGV[4])
end
local top = redis.call('hget', KEYS[2], 's') or '0'
return {epoch, top, redis.call('xrange', KEYS[1], ARGV[2], '+', 'COUNT', ARGV[3])}
";

/// How long a command may take before the store counts as unreachable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Redis Streams. See the [module docs](self).
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    config: StoreConfig,
    publish: Script,
    read: Script,
    pubsub_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        if let Some(t) = self
            .pubsub_task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            t.abort();
        }
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

/// A notification `epoch\nseq\nts\ntype\ndata` on channel `sluice:n:T`.
fn parse_notice(channel: &str, payload: &[u8]) -> Option<Notice> {
    let topic = channel.strip_prefix("sluice:n:")?;
    let mut parts = payload.splitn(5, |&b| b == b'\n');
    let num = |p: Option<&[u8]>| -> Option<u64> { std::str::from_utf8(p?).ok()?.parse().ok() };
    let epoch = num(parts.next())?;
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
            publish: Script::new(PUBLISH),
            read: Script::new(READ),
            pubsub_task: Mutex::new(None),
        })
    }

    async fn pubsub(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
        let mut ps = tokio::time::timeout(RESPONSE_TIMEOUT, client.get_async_pubsub())
            .await
            .map_err(|_| {
                redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
            })??;
        ps.psubscribe(CHANNEL_PATTERN).await?;
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
            let now = now_ms();
            let idem = event
                .idempotency_key
                .map_or_else(String::new, |k| format!("sluice:{{{topic}}}:i:{k}"));
            let mut conn = self.conn.clone();
            let v: Value = self
                .publish
                .key(stream_key(topic))
                .key(meta_key(topic))
                .key(idem)
                .arg(new_epoch().to_string())
                .arg(r.max_events.max(1))
                .arg(secs(self.config.meta_ttl.max(r.max_age)))
                .arg(channel(topic))
                .arg(event.event_type)
                .arg(event.data)
                .arg(now)
                .arg(secs(self.config.idempotency_ttl))
                .arg(now.saturating_sub(r.max_age.as_millis() as u64))
                .invoke_async(&mut conn)
                .await
                .map_err(|e| unavailable(&e))?;
            let bad = || StoreError::corrupt("unexpected publish script answer");
            let Value::Array(a) = v else {
                return Err(bad());
            };
            let epoch = a.first().and_then(as_u64).ok_or_else(bad)?;
            let seq = a.get(1).and_then(as_u64).ok_or_else(bad)?;
            let dup = a.get(2).and_then(as_u64).ok_or_else(bad)? == 1;
            Ok(Appended {
                cursor: Cursor::new(epoch, seq),
                duplicate: dup,
            })
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
                .arg(new_epoch().to_string())
                .arg(format!("0-{}", after.saturating_add(1)))
                .arg(max_events.max(1))
                .arg(secs(self.config.meta_ttl.max(r.max_age)))
                .invoke_async(&mut conn)
                .await
                .map_err(|e| unavailable(&e))?;
            let bad = || StoreError::corrupt("unexpected read script answer");
            let Value::Array(a) = v else {
                return Err(bad());
            };
            let epoch = a.first().and_then(as_u64).ok_or_else(bad)?;
            let head = a.get(1).and_then(as_u64).ok_or_else(bad)?;
            let Some(Value::Array(entries)) = a.get(2) else {
                return Err(bad());
            };
            let oldest = now_ms().saturating_sub(r.max_age.as_millis() as u64);
            let mut events = Vec::with_capacity(entries.len());
            for e in entries {
                let ev = parse_entry(e)?;
                // Entries the publish script has not trimmed yet (no publish since).
                if ev.time_ms >= oldest {
                    events.push(ev);
                }
            }
            Ok(History {
                epoch,
                head,
                events,
            })
        })
    }

    fn subscribe(&self, notify: NoticeFn) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let ps = RedisStore::pubsub(&self.client)
                .await
                .map_err(|e| unavailable(&e))?;
            let task = tokio::spawn(pubsub_loop(self.client.clone(), ps, notify));
            if let Some(old) = self
                .pubsub_task
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .replace(task)
            {
                old.abort();
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_parse() {
        let n = parse_notice("sluice:n:chat.1", b"42\n7\n1000\nmessage\nline\nline2").unwrap();
        assert_eq!(
            n,
            Notice::Appended {
                topic: Arc::from("chat.1"),
                epoch: 42,
                event: StoredEvent::new(7, "message", Bytes::from_static(b"line\nline2"), 1000),
            }
        );
        assert!(parse_notice("other", b"1\n1\n1\nm\nd").is_none());
        assert!(parse_notice("sluice:n:t", b"x\n1\n1\nm\nd").is_none());
        assert!(parse_notice("sluice:n:t", b"1\n1\n1").is_none());
    }
}
