//! HTTP grammar helpers (RFC 9110 §5.6): tokens, comma lists, optional whitespace, field
//! names and values.

/// `tchar` of RFC 9110 §5.6.2.
pub(crate) const fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// `token = 1*tchar`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Strips optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A field value a caller may put on the wire: visible ASCII, obs-text, SP and HTAB; no CR,
/// LF, NUL or other control bytes (header injection guard).
pub(crate) fn is_field_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Iterates the non-empty, OWS-trimmed elements of a `#element` list (RFC 9110 §5.6.1). Empty
/// elements are ignored, as the list rule requires of recipients.
pub(crate) fn list_elements(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// True if a comma list contains `token`, ASCII case-insensitively.
pub(crate) fn list_contains_token(v: &[u8], token: &str) -> bool {
    list_elements(v).any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_chars() {
        assert!(is_token(b"websocket"));
        assert!(is_token(b"chat.v2+json"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a,b"));
        assert!(!is_token(b"\"q\""));
    }

    #[test]
    fn lists() {
        assert!(list_contains_token(b"keep-alive, Upgrade", "upgrade"));
        assert!(list_contains_token(b" , ,WebSocket ,", "websocket"));
        assert!(!list_contains_token(b"upgrades", "upgrade"));
        assert!(!list_contains_token(b"", "upgrade"));
        assert_eq!(trim_ows(b" \t x \t"), b"x");
        assert_eq!(trim_ows(b"  "), b"");
    }

    #[test]
    fn field_values() {
        assert!(is_field_value(b"a b\tc\x80"));
        assert!(!is_field_value(b"a\r\nInjected: 1"));
        assert!(!is_field_value(b"a\nb"));
        assert!(!is_field_value(b"a\0"));
        assert!(!is_field_value(b"\x7f"));
    }
}
