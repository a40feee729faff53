//! The cursor codec: `(epoch, seq)` as a short, URL-safe, versioned string.
//!
//! Wire form (version 1): `1.<epoch>.<seq>` where `<epoch>` is the epoch in lowercase hexadecimal
//! and `<seq>` the sequence number in decimal, both without leading zeros (`0` is written `0`).
//! Every character is in RFC 3986 `unreserved`, so the string needs no percent-encoding in a
//! URL, is a valid SSE `id:` value and needs no escaping in JSON. The encoding is canonical:
//! [`Cursor::parse`] accepts exactly the strings [`Cursor::encode`] produces, so
//! `parse(s)` succeeding implies `encode(parse(s)) == s`.

use std::fmt;
use std::str::FromStr;

/// Longest encoded cursor: `1.` + 16 hex digits + `.` + 20 decimal digits.
pub const MAX_CURSOR_LEN: usize = 2 + 16 + 1 + 20;

/// A position in a topic's history: the reader has seen every event of `epoch` up to and
/// including sequence number `seq` (`seq == 0`: nothing yet).
///
/// Clients treat the encoded form as opaque. Event `n` of an epoch has sequence number `n`
/// (the first event is `1`), and its id is the cursor `(epoch, n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cursor {
    epoch: u64,
    seq: u64,
}

/// Why a string is not a cursor. Every variant is a peer fault (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// The string is empty.
    #[error("empty cursor")]
    Empty,
    /// The string is longer than any cursor can be.
    #[error("cursor too long: {size} bytes, max {max}")]
    TooLong {
        /// Length of the input.
        size: usize,
        /// [`MAX_CURSOR_LEN`].
        max: usize,
    },
    /// The version prefix is not one this implementation knows.
    #[error("unknown cursor version")]
    UnknownVersion,
    /// The string does not have the `1.<epoch>.<seq>` shape.
    #[error("malformed cursor")]
    Malformed,
    /// The epoch field is not 1–16 lowercase hex digits without a leading zero.
    #[error("malformed cursor epoch")]
    BadEpoch,
    /// The sequence field is not 1–20 decimal digits without a leading zero, or exceeds `u64`.
    #[error("malformed cursor sequence number")]
    BadSeq,
}

impl Cursor {
    /// A cursor at `seq` in `epoch`.
    pub const fn new(epoch: u64, seq: u64) -> Self {
        Self { epoch, seq }
    }

    /// The epoch: changes whenever the history may have been lost.
    pub const fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The sequence number of the last event seen (0: none).
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// Parse the wire form. Accepts only canonical strings (see the module docs).
    pub fn parse(s: &str) -> Result<Self, CursorError> {
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(CursorError::Empty);
        }
        if b.len() > MAX_CURSOR_LEN {
            return Err(CursorError::TooLong {
                size: b.len(),
                max: MAX_CURSOR_LEN,
            });
        }
        let rest = match b {
            [b'1', b'.', rest @ ..] => rest,
            [b'1', ..] => return Err(CursorError::Malformed),
            _ => return Err(CursorError::UnknownVersion),
        };
        let dot = rest
            .iter()
            .position(|&c| c == b'.')
            .ok_or(CursorError::Malformed)?;
        let (epoch, seq) = (&rest[..dot], &rest[dot + 1..]);
        Ok(Self {
            epoch: parse_hex(epoch).ok_or(CursorError::BadEpoch)?,
            seq: parse_dec(seq).ok_or(CursorError::BadSeq)?,
        })
    }

    /// The canonical wire form, without allocating.
    pub fn encode(&self) -> EncodedCursor {
        let mut out = EncodedCursor {
            buf: [0; MAX_CURSOR_LEN],
            len: 0,
        };
        out.push(b'1');
        out.push(b'.');
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        let mut e = self.epoch;
        loop {
            i -= 1;
            tmp[i] = b"0123456789abcdef"[(e & 15) as usize];
            e >>= 4;
            if e == 0 {
                break;
            }
        }
        tmp[i..].iter().for_each(|&c| out.push(c));
        out.push(b'.');
        let mut i = tmp.len();
        let mut s = self.seq;
        loop {
            i -= 1;
            tmp[i] = b'0' + (s % 10) as u8;
            s /= 10;
            if s == 0 {
                break;
            }
        }
        tmp[i..].iter().for_each(|&c| out.push(c));
        out
    }
}

fn parse_hex(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 16 || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

fn parse_dec(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encode().as_str())
    }
}

impl FromStr for Cursor {
    type Err = CursorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A cursor's wire form in a fixed buffer (no allocation). Derefs to `str`.
#[derive(Clone, Copy)]
pub struct EncodedCursor {
    buf: [u8; MAX_CURSOR_LEN],
    len: u8,
}

impl EncodedCursor {
    fn push(&mut self, c: u8) {
        self.buf[usize::from(self.len)] = c;
        self.len += 1;
    }

    /// The encoded cursor.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, lowercase hex letters and '.' are ever pushed.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }
}

impl std::ops::Deref for EncodedCursor {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for EncodedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for EncodedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors() {
        assert_eq!(Cursor::new(0, 0).encode().as_str(), "1.0.0");
        assert_eq!(Cursor::new(0x9f3a, 42).encode().as_str(), "1.9f3a.42");
        let max = Cursor::new(u64::MAX, u64::MAX);
        assert_eq!(
            max.encode().as_str(),
            "1.ffffffffffffffff.18446744073709551615"
        );
        assert_eq!(max.encode().len(), MAX_CURSOR_LEN);
        assert_eq!(Cursor::parse("1.9f3a.42"), Ok(Cursor::new(0x9f3a, 42)));
    }

    #[test]
    fn rejects_malformed() {
        use CursorError::*;
        let cases: &[(&str, CursorError)] = &[
            ("", Empty),
            ("2.0.0", UnknownVersion),
            ("earliest", UnknownVersion),
            ("1", Malformed),
            ("10.0", Malformed),
            ("1.0", Malformed),
            ("1..0", BadEpoch),
            ("1.0.", BadSeq),
            ("1.00.1", BadEpoch),
            ("1.A.1", BadEpoch),
            ("1.g.1", BadEpoch),
            ("1.0.01", BadSeq),
            ("1.0.-1", BadSeq),
            ("1.0.+1", BadSeq),
            ("1.0.1.2", BadSeq),
            ("1.0.18446744073709551616", BadSeq),
            ("1.10000000000000000.1", BadEpoch),
            ("1.0.1 ", BadSeq),
        ];
        for (s, e) in cases {
            assert_eq!(Cursor::parse(s).as_ref(), Err(e), "{s:?}");
        }
        assert!(matches!(
            Cursor::parse(&"1".repeat(40)),
            Err(TooLong { size: 40, max: 39 })
        ));
    }

    proptest! {
        #[test]
        fn roundtrip(c in crate::strategy::cursor()) {
            let s = c.encode();
            prop_assert_eq!(Cursor::parse(&s), Ok(c));
            prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'));
        }

        #[test]
        fn parse_is_canonical(s in "[0-9a-f.]{0,40}") {
            if let Ok(c) = Cursor::parse(&s) {
                let e = c.encode();
                prop_assert_eq!(e.as_str(), s.as_str());
            }
        }
    }
}
