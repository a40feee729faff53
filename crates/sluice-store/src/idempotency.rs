//! Idempotency keys: a retried publish with the same `Idempotency-Key` gets the first answer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_longpoll::Cursor;

/// Longest accepted `Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Whether `key` is an acceptable `Idempotency-Key`: 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] visible
/// ASCII characters (`!`..`~`). Anything else is answered 400.
#[must_use]
pub fn is_valid_idempotency_key(key: &str) -> bool {
    (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// An in-memory idempotency window for a node without a shared store: at most `capacity`
/// keys, each for at most `ttl` (the oldest go first). Thread-safe.
#[derive(Debug)]
pub struct IdempotencyCache {
    inner: Mutex<Window>,
    ttl: Duration,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Window {
    map: HashMap<(Arc<str>, Box<str>), Cursor>,
    order: VecDeque<(Instant, Arc<str>, Box<str>)>,
}

impl IdempotencyCache {
    /// A window of at most `capacity` keys (at least 1), each remembered for `ttl`.
    #[must_use]
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        IdempotencyCache {
            inner: Mutex::new(Window::default()),
            ttl,
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        crate::sync::lock(&self.inner)
    }

    /// The cursor first answered for `key` on `topic`, if it is still remembered at `now`.
    #[must_use]
    pub fn get(&self, now: Instant, topic: &str, key: &str) -> Option<Cursor> {
        let mut w = self.lock();
        self.expire(&mut w, now);
        w.map.get(&(Arc::from(topic), Box::from(key))).copied()
    }

    /// Remembers `cursor` as the answer for `key` on `topic` (the first answer stays).
    pub fn insert(&self, now: Instant, topic: &str, key: &str, cursor: Cursor) {
        let mut w = self.lock();
        self.expire(&mut w, now);
        let k: (Arc<str>, Box<str>) = (Arc::from(topic), Box::from(key));
        if w.map.contains_key(&k) {
            return;
        }
        while w.map.len() >= self.capacity {
            let Some((_, t, k)) = w.order.pop_front() else {
                break;
            };
            w.map.remove(&(t, k));
        }
        w.order.push_back((now, Arc::clone(&k.0), k.1.clone()));
        w.map.insert(k, cursor);
    }

    fn expire(&self, w: &mut Window, now: Instant) {
        while let Some((t, _, _)) = w.order.front() {
            if now.saturating_duration_since(*t) < self.ttl {
                break;
            }
            if let Some((_, t, k)) = w.order.pop_front() {
                w.map.remove(&(t, k));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(is_valid_idempotency_key("a"));
        assert!(is_valid_idempotency_key(&"k".repeat(128)));
        assert!(!is_valid_idempotency_key(&"k".repeat(129)));
        assert!(!is_valid_idempotency_key(""));
        assert!(!is_valid_idempotency_key("a b"));
        assert!(!is_valid_idempotency_key("é"));
    }

    #[test]
    fn window_by_time_and_count() {
        let t0 = Instant::now();
        let c = IdempotencyCache::new(2, Duration::from_secs(10));
        let (a, b, d) = (Cursor::new(1, 1), Cursor::new(1, 2), Cursor::new(1, 3));
        c.insert(t0, "t", "k1", a);
        c.insert(t0, "t", "k1", b);
        assert_eq!(c.get(t0, "t", "k1"), Some(a), "the first answer stays");
        assert_eq!(c.get(t0, "u", "k1"), None, "keys are per topic");
        c.insert(t0, "t", "k2", b);
        c.insert(t0, "t", "k3", d);
        assert_eq!(c.get(t0, "t", "k1"), None, "the oldest went at capacity");
        assert_eq!(c.get(t0, "t", "k3"), Some(d));
        assert_eq!(
            c.get(t0 + Duration::from_secs(10), "t", "k3"),
            None,
            "expired"
        );
    }
}
