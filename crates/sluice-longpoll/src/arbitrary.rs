//! `arbitrary::Arbitrary` for what a user of this crate generates (feature `arbitrary`):
//! [`Cursor`] (epochs and sequence numbers at their edges too), [`Start`], [`Request`] (valid
//! by construction: `to_query` of it parses back to it), and [`RawQuery`] (query-string-shaped
//! text, usually not a valid request).

use std::time::Duration;

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::{Cursor, Request, Start};

fn edgy_u64(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=3)? {
        0 => *u.choose(&[
            0,
            1,
            9,
            10,
            15,
            16,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ])?,
        1 => u.int_in_range(0..=1000)?,
        _ => u64::arbitrary(u)?,
    })
}

impl<'a> Arbitrary<'a> for Cursor {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Cursor::new(edgy_u64(u)?, edgy_u64(u)?))
    }
}

impl<'a> Arbitrary<'a> for Start {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.int_in_range(0..=3)? {
            0 => Start::Now,
            1 => Start::Earliest,
            _ => Start::At(Cursor::arbitrary(u)?),
        })
    }
}

impl<'a> Arbitrary<'a> for Request {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Request {
            start: Start::arbitrary(u)?,
            timeout: u
                .ratio(2, 3)?
                .then(|| edgy_u64(u).map(Duration::from_secs))
                .transpose()?,
            max: u
                .ratio(1, 2)?
                .then(|| u.int_in_range(1..=u32::MAX))
                .transpose()?,
        })
    }
}

/// Text shaped like a long-poll query string — the parameters of this protocol and others,
/// repeated, empty, percent-escaped (validly or not), cursors with bad versions or digits —
/// mostly not a valid request: for query parsers that must refuse cleanly, never panic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawQuery(pub String);

impl<'a> Arbitrary<'a> for RawQuery {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const PIECES: &[&str] = &[
            "cursor=",
            "timeout=",
            "max=",
            "token=t",
            "earliest",
            "1.",
            "2.",
            "ff",
            "0",
            "10",
            "18446744073709551616",
            "&",
            "=",
            "?",
            "%",
            "%2",
            "%41",
            "%ff",
            "+",
            ".",
            "x",
            "é",
        ];
        let mut s = String::new();
        if u.ratio(1, 2)? {
            s.push_str(&Request::arbitrary(u)?.to_query());
        }
        for _ in 0..u.int_in_range(0..=12)? {
            s.push_str(u.choose(PIECES)?);
        }
        Ok(RawQuery(s))
    }
}
