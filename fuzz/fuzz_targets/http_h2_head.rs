//! The HTTP/2 request-head mapping (`:method`, `:path`, `:authority`, `:protocol` and fields
//! as the `h2` crate hands them over) on its own, with inputs the `http` crate accepts.
//!
//! Invariants: no panic; a mapped head's Host (from `:authority` or a `host` field) is a
//! valid `uri-host[:port]`, split by `RequestHead::host` as `parse_host` splits it (`None`
//! without one); its target is the `:path` (the authority for a CONNECT without
//! one); it never has more fields than allowed; `end_stream` means no body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_http::fuzzing::h2_head;
use sluice_http::{Framing, parse_host};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // "METHOD\nURI\nname: value\n…"
    let mut lines = text.split('\n');
    let (Some(method), Some(uri)) = (lines.next(), lines.next()) else {
        return;
    };
    let mut b = http::Request::builder().method(method).uri(uri);
    let mut count = 0;
    for l in lines.by_ref().take(40) {
        if let Some((n, v)) = l.split_once(':') {
            b = b.header(n.trim(), v.trim());
            count += 1;
        }
    }
    let Ok(req) = b.body(()) else {
        return;
    };
    let (mut parts, ()) = req.into_parts();
    if method == "CONNECT" && text.contains("websocket") {
        parts
            .extensions
            .insert(h2::ext::Protocol::from_static("websocket"));
    }
    let end_stream = count % 2 == 0;
    let max = 1 + count % 8;
    let Ok(head) = h2_head(&parts, end_stream, max) else {
        return;
    };
    assert!(
        head.headers().len() <= max + 1,
        "at most one field (host) added"
    );
    if let Some(h) = head.headers().get(b"host") {
        let h = std::str::from_utf8(h).expect("ASCII");
        assert!(parse_host(h).is_some(), "{h:?}");
        assert_eq!(head.host(), parse_host(h), "{h:?}");
    } else {
        assert_eq!(head.host(), None);
    }
    if end_stream {
        assert_eq!(head.framing(), Framing::Empty);
    }
    if let Some(pq) = parts.uri.path_and_query() {
        assert_eq!(head.target(), pq.as_str());
    }
});
