//! `arbitrary::Arbitrary` for what a user of this crate generates (feature `arbitrary`): an
//! [`Event`] (valid by construction: no line break in `event`/`id`, no NUL in `id`), an
//! [`EventStream`] (the bytes of encoded events and the items a WHATWG parser must give back),
//! and a [`RawStream`] (bytes shaped like an event stream, usually not a valid one).

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::BytesMut;

use crate::{Event, Item, MessageEvent};

/// One event as the encoder takes it, with what the parser must report for it.
#[derive(Debug, Clone)]
struct Model {
    comments: Vec<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    data: Option<String>,
}

/// Text biased towards what event streams are made of: line breaks of every kind, colons,
/// spaces, NUL, a BOM, non-ASCII; or any string.
fn text(u: &mut Unstructured<'_>) -> Result<String> {
    const PIECES: &[&str] = &[
        "a", " ", ":", "\r", "\n", "\r\n", "\t", "\0", "é", "日", "😀", "\u{FEFF}", "data", "id",
    ];
    if u.ratio(1, 4)? {
        return String::arbitrary(u);
    }
    let n = u.int_in_range(0..=12)?;
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(u.choose(PIECES)?);
    }
    Ok(s)
}

fn line_text(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(text(u)?.replace(['\r', '\n'], ""))
}

impl<'a> Arbitrary<'a> for Model {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u.int_in_range(0..=2)?;
        let comments = (0..n).map(|_| text(u)).collect::<Result<_>>()?;
        Ok(Model {
            comments,
            event: u.ratio(1, 2)?.then(|| line_text(u)).transpose()?,
            id: u
                .ratio(1, 2)?
                .then(|| line_text(u).map(|s| s.replace('\0', "")))
                .transpose()?,
            retry: u
                .ratio(1, 4)?
                .then(|| u.int_in_range(0..=10_000_000))
                .transpose()?,
            data: u.ratio(3, 4)?.then(|| text(u)).transpose()?,
        })
    }
}

impl Model {
    fn event(&self) -> Event {
        let mut e = Event::new();
        for c in &self.comments {
            e = e.comment(c.clone());
        }
        if let Some(v) = &self.event {
            e = e.event(v.clone());
        }
        if let Some(v) = &self.id {
            e = e.id(v.clone());
        }
        if let Some(v) = self.retry {
            e = e.retry(Duration::from_millis(v));
        }
        if let Some(v) = &self.data {
            e = e.data(v.clone());
        }
        e
    }
}

impl<'a> Arbitrary<'a> for Event {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Model::arbitrary(u)?.event())
    }
}

/// The lines of `s` (any of CRLF, LF and CR ends one).
fn lines(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split("\r\n")
        .flat_map(|p| p.split(['\r', '\n']))
        .map(String::from)
}

/// A valid event stream: encoded events, optionally after a BOM, and the items
/// [`Parser`](crate::Parser) (comments on) must report for it, in order — data line endings
/// normalised to LF, the last event id carried over, `retry` values, each comment line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventStream {
    /// The bytes on the wire.
    pub bytes: Vec<u8>,
    /// The events that were encoded.
    pub events: Vec<Event>,
    /// What the parser must report.
    pub items: Vec<Item>,
}

impl<'a> Arbitrary<'a> for EventStream {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u.int_in_range(0..=6)?;
        let models: Vec<Model> = (0..n).map(|_| Model::arbitrary(u)).collect::<Result<_>>()?;
        let mut buf = BytesMut::new();
        if u.ratio(1, 8)? {
            buf.extend_from_slice(b"\xEF\xBB\xBF");
        }
        let mut events = Vec::new();
        let mut items = Vec::new();
        let mut last_id = String::new();
        for m in &models {
            let e = m.event();
            // Valid by construction: the builder's inputs were made so.
            if e.encode(&mut buf).is_err() {
                return Err(arbitrary::Error::IncorrectFormat);
            }
            events.push(e);
            for c in &m.comments {
                items.extend(lines(c).map(Item::Comment));
            }
            if let Some(r) = m.retry {
                items.push(Item::Retry(r));
            }
            if let Some(id) = &m.id {
                last_id.clone_from(id);
            }
            if let Some(d) = &m.data {
                let data: Vec<String> = lines(d).collect();
                items.push(Item::Event(MessageEvent::new(
                    m.event.clone().unwrap_or_default(),
                    data.join("\n"),
                    &last_id,
                )));
            }
        }
        Ok(EventStream {
            bytes: buf.to_vec(),
            events,
            items,
        })
    }
}

/// Bytes shaped like an event stream — field names, colons, every line ending, BOMs, NUL,
/// invalid UTF-8, long lines — mostly not a valid one: for parsers that must never panic and
/// must give the same items however the bytes are cut.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawStream(pub Vec<u8>);

impl<'a> Arbitrary<'a> for RawStream {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const PIECES: &[&[u8]] = &[
            b"data:",
            b"data: ",
            b"event:",
            b"id:",
            b"retry:",
            b"retry: 100",
            b":",
            b"\n",
            b"\r",
            b"\r\n",
            b"\n\n",
            b" ",
            b"x",
            b"\0",
            b"\xEF\xBB\xBF",
            b"\xFF\xFE",
            b"\xC3",
            b"12",
        ];
        let n = u.int_in_range(0..=64)?;
        let mut out = Vec::new();
        for _ in 0..n {
            if u.ratio(1, 8)? {
                let len = u.int_in_range(0..=32)?;
                out.extend_from_slice(u.bytes(len.min(u.len()))?);
            } else {
                out.extend_from_slice(u.choose(PIECES)?);
            }
        }
        Ok(RawStream(out))
    }
}
