//! `ws://` and `wss://` URLs (RFC 6455 §3), parsed into what a client needs to connect.

use std::net::Ipv6Addr;

/// A parsed WebSocket URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WsUrl {
    /// `true` for `wss` (TLS), `false` for `ws`.
    pub tls: bool,
    /// The host to connect to: a name, an IPv4 literal, or an IPv6 literal without brackets.
    pub host: String,
    /// The port: as given, else 80 for `ws` and 443 for `wss`.
    pub port: u16,
    /// The resource name: path and query, at least `/`.
    pub path: String,
}

impl WsUrl {
    /// The `Host` header field value: the host (IPv6 in brackets), with `:port` only when it
    /// is not the scheme's default (§4.1 item 4).
    #[must_use]
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Why a string is not a usable WebSocket URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is not `ws` or `wss` (case-insensitive), or there is no `://`.
    #[error("unsupported scheme, expected ws:// or wss://")]
    UnsupportedScheme,
    /// The host is empty or contains bytes not allowed in a host name.
    #[error("missing or invalid host")]
    InvalidHost,
    /// The port is empty, not a number, or outside 1..=65535.
    #[error("invalid port")]
    InvalidPort,
    /// The URL has a fragment, which §3 forbids for WebSocket URIs.
    #[error("WebSocket URLs cannot have a fragment")]
    Fragment,
    /// The URL carries `user:password@`, which this crate does not send.
    #[error("user information in WebSocket URLs is not supported")]
    UserInfo,
    /// The path or query contains a byte outside visible ASCII (percent-encode it).
    #[error("invalid character in path or query")]
    InvalidCharacter,
}

/// Parses `ws://host[:port][/path][?query]` or the `wss://` form.
///
/// ```
/// let u = sluice_ws::handshake::parse_url("wss://[::1]:8443/feed?x=1").unwrap();
/// assert_eq!((u.tls, u.host.as_str(), u.port, u.path.as_str()), (true, "::1", 8443, "/feed?x=1"));
/// assert_eq!(u.host_header(), "[::1]:8443");
/// ```
pub fn parse_url(url: &str) -> Result<WsUrl, UrlError> {
    let (scheme, rest) = url.split_once("://").ok_or(UrlError::UnsupportedScheme)?;
    let tls = if scheme.eq_ignore_ascii_case("ws") {
        false
    } else if scheme.eq_ignore_ascii_case("wss") {
        true
    } else {
        return Err(UrlError::UnsupportedScheme);
    };
    if rest.contains('#') {
        return Err(UrlError::Fragment);
    }
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }

    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (literal, after) = v6.split_once(']').ok_or(UrlError::InvalidHost)?;
        literal
            .parse::<Ipv6Addr>()
            .map_err(|_| UrlError::InvalidHost)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::InvalidHost)?),
        };
        (literal, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let host_ok = !host.is_empty()
        && (host.contains(':')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')));
    if !host_ok {
        return Err(UrlError::InvalidHost);
    }
    let port = match port {
        None => {
            if tls {
                443
            } else {
                80
            }
        }
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(UrlError::InvalidPort);
            }
            match p.parse::<u16>() {
                Ok(n) if n != 0 => n,
                _ => return Err(UrlError::InvalidPort),
            }
        }
    };

    if !tail.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(UrlError::InvalidCharacter);
    }
    let path = match tail.as_bytes().first() {
        None => "/".to_owned(),
        Some(b'?') => format!("/{tail}"),
        Some(_) => tail.to_owned(),
    };
    Ok(WsUrl {
        tls,
        host: host.to_owned(),
        port,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (bool, String, u16, String) {
        let u = parse_url(s).unwrap();
        (u.tls, u.host, u.port, u.path)
    }

    #[test]
    fn rfc6455_3_uris() {
        assert_eq!(
            ok("ws://example.com"),
            (false, "example.com".into(), 80, "/".into())
        );
        assert_eq!(
            ok("WSS://Example.com/"),
            (true, "Example.com".into(), 443, "/".into())
        );
        assert_eq!(
            ok("ws://h:9001/a/b?c=d&e"),
            (false, "h".into(), 9001, "/a/b?c=d&e".into())
        );
        assert_eq!(ok("ws://h?x"), (false, "h".into(), 80, "/?x".into()));
        assert_eq!(
            ok("ws://127.0.0.1:1/"),
            (false, "127.0.0.1".into(), 1, "/".into())
        );
        assert_eq!(ok("ws://[::1]/"), (false, "::1".into(), 80, "/".into()));
    }

    #[test]
    fn host_header_omits_default_port() {
        assert_eq!(parse_url("ws://h:80/").unwrap().host_header(), "h");
        assert_eq!(parse_url("wss://h:80/").unwrap().host_header(), "h:80");
        assert_eq!(parse_url("wss://h/").unwrap().host_header(), "h");
        assert_eq!(
            parse_url("ws://[::1]:81").unwrap().host_header(),
            "[::1]:81"
        );
    }

    #[test]
    fn rejects_invalid() {
        use UrlError::*;
        for (s, e) in [
            ("http://h/", UnsupportedScheme),
            ("h/path", UnsupportedScheme),
            ("ws:/h", UnsupportedScheme),
            ("ws://", InvalidHost),
            ("ws://:80/", InvalidHost),
            ("ws://h h/", InvalidHost),
            ("ws://[::1/", InvalidHost),
            ("ws://[zz]/", InvalidHost),
            ("ws://[::1]x/", InvalidHost),
            ("ws://h:/", InvalidPort),
            ("ws://h:0/", InvalidPort),
            ("ws://h:65536/", InvalidPort),
            ("ws://h:8a/", InvalidPort),
            ("ws://h:1:2/", InvalidPort),
            ("ws://h/#frag", Fragment),
            ("ws://u:p@h/", UserInfo),
            ("ws://h/a b", InvalidCharacter),
            ("ws://h/é", InvalidCharacter),
        ] {
            assert_eq!(parse_url(s), Err(e), "{s:?}");
        }
    }
}
