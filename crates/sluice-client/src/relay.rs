//! [`relay`]: an upstream event stream (an LLM API answering a POST, any SSE endpoint) into a
//! hub topic, so the generation runs to completion whoever watches, any number of followers
//! read it on any transport, and a reload resumes by cursor without a missing or doubled
//! token.
//!
//! Each upstream event is published with its type and data (one `Idempotency-Key` per event
//! across retries: appended once); the hub's own items (`sluice-*`) are not copied. When the
//! upstream's terminal event arrives ([`SseClientConfig::dialect`]) the topic is ended
//! ([`RelaySink::close`]). When the upstream fails — an error event, a cut before the
//! terminal event, a refused request — an `error` event with the reason
//! (`{"error":{"type":…,"message":…}}`) is published, the topic is ended, and the error is
//! returned. [`relay_until`] also stops when asked (a signal): between two events, with an
//! `error` event of type `aborted` and the end, so followers never wait for an end that will
//! not come.
//!
//! [`SseClientConfig::dialect`]: sluice_tokio::sse::SseClientConfig::dialect

use std::future::Future;

use sluice_http::Connector;
use sluice_sse::llm::Dialect;
use sluice_tokio::sse::{SseClient, SseError, SseEvent};

use crate::{HubClient, PublishError};

/// Where a [`relay`] writes: a hub reached over HTTP ([`HubClient`]), or your own (an
/// in-process `sluice_hub::Hub`: `publish` is `Hub::publish`, `close` is `Hub::close`).
pub trait RelaySink {
    /// Appends one event (exactly once, or an error).
    fn publish(
        &self,
        topic: &str,
        event: &str,
        data: String,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// Ends the topic; returns the end's id.
    fn close(&self, topic: &str) -> impl Future<Output = Result<String, String>> + Send;
}

impl RelaySink for HubClient {
    async fn publish(&self, topic: &str, event: &str, data: String) -> Result<(), String> {
        HubClient::publish(self, topic, event, data)
            .await
            .map(drop)
            .map_err(|e: PublishError| e.to_string())
    }

    async fn close(&self, topic: &str) -> Result<String, String> {
        HubClient::close(self, topic)
            .await
            .map_err(|e| e.to_string())
    }
}

/// What a finished [`relay`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelaySummary {
    /// Events published.
    pub events: u64,
    /// The id of the topic's end.
    pub end: String,
    /// The upstream's dialect, as recognised.
    pub dialect: Option<Dialect>,
}

/// Why a [`relay`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The upstream failed (its error event, a cut, a refusal): the reason was published as
    /// an `error` event and the topic ended (unless `ended` is false: the hub refused that
    /// too).
    #[error("upstream failed after {events} events: {reason}")]
    Upstream {
        /// Why.
        reason: String,
        /// Events published before.
        events: u64,
        /// The topic was ended.
        ended: bool,
    },
    /// [`relay_until`]'s `stop` resolved: an `error` event of type `aborted` was published
    /// and the topic ended (unless `ended` is false: the hub refused that).
    #[error("relay stopped after {events} events: {reason}")]
    Aborted {
        /// Why (what `stop` said).
        reason: String,
        /// Events published before.
        events: u64,
        /// The topic was ended.
        ended: bool,
    },
    /// The hub did not take an event or the end (after the sink's retries).
    #[error("the hub refused the relay after {events} events: {reason}")]
    Sink {
        /// Why.
        reason: String,
        /// Events published before.
        events: u64,
    },
}

/// Reads `upstream` to its end and publishes every event to `topic` of `sink`, then ends the
/// topic. Configure `upstream` with a [`Dialect`] (`Dialect::Auto` recognises OpenAI,
/// Anthropic, Vercel AI SDK and Sluice streams) so that its terminal event ends the relay;
/// without one, the relay ends when the upstream body ends and reconnecting is off.
///
/// # Errors
/// [`RelayError`]: the upstream failed (the reason is in the topic, which is ended), or the
/// hub refused.
pub async fn relay<C, S>(
    upstream: SseClient<C>,
    sink: &S,
    topic: &str,
) -> Result<RelaySummary, RelayError>
where
    C: Connector,
    S: RelaySink,
{
    relay_until(upstream, sink, topic, std::future::pending()).await
}

/// [`relay`], stopping when `stop` resolves (e.g. on a signal, with its name): between two
/// events — a publish in flight finishes first — an `error` event
/// `{"error":{"type":"aborted","message":…}}` is published and the topic ended.
///
/// # Errors
/// As [`relay`], and [`RelayError::Aborted`] when stopped.
pub async fn relay_until<C, S, F>(
    mut upstream: SseClient<C>,
    sink: &S,
    topic: &str,
    stop: F,
) -> Result<RelaySummary, RelayError>
where
    C: Connector,
    S: RelaySink,
    F: Future<Output = String>,
{
    let mut stop = std::pin::pin!(stop);
    let mut events = 0u64;
    let mut last_type_error = false;
    let failure = loop {
        // A stop is taken between two events — unless the upstream already finished (its
        // terminal event was the last one read): then the relay ends as it would have.
        let finished = upstream.state() == sluice_sse::State::Closed;
        let next = tokio::select! {
            biased;
            reason = &mut stop, if !finished => break Some(Err(reason)),
            next = upstream.next() => next,
        };
        match next {
            Ok(Some(SseEvent::Event(e))) => {
                let t = e.event_type();
                if t.starts_with("sluice-") {
                    continue;
                }
                last_type_error = t == "error";
                let t = t.to_owned();
                if let Err(reason) = sink.publish(topic, &t, e.data).await {
                    return Err(RelayError::Sink { reason, events });
                }
                events += 1;
            }
            Ok(Some(_)) => {}
            Ok(None) => break None,
            Err(e) => break Some(Ok(e)),
        }
    };
    let Some(failure) = failure else {
        let end = sink
            .close(topic)
            .await
            .map_err(|reason| RelayError::Sink { reason, events })?;
        return Ok(RelaySummary {
            events,
            end,
            dialect: upstream.dialect(),
        });
    };
    let (kind, reason) = match &failure {
        Err(stopped) => ("aborted".to_owned(), stopped.clone()),
        Ok(e @ SseError::Failed(f)) => (f.kind.clone(), e.to_string()),
        Ok(e @ SseError::Incomplete(_)) => ("incomplete".to_owned(), e.to_string()),
        Ok(e @ (SseError::Response(_) | SseError::Request(_))) => {
            ("refused".to_owned(), e.to_string())
        }
        Ok(e) => ("disconnected".to_owned(), e.to_string()),
    };
    // The upstream's own `event: error` (its failure) was relayed already; anything else gets
    // one.
    if !(last_type_error && matches!(failure, Ok(SseError::Failed(_)))) {
        let data = serde_json::json!({"error": {"type": kind, "message": reason}}).to_string();
        if let Err(r) = sink.publish(topic, "error", data).await {
            return Err(RelayError::Sink { reason: r, events });
        }
    }
    let ended = sink.close(topic).await.is_ok();
    Err(match failure {
        Err(_) => RelayError::Aborted {
            reason,
            events,
            ended,
        },
        Ok(_) => RelayError::Upstream {
            reason,
            events,
            ended,
        },
    })
}
