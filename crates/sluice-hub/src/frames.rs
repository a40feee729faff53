//! Per-topic cache of encoded frames: each event is encoded once for SSE and once for
//! WebSocket, and the resulting `Bytes` are shared by every subscriber that writes it.
//!
//! The cache is a window of consecutive sequence numbers (one epoch) near the head of the log,
//! bounded by count and bytes. A broadcast's readers all ask for the newest events, so the
//! first one encodes and the rest hit. A reader replaying older history than the window
//! encodes for itself (no insertion), so replays never evict the hot window.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use sluice_longpoll::Event;
use sluice_ws::Utf8Bytes;

/// The encoded forms of one event, filled lazily.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    sse: OnceLock<Bytes>,
    ws: OnceLock<Utf8Bytes>,
}

impl Frames {
    /// The SSE form: `id:`, `event:` (omitted for `message`), `data:` lines, blank line.
    pub(crate) fn sse(&self, ev: &Event) -> Bytes {
        self.sse.get_or_init(|| encode_sse(ev)).clone()
    }

    /// The WebSocket text payload `{"id":…,"event":…,"data":…}` (the log's cached JSON), or
    /// `{"end":true,"id":…}` for the end of the topic.
    pub(crate) fn ws(&self, ev: &Event) -> Utf8Bytes {
        self.ws
            .get_or_init(|| {
                if ev.is_end() {
                    return end_ws(ev.id());
                }
                // The log's JSON is built from validated UTF-8 and JSON escapes only.
                Utf8Bytes::try_from(ev.json().clone()).unwrap_or_default()
            })
            .clone()
    }
}

/// The WebSocket frame of the end of a topic whose end has the id `id`.
pub(crate) fn end_ws(id: &str) -> Utf8Bytes {
    Utf8Bytes::from(format!("{{\"end\":true,\"id\":\"{id}\"}}"))
}

/// The SSE frame of the end of a topic whose end has the id `id`: what [`encode_sse`] makes of
/// the end event (`data:` with nothing, so that browsers dispatch it).
pub(crate) fn end_sse(id: &str) -> Bytes {
    sse_frame(id, sluice_longpoll::END_EVENT_TYPE, "")
}

/// The SSE form of a log event (the end included: `event: sluice-end`, empty `data:`).
pub(crate) fn encode_sse(ev: &Event) -> Bytes {
    sse_frame(ev.id(), ev.event_type(), ev.data_str())
}

/// `id:`, `event:` (omitted for `message`), `data:` lines, blank line.
fn sse_frame(id: &str, event_type: &str, data: &str) -> Bytes {
    let mut e = sluice_sse::Event::new().id(id).data(data);
    if event_type != "message" {
        e = e.event(event_type);
    }
    // The log validated the type (no CR/LF/NUL) and ids are cursors: encoding cannot fail.
    e.to_bytes().unwrap_or_default()
}

#[derive(Debug, Default)]
struct Window {
    epoch: u64,
    /// Sequence number of `frames[0]`.
    first: u64,
    frames: VecDeque<(usize, Arc<Frames>)>,
    bytes: usize,
}

/// The frame cache of one topic.
#[derive(Debug)]
pub(crate) struct FrameCache {
    window: Mutex<Window>,
    max_events: usize,
    max_bytes: usize,
}

impl FrameCache {
    pub(crate) fn new(max_events: usize, max_bytes: usize) -> FrameCache {
        FrameCache {
            window: Mutex::new(Window::default()),
            max_events: max_events.max(1),
            max_bytes,
        }
    }

    /// The frames of `ev` (shared when cached).
    pub(crate) fn get(&self, ev: &Event) -> Arc<Frames> {
        let c = ev.cursor();
        let (epoch, seq) = (c.epoch(), c.seq());
        let mut w = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let end = w.first + w.frames.len() as u64;
        let same_epoch = w.epoch == epoch && !w.frames.is_empty();
        if same_epoch && seq >= w.first && seq < end {
            return Arc::clone(&w.frames[(seq - w.first) as usize].1);
        }
        if same_epoch && seq < w.first {
            // A replay older than the window: encode without caching.
            return Arc::new(Frames::default());
        }
        if !same_epoch || seq != end {
            // Another epoch, or a jump ahead: restart the window here.
            w.frames.clear();
            w.bytes = 0;
            w.epoch = epoch;
            w.first = seq;
        }
        let f = Arc::new(Frames::default());
        // Both forms together are about twice the event plus framing.
        let cost = 2 * ev.size() + 64;
        w.frames.push_back((cost, Arc::clone(&f)));
        w.bytes += cost;
        while w.frames.len() > 1 && (w.frames.len() > self.max_events || w.bytes > self.max_bytes) {
            if let Some((c, _)) = w.frames.pop_front() {
                w.bytes -= c;
                w.first += 1;
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_longpoll::{Cursor, Log, LogConfig, ReadLimits, ReadOutcome};
    use std::time::Instant;

    fn log_with(n: usize) -> Log {
        let mut log = Log::new(7, LogConfig::default());
        for i in 0..n {
            let t = if i % 2 == 0 { "message" } else { "chat" };
            log.append(Instant::now(), t, Bytes::from(format!("line {i}\nsecond")))
                .unwrap();
        }
        log
    }

    fn events(log: &Log) -> Vec<Arc<Event>> {
        let lim = ReadLimits {
            max_events: 1000,
            max_bytes: usize::MAX,
        };
        match log.read(Cursor::new(7, 0), lim) {
            ReadOutcome::Events(b) => b.events().cloned().collect(),
            _ => panic!(),
        }
    }

    #[test]
    fn encodes_once_and_shares() {
        let log = log_with(4);
        let evs = events(&log);
        let cache = FrameCache::new(16, 1 << 20);
        let a = cache.get(&evs[0]);
        let b = cache.get(&evs[0]);
        assert!(Arc::ptr_eq(&a, &b));
        let s1 = a.sse(&evs[0]);
        let s2 = b.sse(&evs[0]);
        assert_eq!(s1.as_ptr(), s2.as_ptr(), "one encoding, shared");
        assert_eq!(&s1[..], b"id: 1.7.1\ndata: line 0\ndata: second\n\n");
        let c = cache.get(&evs[1]);
        assert_eq!(
            &c.sse(&evs[1])[..],
            b"event: chat\nid: 1.7.2\ndata: line 1\ndata: second\n\n"
        );
        assert_eq!(
            c.ws(&evs[1]).as_str(),
            r#"{"id":"1.7.2","event":"chat","data":"line 1\nsecond"}"#
        );
    }

    #[test]
    fn window_is_bounded_and_replays_do_not_evict() {
        let log = log_with(10);
        let evs = events(&log);
        let cache = FrameCache::new(3, 1 << 20);
        let frames: Vec<_> = evs.iter().map(|e| cache.get(e)).collect();
        // Only the last three are cached.
        assert!(Arc::ptr_eq(&frames[9], &cache.get(&evs[9])));
        assert!(Arc::ptr_eq(&frames[7], &cache.get(&evs[7])));
        assert!(!Arc::ptr_eq(&frames[0], &cache.get(&evs[0])));
        // The replay of evs[0] did not disturb the window.
        assert!(Arc::ptr_eq(&frames[8], &cache.get(&evs[8])));
    }
}
