//! The RFC 6455 §4 opening handshake, both roles, sans-IO.
//!
//! **Server:** feed the bytes read so far to [`parse_request`] (or a [`RequestParser`]) until
//! it returns the validated [`ServerRequest`] and the head length; or validate a request your
//! own HTTP layer parsed with [`ServerRequest::from_parts`]. Inspect [`ServerRequest::origin`],
//! [`ServerRequest::protocols`] and [`ServerRequest::extensions`], then write
//! [`ServerRequest::accept`]'s 101 answer, or [`reject_response`]. Any
//! [`HandshakeError`] carries the status and the complete answer to write before closing.
//!
//! **Client:** build a [`ClientHandshake`] for a host and path with a caller-supplied random nonce,
//! write [`ClientHandshake::encode`], then feed the answer to [`parse_response`] until it returns
//! the validated [`HandshakeResponse`].
//!
//! ```
//! use sluice_ws::handshake::*;
//!
//! let req = ClientHandshake::new("example.com", "/chat", *b"the sample nonce").unwrap()
//!     .protocol("chat").unwrap();
//! let wire = req.encode();
//!
//! let limits = HandshakeLimits::default();
//! let (offer, n) = parse_request(&wire, &limits).unwrap().unwrap();
//! assert_eq!((offer.path(), n), ("/chat", wire.len()));
//! let answer = offer.accept(&Accept::new().protocol("chat")).unwrap();
//! assert!(answer.windows(28).any(|w| w == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
//!
//! let (res, _) = parse_response(&answer, &req, &limits).unwrap().unwrap();
//! assert_eq!(res.protocol(), Some("chat"));
//! ```
//!
//! No I/O, no clock, no randomness: the head-size and header-count bounds of
//! [`HandshakeLimits`] are the only protection against a slow or oversized head; timeouts are
//! the driver's job.

mod client;
mod error;
mod extension;
mod head;
mod headers;
mod limits;
mod server;
mod token;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

pub use client::{ClientHandshake, HandshakeResponse, ResponseParser, parse_response};
pub use error::{BuildError, HandshakeError, ResponseError, reject_response};
pub use extension::{Extension, ExtensionParam, ExtensionSyntaxError};
pub use headers::Headers;
/// The `http` crate's status code: the one `StatusCode` of the whole workspace (and of h2,
/// hyper and axum), so a handshake's status needs no conversion at the edges.
pub use http::StatusCode;
pub use limits::HandshakeLimits;
pub use server::{Accept, RequestParser, ServerRequest, parse_request};

/// The GUID appended to the key before hashing (RFC 6455 §1.3, §4.2.2).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)) (§4.2.2 item
/// 5.4). `key` is the header value as sent (the base64 text, not the decoded nonce).
///
/// ```
/// assert_eq!(
///     sluice_ws::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
/// );
/// ```
#[must_use]
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WEBSOCKET_GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// Writes caller-supplied header fields, validating each: token name, not `reserved`
/// (lower-case names), value free of control bytes (no header injection).
fn write_extra_headers(
    out: &mut Vec<u8>,
    headers: &[(String, Vec<u8>)],
    reserved: &[&str],
) -> Result<(), BuildError> {
    check_extra_headers(headers, reserved)?;
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    Ok(())
}

/// Checks caller-supplied fields: each name a token and not one the handshake writes itself
/// (`reserved`), each value a valid field value.
fn check_extra_headers(headers: &[(String, Vec<u8>)], reserved: &[&str]) -> Result<(), BuildError> {
    for (name, value) in headers {
        if !token::is_token(name.as_bytes()) {
            return Err(BuildError::InvalidHeaderName { name: name.clone() });
        }
        if reserved.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(BuildError::ReservedHeader { name: name.clone() });
        }
        if !token::is_field_value(value) {
            return Err(BuildError::InvalidHeaderValue { name: name.clone() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 §1.3 and §4.2.2: the worked example.
    #[test]
    fn rfc6455_1_3_accept_key_vector() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
