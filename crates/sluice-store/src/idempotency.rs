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

    /// The answer remembered for `key` on `topic` if there is one at `now` and `valid` accepts
    /// it (`true` in the pair); else `append`'s answer, remembered (`false`). Both under the
    /// cache's lock: two attempts with one key that race — a retry sent while the first is
    /// still being appended, by a client that lost the connection rather than the request —
    /// append once. `append` must not use this cache.
    ///
    /// # Errors
    /// `append`'s error (nothing is remembered then).
    pub fn first_or_insert_with<E>(
        &self,
        now: Instant,
        topic: &str,
        key: &str,
        valid: impl FnOnce(Cursor) -> bool,
        append: impl FnOnce() -> Result<Cursor, E>,
    ) -> Result<(Cursor, bool), E> {
        let mut w = self.lock();
        self.expire(&mut w, now);
        let k: (Arc<str>, Box<str>) = (Arc::from(topic), Box::from(key));
        if let Some(&c) = w.map.get(&k) {
            if valid(c) {
                return Ok((c, true));
            }
            // Remembered from before the topic's log was reset: answer anew.
            w.map.remove(&k);
            w.order.retain(|(_, t, key)| (t, key) != (&k.0, &k.1));
        }
        let c = append()?;
        self.insert_locked(&mut w, now, k, c);
        Ok((c, false))
    }

    /// Remembers `cursor` as the answer for `key` on `topic` (the first answer stays).
    pub fn insert(&self, now: Instant, topic: &str, key: &str, cursor: Cursor) {
        let mut w = self.lock();
        self.expire(&mut w, now);
        let k: (Arc<str>, Box<str>) = (Arc::from(topic), Box::from(key));
        self.insert_locked(&mut w, now, k, cursor);
    }

    fn insert_locked(&self, w: &mut Window, now: Instant, k: (Arc<str>, Box<str>), cursor: Cursor) {
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
    fn racing_attempts_with_one_key_append_once() {
        let c = Arc::new(IdempotencyCache::new(16, Duration::from_secs(10)));
        let appended = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let now = Instant::now();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (c, appended) = (Arc::clone(&c), Arc::clone(&appended));
                std::thread::spawn(move || {
                    c.first_or_insert_with(
                        now,
                        "t",
                        "k",
                        |_| true,
                        || {
                            let n = appended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            // Slow enough that every thread arrives while it runs.
                            std::thread::sleep(Duration::from_millis(20));
                            Ok::<_, ()>(Cursor::new(1, n + 1))
                        },
                    )
                    .unwrap()
                })
            })
            .collect();
        let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(appended.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(answers.iter().all(|(cur, _)| *cur == Cursor::new(1, 1)));
        assert_eq!(answers.iter().filter(|(_, dup)| !dup).count(), 1);
        // A remembered answer the caller no longer accepts (its log was reset) is replaced.
        let (cur, dup) = c
            .first_or_insert_with(now, "t", "k", |_| false, || Ok::<_, ()>(Cursor::new(2, 1)))
            .unwrap();
        assert_eq!((cur, dup), (Cursor::new(2, 1), false));
        assert_eq!(c.get(now, "t", "k"), Some(Cursor::new(2, 1)));
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
