//! The request: `GET <endpoint>?cursor=<c>&timeout=<s>&max=<n>`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::cursor::{Cursor, CursorError};
use crate::response::StatusCode;

/// Longest accepted value of a recognised parameter, in bytes before percent-decoding.
pub const MAX_PARAM_LEN: usize = 128;

/// Where a request starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Start {
    /// No cursor: "from now". Answered at once with the head cursor and no events.
    Now,
    /// `cursor=earliest`: from the oldest retained event.
    Earliest,
    /// A cursor: the last event seen.
    At(Cursor),
}

/// A parsed long-poll request. `timeout` and `max` are as requested; the server caps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Request {
    /// Where to read from.
    pub start: Start,
    /// Requested wait (`timeout=<seconds>`); `None`: the server default. `0`: plain polling.
    pub timeout: Option<Duration>,
    /// Requested most events (`max=<n>`, n ≥ 1); `None`: the server default.
    pub max: Option<u32>,
}

/// Why a query string is not a valid request. Every variant is a peer fault (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The cursor is malformed.
    #[error("bad cursor: {0}")]
    BadCursor(#[from] CursorError),
    /// `timeout` is not a decimal number of seconds.
    #[error("bad timeout")]
    BadTimeout,
    /// `max` is not a decimal number ≥ 1.
    #[error("bad max")]
    BadMax,
    /// A recognised parameter appears twice.
    #[error("duplicate parameter {0}")]
    Duplicate(&'static str),
    /// A recognised parameter's value is too long.
    #[error("parameter too long: {size} bytes, max {max}")]
    TooLong {
        /// Length of the value.
        size: usize,
        /// [`MAX_PARAM_LEN`].
        max: usize,
    },
    /// A value has an invalid `%` escape or decodes to non-UTF-8.
    #[error("bad percent-encoding")]
    BadEncoding,
}

impl QueryError {
    /// The wire answer: always `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        match self {
            QueryError::BadCursor(_)
            | QueryError::BadTimeout
            | QueryError::BadMax
            | QueryError::Duplicate(_)
            | QueryError::TooLong { .. }
            | QueryError::BadEncoding => StatusCode::BAD_REQUEST,
        }
    }
}

impl Request {
    /// A request starting at `start` with server-default timeout and max.
    pub fn new(start: Start) -> Self {
        Self {
            start,
            timeout: None,
            max: None,
        }
    }

    /// Parse a URL query (with or without the leading `?`). Parameters other than `cursor`,
    /// `timeout` and `max` are ignored (e.g. `token`); an empty `cursor=` means no cursor.
    /// Values may be percent-encoded (cursors never need to be).
    pub fn parse_query(query: &str) -> Result<Self, QueryError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut cursor = None;
        let mut timeout = None;
        let mut max = None;
        // Split at bytes (`&` and `=` are ASCII): `str::split(char)` set its searcher up again
        // for every piece, which cost a poll more than the rest of its parse.
        for pair in split_byte(query, b'&') {
            let (key, raw) = split_once_byte(pair, b'=').unwrap_or((pair, ""));
            let (slot, name) = match key {
                "cursor" => (&mut cursor, "cursor"),
                "timeout" => (&mut timeout, "timeout"),
                "max" => (&mut max, "max"),
                _ => continue,
            };
            if slot.is_some() {
                return Err(QueryError::Duplicate(name));
            }
            if raw.len() > MAX_PARAM_LEN {
                return Err(QueryError::TooLong {
                    size: raw.len(),
                    max: MAX_PARAM_LEN,
                });
            }
            *slot = Some(percent_decode(raw)?);
        }
        let start = match cursor.as_deref() {
            None | Some("") => Start::Now,
            Some("earliest") => Start::Earliest,
            Some(c) => Start::At(Cursor::parse(c)?),
        };
        let timeout = match timeout {
            None => None,
            Some(t) => Some(Duration::from_secs(
                parse_digits(&t).ok_or(QueryError::BadTimeout)?,
            )),
        };
        let max = match max {
            None => None,
            Some(m) => match parse_digits(&m) {
                Some(0) | None => return Err(QueryError::BadMax),
                Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
            },
        };
        Ok(Self {
            start,
            timeout,
            max,
        })
    }

    /// The query string (without `?`) that [`Request::parse_query`] parses back to `self`
    /// (timeouts are whole seconds: sub-second parts are dropped).
    pub fn to_query(&self) -> String {
        let mut q = String::new();
        match self.start {
            Start::Now => {}
            Start::Earliest => q.push_str("cursor=earliest"),
            Start::At(c) => {
                q.push_str("cursor=");
                q.push_str(&c.encode());
            }
        }
        let mut param = |k: &str, v: &dyn fmt::Display| {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(k);
            q.push('=');
            q.push_str(&v.to_string());
        };
        if let Some(t) = self.timeout {
            param("timeout", &t.as_secs());
        }
        if let Some(m) = self.max {
            param("max", &m);
        }
        q
    }
}

/// Decimal digits, saturating at `u64::MAX` (the server caps values anyway).
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |v, b| {
        v.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// `s` split at every `sep` (an ASCII byte), as `str::split` would.
pub(crate) fn split_byte(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.bytes().position(|b| b == sep) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// `s` split at its first `sep` (an ASCII byte), as `str::split_once` would.
pub(crate) fn split_once_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

/// `s` with its `%XX` escapes decoded: borrowed (no allocation) when it has none, the usual
/// case for cursors and numbers.
fn percent_decode(s: &str) -> Result<Cow<'_, str>, QueryError> {
    if !s.contains('%') {
        return Ok(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(QueryError::BadEncoding);
            };
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| QueryError::BadEncoding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_params() {
        let r = Request::parse_query("?cursor=1.a.5&timeout=30&max=10&token=x").unwrap();
        assert_eq!(r.start, Start::At(Cursor::new(10, 5)));
        assert_eq!(r.timeout, Some(Duration::from_secs(30)));
        assert_eq!(r.max, Some(10));
        assert_eq!(Request::parse_query("").unwrap(), Request::new(Start::Now));
        assert_eq!(
            Request::parse_query("cursor=&x").unwrap(),
            Request::new(Start::Now)
        );
        assert_eq!(
            Request::parse_query("cursor=earliest").unwrap().start,
            Start::Earliest
        );
        assert_eq!(
            Request::parse_query("cursor=1%2Ea.5").unwrap().start,
            Start::At(Cursor::new(10, 5))
        );
        assert_eq!(
            Request::parse_query("timeout=99999999999999999999999")
                .unwrap()
                .timeout,
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            Request::parse_query("max=99999999999").unwrap().max,
            Some(u32::MAX)
        );
    }

    #[test]
    fn rejects_bad_params() {
        use QueryError::*;
        let e = |q: &str| Request::parse_query(q).unwrap_err();
        assert_eq!(e("cursor=1.A.1"), BadCursor(CursorError::BadEpoch));
        assert_eq!(e("cursor=now"), BadCursor(CursorError::UnknownVersion));
        assert_eq!(e("timeout=-1"), BadTimeout);
        assert_eq!(e("timeout="), BadTimeout);
        assert_eq!(e("timeout=1.5"), BadTimeout);
        assert_eq!(e("max=0"), BadMax);
        assert_eq!(e("max=x"), BadMax);
        assert_eq!(e("max=1&max=2"), Duplicate("max"));
        assert_eq!(e("cursor=%zz"), BadEncoding);
        assert_eq!(e("cursor=%ff"), BadEncoding);
        let long = format!("max={}", "1".repeat(200));
        assert!(matches!(
            e(&long),
            TooLong {
                size: 200,
                max: 128
            }
        ));
        assert_eq!(e("max=0").status(), StatusCode::BAD_REQUEST);
    }

    proptest! {
        #[test]
        fn to_query_roundtrips(r in crate::strategy::request()) {
            let q = r.to_query();
            prop_assert_eq!(Request::parse_query(&q), Ok(r));
        }

        #[test]
        fn any_query_is_parsed_or_refused_and_canonical(raw in crate::strategy::raw_query()) {
            if let Ok(r) = Request::parse_query(&raw.0) {
                // What parses means the same once written back.
                prop_assert_eq!(Request::parse_query(&r.to_query()), Ok(r));
            }
        }
    }
}
