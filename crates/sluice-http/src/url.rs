//! A small `http://` / `https://` (and `ws://` / `wss://`) URL type for the client.

use std::fmt;

/// A URL this layer can request: scheme, host, port, path and query (the fragment is dropped).
///
/// Parsing is strict (no user-info, ASCII host names); bytes not allowed in a request target
/// (spaces, controls, non-ASCII) are percent-encoded in the path and query.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Url {
    scheme: String,
    host: String,
    port: u16,
    explicit_port: bool,
    path_and_query: String,
}

/// A URL could not be parsed or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// No `scheme://` prefix.
    #[error("missing scheme in URL {0:?}")]
    MissingScheme(String),
    /// A scheme other than http, https, ws, wss.
    #[error("unsupported URL scheme {0:?}")]
    UnsupportedScheme(String),
    /// The host is missing or invalid.
    #[error("invalid host in URL {0:?}")]
    InvalidHost(String),
    /// The port is not a number in `1..=65535`.
    #[error("invalid port in URL {0:?}")]
    InvalidPort(String),
    /// User information (`user@host`) is not supported.
    #[error("user information in URLs is not supported: {0:?}")]
    UserInfo(String),
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

impl Url {
    /// Parses an absolute URL.
    ///
    /// # Errors
    /// [`UrlError`] for anything but `scheme://host[:port][/path][?query][#fragment]` with a
    /// supported scheme.
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        let input = input.trim();
        let (scheme, rest) = input
            .split_once("://")
            .ok_or_else(|| UrlError::MissingScheme(input.into()))?;
        let scheme = scheme.to_ascii_lowercase();
        let Some(default) = default_port(&scheme) else {
            return Err(UrlError::UnsupportedScheme(scheme));
        };
        let rest = rest.split_once('#').map_or(rest, |(a, _)| a);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        if authority.contains('@') {
            return Err(UrlError::UserInfo(input.into()));
        }
        let (host, port_str) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| UrlError::InvalidHost(input.into()))?;
            if h.is_empty()
                || !h
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return Err(UrlError::InvalidHost(input.into()));
            }
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| UrlError::InvalidHost(input.into()))?,
                ),
            };
            (format!("[{h}]"), port)
        } else {
            let (h, p) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            let ok = !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            if !ok {
                return Err(UrlError::InvalidHost(input.into()));
            }
            (h.to_ascii_lowercase(), p)
        };
        let (port, explicit_port) = match port_str {
            None | Some("") => (default, false),
            Some(p) => {
                let n = if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) {
                    p.parse::<u16>().ok().filter(|&n| n > 0)
                } else {
                    None
                };
                (n.ok_or_else(|| UrlError::InvalidPort(input.into()))?, true)
            }
        };
        let mut path_and_query = encode_target(tail);
        if !path_and_query.starts_with('/') {
            path_and_query.insert(0, '/');
        }
        Ok(Url {
            scheme,
            host,
            port,
            explicit_port,
            path_and_query,
        })
    }

    /// The scheme, lower-case: `"http"`, `"https"`, `"ws"` or `"wss"`.
    #[must_use]
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host (an IPv6 literal keeps its brackets).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host without IPv6 brackets, for name resolution.
    #[must_use]
    pub fn host_for_connect(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The port (the scheme's default when none was given).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target in origin form: path and query, e.g. `"/a?b=1"`.
    #[must_use]
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// The path without the query.
    #[must_use]
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(&self.path_and_query, |(p, _)| p)
    }

    /// The `Host` field value: host, plus `:port` when it is not the scheme's default.
    #[must_use]
    pub fn authority(&self) -> String {
        if self.explicit_port && Some(self.port) != default_port(&self.scheme) {
            format!("{}:{}", self.host, self.port)
        } else {
            self.host.clone()
        }
    }

    /// Whether the scheme is `https` or `wss` (needs TLS).
    #[must_use]
    pub fn is_secure(&self) -> bool {
        matches!(self.scheme.as_str(), "https" | "wss")
    }

    /// Whether `other` has the same scheme, host and port.
    #[must_use]
    pub fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// Resolves a reference (a `Location` value) against this URL (RFC 3986 §5.2): absolute,
    /// scheme-relative (`//host/p`), absolute-path, query-only or relative-path references.
    ///
    /// # Errors
    /// [`UrlError`] when the result is not a valid URL.
    pub fn join(&self, reference: &str) -> Result<Url, UrlError> {
        let r = reference.trim();
        let r = r.split_once('#').map_or(r, |(a, _)| a);
        let has_scheme = r.find(':').is_some_and(|i| {
            i > 0
                && r[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                && !r[..i].contains('/')
        });
        if has_scheme {
            return Url::parse(r);
        }
        if let Some(rest) = r.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.scheme));
        }
        let base = format!("{}://{}", self.scheme, self.authority());
        let target = if r.is_empty() {
            self.path_and_query.clone()
        } else if r.starts_with('/') {
            r.to_string()
        } else if r.starts_with('?') {
            format!("{}{r}", self.path())
        } else {
            let dir = &self.path()[..=self.path().rfind('/').unwrap_or(0)];
            format!("{dir}{r}")
        };
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q)),
            None => (target.clone(), None),
        };
        let path = remove_dot_segments(&path);
        let mut url = Url::parse(&base)?;
        url.path_and_query = match query {
            Some(q) => encode_target(&format!("{path}?{q}")),
            None => encode_target(&path),
        };
        Ok(url)
    }
}

fn encode_target(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let n = segs.len();
    for (i, seg) in segs.iter().enumerate() {
        match *seg {
            "." => {
                if i == n - 1 {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if i == n - 1 {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme,
            self.authority(),
            self.path_and_query
        )
    }
}

impl std::str::FromStr for Url {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Url, UrlError> {
        Url::parse(s)
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986 §2.3 (`A-Z a-z 0-9 - .
/// _ ~`): a query value or path segment that reads back as exactly `s`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let u = Url::parse("http://Example.COM:8080/a/b?x=1#frag").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.path_and_query()),
            ("example.com", 8080, "/a/b?x=1")
        );
        assert_eq!(u.authority(), "example.com:8080");
        assert_eq!(u.to_string(), "http://example.com:8080/a/b?x=1");
        let u = Url::parse("https://h").unwrap();
        assert_eq!(
            (u.port(), u.path_and_query(), u.authority().as_str()),
            (443, "/", "h")
        );
        let u = Url::parse("http://[::1]:9/x y").unwrap();
        assert_eq!(
            (u.host(), u.host_for_connect(), u.path_and_query()),
            ("[::1]", "::1", "/x%20y")
        );
        let u = Url::parse("http://h?q").unwrap();
        assert_eq!(u.path_and_query(), "/?q");
        for bad in [
            "h/x",
            "ftp://h/",
            "http://",
            "http://u@h/",
            "http://h:0/",
            "http://h:99999/",
            "http://h:x/",
            "http://[::1/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn join_references() {
        let b = Url::parse("http://h:1/a/b/c?q").unwrap();
        let j = |r: &str| b.join(r).unwrap().to_string();
        assert_eq!(j("https://o/p"), "https://o/p");
        assert_eq!(j("//o2/p"), "http://o2/p");
        assert_eq!(j("/x?y"), "http://h:1/x?y");
        assert_eq!(j("?z"), "http://h:1/a/b/c?z");
        assert_eq!(j("d"), "http://h:1/a/b/d");
        assert_eq!(j("../d"), "http://h:1/a/d");
        assert_eq!(j("./"), "http://h:1/a/b/");
        assert_eq!(j("../../../../d"), "http://h:1/d");
        assert_eq!(j(""), "http://h:1/a/b/c?q");
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(percent_encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(percent_encode("a b/é&="), "a%20b%2F%C3%A9%26%3D");
    }
}
