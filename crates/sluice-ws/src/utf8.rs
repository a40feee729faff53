//! UTF-8: the validated [`Utf8Bytes`] payload type and the incremental validator used for text
//! messages that arrive in pieces (RFC 6455 §5.6, §8.1).

use alloc::string::String;
use core::fmt;
use core::ops::Deref;

use bytes::Bytes;
use bytestring::ByteString;

/// Immutable, cheaply clonable bytes that are valid UTF-8.
///
/// Received text messages are handed out as `Utf8Bytes` sharing the receive buffer: no copy is
/// made and the text was validated once, as it arrived.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(ByteString);

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Utf8Bytes(ByteString::new())
    }

    /// A string from a `'static` literal, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(ByteString::from_static(s))
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The underlying bytes.
    #[inline]
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// Converts into the underlying bytes without copying.
    #[inline]
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Utf8Bytes {
    #[inline]
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(ByteString::from(s))
    }
}

impl From<&'static str> for Utf8Bytes {
    fn from(s: &'static str) -> Self {
        Utf8Bytes(ByteString::from_static(s))
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = core::str::Utf8Error;
    #[inline]
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        ByteString::try_from(b).map(Utf8Bytes)
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(s: Utf8Bytes) -> Self {
        s.into_bytes()
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

/// Incremental UTF-8 validator: fed a byte stream in arbitrary pieces, it fails on the first
/// piece after which no continuation could make the stream valid ("fail fast", Autobahn 6.4),
/// and accepts pieces that end inside a code point.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Utf8Validator {
    /// An incomplete but so-far-valid code point carried over from the previous piece.
    partial: [u8; 4],
    partial_len: u8,
}

/// The stream can no longer become valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

impl Utf8Validator {
    /// Validates the next piece of the stream.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), Invalid> {
        if self.partial_len > 0 {
            let have = usize::from(self.partial_len);
            let need = match self.partial[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let take = (need - have).min(data.len());
            self.partial[have..have + take].copy_from_slice(&data[..take]);
            let len = have + take;
            data = &data[take..];
            match core::str::from_utf8(&self.partial[..len]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix of a code point: `data` is exhausted.
                    self.partial_len = len as u8;
                    return Ok(());
                }
                Err(_) => return Err(Invalid),
            }
        }
        match core::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &data[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(Invalid),
        }
    }

    /// Whether the stream so far ends on a code point boundary.
    #[cfg(test)]
    pub(crate) fn is_complete(&self) -> bool {
        self.partial_len == 0
    }

    /// Forgets any carried-over state, for the next message.
    pub(crate) fn reset(&mut self) {
        self.partial_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_ok(pieces: &[&[u8]]) -> Result<bool, usize> {
        let mut v = Utf8Validator::default();
        for (i, p) in pieces.iter().enumerate() {
            v.feed(p).map_err(|_| i)?;
        }
        Ok(v.is_complete())
    }

    #[test]
    fn splits_inside_code_points_are_fine() {
        let s = "κόσμε €𝄞 hello".as_bytes();
        for a in 0..=s.len() {
            for b in a..=s.len() {
                assert_eq!(stream_ok(&[&s[..a], &s[a..b], &s[b..]]), Ok(true));
            }
        }
        for cut in 1..4 {
            assert_eq!(stream_ok(&["𝄞".as_bytes()[..cut].as_ref()]), Ok(false));
        }
    }

    #[test]
    fn fails_fast_on_first_impossible_prefix() {
        // Autobahn 6.4.1-style: "κόσμε" followed by the start of a surrogate (ED A0 80).
        let bad: &[u8] = &[
            0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5,
        ];
        assert_eq!(stream_ok(&[bad, &[0xed], &[0xa0]]), Err(2));
        // 0xF4 0x90 is beyond U+10FFFF: fails at the second byte.
        assert_eq!(stream_ok(&[&[0xf4], &[0x90], &[0x80, 0x80]]), Err(1));
        // Invalid lead bytes fail immediately.
        assert_eq!(stream_ok(&[&[0xff]]), Err(0));
        assert_eq!(stream_ok(&[&[0xc0]]), Err(0));
    }

    #[test]
    fn agrees_with_std_on_every_split() {
        let samples: &[&[u8]] = &[
            b"plain",
            "€uro".as_bytes(),
            &[0xed, 0xa0, 0x80],
            &[0xf0, 0x9f, 0x98, 0x80, 0xf0, 0x9f],
            &[0xe0, 0x80, 0xaf],
            &[0xc2, 0x80, 0xdf, 0xbf],
        ];
        for s in samples {
            let want = core::str::from_utf8(s).is_ok();
            for cut in 0..=s.len() {
                let got = matches!(stream_ok(&[&s[..cut], &s[cut..]]), Ok(true));
                assert_eq!(got, want, "{s:?} cut {cut}");
            }
        }
    }
}
