//! The event-stream encoder: an [`Event`] builder that writes the text format into a
//! caller's [`BytesMut`], or once into a shared [`Bytes`] for broadcasting.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};
use core::time::Duration;

use crate::EncodeError;

/// A heartbeat: one empty comment line. Receivers ignore it (or report it as a comment); it
/// keeps proxies and half-open-connection detectors from timing the stream out.
pub const HEARTBEAT: &[u8] = b":\n";

/// Writes a [`HEARTBEAT`] into `buf`.
pub fn heartbeat(buf: &mut BytesMut) {
    buf.extend_from_slice(HEARTBEAT);
}

/// Writes `text` as comment lines (`: text`), one per line of `text` (any of CRLF, LF and
/// CR splits it). A parser reports each as a comment, without the space.
pub fn comment(text: &str, buf: &mut BytesMut) {
    for line in lines(text) {
        put_line(buf, b":", line);
    }
}

/// An event to send, built field by field.
///
/// ```
/// use sluice_sse::Event;
/// let mut buf = bytes::BytesMut::new();
/// Event::new().event("tick").id("42").data("a\nb").encode(&mut buf)?;
/// assert_eq!(&buf[..], b"event: tick\nid: 42\ndata: a\ndata: b\n\n");
/// # Ok::<(), sluice_sse::EncodeError>(())
/// ```
///
/// An event without [`data`](Event::data) dispatches nothing at the receiver; it can still
/// set the id and the reconnection time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    comments: Vec<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    data: Option<String>,
}

impl Event {
    /// An empty event.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the data. It is split on every line ending (CRLF, LF, CR) into `data:` lines; the
    /// receiver joins them with LF.
    #[must_use]
    pub fn data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the event type (`event:`); it must not contain CR or LF.
    #[must_use]
    pub fn event(mut self, event: impl Into<String>) -> Self {
        self.event = Some(event.into());
        self
    }

    /// Sets the id (`id:`); it must not contain CR, LF or NUL.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the reconnection time (`retry:`), in whole milliseconds (rounded down).
    #[must_use]
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(u64::try_from(retry.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Adds a comment line (or several, if `text` has line breaks) before the fields.
    #[must_use]
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.comments.push(text.into());
        self
    }

    /// Checks the fields can be encoded.
    pub fn validate(&self) -> Result<(), EncodeError> {
        if let Some(event) = &self.event
            && memchr::memchr2(b'\r', b'\n', event.as_bytes()).is_some()
        {
            return Err(EncodeError::LineBreakInEvent);
        }
        if let Some(id) = &self.id {
            if memchr::memchr2(b'\r', b'\n', id.as_bytes()).is_some() {
                return Err(EncodeError::LineBreakInId);
            }
            if memchr::memchr(0, id.as_bytes()).is_some() {
                return Err(EncodeError::NulInId);
            }
        }
        Ok(())
    }

    /// Appends the encoded event, ending with its blank line, to `buf`. On error nothing is
    /// written.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.validate()?;
        buf.reserve(self.encoded_len_hint());
        for c in &self.comments {
            comment(c, buf);
        }
        if let Some(event) = &self.event {
            put_line(buf, b"event:", event);
        }
        if let Some(id) = &self.id {
            put_line(buf, b"id:", id);
        }
        if let Some(retry) = self.retry {
            buf.put_slice(b"retry: ");
            buf.put_slice(retry.to_string().as_bytes());
            buf.put_u8(b'\n');
        }
        if let Some(data) = &self.data {
            for line in lines(data) {
                put_line(buf, b"data:", line);
            }
        }
        buf.put_u8(b'\n');
        Ok(())
    }

    /// Encodes once into a shared buffer: clone the returned [`Bytes`] (a reference count
    /// increment) for each subscriber of a broadcast.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::new();
        self.encode(&mut buf)?;
        Ok(buf.freeze())
    }

    fn encoded_len_hint(&self) -> usize {
        let field = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len() + 8);
        self.comments.iter().map(|c| c.len() + 3).sum::<usize>()
            + field(&self.event)
            + field(&self.id)
            + self.retry.map_or(0, |_| 28)
            + self.data.as_ref().map_or(0, |d| d.len() + 7)
            + 1
    }
}

/// Writes `name` (with its colon), a space, `value` and LF.
fn put_line(buf: &mut BytesMut, name: &[u8], value: &str) {
    buf.put_slice(name);
    if !value.is_empty() {
        buf.put_u8(b' ');
        buf.put_slice(value.as_bytes());
    }
    buf.put_u8(b'\n');
}

/// Splits on CRLF, LF and CR; `""` is one empty line.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    core::iter::from_fn(move || {
        let s = rest?;
        match memchr::memchr2(b'\r', b'\n', s.as_bytes()) {
            None => {
                rest = None;
                Some(s)
            }
            Some(i) => {
                let skip = if s.as_bytes()[i] == b'\r' && s.as_bytes().get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(e: &Event) -> Vec<u8> {
        let mut b = BytesMut::new();
        e.encode(&mut b).unwrap();
        b.to_vec()
    }

    #[test]
    fn data_split_on_every_line_ending() {
        let e = Event::new().data("a\r\nb\rc\nd\n");
        assert_eq!(enc(&e), b"data: a\ndata: b\ndata: c\ndata: d\ndata:\n\n");
        assert_eq!(enc(&Event::new().data("")), b"data:\n\n");
        assert_eq!(enc(&Event::new().data(" x")), b"data:  x\n\n");
    }

    #[test]
    fn all_fields_and_comments() {
        let e = Event::new()
            .comment("hi\nthere")
            .event("t")
            .id("1")
            .retry(Duration::from_millis(1500))
            .data("d");
        assert_eq!(
            enc(&e),
            b": hi\n: there\nevent: t\nid: 1\nretry: 1500\ndata: d\n\n"
        );
    }

    #[test]
    fn rejects_unencodable_fields() {
        let mut b = BytesMut::new();
        assert_eq!(
            Event::new().event("a\nb").encode(&mut b),
            Err(EncodeError::LineBreakInEvent)
        );
        assert_eq!(
            Event::new().id("a\rb").encode(&mut b),
            Err(EncodeError::LineBreakInId)
        );
        assert_eq!(
            Event::new().id("a\0b").encode(&mut b),
            Err(EncodeError::NulInId)
        );
        assert!(b.is_empty());
    }

    #[test]
    fn broadcast_bytes_are_shared() {
        let shared = Event::new().data("x").to_bytes().unwrap();
        let a = shared.clone();
        assert_eq!(a.as_ptr(), shared.as_ptr());
        assert_eq!(&a[..], b"data: x\n\n");
    }
}
