//! The long-poll transport ([`docs/longpoll.md`](../../../../docs/longpoll.md)) over the
//! [`http`](sluice_http) layer: a server endpoint that is also the shared topic store for the
//! other transports, and a client that yields events.
//!
//! **Server**: [`LongPoll`] wraps a [`sluice_longpoll::Server`] behind a `std::sync::Mutex`
//! (never held across an `.await`). [`LongPoll::handle`] answers
//! `GET <endpoint>?cursor=&timeout=&max=`: ready answers are written at once; a request that
//! must wait is *parked* (registered under the lock that publishes take, so a racing publish
//! is never lost), gets its `200` head immediately, and then waits on a per-waiter `oneshot`
//! for its body while watching the connection: a client that disconnects is cancelled in the
//! core at once (no leaked waiter). Timeouts run on one timer task per `LongPoll`, armed from
//! [`sluice_longpoll::Server::poll_timeout`]. Epochs and timeout jitter come from `getrandom`.
//!
//! The same `LongPoll` is the replay log for SSE and WebSocket subscribers:
//! [`LongPoll::publish`] appends and wakes long-poll waiters *and* every
//! [`LongPoll::subscribe`] watcher (a `tokio::sync::watch` of the topic's head cursor), and
//! [`LongPoll::read`] reads the log from any cursor with the protocol's typed outcomes (gap,
//! reset, cursor ahead). A subscriber is just a cursor into the log:
//!
//! ```no_run
//! # use sluice_tokio::longpoll::{LongPoll, LongPollConfig};
//! # use sluice_longpoll::{ReadLimits, Start};
//! # async fn sse(lp: LongPoll<String>, topic: String) {
//! let mut head = lp.subscribe(&topic).expect("topic exists");
//! let mut from = Start::Now; // or Start::At(Last-Event-ID parsed as a Cursor)
//! loop {
//!     head.borrow_and_update(); // mark seen *before* reading: no lost wake-up
//!     let Ok(batch) = lp.read(&topic, from, ReadLimits { max_events: 100, max_bytes: 1 << 20 })
//!     else { break };
//!     // write batch.gap / batch.reset notices, then each event (`e.id()`, `e.json()`, ...)
//!     from = Start::At(batch.next);
//!     if !batch.more && head.changed().await.is_err() {
//!         break; // topic removed
//!     }
//! }
//! # }
//! ```
//!
//! **Client**: [`LongPollClient`] drives a [`sluice_longpoll::Client`] (dedupe, gaps and
//! resets surfaced, backoff with jitter, `Retry-After`) over the HTTP client, reusing its
//! keep-alive connection, and yields [`sluice_longpoll::ClientEvent`]s from
//! [`LongPollClient::next`] or as a [`futures_core::Stream`] ([`LongPollClient::into_stream`]).
//!
//! Not done here: routing (the caller picks the topic), authentication, persistence.

mod client;
mod endpoint;
mod rng;

pub use client::{LongPollClient, LongPollClientConfig, PollError};
pub use endpoint::{LongPoll, LongPollConfig, ReadBatch, ReadError};
/// The protocol types this module's API speaks (from `sluice-longpoll`), re-exported so
/// users need no direct dependency.
pub use sluice_longpoll::{
    ClientConfig, ClientError, ClientEvent, Cursor, Event, LogConfig, PublishError, ReadLimits,
    ReceivedEvent, ServerConfig, Start,
};
