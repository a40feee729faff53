//! The sans-IO `EventSource` client state machine (WHATWG HTML §9.2.3): which headers to send,
//! whether a response may carry the stream, when to reconnect. The caller does the I/O and owns
//! the clock and the random numbers.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use crate::{Config, Item, ParseError, Parser, ResponseError};

/// Reconnection policy of a [`Client`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Reconnection time before the server sets one with `retry`. Default: 3 s (as browsers).
    pub initial_retry: Duration,
    /// Floor under the reconnection time, whatever `retry` says. Default: 100 ms.
    pub min_retry: Duration,
    /// Cap of the exponential backoff after repeated failed attempts (never below the
    /// reconnection time itself). Default: 60 s.
    pub max_backoff: Duration,
    /// Limits of the parser.
    pub parser: Config,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            initial_retry: Duration::from_secs(3),
            min_retry: Duration::from_millis(100),
            max_backoff: Duration::from_secs(60),
            parser: Config::default(),
        }
    }
}

impl ClientConfig {
    /// Sets [`ClientConfig::initial_retry`].
    #[must_use]
    pub fn with_initial_retry(mut self, d: Duration) -> Self {
        self.initial_retry = d;
        self
    }
    /// Sets [`ClientConfig::min_retry`].
    #[must_use]
    pub fn with_min_retry(mut self, d: Duration) -> Self {
        self.min_retry = d;
        self
    }
    /// Sets [`ClientConfig::max_backoff`].
    #[must_use]
    pub fn with_max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }
    /// Sets [`ClientConfig::parser`].
    #[must_use]
    pub fn with_parser(mut self, c: Config) -> Self {
        self.parser = c;
        self
    }
}

/// Where a [`Client`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// A request is (to be) sent; waiting for its response.
    Connecting,
    /// A valid event-stream response is being read.
    Open,
    /// The connection is gone; the caller waits the delay [`Client::handle_disconnect`] gave,
    /// then calls [`Client::handle_reconnect`].
    Waiting,
    /// Finished for good: a fatal response or [`Client::close`]. Nothing more to do.
    Closed,
}

/// Sans-IO `EventSource` client.
///
/// Cycle: send a request with [`request_headers`](Client::request_headers) →
/// [`handle_response`](Client::handle_response) → [`handle_input`](Client::handle_input) /
/// [`poll_item`](Client::poll_item) for the body → on a network error or the end of the body,
/// [`handle_disconnect`](Client::handle_disconnect) gives the delay → after it,
/// [`handle_reconnect`](Client::handle_reconnect) and a new request.
///
/// The reconnection time is sticky (a `retry` field holds for later connections), never below
/// [`ClientConfig::min_retry`]. Attempts that fail before a valid response back off
/// exponentially with jitter; a valid response resets the backoff.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    parser: Parser,
    state: State,
    failures: u32,
}

impl Client {
    /// A client about to send its first request.
    #[must_use]
    pub fn new(config: ClientConfig) -> Self {
        let parser = Parser::with_config(config.parser.clone());
        Self {
            config,
            parser,
            state: State::Connecting,
            failures: 0,
        }
    }

    /// Starts from a known last event ID (resuming an earlier session).
    #[must_use]
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        self.parser = self.parser.with_last_event_id(id);
        self
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// The last event ID string, sent as `Last-Event-ID` on reconnects.
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.parser.last_event_id()
    }

    /// The reconnection time: the last valid `retry`, else
    /// [`ClientConfig::initial_retry`]; never below [`ClientConfig::min_retry`].
    #[must_use]
    pub fn reconnection_time(&self) -> Duration {
        let t = self
            .parser
            .retry()
            .map_or(self.config.initial_retry, Duration::from_millis);
        t.max(self.config.min_retry)
    }

    /// Consecutive attempts that failed before a valid response.
    #[must_use]
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Headers for the next request: `Accept: text/event-stream`, `Cache-Control: no-cache`,
    /// and `Last-Event-ID` when the last event ID is not empty.
    #[must_use]
    pub fn request_headers(&self) -> Vec<(&'static str, &str)> {
        let mut h = vec![
            ("Accept", "text/event-stream"),
            ("Cache-Control", "no-cache"),
        ];
        let id = self.last_event_id();
        if !id.is_empty() {
            h.push(("Last-Event-ID", id));
        }
        h
    }

    /// The response to the request (after following redirects): status and `Content-Type`.
    ///
    /// `200` with a `text/event-stream` media type (parameters allowed, ASCII case-insensitive)
    /// opens the stream and resets the backoff. Anything else is final and closes the client:
    /// `204` means "stop", any other status or media type is a fatal error (no reconnect).
    pub fn handle_response(
        &mut self,
        status: u16,
        content_type: Option<&[u8]>,
    ) -> Result<(), ResponseError> {
        let res = match status {
            200 if content_type.is_some_and(is_event_stream) => Ok(()),
            200 => Err(ResponseError::ContentType(
                content_type.map(|c| String::from_utf8_lossy(c).into_owned()),
            )),
            204 => Err(ResponseError::NoContent),
            other => Err(ResponseError::Status(other)),
        };
        match res {
            Ok(()) => {
                self.state = State::Open;
                self.failures = 0;
            }
            Err(_) => self.close(),
        }
        res
    }

    /// Body bytes of an open stream. A limit error means the stream is broken: drop the
    /// connection and call [`handle_disconnect`](Client::handle_disconnect).
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        self.parser.handle_input(bytes)
    }

    /// The next event, `retry` or comment of the stream.
    #[must_use]
    pub fn poll_item(&mut self) -> Option<Item> {
        self.parser.poll_item()
    }

    /// Whether parsed items wait for [`poll_item`](Client::poll_item) (see
    /// [`Parser::has_items`](crate::Parser::has_items)).
    #[must_use]
    pub fn has_items(&self) -> bool {
        self.parser.has_items()
    }

    /// The connection ended: network error, failed connect, or end of the body. Returns how
    /// long to wait before [`handle_reconnect`](Client::handle_reconnect), or `None` when the
    /// client is closed.
    ///
    /// `random` is any uniformly random value from the caller; it spreads the delay of
    /// repeated failures over `[d/2, d]` so that many clients do not reconnect in step.
    #[must_use]
    pub fn handle_disconnect(&mut self, random: u64) -> Option<Duration> {
        if self.state == State::Closed {
            return None;
        }
        if self.state != State::Open {
            self.failures = self.failures.saturating_add(1);
        }
        self.parser.handle_eof();
        self.state = State::Waiting;
        Some(self.delay(random))
    }

    /// The wait is over: the caller sends a new request (with fresh
    /// [`request_headers`](Client::request_headers)).
    pub fn handle_reconnect(&mut self) {
        if self.state != State::Closed {
            self.state = State::Connecting;
        }
    }

    /// Stops for good (the `EventSource.close()` command).
    pub fn close(&mut self) {
        self.state = State::Closed;
        self.parser.handle_eof();
    }

    fn delay(&self, random: u64) -> Duration {
        let base = self.reconnection_time();
        if self.failures == 0 {
            return base;
        }
        let cap = self.config.max_backoff.max(base);
        let shift = (self.failures - 1).min(32);
        let full = base.saturating_mul(1u32 << shift.min(31)).min(cap);
        let nanos = u64::try_from(full.as_nanos()).unwrap_or(u64::MAX);
        let half = nanos / 2;
        let jitter = if half == u64::MAX {
            random
        } else {
            random % (half + 1)
        };
        Duration::from_nanos(nanos - half + jitter)
    }
}

/// Whether a `Content-Type` value's essence is `text/event-stream`.
fn is_event_stream(value: &[u8]) -> bool {
    let essence = value.split(|&b| b == b';').next().unwrap_or(value);
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"text/event-stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_rules() {
        assert!(is_event_stream(b"text/event-stream"));
        assert!(is_event_stream(b"Text/Event-Stream; charset=utf-8"));
        assert!(is_event_stream(b" text/event-stream ;"));
        assert!(!is_event_stream(b"text/event-streams"));
        assert!(!is_event_stream(b"text/plain"));
        assert!(!is_event_stream(b""));
    }

    #[test]
    fn response_rules() {
        let mut c = Client::new(ClientConfig::default());
        assert_eq!(c.handle_response(204, None), Err(ResponseError::NoContent));
        assert_eq!(c.state(), State::Closed);
        assert_eq!(c.handle_disconnect(0), None);

        let mut c = Client::new(ClientConfig::default());
        assert_eq!(
            c.handle_response(500, Some(b"text/event-stream")),
            Err(ResponseError::Status(500))
        );
        assert_eq!(c.state(), State::Closed);

        let mut c = Client::new(ClientConfig::default());
        assert_eq!(
            c.handle_response(200, Some(b"text/plain")),
            Err(ResponseError::ContentType(Some("text/plain".into())))
        );
        let mut c = Client::new(ClientConfig::default());
        assert_eq!(
            c.handle_response(200, None),
            Err(ResponseError::ContentType(None))
        );

        let mut c = Client::new(ClientConfig::default());
        assert_eq!(
            c.handle_response(200, Some(b"text/event-stream;charset=utf-8")),
            Ok(())
        );
        assert_eq!(c.state(), State::Open);
    }

    #[test]
    fn backoff_grows_with_jitter_and_resets() {
        let cfg = ClientConfig::default()
            .with_initial_retry(Duration::from_secs(1))
            .with_max_backoff(Duration::from_secs(10));
        let mut c = Client::new(cfg);
        // Failed connects: [d/2, d] with d = 1 s, 2 s, 4 s, 8 s, 10 s, 10 s.
        for (i, full) in [1000u64, 2000, 4000, 8000, 10000, 10000]
            .into_iter()
            .enumerate()
        {
            let lo = c.handle_disconnect(0).unwrap();
            assert_eq!(lo, Duration::from_millis(full / 2), "attempt {i}");
            c.handle_reconnect();
            // Same failure count again with the largest random value.
            c.failures -= 1;
            let hi = c.handle_disconnect(u64::MAX).unwrap();
            assert!(hi <= Duration::from_millis(full) && hi >= lo);
            c.handle_reconnect();
        }
        c.handle_response(200, Some(b"text/event-stream")).unwrap();
        assert_eq!(c.failures(), 0);
        // A drop after a good connection waits exactly the reconnection time.
        assert_eq!(c.handle_disconnect(12345), Some(Duration::from_secs(1)));
    }

    #[test]
    fn retry_is_sticky_and_floored_and_id_is_sent() {
        let mut c = Client::new(ClientConfig::default());
        assert_eq!(c.request_headers().len(), 2);
        c.handle_response(200, Some(b"text/event-stream")).unwrap();
        c.handle_input(b"retry: 5\nid: abc\ndata: x\n\nretry: 2500\n")
            .unwrap();
        while c.poll_item().is_some() {}
        assert_eq!(c.handle_disconnect(0), Some(Duration::from_millis(2500)));
        c.handle_reconnect();
        assert!(c.request_headers().contains(&("Last-Event-ID", "abc")));
        c.handle_response(200, Some(b"text/event-stream")).unwrap();
        c.handle_input(b"retry: 5\n").unwrap();
        assert_eq!(c.reconnection_time(), Duration::from_millis(100));
    }
}
