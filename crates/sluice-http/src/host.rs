//! The `Host` field (RFC 9112 §3.2, RFC 3986 §3.2.2–3.2.3): validation and splitting into host
//! name and port, shared by the HTTP/1.1 and HTTP/2 request heads and by servers that check
//! which names they answer to.

/// A `Host` value split into its parts: `host [":" port]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPort<'a> {
    /// The host: a registered name (as sent, not lower-cased), an IPv4 address, or an IPv6
    /// literal *with* its brackets (`[::1]`).
    pub host: &'a str,
    /// The port, if one was given.
    pub port: Option<u16>,
}

impl HostPort<'_> {
    /// Whether the host is a loopback name: `localhost` (any case, RFC 6761 §6.3), an address
    /// in 127.0.0.0/8, or `[::1]`.
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        if self.host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        if let Some(v6) = self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
        {
            return v6
                .parse::<std::net::Ipv6Addr>()
                .is_ok_and(|a| a.is_loopback());
        }
        // A loopback IPv4 address is 127.x.y.z, and the parser takes no leading zeros: only
        // a host starting "127." can be one (the others need no parse to be told no).
        self.host.starts_with("127.")
            && self
                .host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|a| a.is_loopback())
    }
}

/// Parses a `Host` field value (or an HTTP/2 `:authority`): `Some` when it is a valid
/// `uri-host [":" port]` — a non-empty registered name of unreserved, percent-encoded and
/// sub-delimiter characters, an IPv4 address, or a bracketed IPv6 literal — with a port of at
/// most 65535 when one is given. No user info, no whitespace, no empty host.
#[must_use]
pub fn parse_host(value: &str) -> Option<HostPort<'_>> {
    let (host, port) = if value.starts_with('[') {
        let end = value.find(']')?;
        let (h, rest) = value.split_at(end + 1);
        let inner = &h[1..h.len() - 1];
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return None;
        }
        match rest {
            "" => (h, None),
            r => (h, Some(r.strip_prefix(':')?)),
        }
    } else {
        match value.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (value, None),
        }
    };
    if host.is_empty() || (!host.starts_with('[') && !is_reg_name(host)) {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some(HostPort { host, port })
}

/// RFC 3986 `reg-name` (which also covers IPv4 addresses): unreserved, `%HH`, sub-delims.
fn is_reg_name(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len()
                    || !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
                {
                    return false;
                }
                i += 3;
                continue;
            }
            c if c.is_ascii_alphanumeric() => {}
            b'-' | b'.' | b'_' | b'~' => {}
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_hosts() {
        for (v, host, port) in [
            ("example.com", "example.com", None),
            ("example.com:8080", "example.com", Some(8080)),
            ("127.0.0.1:1", "127.0.0.1", Some(1)),
            ("[::1]", "[::1]", None),
            ("[::1]:443", "[::1]", Some(443)),
            ("a%2Db", "a%2Db", None),
            ("h:", "h", None), // RFC 3986: port = *DIGIT
            ("h:65535", "h", Some(65535)),
        ] {
            assert_eq!(parse_host(v), Some(HostPort { host, port }), "{v:?}");
        }
    }

    /// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
    /// HTTP/1.1 request message that lacks a Host header field and to any request message that
    /// contains more than one Host header field line or a Host header field with an invalid
    /// field value." These are the invalid values.
    #[test]
    fn invalid_hosts() {
        for v in [
            "",
            "a b",
            "[::1",
            "[::1]x",
            "[zz]",
            "h:99999",
            "h:65536",
            "h:-1",
            "h:8o",
            ":80",
            "user@h",
            "h/p",
            "h:1:2",
            "%zz",
            "a%2",
            "\u{e9}.example",
            "h\t",
        ] {
            assert_eq!(parse_host(v), None, "{v:?}");
        }
    }

    #[test]
    fn loopback() {
        for v in [
            "localhost",
            "LocalHost:80",
            "127.0.0.1",
            "127.9.9.9:1",
            "[::1]:8",
        ] {
            assert!(parse_host(v).unwrap().is_loopback(), "{v}");
        }
        for v in [
            "localhost.attacker.example",
            "128.0.0.1",
            "[::2]",
            "rebind.example",
            // A name starting "127." is not an address; nor is a quad with a leading zero.
            "127.attacker.example",
            "127.0.0.1.attacker.example",
            "127.0.0.01",
            "0127.0.0.1",
        ] {
            assert!(!parse_host(v).unwrap().is_loopback(), "{v}");
        }
    }
}
