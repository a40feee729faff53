//! The event-stream parser: WHATWG HTML, "Server-sent events", §9.2.5 (parsing an event
//! stream) and §9.2.6 (interpreting an event stream).
//!
//! The parser is sans-IO: feed it bytes with [`Parser::handle_input`] as they arrive, tell it
//! about the end of the stream with [`Parser::handle_eof`], and drain what it found with
//! [`Parser::poll_item`]. Every complete line is interpreted directly in the caller's slice;
//! only the unterminated tail of a read is copied into the parser, so each byte is scanned once.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::ParseError;

/// The UTF-8 byte order mark; exactly one is stripped at the start of a stream.
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// Limits and options of a [`Parser`].
///
/// Every buffer a peer can grow is bounded by one of these limits:
/// the unterminated line carried over between reads is at most [`max_line_length`] bytes, the
/// event type and last-event-ID buffers are at most one line each as received — up to three
/// times that once decoded, as each byte that is not UTF-8 becomes U+FFFD (3 bytes) — and the
/// data buffer is at most [`max_event_size`] bytes. The queue of parsed items grows with the bytes of a single
/// [`Parser::handle_input`] call (at most one item per two input bytes); drain it with
/// [`Parser::poll_item`] after each call.
///
/// [`max_line_length`]: Config::max_line_length
/// [`max_event_size`]: Config::max_event_size
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Longest accepted line in bytes, without its line ending. Default: 16 MiB.
    pub max_line_length: usize,
    /// Largest accepted data buffer of one event in bytes (the event's `data`, with the line
    /// feeds between `data` lines). Default: 16 MiB.
    pub max_event_size: usize,
    /// Whether comment lines (those starting with `:`) are reported as [`Item::Comment`].
    /// Default: `true`.
    pub emit_comments: bool,
}

impl Config {
    /// Default for [`Config::max_line_length`]: 16 MiB.
    pub const DEFAULT_MAX_LINE_LENGTH: usize = 16 * 1024 * 1024;
    /// Default for [`Config::max_event_size`]: 16 MiB.
    pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

    /// Sets [`Config::max_line_length`].
    #[must_use]
    pub fn with_max_line_length(mut self, max: usize) -> Self {
        self.max_line_length = max;
        self
    }

    /// Sets [`Config::max_event_size`].
    #[must_use]
    pub fn with_max_event_size(mut self, max: usize) -> Self {
        self.max_event_size = max;
        self
    }

    /// Sets [`Config::emit_comments`].
    #[must_use]
    pub fn with_emit_comments(mut self, emit: bool) -> Self {
        self.emit_comments = emit;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_line_length: Self::DEFAULT_MAX_LINE_LENGTH,
            max_event_size: Self::DEFAULT_MAX_EVENT_SIZE,
            emit_comments: true,
        }
    }
}

/// A dispatched event (the `MessageEvent` a browser's `EventSource` would fire).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageEvent {
    /// The event type buffer at dispatch: empty when no `event` field was seen, in which case
    /// a browser fires the event as `"message"` (see [`MessageEvent::event_type`]).
    pub event: String,
    /// The data buffer at dispatch, without its final line feed. Lines of a multi-line `data`
    /// are joined with `\n`.
    pub data: String,
    /// The last event ID string at dispatch; `None` when empty. Shared between the events
    /// that carry the same ID (no copy per event).
    id: Option<Arc<str>>,
}

impl MessageEvent {
    /// An event with the given type (empty for `"message"`), data and last event ID.
    #[must_use]
    pub fn new(event: impl Into<String>, data: impl Into<String>, last_event_id: &str) -> Self {
        Self {
            event: event.into(),
            data: data.into(),
            id: (!last_event_id.is_empty()).then(|| Arc::from(last_event_id)),
        }
    }

    /// The type a browser dispatches this event as: [`MessageEvent::event`], or `"message"`
    /// when that is empty.
    #[must_use]
    pub fn event_type(&self) -> &str {
        if self.event.is_empty() {
            "message"
        } else {
            &self.event
        }
    }

    /// The last event ID string at dispatch (it persists from earlier events; empty when none
    /// was set).
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.id.as_deref().unwrap_or("")
    }
}

/// One thing found in the stream, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// A blank line dispatched an event with a non-empty data buffer.
    Event(MessageEvent),
    /// A valid `retry` field set the reconnection time to this many milliseconds.
    Retry(u64),
    /// A comment line (starting with `:`): the text after the colon, with one leading space
    /// removed (as for field values). Servers send these as heartbeats. Only reported when
    /// [`Config::emit_comments`] is set.
    Comment(String),
}

/// A dispatched event borrowed from the parser ([`Parser::handle_input_with`]): no allocation
/// per event. The data may point straight into the input (an event whose one `data` line and
/// blank line came in the same read) or into the parser's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    event: &'a str,
    data: &'a str,
    id: Option<&'a Arc<str>>,
}

impl<'a> EventRef<'a> {
    /// The event type buffer (empty for `"message"`, see [`EventRef::event_type`]).
    #[must_use]
    pub fn event(&self) -> &'a str {
        self.event
    }

    /// The type a browser dispatches this event as: `"message"` when no `event` field was
    /// seen.
    #[must_use]
    pub fn event_type(&self) -> &'a str {
        if self.event.is_empty() {
            "message"
        } else {
            self.event
        }
    }

    /// The data (lines joined with `\n`, without the final line feed).
    #[must_use]
    pub fn data(&self) -> &'a str {
        self.data
    }

    /// The last event ID string at dispatch (empty when none was set).
    #[must_use]
    pub fn last_event_id(&self) -> &'a str {
        self.id.map_or("", |a| a)
    }

    /// The owned event ([`MessageEvent`]): copies the type and data.
    #[must_use]
    pub fn to_owned(&self) -> MessageEvent {
        MessageEvent {
            event: String::from(self.event),
            data: String::from(self.data),
            id: self.id.cloned(),
        }
    }
}

/// One thing found in the stream, borrowed ([`Parser::handle_input_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemRef<'a> {
    /// A blank line dispatched an event with a non-empty data buffer.
    Event(EventRef<'a>),
    /// A valid `retry` field set the reconnection time to this many milliseconds.
    Retry(u64),
    /// A comment line's text (only with [`Config::emit_comments`]).
    Comment(&'a str),
}

impl ItemRef<'_> {
    /// The owned item.
    #[must_use]
    pub fn to_owned(&self) -> Item {
        match *self {
            ItemRef::Event(e) => Item::Event(e.to_owned()),
            ItemRef::Retry(ms) => Item::Retry(ms),
            ItemRef::Comment(c) => Item::Comment(String::from(c)),
        }
    }
}

/// The data of a dispatched event as the core hands it to a [`Sink`].
enum Data<'a> {
    /// Straight from the input (or the line buffer): copy it to keep it.
    Borrowed(&'a str),
    /// The data buffer: an owning sink may take it.
    Buffer(&'a mut String),
}

/// Where the core puts what it finds: the owned queue, or a caller's closure.
trait Sink {
    fn event(&mut self, event: &mut String, data: Data<'_>, id: Option<&Arc<str>>);
    fn retry(&mut self, ms: u64);
    fn comment(&mut self, text: &str);
}

/// The owned path ([`Parser::poll_item`]): events move the parser's buffers out when they
/// can (no copy of a large event), else copy what they borrow.
impl Sink for VecDeque<Item> {
    #[inline]
    fn event(&mut self, event: &mut String, data: Data<'_>, id: Option<&Arc<str>>) {
        let data = match data {
            Data::Borrowed(s) => String::from(s),
            Data::Buffer(b) => core::mem::take(b),
        };
        self.push_back(Item::Event(MessageEvent {
            event: core::mem::take(event),
            data,
            id: id.cloned(),
        }));
    }

    fn retry(&mut self, ms: u64) {
        self.push_back(Item::Retry(ms));
    }

    fn comment(&mut self, text: &str) {
        self.push_back(Item::Comment(String::from(text)));
    }
}

/// The borrowed path ([`Parser::handle_input_with`]).
struct Callback<F>(F);

impl<F: FnMut(ItemRef<'_>)> Sink for Callback<F> {
    #[inline]
    fn event(&mut self, event: &mut String, data: Data<'_>, id: Option<&Arc<str>>) {
        let data: &str = match &data {
            Data::Borrowed(s) => s,
            Data::Buffer(b) => b,
        };
        (self.0)(ItemRef::Event(EventRef { event, data, id }));
    }

    fn retry(&mut self, ms: u64) {
        (self.0)(ItemRef::Retry(ms));
    }

    fn comment(&mut self, text: &str) {
        (self.0)(ItemRef::Comment(text));
    }
}

/// Sans-IO event-stream parser.
///
/// Input: [`handle_input`](Parser::handle_input) with any split of the byte stream (a read
/// of one byte is as good as a read of a megabyte) and [`handle_eof`](Parser::handle_eof)
/// when the connection ends. Output: [`poll_item`](Parser::poll_item) until it returns `None`
/// — or, with no allocation per event, [`handle_input_with`](Parser::handle_input_with) and a
/// closure that sees each item borrowed.
///
/// Decoding follows the standard exactly: the bytes are UTF-8 with invalid sequences replaced
/// by U+FFFD (a character split across reads is reassembled first); one leading byte order
/// mark is stripped; CRLF, LF and a lone CR each end a line, and a CR at the very end of a
/// read ends its line at once (a LF at the start of the next read is then swallowed).
///
/// The parser keeps the last event ID and the reconnection time across
/// [`handle_eof`](Parser::handle_eof), so one parser can serve every connection of an
/// `EventSource`-like client, as browsers do.
#[derive(Debug, Default)]
pub struct Parser {
    core: Core,
    items: VecDeque<Item>,
}

/// The parser's state, apart from the queue of owned items.
#[derive(Debug, Default)]
struct Core {
    config: Config,
    /// Number of BOM bytes matched at stream start; 3 (or more) once the start is decided.
    bom: u8,
    /// The previous read ended with a CR: a LF at the start of the next read belongs to it.
    skip_lf: bool,
    /// The unterminated tail of previous reads.
    partial: Vec<u8>,
    /// Data buffer without its trailing LF; `has_data` tells "empty" from "one empty line".
    data: String,
    has_data: bool,
    event: String,
    /// `None` is the empty string (no allocation, no reference counting per event).
    id_buffer: Option<Arc<str>>,
    last_event_id: Option<Arc<str>>,
    retry: Option<u64>,
    error: Option<ParseError>,
}

const BOM_DONE: u8 = 3;

/// Buffers above this capacity are released after use rather than kept for the next line or
/// event: a burst of large events does not pin their size for the stream's life.
const KEEP_CAPACITY: usize = 256 * 1024;

impl Parser {
    /// A parser with the default [`Config`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser with the given limits.
    #[must_use]
    pub fn with_config(config: Config) -> Self {
        Self {
            core: Core {
                config,
                ..Core::default()
            },
            items: VecDeque::new(),
        }
    }

    /// A parser whose last event ID starts as `id` (a client resuming a stream).
    #[must_use]
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        let id: Option<Arc<str>> = (!id.is_empty()).then(|| Arc::from(id));
        self.core.id_buffer = id.clone();
        self.core.last_event_id = id;
        self
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The last event ID string: the last event ID buffer as of the last blank line (updated
    /// even when the blank line fired no event).
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.core.last_event_id.as_deref().unwrap_or("")
    }

    /// The reconnection time in milliseconds set by the last valid `retry` field, if any.
    #[must_use]
    pub fn retry(&self) -> Option<u64> {
        self.core.retry
    }

    /// Bytes held in the parser's buffers for the line and event in progress (not counting
    /// queued items). Bounded by `7 * max_line_length + max_event_size` plus a few bytes: the
    /// line in progress, the data, and the event type and last event ID, each of those two up
    /// to three lines' worth once bytes that are not UTF-8 are replaced by U+FFFD.
    #[must_use]
    pub fn buffered_len(&self) -> usize {
        let c = &self.core;
        c.partial.len() + c.data.len() + c.event.len() + c.id_buffer.as_deref().map_or(0, str::len)
    }

    /// Feeds the next bytes of the stream.
    ///
    /// Everything the bytes complete is queued for [`poll_item`](Parser::poll_item). On a
    /// limit error the stream is broken: items queued before the offending line stay
    /// available, and every later call returns the same error until
    /// [`handle_eof`](Parser::handle_eof) starts a new stream.
    ///
    /// # Errors
    /// [`ParseError`]: a line or an event over its limit.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        self.core.input(bytes, &mut self.items)
    }

    /// Feeds the next bytes of the stream and hands each item they complete to `f`, borrowed:
    /// no allocation per event (the data points into `bytes` or the parser's buffers). Items
    /// queued by earlier [`handle_input`](Parser::handle_input) calls are not touched. Same
    /// errors and split-independence as `handle_input`.
    ///
    /// ```
    /// use sluice_sse::{ItemRef, Parser};
    /// let mut p = Parser::new();
    /// let mut total = 0;
    /// p.handle_input_with(b"data: tok\n\ndata: en\n\n", |item| {
    ///     if let ItemRef::Event(e) = item {
    ///         total += e.data().len();
    ///     }
    /// })?;
    /// assert_eq!(total, 5);
    /// # Ok::<(), sluice_sse::ParseError>(())
    /// ```
    ///
    /// # Errors
    /// [`ParseError`]: a line or an event over its limit.
    pub fn handle_input_with(
        &mut self,
        bytes: &[u8],
        f: impl FnMut(ItemRef<'_>),
    ) -> Result<(), ParseError> {
        self.core.input(bytes, &mut Callback(f))
    }

    /// Tells the parser the stream ended. An unterminated line and an event that was not
    /// ended by a blank line are discarded (§9.2.6: "any pending data must be discarded").
    ///
    /// Queued items stay available. The parser is then ready for a new stream (a reconnect):
    /// a BOM is stripped again, and the last event ID and reconnection time are kept.
    pub fn handle_eof(&mut self) {
        let c = &mut self.core;
        c.bom = 0;
        c.skip_lf = false;
        c.partial = Vec::new();
        c.data = String::new();
        c.has_data = false;
        c.event = String::new();
        c.id_buffer = c.last_event_id.clone();
        c.error = None;
    }

    /// The next parsed item, in stream order.
    #[must_use]
    pub fn poll_item(&mut self) -> Option<Item> {
        self.items.pop_front()
    }

    /// Whether parsed items wait for [`poll_item`](Parser::poll_item). While they do,
    /// [`last_event_id`](Parser::last_event_id) may already be the id of a later one.
    #[must_use]
    pub fn has_items(&self) -> bool {
        !self.items.is_empty()
    }
}

impl Core {
    fn input(&mut self, mut bytes: &[u8], sink: &mut impl Sink) -> Result<(), ParseError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        if self.bom < BOM_DONE {
            let mut matched = usize::from(self.bom);
            let mut i = 0;
            while matched < 3 && i < bytes.len() && bytes[i] == BOM[matched] {
                matched += 1;
                i += 1;
            }
            if matched == 3 {
                self.bom = BOM_DONE;
                bytes = &bytes[i..];
            } else if i == bytes.len() {
                // Still a possible BOM prefix: keep waiting (an empty read changes nothing).
                self.bom = matched as u8;
                return Ok(());
            } else {
                // Not a BOM: the bytes matched so far are ordinary content.
                self.bom = BOM_DONE;
                let res = self.feed(&BOM[..matched], sink);
                self.record(res)?;
                bytes = &bytes[i..];
            }
        }
        let res = self.feed(bytes, sink);
        self.record(res)
    }

    fn record(&mut self, res: Result<(), ParseError>) -> Result<(), ParseError> {
        if let Err(err) = &res {
            self.error = Some(err.clone());
        }
        res
    }

    /// Splits `bytes` into lines; `bytes` follows everything fed before (BOM already handled).
    fn feed(&mut self, bytes: &[u8], sink: &mut impl Sink) -> Result<(), ParseError> {
        let mut pos = 0;
        if self.skip_lf && !bytes.is_empty() {
            self.skip_lf = false;
            if bytes[0] == b'\n' {
                pos = 1;
            }
        }
        if !self.partial.is_empty() {
            let Some(off) = memchr::memchr2(b'\n', b'\r', &bytes[pos..]) else {
                return self.keep_partial(&bytes[pos..]);
            };
            let end = pos + off;
            let size = self.partial.len() + off;
            if size > self.config.max_line_length {
                return Err(ParseError::LineTooLong {
                    size,
                    max: self.config.max_line_length,
                });
            }
            let mut line = core::mem::take(&mut self.partial);
            line.extend_from_slice(&bytes[pos..end]);
            pos = self.after_line_end(bytes, end);
            let res = match self.single_data_line(&line, bytes, pos) {
                Some((value, next)) => {
                    pos = next;
                    self.dispatch_borrowed(value, sink)
                }
                None => self.process_line(&line, sink),
            };
            if line.capacity() <= KEEP_CAPACITY {
                line.clear();
                self.partial = line;
            }
            res?;
        }
        while pos < bytes.len() {
            let Some(off) = memchr::memchr2(b'\n', b'\r', &bytes[pos..]) else {
                return self.keep_partial(&bytes[pos..]);
            };
            if off > self.config.max_line_length {
                return Err(ParseError::LineTooLong {
                    size: off,
                    max: self.config.max_line_length,
                });
            }
            let end = pos + off;
            let line = &bytes[pos..end];
            pos = self.after_line_end(bytes, end);
            match self.single_data_line(line, bytes, pos) {
                Some((value, next)) => {
                    pos = next;
                    self.dispatch_borrowed(value, sink)?;
                }
                None => self.process_line(line, sink)?,
            }
        }
        Ok(())
    }

    /// The fast path: `line` is a `data` line with valid UTF-8, nothing is buffered for the
    /// event, and the blank line that dispatches it starts at `bytes[at]`. Then the event's
    /// data is the line's value, used in place: `(value, position after the blank line)`.
    #[inline]
    fn single_data_line<'l>(
        &mut self,
        line: &'l [u8],
        bytes: &[u8],
        at: usize,
    ) -> Option<(&'l str, usize)> {
        if self.has_data || !matches!(bytes.get(at), Some(b'\n' | b'\r')) {
            return None;
        }
        let value = strip_space(line.strip_prefix(b"data:")?);
        let text = simdutf8::basic::from_utf8(value).ok()?;
        Some((text, self.after_line_end(bytes, at)))
    }

    /// Position after the line ending at `end` (a CR or LF); notes a CR ending the read.
    #[inline]
    fn after_line_end(&mut self, bytes: &[u8], end: usize) -> usize {
        if bytes[end] == b'\r' {
            match bytes.get(end + 1) {
                Some(b'\n') => end + 2,
                Some(_) => end + 1,
                None => {
                    self.skip_lf = true;
                    end + 1
                }
            }
        } else {
            end + 1
        }
    }

    fn keep_partial(&mut self, rest: &[u8]) -> Result<(), ParseError> {
        let size = self.partial.len() + rest.len();
        if size > self.config.max_line_length {
            return Err(ParseError::LineTooLong {
                size,
                max: self.config.max_line_length,
            });
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// §9.2.6: interprets one line (without its line ending).
    #[inline]
    fn process_line(&mut self, line: &[u8], sink: &mut impl Sink) -> Result<(), ParseError> {
        if line.is_empty() {
            self.dispatch(sink);
            return Ok(());
        }
        // Fast path for the most common line.
        let (field, value) = if let Some(value) = line.strip_prefix(b"data:") {
            (&b"data"[..], strip_space(value))
        } else {
            match memchr::memchr(b':', line) {
                Some(0) => {
                    if self.config.emit_comments {
                        let text = strip_space(&line[1..]);
                        sink.comment(&lossy(text));
                    }
                    return Ok(());
                }
                Some(colon) => (&line[..colon], strip_space(&line[colon + 1..])),
                None => (line, &b""[..]),
            }
        };
        match field {
            b"data" => {
                // The limit counts the decoded text: an invalid byte becomes U+FFFD, three
                // bytes (a fuzz find: raw-byte accounting let the buffer reach 3x the limit).
                let text = lossy(value);
                let size = self.data.len() + usize::from(self.has_data) + text.len();
                if size > self.config.max_event_size {
                    return Err(ParseError::EventTooLarge {
                        size,
                        max: self.config.max_event_size,
                    });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                self.data.push_str(&text);
            }
            b"event" => {
                self.event.clear();
                push_lossy(&mut self.event, value);
            }
            // An id containing NUL is ignored; an unchanged id keeps its allocation.
            b"id"
                if memchr::memchr(0, value).is_none()
                    && value != self.id_buffer.as_deref().unwrap_or("").as_bytes() =>
            {
                self.id_buffer = (!value.is_empty()).then(|| Arc::from(lossy(value)));
            }
            b"retry" => {
                if let Some(ms) = parse_retry(value) {
                    self.retry = Some(ms);
                    sink.retry(ms);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// §9.2.6 "dispatch the event", first step: the last event ID buffer becomes the last
    /// event ID.
    #[inline]
    fn commit_id(&mut self) {
        let same = match (&self.last_event_id, &self.id_buffer) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        if !same {
            self.last_event_id = self.id_buffer.clone();
        }
    }

    /// §9.2.6 "dispatch the event".
    #[inline]
    fn dispatch(&mut self, sink: &mut impl Sink) {
        self.commit_id();
        if !self.has_data {
            self.event.clear();
            return;
        }
        self.has_data = false;
        sink.event(
            &mut self.event,
            Data::Buffer(&mut self.data),
            self.last_event_id.as_ref(),
        );
        self.event.clear();
        if self.data.capacity() > KEEP_CAPACITY {
            self.data = String::new();
        } else {
            self.data.clear();
        }
    }

    /// Dispatches an event whose whole data is `value` (the fast path: one `data` line, then
    /// the blank line).
    #[inline]
    fn dispatch_borrowed(&mut self, value: &str, sink: &mut impl Sink) -> Result<(), ParseError> {
        if value.len() > self.config.max_event_size {
            return Err(ParseError::EventTooLarge {
                size: value.len(),
                max: self.config.max_event_size,
            });
        }
        self.commit_id();
        sink.event(
            &mut self.event,
            Data::Borrowed(value),
            self.last_event_id.as_ref(),
        );
        self.event.clear();
        Ok(())
    }
}

#[inline]
fn strip_space(value: &[u8]) -> &[u8] {
    match value.first() {
        Some(b' ') => &value[1..],
        _ => value,
    }
}

#[inline]
fn push_lossy(buf: &mut String, bytes: &[u8]) {
    buf.push_str(&lossy(bytes));
}

/// UTF-8 with U+FFFD for invalid sequences. A SIMD validation first (`simdutf8`):
/// `String::from_utf8_lossy` walks byte by byte (measured with perf: 70 % of the parse time
/// on 1 KiB lines).
#[inline]
fn lossy(bytes: &[u8]) -> alloc::borrow::Cow<'_, str> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => alloc::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A `retry` value: one or more ASCII digits, base ten; anything else (or an overflow of
/// `u64`) makes the field ignored.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<Item> {
        let mut p = Parser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.handle_input(c).unwrap();
            while let Some(i) = p.poll_item() {
                out.push(i);
            }
        }
        p.handle_eof();
        while let Some(i) = p.poll_item() {
            out.push(i);
        }
        out
    }

    fn data(items: &[Item]) -> Vec<&str> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Event(e) => Some(e.data.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Found by the `sse_parser` fuzz target: the event type and last event ID are kept
    /// decoded, so bytes that are not UTF-8 triple (U+FFFD); `buffered_len` stays within
    /// `7 * max_line_length + max_event_size` (plus a few bytes), not the `2 *` once documented.
    #[test]
    fn replacement_characters_count_in_the_buffered_bound() {
        const LINE: usize = 16;
        const EVENT: usize = 64;
        let mut p = Parser::with_config(
            Config::default()
                .with_max_line_length(LINE)
                .with_max_event_size(EVENT),
        );
        let mut input = b"event:".to_vec();
        input.extend([0xff; 9]);
        input.extend(b"\nid:");
        input.extend([0xff; 10]);
        for _ in 0..4 {
            input.extend(b"\ndata:");
            input.extend([b'a'; 10]);
        }
        input.extend(b"\npartial-line");
        p.handle_input(&input).unwrap();
        assert!(p.poll_item().is_none(), "nothing dispatched yet");
        // 27 + 30 (event type and id: 9 and 10 × U+FFFD), 43 of data, 12 of partial line.
        let held = p.buffered_len();
        assert!(held > 2 * LINE + EVENT + 3, "{held}");
        assert!(held <= 7 * LINE + EVENT + 3, "{held}");
    }

    #[test]
    fn cr_at_end_of_read_dispatches_at_once() {
        let mut p = Parser::new();
        p.handle_input(b"data: a\r\r").unwrap();
        assert!(matches!(p.poll_item(), Some(Item::Event(e)) if e.data == "a"));
        // The LF of a CRLF split across reads is swallowed, not taken for a blank line.
        p.handle_input(b"data: b\r").unwrap();
        p.handle_input(b"\ndata: c\n\n").unwrap();
        assert!(matches!(p.poll_item(), Some(Item::Event(e)) if e.data == "b\nc"));
        assert_eq!(p.poll_item(), None);
    }

    #[test]
    fn bom_split_across_reads() {
        let items = parse(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"]);
        assert_eq!(data(&items), ["x"]);
        // A lone prefix of a BOM is content, not a BOM.
        let items = parse(&[b"\xEF\xBB", b"data: x\n\ndata: y\n\n"]);
        assert_eq!(data(&items), ["y"]);
    }

    #[test]
    fn retry_rules() {
        assert_eq!(parse_retry(b"03000"), Some(3000));
        assert_eq!(parse_retry(b""), None);
        assert_eq!(parse_retry(b"1000x"), None);
        assert_eq!(parse_retry(b" 1"), None);
        assert_eq!(parse_retry(b"+1"), None);
        assert_eq!(parse_retry(b"99999999999999999999999"), None);
    }

    #[test]
    fn line_limit_is_typed_and_sticky() {
        let mut p = Parser::with_config(Config::default().with_max_line_length(8));
        p.handle_input(b"data: 1\n\n").unwrap();
        let err = p.handle_input(b"data: 123").unwrap_err();
        assert_eq!(err, ParseError::LineTooLong { size: 9, max: 8 });
        assert_eq!(p.handle_input(b"\n"), Err(err));
        assert!(matches!(p.poll_item(), Some(Item::Event(e)) if e.data == "1"));
        p.handle_eof();
        p.handle_input(b"data: 2\n\n").unwrap();
        assert!(matches!(p.poll_item(), Some(Item::Event(e)) if e.data == "2"));
    }

    #[test]
    fn event_limit_counts_joining_line_feeds() {
        // Invalid bytes count as the U+FFFD (3 bytes) they become.
        let mut p = Parser::with_config(Config::default().with_max_event_size(5));
        assert_eq!(
            p.handle_input(b"data: \x8b\x8b\n"),
            Err(ParseError::EventTooLarge { size: 6, max: 5 })
        );
        let mut p = Parser::with_config(Config::default().with_max_event_size(3));
        p.handle_input(b"data: a\ndata: b\n").unwrap();
        assert_eq!(
            p.handle_input(b"data: c\n"),
            Err(ParseError::EventTooLarge { size: 5, max: 3 })
        );
    }

    #[test]
    fn last_event_id_kept_across_eof() {
        let mut p = Parser::new();
        p.handle_input(b"id: 7\n\nid: 8\ndata: x").unwrap();
        p.handle_eof();
        assert_eq!(p.last_event_id(), "7");
        p.handle_input(b"data: y\n\n").unwrap();
        assert!(matches!(p.poll_item(), Some(Item::Event(e)) if e.last_event_id() == "7"));
    }
}
