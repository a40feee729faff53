//! Header fields: an ordered multimap with case-insensitive lookup.

use bytes::Bytes;

/// A header name or value the caller supplied is not valid on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidHeader {
    /// The name is empty or contains a byte that is not an RFC 9110 `tchar`.
    #[error("invalid header name {0:?}")]
    Name(Bytes),
    /// The value contains CR, LF or NUL (header injection) or another control byte.
    #[error("invalid header value {0:?}")]
    Value(Bytes),
}

/// Whether `b` is an RFC 9110 §5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// [`is_tchar`] as a table: every response field name is checked byte by byte.
static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        #[allow(clippy::cast_possible_truncation)] // b < 256
        let c = b as u8;
        t[b] = matches!(c,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        b += 1;
    }
    t
};

/// Whether `name` is a valid header field name (a non-empty token).
///
/// Both checks fold over every byte without an early exit, so the loop has no branch out per
/// byte: cheaper than stopping at the first bad byte for the short, valid names and values of
/// nearly every answer (callgrind: 139 → 60 instructions for a long-poll answer's value).
pub(crate) fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().fold(true, |ok, &b| ok & is_tchar(b))
}

/// Whether `value` is a valid field value: visible ASCII, obs-text, SP and HTAB only.
pub(crate) fn valid_value(value: &[u8]) -> bool {
    value.iter().fold(true, |ok, &b| {
        ok & ((b >= 0x20 || b == b'\t') & (b != 0x7f))
    })
}

/// An ordered list of header fields, as received or as to be sent.
///
/// Lookups are ASCII case-insensitive on the name. Fields parsed from the wire share one
/// reference-counted buffer with the request head (no copy per field). `Debug` shows the
/// fields as text (`{"host": "example.com", …}`; bytes that are not UTF-8 as U+FFFD).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(Bytes, Bytes)>,
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.entries
                    .iter()
                    .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

impl Headers {
    /// An empty list.
    #[must_use]
    pub fn new() -> Headers {
        Headers {
            entries: Vec::new(),
        }
    }

    /// An empty list with room for `n` fields.
    #[must_use]
    pub fn with_capacity(n: usize) -> Headers {
        Headers {
            entries: Vec::with_capacity(n),
        }
    }

    /// Appends a field already known to be valid (parsed by httparse).
    pub(crate) fn push_unchecked(&mut self, name: Bytes, value: Bytes) {
        self.entries.push((name, value));
    }

    /// Appends a field after validating name and value.
    ///
    /// # Errors
    /// [`InvalidHeader`] if the name is not a token or the value contains CR, LF, NUL or another
    /// control byte other than HTAB.
    pub fn append(
        &mut self,
        name: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<(), InvalidHeader> {
        let (name, value) = (name.into(), value.into());
        if !valid_name(&name) {
            return Err(InvalidHeader::Name(name));
        }
        if !valid_value(&value) {
            return Err(InvalidHeader::Value(value));
        }
        self.entries.push((name, value));
        Ok(())
    }

    /// Replaces every field named `name` by one field with `value`.
    ///
    /// # Errors
    /// As [`Headers::append`].
    pub fn insert(
        &mut self,
        name: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<(), InvalidHeader> {
        let name = name.into();
        self.remove(&name);
        self.append(name, value)
    }

    /// Removes every field named `name` (case-insensitive); returns how many were removed.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> usize {
        let name = name.as_ref();
        let before = self.entries.len();
        self.entries.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.entries.len()
    }

    /// The value of the first field named `name` (case-insensitive).
    #[must_use]
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&Bytes> {
        let name = name.as_ref();
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of the first field named `name`, if it is valid UTF-8.
    #[must_use]
    pub fn get_str(&self, name: impl AsRef<[u8]>) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of fields named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Where the first field named `name` is, and how many fields have that name: one pass.
    pub(crate) fn find_first(&self, name: &[u8]) -> (Option<usize>, usize) {
        let mut first = None;
        let mut count = 0;
        for (i, (n, _)) in self.entries.iter().enumerate() {
            if n.eq_ignore_ascii_case(name) {
                first.get_or_insert(i);
                count += 1;
            }
        }
        (first, count)
    }

    /// The value of the field at `index` (in the order the fields came).
    pub(crate) fn value_at(&self, index: usize) -> Option<&Bytes> {
        self.entries.get(index).map(|(_, v)| v)
    }

    /// Whether a field named `name` is present.
    #[must_use]
    pub fn contains(&self, name: impl AsRef<[u8]>) -> bool {
        self.get(name).is_some()
    }

    /// Whether any field named `name`, read as a comma-separated list (RFC 9110 §5.6.1),
    /// holds `token` (ASCII case-insensitive), e.g. `Connection: keep-alive, Upgrade`.
    #[must_use]
    pub fn has_token(&self, name: impl AsRef<[u8]>, token: &str) -> bool {
        self.get_all(name.as_ref())
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    }

    /// Iterates over `(name, value)` pairs in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> + '_ {
        self.entries.iter().map(|(n, v)| (n, v))
    }

    /// The number of fields.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no fields.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes `name: value\r\n` for every field.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        self.encode_skipping(out, &[]);
    }

    /// Writes `name: value\r\n` for every field not named in `skip` (the framing fields the
    /// layer writes itself).
    pub(crate) fn encode_skipping(&self, out: &mut Vec<u8>, skip: &[&[u8]]) {
        for (n, v) in &self.entries {
            if skip.iter().any(|s| n.eq_ignore_ascii_case(s)) {
                continue;
            }
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_lookup_and_tokens() {
        let mut h = Headers::new();
        h.append("Connection", "keep-alive, Upgrade").unwrap();
        h.append("X-A", "1").unwrap();
        h.append("x-a", "2").unwrap();
        assert_eq!(h.get_str("x-A"), Some("1"));
        assert_eq!(h.get_all(b"X-a").count(), 2);
        assert!(h.has_token("connection", "upgrade"));
        assert!(!h.has_token("connection", "close"));
        h.insert("X-A", "3").unwrap();
        assert_eq!(h.get_all(b"x-a").count(), 1);
        assert_eq!(h.remove("x-a"), 1);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn rejects_injection() {
        let mut h = Headers::new();
        assert!(matches!(
            h.append("X", "a\r\nEvil: 1"),
            Err(InvalidHeader::Value(_))
        ));
        assert!(matches!(h.append("X", "a\0"), Err(InvalidHeader::Value(_))));
        assert!(matches!(
            h.append("Bad Name", "v"),
            Err(InvalidHeader::Name(_))
        ));
        assert!(matches!(h.append("", "v"), Err(InvalidHeader::Name(_))));
        assert!(h.append("X", "tab\tok é").is_ok());
    }

    /// Every byte, alone and at every place in a longer valid field (the checks fold over the
    /// whole input: one bad byte anywhere must still fail it). RFC 9110 §5.5 (`field-vchar`,
    /// SP, HTAB, obs-text) and §5.6.2 (`tchar`).
    #[test]
    fn every_byte_is_judged_wherever_it_sits() {
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let vchar = |b: u8| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80;
        for b in 0..=255u8 {
            assert_eq!(valid_name(&[b]), tchar(b), "name byte {b:#04x}");
            assert_eq!(valid_value(&[b]), vchar(b), "value byte {b:#04x}");
            for at in [0, 1, 17, 40] {
                let mut name = vec![b'a'; 41];
                name[at] = b;
                assert_eq!(valid_name(&name), tchar(b), "name byte {b:#04x} at {at}");
                let mut value = vec![b'v'; 41];
                value[at] = b;
                assert_eq!(valid_value(&value), vchar(b), "value byte {b:#04x} at {at}");
            }
        }
        assert!(!valid_name(b""));
        assert!(valid_value(b""));
    }
}
