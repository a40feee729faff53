//! The HTTP status code newtype used by handshake answers and rejections.

use std::fmt;

/// An HTTP status code, as answered by a server or received by a client.
///
/// Any value can be carried (a client may receive any three-digit code); the constants name
/// the codes this crate itself answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(u16);

impl StatusCode {
    /// 101 Switching Protocols: the handshake succeeded (RFC 6455 §4.2.2).
    pub const SWITCHING_PROTOCOLS: Self = Self(101);
    /// 400 Bad Request: the request is not a valid WebSocket opening handshake (§4.2.1).
    pub const BAD_REQUEST: Self = Self(400);
    /// 403 Forbidden: for callers rejecting an `Origin` (RFC 6455 §4.2.2 item 4, §10.2).
    pub const FORBIDDEN: Self = Self(403);
    /// 404 Not Found: for callers rejecting a resource name.
    pub const NOT_FOUND: Self = Self(404);
    /// 405 Method Not Allowed: the method is not `GET`.
    pub const METHOD_NOT_ALLOWED: Self = Self(405);
    /// 426 Upgrade Required: `Sec-WebSocket-Version` is missing or not 13 (§4.2.2, §4.4).
    pub const UPGRADE_REQUIRED: Self = Self(426);
    /// 431 Request Header Fields Too Large: the head exceeds a [`HandshakeLimits`] bound.
    ///
    /// [`HandshakeLimits`]: super::HandshakeLimits
    pub const REQUEST_HEADER_FIELDS_TOO_LARGE: Self = Self(431);
    /// 505 HTTP Version Not Supported: the request is not HTTP/1.x.
    pub const HTTP_VERSION_NOT_SUPPORTED: Self = Self(505);

    /// Wraps a numeric status code (no range check: a peer may send anything in 100..=999).
    #[must_use]
    pub const fn from_u16(code: u16) -> Self {
        Self(code)
    }

    /// The numeric code.
    #[must_use]
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// True for 4xx codes.
    #[must_use]
    pub const fn is_client_error(self) -> bool {
        self.0 >= 400 && self.0 < 500
    }

    /// True for 5xx codes.
    #[must_use]
    pub const fn is_server_error(self) -> bool {
        self.0 >= 500 && self.0 < 600
    }

    /// The canonical reason phrase (RFC 9110 §15) for the codes this crate answers with and a
    /// few common others; `"Unknown"` otherwise.
    #[must_use]
    pub const fn reason_phrase(self) -> &'static str {
        match self.0 {
            101 => "Switching Protocols",
            200 => "OK",
            301 => "Moved Permanently",
            302 => "Found",
            307 => "Temporary Redirect",
            308 => "Permanent Redirect",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            413 => "Content Too Large",
            426 => "Upgrade Required",
            429 => "Too Many Requests",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            505 => "HTTP Version Not Supported",
            _ => "Unknown",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason_phrase())
    }
}

impl From<StatusCode> for u16 {
    fn from(code: StatusCode) -> u16 {
        code.0
    }
}
