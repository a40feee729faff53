//! The client state machine: builds requests, checks and deduplicates responses, surfaces
//! gaps and resets, and backs off with jitter on errors. No I/O, no clock, no randomness.
//!
//! Delivery contract: each event is surfaced at most once, in sequence order; every event
//! not surfaced is accounted for by a [`ClientEvent::Gap`] with its exact count, or covered
//! by a [`ClientEvent::Reset`] (history lost). Responses may be duplicated (retries) or
//! arrive out of order (concurrent polls): anything at or before the last sequence number
//! seen is dropped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::cursor::Cursor;
use crate::query::{Request, Start};

/// Longest `Retry-After` honoured; larger values are clamped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Client settings. Every field has a finite default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// `timeout` sent with each request; `None`: the server's default. Default 25 s.
    pub timeout: Option<Duration>,
    /// `max` sent with each request; `None`: the server's default. Default `None`.
    pub max: Option<u32>,
    /// First retry delay after an error. Default 500 ms.
    pub backoff_base: Duration,
    /// Largest retry delay (before `Retry-After`). Default 30 s.
    pub backoff_max: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(25)),
            max: None,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// An event as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// The event's id (resume from here).
    pub id: Cursor,
    /// Event type.
    pub event: String,
    /// Data.
    pub data: String,
}

/// What the client surfaces to its caller, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The next event.
    Event(ReceivedEvent),
    /// Exactly `missed` events were lost here (they fell out of retention).
    Gap {
        /// How many.
        missed: u64,
    },
    /// The server lost its history (new epoch): resynchronise application state.
    Reset,
    /// The stream ended after the events before it (`"end": true`): nothing will follow and
    /// the client has stopped ([`Client::next_request`] returns `None`, [`Client::is_ended`]).
    End,
}

/// Why a response was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// `400`: the server rejected the request or cursor. Terminal.
    #[error("request rejected (400)")]
    BadRequest,
    /// `410`: the stream is gone. Terminal.
    #[error("stream gone (410)")]
    Gone,
    /// Another `4xx` (e.g. 401, 403, 404). Terminal.
    #[error("request refused ({status})")]
    Refused {
        /// The status code.
        status: u16,
    },
    /// `429`, `5xx` or an unexpected status: retrying after a backoff.
    #[error("server unavailable ({status}); retrying")]
    Unavailable {
        /// The status code.
        status: u16,
    },
    /// A `200` whose body is not a valid long-poll body: retrying after a backoff.
    #[error("malformed response body: {0}")]
    MalformedBody(String),
    /// The client already stopped on a terminal error.
    #[error("client stopped after a terminal error")]
    Stopped,
}

impl ClientError {
    /// The client has stopped: [`Client::next_request`] returns `None` from now on.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            ClientError::BadRequest
                | ClientError::Gone
                | ClientError::Refused { .. }
                | ClientError::Stopped
        )
    }
}

#[derive(Deserialize)]
struct WireBody {
    cursor: String,
    events: Vec<WireEvent>,
    more: bool,
    gap: Option<WireGap>,
    reset: bool,
    #[serde(default)]
    end: bool,
}

#[derive(Deserialize)]
struct WireEvent {
    id: String,
    event: String,
    data: String,
}

#[derive(Deserialize)]
struct WireGap {
    missed: u64,
}

/// The long-poll client. See the module docs.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    start: Start,
    /// Epoch and last sequence number seen; `None` until the first answer to `Now`/`Earliest`.
    last: Option<Cursor>,
    attempt: u32,
    retry_at: Option<Instant>,
    stopped: bool,
    ended: bool,
    more: bool,
    events: VecDeque<ClientEvent>,
}

impl Client {
    /// A client starting at `start` (`Start::At(c)`: resume after the event with id `c`).
    pub fn new(config: ClientConfig, start: Start) -> Self {
        Self {
            config,
            start,
            last: match start {
                Start::At(c) => Some(c),
                Start::Now | Start::Earliest => None,
            },
            attempt: 0,
            retry_at: None,
            stopped: false,
            ended: false,
            more: false,
            events: VecDeque::new(),
        }
    }

    /// The resume position: the last event seen (`None` before the first answer when not
    /// started from a cursor).
    pub fn cursor(&self) -> Option<Cursor> {
        self.last
    }

    /// The next request to send, or `None` while backing off (see [`Client::poll_timeout`])
    /// or after a terminal error. May be called again before the previous answer arrives
    /// (concurrent polls are deduplicated).
    pub fn next_request(&self, now: Instant) -> Option<Request> {
        if self.stopped || self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        Some(Request {
            start: self.last.map_or(self.start, Start::At),
            timeout: self.config.timeout,
            max: self.config.max,
        })
    }

    /// The stream ended ([`ClientEvent::End`]): a normal stop, not an error.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The last accepted response said more events are available now.
    pub fn more(&self) -> bool {
        self.more
    }

    /// When the backoff ends.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.retry_at.filter(|_| !self.stopped)
    }

    /// The next event for the caller.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// A request failed without a response (connection refused or reset, timeout): back off.
    /// `random` is caller randomness for the jitter.
    pub fn handle_transport_error(&mut self, now: Instant, random: u64) {
        self.backoff(now, random, None);
    }

    /// Handle a response: its status, raw `Retry-After` header value, and body. `random` is
    /// caller randomness for the backoff jitter.
    pub fn handle_response(
        &mut self,
        now: Instant,
        status: u16,
        retry_after: Option<&str>,
        body: &[u8],
        random: u64,
    ) -> Result<(), ClientError> {
        if self.stopped {
            return Err(ClientError::Stopped);
        }
        let err = match status {
            200 => match self.accept(body) {
                Ok(()) => {
                    self.attempt = 0;
                    self.retry_at = None;
                    return Ok(());
                }
                Err(e) => e,
            },
            400 => ClientError::BadRequest,
            410 => ClientError::Gone,
            429 => ClientError::Unavailable { status },
            s if (400..500).contains(&s) => ClientError::Refused { status },
            _ => ClientError::Unavailable { status },
        };
        if err.is_terminal() {
            self.stopped = true;
        } else {
            let ra = retry_after
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .map(|s| {
                    s.parse::<u64>()
                        .map_or(MAX_RETRY_AFTER, Duration::from_secs)
                        .min(MAX_RETRY_AFTER)
                });
            self.backoff(now, random, ra);
        }
        Err(err)
    }

    fn backoff(&mut self, now: Instant, random: u64, retry_after: Option<Duration>) {
        self.attempt = self.attempt.saturating_add(1);
        let exp = self
            .config
            .backoff_base
            .saturating_mul(1u32 << (self.attempt - 1).min(20))
            .min(self.config.backoff_max);
        // "Equal jitter": uniform in [exp/2, exp].
        let half = exp / 2;
        let j = half.as_nanos() * u128::from(random) / u128::from(u64::MAX);
        let mut delay = half + Duration::from_nanos(u64::try_from(j).unwrap_or(u64::MAX));
        if let Some(ra) = retry_after {
            delay = delay.max(ra);
        }
        self.retry_at = Some(now.checked_add(delay).unwrap_or(now));
    }

    /// Validate a 200 body, then deduplicate and surface its contents.
    fn accept(&mut self, body: &[u8]) -> Result<(), ClientError> {
        let bad = |m: &str| ClientError::MalformedBody(m.to_owned());
        let b: WireBody =
            serde_json::from_slice(body).map_err(|e| ClientError::MalformedBody(e.to_string()))?;
        let end_cursor = Cursor::parse(&b.cursor).map_err(|_| bad("bad cursor"))?;
        // The end takes a sequence number and is not in `events`: the events end before it.
        let cursor = match (b.end, end_cursor.seq()) {
            (false, _) => end_cursor,
            (true, 0) => return Err(bad("end at sequence number 0")),
            (true, s) => Cursor::new(end_cursor.epoch(), s - 1),
        };
        let mut events = Vec::with_capacity(b.events.len());
        let mut prev = None;
        for e in b.events {
            let id = Cursor::parse(&e.id).map_err(|_| bad("bad event id"))?;
            if id.epoch() != cursor.epoch() || prev.is_some_and(|p| id.seq() <= p) || id.seq() == 0
            {
                return Err(bad("event ids out of order"));
            }
            prev = Some(id.seq());
            events.push(ReceivedEvent {
                id,
                event: e.event,
                data: e.data,
            });
        }
        if prev.is_some_and(|p| p != cursor.seq()) {
            return Err(bad("cursor is not the last event id"));
        }
        let epoch = cursor.epoch();
        // Where the missed range (if any) ends: just before the first event.
        let end = events.first().map_or(cursor.seq(), |e| e.id.seq() - 1);
        let mut seen = match self.last {
            None => end.saturating_sub(b.gap.as_ref().map_or(0, |g| g.missed)),
            Some(l) if l.epoch() == epoch => l.seq(),
            Some(_) if b.reset => {
                self.events.push_back(ClientEvent::Reset);
                0
            }
            // An answer from an epoch we already left (a slow concurrent poll): drop it.
            Some(_) => return Ok(()),
        };
        if let Some(g) = b.gap
            && end > seen
        {
            let missed = g.missed.min(end - seen);
            if missed > 0 {
                self.events.push_back(ClientEvent::Gap { missed });
            }
            seen = end;
        }
        for e in events {
            let s = e.id.seq();
            if s <= seen {
                continue;
            }
            if s > seen + 1 {
                // The server skipped without saying so: never skip silently.
                self.events.push_back(ClientEvent::Gap {
                    missed: s - seen - 1,
                });
            }
            seen = s;
            self.events.push_back(ClientEvent::Event(e));
        }
        if cursor.seq() > seen && self.last.is_some() {
            self.events.push_back(ClientEvent::Gap {
                missed: cursor.seq() - seen,
            });
            seen = cursor.seq();
        }
        if self.last.is_none() {
            seen = seen.max(cursor.seq());
        }
        self.more = b.more;
        self.last = Some(Cursor::new(epoch, seen));
        if b.end {
            self.last = Some(end_cursor);
            self.events.push_back(ClientEvent::End);
            self.ended = true;
            self.stopped = true;
            self.more = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(cursor: &str, events: &[&str], gap: Option<u64>, reset: bool) -> Vec<u8> {
        let evs: Vec<_> = events
            .iter()
            .map(|id| serde_json::json!({"id": id, "event": "m", "data": id}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "cursor": cursor, "events": evs, "more": false,
            "gap": gap.map(|m| serde_json::json!({"missed": m})), "reset": reset,
        }))
        .unwrap()
    }

    fn drain(c: &mut Client) -> Vec<String> {
        std::iter::from_fn(|| c.poll_event())
            .map(|e| match e {
                ClientEvent::Event(e) => e.data,
                ClientEvent::Gap { missed } => format!("gap{missed}"),
                ClientEvent::Reset => "reset".into(),
                ClientEvent::End => "end".into(),
            })
            .collect()
    }

    #[test]
    fn from_now_then_events_with_dedupe() {
        let t = Instant::now();
        let mut c = Client::new(ClientConfig::default(), Start::Now);
        assert_eq!(c.next_request(t).unwrap().start, Start::Now);
        c.handle_response(t, 200, None, &body("1.5.3", &[], None, false), 0)
            .unwrap();
        assert_eq!(c.cursor(), Some(Cursor::new(5, 3)));
        assert!(drain(&mut c).is_empty());
        let b = body("1.5.5", &["1.5.4", "1.5.5"], None, false);
        c.handle_response(t, 200, None, &b, 0).unwrap();
        c.handle_response(t, 200, None, &b, 0).unwrap();
        assert_eq!(drain(&mut c), ["1.5.4", "1.5.5"]);
        assert_eq!(
            c.next_request(t).unwrap().start,
            Start::At(Cursor::new(5, 5))
        );
    }

    #[test]
    fn gap_and_reset_are_surfaced_once() {
        let t = Instant::now();
        let mut c = Client::new(ClientConfig::default(), Start::At(Cursor::new(5, 2)));
        let g = body("1.5.8", &["1.5.7", "1.5.8"], Some(4), false);
        c.handle_response(t, 200, None, &g, 0).unwrap();
        c.handle_response(t, 200, None, &g, 0).unwrap();
        assert_eq!(drain(&mut c), ["gap4", "1.5.7", "1.5.8"]);
        let r = body("1.6.2", &["1.6.2"], Some(1), true);
        c.handle_response(t, 200, None, &r, 0).unwrap();
        c.handle_response(t, 200, None, &r, 0).unwrap();
        // A late answer from the old epoch is dropped.
        c.handle_response(t, 200, None, &body("1.5.9", &["1.5.9"], None, false), 0)
            .unwrap();
        assert_eq!(drain(&mut c), ["reset", "gap1", "1.6.2"]);
        // Server skipping without a gap flag is still reported.
        c.handle_response(t, 200, None, &body("1.6.5", &["1.6.5"], None, false), 0)
            .unwrap();
        assert_eq!(drain(&mut c), ["gap2", "1.6.5"]);
    }

    #[test]
    fn malformed_bodies_back_off() {
        let t = Instant::now();
        let mut c = Client::new(ClientConfig::default(), Start::At(Cursor::new(5, 0)));
        for b in [
            &b"nope"[..],
            &body("x", &[], None, false),
            &body("1.5.2", &["1.5.1"], None, false),
            &body("1.5.2", &["1.5.2", "1.5.1"], None, false),
            &body("1.5.1", &["1.6.1"], None, false),
        ] {
            let e = c.handle_response(t, 200, None, b, 0).unwrap_err();
            assert!(matches!(e, ClientError::MalformedBody(_)), "{e:?}");
            assert!(!e.is_terminal());
        }
        assert_eq!(c.cursor(), Some(Cursor::new(5, 0)));
        assert!(drain(&mut c).is_empty());
    }

    #[test]
    fn backoff_with_jitter_and_retry_after() {
        let t = Instant::now();
        let mut c = Client::new(ClientConfig::default(), Start::Now);
        c.handle_transport_error(t, 0);
        assert_eq!(c.poll_timeout(), Some(t + Duration::from_millis(250)));
        assert!(c.next_request(t).is_none());
        assert!(c.next_request(t + Duration::from_millis(250)).is_some());
        c.handle_transport_error(t, u64::MAX);
        assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(1)));
        for _ in 0..40 {
            c.handle_transport_error(t, u64::MAX);
        }
        assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(30)));
        let e = c
            .handle_response(t, 503, Some(" 120 "), b"", 0)
            .unwrap_err();
        assert_eq!(e, ClientError::Unavailable { status: 503 });
        assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(120)));
        // An HTTP-date Retry-After is ignored in favour of the backoff.
        c.handle_response(t, 503, Some("Wed, 21 Oct 2015 07:28:00 GMT"), b"", 0)
            .unwrap_err();
        assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(15)));
        c.handle_response(t, 200, None, &body("1.1.0", &[], None, false), 0)
            .unwrap();
        assert_eq!(c.poll_timeout(), None);
        assert!(c.next_request(t).is_some());
    }

    #[test]
    fn terminal_statuses_stop() {
        let t = Instant::now();
        for (s, e) in [
            (400, ClientError::BadRequest),
            (410, ClientError::Gone),
            (403, ClientError::Refused { status: 403 }),
        ] {
            let mut c = Client::new(ClientConfig::default(), Start::Now);
            assert_eq!(c.handle_response(t, s, None, b"{}", 0), Err(e));
            assert!(c.next_request(t).is_none());
            assert_eq!(
                c.handle_response(t, 200, None, b"{}", 0),
                Err(ClientError::Stopped)
            );
        }
    }
}
