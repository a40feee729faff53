//! Error types.

use alloc::string::String;

/// A peer fault found while parsing an event stream: a configured limit was exceeded.
///
/// The stream cannot be parsed further; a client drops the connection (and may reconnect),
/// a server-side consumer answers per its transport (for HTTP, 413 before a response began).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A line (without its line ending) is longer than [`Config::max_line_length`](crate::Config::max_line_length).
    /// `size` is the length seen when the limit was crossed (at least `max + 1`).
    #[error("event-stream line of {size} bytes exceeds the limit of {max}")]
    LineTooLong {
        /// Bytes of the line seen so far.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// An event's data buffer would exceed [`Config::max_event_size`](crate::Config::max_event_size).
    #[error("event data of {size} bytes exceeds the limit of {max}")]
    EventTooLarge {
        /// Size the data buffer would have had.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// Caller misuse of the encoder: a field value that cannot be represented in the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The event type contains a CR or LF, which would end its line.
    #[error("event type contains a line break")]
    LineBreakInEvent,
    /// The id contains a CR or LF, which would end its line.
    #[error("event id contains a line break")]
    LineBreakInId,
    /// The id contains NUL, which makes receivers ignore the field.
    #[error("event id contains NUL")]
    NulInId,
}

/// Why a response cannot carry an event stream (WHATWG HTML §9.2.3, "announce the
/// connection" / "fail the connection"). Every variant is final: the client does not
/// reconnect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// `204 No Content`: the server asks the client to stop for good.
    #[error("server answered 204 No Content: stop reconnecting")]
    NoContent,
    /// A status other than 200 (after redirects) or 204.
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    /// A 200 whose `Content-Type` is not `text/event-stream` (`None`: no such header).
    #[error("unexpected content type {0:?}")]
    ContentType(Option<String>),
}
