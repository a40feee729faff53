//! When is an LLM stream done? The terminal events of the streaming dialects in use, so a
//! client can tell a finished generation from a dropped one (feature `llm`).
//!
//! A generation that ends *after* its terminal event succeeded; one that ends *before* it was
//! cut. An SSE stream alone cannot say which: `EventSource` reconnects either way. Each
//! dialect marks the end differently (fixtures in `tests/fixtures/llm/`, written from each
//! public reference):
//!
//! | dialect | done | failed | keep-alive |
//! |---|---|---|---|
//! | [`Dialect::OpenAiChat`] (Chat Completions) | `data: [DONE]` | data `{"error":{…}}`, `event: error` | — |
//! | [`Dialect::OpenAiResponses`] (Responses API) | `response.completed` | `response.failed`, `response.incomplete`, `error` | — |
//! | [`Dialect::Anthropic`] (Messages) | `message_stop` | `event: error` | `event: ping` |
//! | [`Dialect::VercelUi`] (AI SDK UI message stream) | `{"type":"finish"}` (then `[DONE]`) | `{"type":"error"}`, `{"type":"abort"}` | comments |
//! | [`Dialect::Sluice`] (a hub topic) | `event: sluice-end` | `event: error` | comments |
//!
//! [`Dialect::Auto`] applies every rule (they do not collide) and reports which dialect it
//! recognised. [`Completion`] is the sans-IO tracker: hand it each dispatched event, act on
//! the [`Signal`].
//!
//! ```
//! use sluice_sse::llm::{Completion, Dialect, Signal};
//! use sluice_sse::{Item, Parser};
//!
//! let mut p = Parser::new();
//! p.handle_input(b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n")
//!     .unwrap();
//! let mut c = Completion::new(Dialect::Auto);
//! let mut text = String::new();
//! while let Some(Item::Event(e)) = p.poll_item() {
//!     if let Some(t) = sluice_sse::llm::text_delta(&e) {
//!         text.push_str(&t);
//!     }
//!     if c.handle_event(&e) == Signal::Done {
//!         break;
//!     }
//! }
//! assert_eq!(text, "Hi");
//! assert_eq!(c.detected(), Some(Dialect::OpenAiChat));
//! assert!(c.is_done());
//! ```

use alloc::borrow::ToOwned;
use alloc::string::String;

use serde_json::Value;

use crate::MessageEvent;

/// A streaming dialect (who produced the stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// Every rule below; the dialect is recognised from the stream.
    Auto,
    /// OpenAI Chat Completions (`stream: true`).
    OpenAiChat,
    /// OpenAI Responses API.
    OpenAiResponses,
    /// Anthropic Messages.
    Anthropic,
    /// Vercel AI SDK UI message stream (`x-vercel-ai-ui-message-stream: v1`).
    VercelUi,
    /// A Sluice hub topic (`sluice-end` ends it).
    Sluice,
}

impl Dialect {
    /// Every dialect, [`Dialect::Auto`] first.
    pub const ALL: [Dialect; 6] = [
        Dialect::Auto,
        Dialect::OpenAiChat,
        Dialect::OpenAiResponses,
        Dialect::Anthropic,
        Dialect::VercelUi,
        Dialect::Sluice,
    ];

    /// The name used on command lines and in messages (`auto`, `openai`, `openai-responses`,
    /// `anthropic`, `vercel`, `sluice`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Auto => "auto",
            Dialect::OpenAiChat => "openai",
            Dialect::OpenAiResponses => "openai-responses",
            Dialect::Anthropic => "anthropic",
            Dialect::VercelUi => "vercel",
            Dialect::Sluice => "sluice",
        }
    }

    /// The dialect of [`Dialect::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.name() == name)
    }

    fn allows(self, d: Dialect) -> bool {
        self == Dialect::Auto || self == d
    }
}

/// What one event means for the generation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// Content (or anything else that is not an ending): the generation goes on.
    Content,
    /// A keep-alive event (`ping`, `keepalive`): the stream is alive, nothing was generated.
    KeepAlive,
    /// The terminal event of a successful generation: stop reading, do not reconnect.
    Done,
    /// The stream reported an error (a terminal event of a failed generation, or an error
    /// event): stop; whether to try again is the caller's decision.
    Failed(StreamError),
}

/// An error a stream reported, parsed from its event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dialect} stream failed ({kind}): {message}", dialect = dialect.name())]
#[non_exhaustive]
pub struct StreamError {
    /// The dialect whose rule matched.
    pub dialect: Dialect,
    /// The error's type or code as the stream gave it (`server_error`, `overloaded_error`,
    /// `response.incomplete`…), else the event type.
    pub kind: String,
    /// The human-readable message (the raw data when there is none).
    pub message: String,
}

/// Tracks one generation: which dialect, and whether (and how) it ended.
#[derive(Debug, Clone)]
pub struct Completion {
    dialect: Dialect,
    detected: Option<Dialect>,
    outcome: Option<Result<(), StreamError>>,
}

impl Completion {
    /// A tracker for `dialect` ([`Dialect::Auto`]: any).
    #[must_use]
    pub fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            detected: (dialect != Dialect::Auto).then_some(dialect),
            outcome: None,
        }
    }

    /// The dialect recognised so far (the configured one unless [`Dialect::Auto`]).
    #[must_use]
    pub fn detected(&self) -> Option<Dialect> {
        self.detected
    }

    /// A terminal event was seen (done or failed).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// The generation finished successfully.
    #[must_use]
    pub fn is_done(&self) -> bool {
        matches!(self.outcome, Some(Ok(())))
    }

    /// How the generation ended: `None` while it goes on (or if it was cut).
    #[must_use]
    pub fn outcome(&self) -> Option<&Result<(), StreamError>> {
        self.outcome.as_ref()
    }

    /// Classifies one dispatched event. The first terminal event decides the outcome.
    pub fn handle_event(&mut self, ev: &MessageEvent) -> Signal {
        let (dialect, signal) = classify(self.dialect, ev);
        if self.detected.is_none() {
            self.detected = dialect;
        }
        if self.outcome.is_none() {
            match &signal {
                Signal::Done => self.outcome = Some(Ok(())),
                Signal::Failed(e) => self.outcome = Some(Err(e.clone())),
                Signal::Content | Signal::KeepAlive => {}
            }
        }
        signal
    }
}

/// The dialect an event belongs to (when it says) and what it means, under `allowed`.
fn classify(allowed: Dialect, ev: &MessageEvent) -> (Option<Dialect>, Signal) {
    use Dialect::{Anthropic, OpenAiChat, OpenAiResponses, Sluice, VercelUi};
    let t = ev.event_type();
    let data = ev.data.as_str();
    if data == "[DONE]" {
        for d in [OpenAiChat, VercelUi] {
            if allowed.allows(d) {
                return (None, Signal::Done);
            }
        }
    }
    if t == "sluice-end" && allowed.allows(Sluice) {
        return (Some(Sluice), Signal::Done);
    }
    let json: Option<Value> = (data.starts_with('{'))
        .then(|| serde_json::from_str(data).ok())
        .flatten();
    let json_type = json
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(Value::as_str);
    // The event's own name, else its data's `type` (Responses and Anthropic send both;
    // the Vercel stream only the latter).
    let name = if t == "message" {
        json_type.unwrap_or(t)
    } else {
        t
    };
    let fail = |d: Dialect, kind: Option<&str>, message: Option<&str>| {
        let e = StreamError {
            dialect: d,
            kind: kind.unwrap_or(name).to_owned(),
            message: message.unwrap_or(data).to_owned(),
        };
        (Some(d), Signal::Failed(e))
    };
    let at = |path: &[&str]| -> Option<&str> {
        let mut v = json.as_ref()?;
        for k in path {
            v = v.get(k)?;
        }
        v.as_str()
    };
    if name.starts_with("response.") && allowed.allows(OpenAiResponses) {
        return match name {
            "response.completed" => (Some(OpenAiResponses), Signal::Done),
            "response.failed" => fail(
                OpenAiResponses,
                at(&["response", "error", "code"]),
                at(&["response", "error", "message"]),
            ),
            "response.incomplete" => fail(
                OpenAiResponses,
                Some("response.incomplete"),
                at(&["response", "incomplete_details", "reason"]),
            ),
            _ => (Some(OpenAiResponses), Signal::Content),
        };
    }
    match name {
        "message_stop" if allowed.allows(Anthropic) => return (Some(Anthropic), Signal::Done),
        "message_start"
        | "content_block_start"
        | "content_block_delta"
        | "content_block_stop"
        | "message_delta"
            if allowed.allows(Anthropic) =>
        {
            return (Some(Anthropic), Signal::Content);
        }
        "ping" | "keepalive" | "keep-alive" | "heartbeat" => return (None, Signal::KeepAlive),
        "finish" if t == "message" && allowed.allows(VercelUi) => {
            return (Some(VercelUi), Signal::Done);
        }
        "abort" if t == "message" && allowed.allows(VercelUi) => {
            return fail(VercelUi, Some("abort"), Some("the generation was aborted"));
        }
        "error" => {
            // `event: error` (Responses, Anthropic, a hub relaying an upstream error) or
            // `{"type":"error"}` (Vercel).
            let d = match (t, allowed) {
                ("message", _) => VercelUi,
                (_, Dialect::Auto) => Sluice,
                (_, d) => d,
            };
            if allowed.allows(d) || allowed == Dialect::Auto {
                let kind = at(&["error", "type"])
                    .or_else(|| at(&["code"]))
                    .or_else(|| at(&["error", "code"]));
                let message = at(&["message"])
                    .or_else(|| at(&["error", "message"]))
                    .or_else(|| at(&["errorText"]))
                    .or_else(|| at(&["error"]));
                return fail(d, kind, message);
            }
        }
        "start" | "start-step" | "text-start" | "text-delta" | "text-end" | "finish-step"
        | "reasoning-delta"
            if t == "message" && allowed.allows(VercelUi) =>
        {
            return (Some(VercelUi), Signal::Content);
        }
        _ => {}
    }
    if let Some(err) = json.as_ref().and_then(|v| v.get("error"))
        && allowed.allows(OpenAiChat)
    {
        // Chat Completions reports a mid-stream failure as data `{"error":{…}}`.
        let kind = at(&["error", "type"]).or_else(|| at(&["error", "code"]));
        let message = at(&["error", "message"]).or_else(|| err.as_str());
        return fail(OpenAiChat, kind, message);
    }
    let chat = json.as_ref().is_some_and(|v| {
        v.get("choices").is_some()
            || at(&["object"]).is_some_and(|o| o.starts_with("chat.completion"))
    });
    (chat.then_some(OpenAiChat), Signal::Content)
}

/// A keep-alive event (`ping`, `keepalive`, `keep-alive`, `heartbeat`, by event type or by
/// the data's `type`): proof of life, not content.
#[must_use]
pub fn is_keep_alive(ev: &MessageEvent) -> bool {
    const NAMES: [&str; 4] = ["ping", "keepalive", "keep-alive", "heartbeat"];
    let t = ev.event_type();
    if NAMES.contains(&t) {
        return true;
    }
    t == "message"
        && ev.data.starts_with('{')
        && serde_json::from_str::<Value>(&ev.data)
            .ok()
            .and_then(|v| v.get("type")?.as_str().map(|t| NAMES.contains(&t)))
            .unwrap_or(false)
}

/// The text an event adds to the answer, in any dialect: `choices[0].delta.content` (Chat
/// Completions), `delta` of `response.output_text.delta` (Responses), `delta.text` of a
/// `content_block_delta` (Anthropic), `delta` of `text-delta` (Vercel). `None` for anything
/// else.
#[must_use]
pub fn text_delta(ev: &MessageEvent) -> Option<String> {
    let data = ev.data.as_str();
    if !data.starts_with('{') {
        return None;
    }
    let v: Value = serde_json::from_str(data).ok()?;
    let t = ev.event_type();
    let name = if t == "message" {
        v.get("type").and_then(Value::as_str).unwrap_or(t)
    } else {
        t
    };
    let s = match name {
        "response.output_text.delta" | "text-delta" => v.get("delta")?,
        "content_block_delta" => v.get("delta")?.get("text")?,
        _ => v.get("choices")?.get(0)?.get("delta")?.get("content")?,
    };
    s.as_str().map(ToOwned::to_owned)
}
