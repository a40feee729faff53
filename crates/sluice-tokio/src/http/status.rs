//! HTTP status codes.

use std::fmt;

/// An HTTP status code (RFC 9110 §15): a three-digit number in `100..=999`.
///
/// A newtype with associated constants for the codes this layer and its users emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(u16);

macro_rules! status_codes {
    ($( $(#[$doc:meta])* ($name:ident, $num:expr, $reason:expr); )*) => {
        impl StatusCode {
            $( $(#[$doc])* pub const $name: StatusCode = StatusCode($num); )*

            /// The canonical reason phrase for a known code, `None` for others.
            #[must_use]
            pub fn canonical_reason(self) -> Option<&'static str> {
                match self.0 {
                    $( $num => Some($reason), )*
                    _ => None,
                }
            }
        }
    };
}

status_codes! {
    /// 100 Continue.
    (CONTINUE, 100, "Continue");
    /// 101 Switching Protocols.
    (SWITCHING_PROTOCOLS, 101, "Switching Protocols");
    /// 200 OK.
    (OK, 200, "OK");
    /// 201 Created.
    (CREATED, 201, "Created");
    /// 202 Accepted.
    (ACCEPTED, 202, "Accepted");
    /// 204 No Content.
    (NO_CONTENT, 204, "No Content");
    /// 301 Moved Permanently.
    (MOVED_PERMANENTLY, 301, "Moved Permanently");
    /// 302 Found.
    (FOUND, 302, "Found");
    /// 303 See Other.
    (SEE_OTHER, 303, "See Other");
    /// 304 Not Modified.
    (NOT_MODIFIED, 304, "Not Modified");
    /// 307 Temporary Redirect.
    (TEMPORARY_REDIRECT, 307, "Temporary Redirect");
    /// 308 Permanent Redirect.
    (PERMANENT_REDIRECT, 308, "Permanent Redirect");
    /// 400 Bad Request.
    (BAD_REQUEST, 400, "Bad Request");
    /// 401 Unauthorized.
    (UNAUTHORIZED, 401, "Unauthorized");
    /// 403 Forbidden.
    (FORBIDDEN, 403, "Forbidden");
    /// 404 Not Found.
    (NOT_FOUND, 404, "Not Found");
    /// 405 Method Not Allowed.
    (METHOD_NOT_ALLOWED, 405, "Method Not Allowed");
    /// 408 Request Timeout.
    (REQUEST_TIMEOUT, 408, "Request Timeout");
    /// 410 Gone.
    (GONE, 410, "Gone");
    /// 411 Length Required.
    (LENGTH_REQUIRED, 411, "Length Required");
    /// 413 Content Too Large.
    (CONTENT_TOO_LARGE, 413, "Content Too Large");
    /// 414 URI Too Long.
    (URI_TOO_LONG, 414, "URI Too Long");
    /// 417 Expectation Failed.
    (EXPECTATION_FAILED, 417, "Expectation Failed");
    /// 426 Upgrade Required.
    (UPGRADE_REQUIRED, 426, "Upgrade Required");
    /// 429 Too Many Requests.
    (TOO_MANY_REQUESTS, 429, "Too Many Requests");
    /// 431 Request Header Fields Too Large.
    (REQUEST_HEADER_FIELDS_TOO_LARGE, 431, "Request Header Fields Too Large");
    /// 500 Internal Server Error.
    (INTERNAL_SERVER_ERROR, 500, "Internal Server Error");
    /// 501 Not Implemented.
    (NOT_IMPLEMENTED, 501, "Not Implemented");
    /// 502 Bad Gateway.
    (BAD_GATEWAY, 502, "Bad Gateway");
    /// 503 Service Unavailable.
    (SERVICE_UNAVAILABLE, 503, "Service Unavailable");
    /// 505 HTTP Version Not Supported.
    (HTTP_VERSION_NOT_SUPPORTED, 505, "HTTP Version Not Supported");
}

impl StatusCode {
    /// A status code from its number; `None` outside `100..=999`.
    #[must_use]
    pub const fn from_u16(code: u16) -> Option<StatusCode> {
        if code >= 100 && code <= 999 {
            Some(StatusCode(code))
        } else {
            None
        }
    }

    /// The numeric code.
    #[must_use]
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// `1xx`: an interim response.
    #[must_use]
    pub const fn is_informational(self) -> bool {
        self.0 < 200
    }

    /// `2xx`.
    #[must_use]
    pub const fn is_success(self) -> bool {
        self.0 >= 200 && self.0 < 300
    }

    /// `3xx`.
    #[must_use]
    pub const fn is_redirection(self) -> bool {
        self.0 >= 300 && self.0 < 400
    }

    /// `4xx`.
    #[must_use]
    pub const fn is_client_error(self) -> bool {
        self.0 >= 400 && self.0 < 500
    }

    /// `5xx`.
    #[must_use]
    pub const fn is_server_error(self) -> bool {
        self.0 >= 500 && self.0 < 600
    }

    /// Whether a response with this status never has a body (1xx, 204, 304; RFC 9112 §6.3).
    #[must_use]
    pub const fn forbids_body(self) -> bool {
        self.0 < 200 || self.0 == 204 || self.0 == 304
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.canonical_reason() {
            Some(r) => write!(f, "{} {}", self.0, r),
            None => write!(f, "{}", self.0),
        }
    }
}

impl From<StatusCode> for u16 {
    fn from(s: StatusCode) -> u16 {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_and_reasons() {
        assert_eq!(StatusCode::from_u16(99), None);
        assert_eq!(StatusCode::from_u16(1000), None);
        assert_eq!(
            StatusCode::from_u16(431),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        assert_eq!(StatusCode::OK.to_string(), "200 OK");
        assert_eq!(StatusCode::from_u16(599).unwrap().to_string(), "599");
        assert!(StatusCode::NO_CONTENT.forbids_body());
        assert!(!StatusCode::OK.forbids_body());
    }
}
