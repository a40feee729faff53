//! Responses: status codes and the JSON body.
//!
//! `200` body: `{"cursor":"…","events":[{"id":"…","event":"…","data":"…"},…],"more":false,
//! "gap":null|{"missed":n},"reset":false}`, plus `"end":true` when the stream has ended (the
//! end itself is not in `events`; `cursor` is its id). Error bodies:
//! `{"error":"<code>","message":"…"}`.

use bytes::Bytes;

use crate::cursor::Cursor;
use crate::log::Batch;

/// The status of a response: the `http` crate's `StatusCode`, the one status type of the
/// workspace (200 events/timeout/gap/reset, 400 malformed, 410 gone, 503 waiter cap).
pub use http::StatusCode;

/// A response, ready for the wire. Every response has `Content-Type: application/json` and
/// `Cache-Control: no-store`; a 503 also has `Retry-After: <retry_after>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: StatusCode,
    retry_after: Option<u32>,
    /// Event objects in the body (the end is not one).
    events: u32,
    body: Bytes,
}

/// The `Content-Type` of every response.
pub const CONTENT_TYPE: &str = "application/json";
/// The `Cache-Control` of every response.
pub const CACHE_CONTROL: &str = "no-store";

impl Response {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// `Retry-After` in seconds, if any.
    pub fn retry_after(&self) -> Option<u32> {
        self.retry_after
    }

    /// How many events the body carries (0 for an error, a timeout or an answer that only
    /// says the topic ended): counted once here, not by every layer that reports deliveries.
    pub fn event_count(&self) -> usize {
        self.events as usize
    }

    /// The JSON body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// A 200 with the given batch, gap and reset flags.
    pub(crate) fn events(batch: &Batch<'_>, gap: Option<u64>, reset: bool) -> Self {
        let n = batch.len();
        let est: usize = batch.events().map(|e| e.size() + 48).sum();
        let mut out = Vec::with_capacity(est + 96 + n);
        out.extend_from_slice(b"{\"cursor\":\"");
        out.extend_from_slice(batch.next().encode().as_bytes());
        out.extend_from_slice(b"\",\"events\":[");
        let mut events = 0u32;
        for e in batch.events().filter(|e| !e.is_end()) {
            if events > 0 {
                out.push(b',');
            }
            out.extend_from_slice(e.json());
            events = events.saturating_add(1);
        }
        out.extend_from_slice(b"],\"more\":");
        out.extend_from_slice(if batch.more() { b"true" } else { b"false" });
        out.extend_from_slice(b",\"gap\":");
        match gap {
            Some(m) => {
                out.extend_from_slice(b"{\"missed\":");
                out.extend_from_slice(m.to_string().as_bytes());
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"reset\":");
        out.extend_from_slice(if reset { b"true" } else { b"false" });
        if batch.ended() {
            out.extend_from_slice(b",\"end\":true");
        }
        out.push(b'}');
        Self {
            status: StatusCode::OK,
            retry_after: None,
            events,
            body: Bytes::from(out),
        }
    }

    /// An empty 200 at `cursor` (timeout, or a request "from now").
    pub(crate) fn empty(cursor: Cursor) -> Self {
        let mut out = Vec::with_capacity(96);
        out.extend_from_slice(b"{\"cursor\":\"");
        out.extend_from_slice(cursor.encode().as_bytes());
        out.extend_from_slice(b"\",\"events\":[],\"more\":false,\"gap\":null,\"reset\":false}");
        Self {
            status: StatusCode::OK,
            retry_after: None,
            events: 0,
            body: Bytes::from(out),
        }
    }

    /// An error response with a machine-readable `code`.
    pub(crate) fn error(
        status: StatusCode,
        code: &str,
        message: &str,
        retry_after: Option<u32>,
    ) -> Self {
        let mut out = Vec::with_capacity(32 + code.len() + message.len());
        out.extend_from_slice(b"{\"error\":");
        write_json_str(&mut out, code);
        out.extend_from_slice(b",\"message\":");
        write_json_str(&mut out, message);
        out.push(b'}');
        Self {
            status,
            retry_after,
            events: 0,
            body: Bytes::from(out),
        }
    }
}

/// Append `s` as a JSON string literal (serde_json does the escaping).
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail, and a &str always serialises.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_error_bodies_are_json() {
        let r = Response::empty(Cursor::new(1, 2));
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"cursor":"1.1.2","events":[],"more":false,"gap":null,"reset":false})
        );
        let r = Response::error(StatusCode::SERVICE_UNAVAILABLE, "busy", "a \"b\"", Some(3));
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v, serde_json::json!({"error":"busy","message":"a \"b\""}));
        assert_eq!(
            (r.status(), r.retry_after()),
            (StatusCode::SERVICE_UNAVAILABLE, Some(3))
        );
    }
}
