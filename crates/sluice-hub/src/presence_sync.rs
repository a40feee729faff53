//! Presence and ephemeral events across the nodes of a shared store (Redis, NATS).
//!
//! Each node writes its own members of a topic to the store ([`Store::presence_put`](sluice_store::Store::presence_put)) when
//! they change (within [`TICK`]) and again every third of the TTL, so a node that dies has its
//! members gone after at most the TTL ([`HubConfig::presence_ttl`](crate::HubConfig::presence_ttl)).
//! For every topic a local subscriber watches with notices, the node reads the others'
//! records every [`REMOTE_EVERY`] and announces who came and went. `GET /presence` reads the
//! store. Ephemeral events are delivered locally at once and sent through the store to the
//! other nodes ([`Store::ephemeral`](sluice_store::Store::ephemeral)).

use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::hub::{Hub, Inner};
use crate::presence::Member;

/// How often local changes are written.
const TICK: Duration = Duration::from_millis(200);
/// How often the other nodes' members are read for watched topics.
const REMOTE_EVERY: Duration = Duration::from_secs(1);

/// The other nodes' members in `records` (`(node, JSON array)`), without `own`'s.
pub(crate) fn remote_members(records: &[(String, String)], own: &str) -> Vec<Member> {
    let mut out: Vec<Member> = Vec::new();
    for (node, json) in records {
        if node == own {
            continue;
        }
        let Ok(serde_json::Value::Array(list)) = serde_json::from_str(json) else {
            continue;
        };
        for m in list.iter().filter_map(Member::from_json) {
            if !out.iter().any(|o| o.same(&m)) {
                out.push(m);
            }
        }
    }
    out
}

/// Runs while the hub lives (and until shutdown, when it withdraws this node's records).
pub(crate) async fn run(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heartbeat = Instant::now();
    let mut remote = Instant::now();
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let hub = Hub { inner };
        let Some(store) = hub.inner.store.clone() else {
            return;
        };
        let p = &hub.inner.presence;
        let node = &*hub.inner.node;
        let ttl = hub.inner.cfg.presence_ttl;
        if hub.is_shutting_down() {
            for t in p.topics_with_members() {
                let _ = store.presence_put(&t, node, "[]", ttl).await;
            }
            return;
        }
        let mut topics = p.take_dirty();
        if heartbeat.elapsed() >= ttl / 3 {
            heartbeat = Instant::now();
            for t in p.topics_with_members() {
                if !topics.contains(&t) {
                    topics.push(t);
                }
            }
        }
        for t in topics {
            let json = p.local_json(&t);
            if let Err(e) = store.presence_put(&t, node, &json, ttl).await {
                tracing::debug!(topic = &*t, error = %e, "presence write failed");
            }
        }
        if remote.elapsed() >= REMOTE_EVERY {
            remote = Instant::now();
            for t in p.watched_topics() {
                match store.presence_get(&t).await {
                    Ok(records) => p.apply_remote(&t, remote_members(&records, node)),
                    Err(e) => tracing::debug!(topic = &*t, error = %e, "presence read failed"),
                }
            }
        }
    }
}

/// Sends an ephemeral event to the other nodes, if the store is shared.
pub(crate) async fn ephemeral_to_others(hub: &Hub, topic: &str, event: &str, data: &[u8]) {
    if let Some(store) = hub.inner.store.as_ref().filter(|s| s.is_shared())
        && let Err(e) = store.ephemeral(topic, &hub.inner.node, event, data).await
    {
        tracing::debug!(topic, error = %e, "ephemeral fan-out failed");
    }
}

/// Everyone present on `topic`: this node's members, then the other nodes' (a shared store).
pub(crate) async fn everyone(hub: &Hub, topic: &str) -> Vec<serde_json::Value> {
    let local = hub.inner.presence.local(topic);
    let mut out: Vec<serde_json::Value> = local.iter().map(|m| m.to_json()).collect();
    if let Some(store) = hub.inner.store.as_ref().filter(|s| s.is_shared())
        && let Ok(records) = store.presence_get(topic).await
    {
        for m in remote_members(&records, &hub.inner.node) {
            if !local.iter().any(|l| l.same(&m)) {
                out.push(m.to_json());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_members_skip_our_node_malformed_entries_and_duplicates() {
        let a = r#"[{"client":"a","sub":null,"transport":"ws","since":5}]"#;
        let b = r#"[{"client":"b","sub":"bob","transport":"sse","since":6},{"client":"a","sub":null,"transport":"poll","since":7},{"client":"a","sub":"eve","transport":"ws","since":8},{"client":"bad id","transport":"ws","since":1},"junk"]"#;
        let recs = vec![
            (
                "me".to_owned(),
                r#"[{"client":"mine","transport":"ws","since":1}]"#.to_owned(),
            ),
            ("n1".to_owned(), a.to_owned()),
            ("n2".to_owned(), b.to_owned()),
            ("n3".to_owned(), "not json".to_owned()),
        ];
        let m = remote_members(&recs, "me");
        let ids: Vec<&str> = m.iter().map(|m| m.client.as_str()).collect();
        // `a` under another subject is another member.
        assert_eq!(ids, ["a", "b", "a"]);
        assert_eq!(m[1].sub.as_deref(), Some("bob"));
        assert_eq!(m[2].sub.as_deref(), Some("eve"));
    }
}
