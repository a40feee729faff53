//! The HTTP/1.1 request-head parser on its own: the resumable end-of-head search under cuts,
//! then the parse (httparse plus our framing, Host and Expect rules).
//!
//! Invariants: no panic; the resumed search finds the same end as a one-shot search (asserted
//! inside `parse_head`); a parsed head has a method and target, at most the allowed fields,
//! at most one Host and a valid one (split by `RequestHead::host` as `parse_host` splits it),
//! a framing that agrees with its fields; and the head re-encoded from what was parsed parses
//! to the same head.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_http::fuzzing::parse_head;
use sluice_http::{Framing, Version, parse_host};

fuzz_target!(|data: &[u8]| {
    let [c1, c2, max, rest @ ..] = data else {
        return;
    };
    let max_headers = 1 + usize::from(*max % 64);
    let cuts = [usize::from(*c1), usize::from(*c2) * 5];
    let Some((n, parsed)) = parse_head(rest, &cuts, max_headers) else {
        return;
    };
    assert!(n <= rest.len());
    let Ok(head) = parsed else {
        return;
    };
    assert!(!head.method().is_empty() && !head.target().is_empty());
    assert!(head.headers().len() <= max_headers);
    let hosts: Vec<_> = head.headers().get_all(b"host").collect();
    assert!(hosts.len() <= 1);
    if let Some(h) = hosts.first() {
        let h = std::str::from_utf8(h).expect("a valid Host is ASCII");
        assert!(parse_host(h).is_some(), "{h:?}");
        // The split kept from the head's check is the field's own.
        assert_eq!(head.host(), parse_host(h), "{h:?}");
    } else {
        assert_eq!(head.version(), Version::Http10);
        assert_eq!(head.host(), None);
    }
    let te = head.headers().contains(b"transfer-encoding");
    match head.framing() {
        Framing::Chunked => assert!(te),
        Framing::Length(_) => assert!(!te && head.headers().contains(b"content-length")),
        Framing::Empty => assert!(!te),
        Framing::CloseDelimited => panic!("a request is never close-delimited"),
    }
    // Re-encode and parse again: the same head.
    let mut again = format!(
        "{} {} {}\r\n",
        head.method(),
        head.target(),
        head.version().as_str()
    )
    .into_bytes();
    for (name, value) in head.headers().iter() {
        again.extend_from_slice(name);
        again.extend_from_slice(b": ");
        again.extend_from_slice(value);
        again.extend_from_slice(b"\r\n");
    }
    again.extend_from_slice(b"\r\n");
    let (_, reparsed) = parse_head(&again, &[], max_headers).expect("a complete head");
    let h2 = reparsed.expect("a head we parsed re-encodes to a valid head");
    assert_eq!(h2.method(), head.method());
    assert_eq!(h2.target(), head.target());
    assert_eq!(h2.framing(), head.framing());
    assert_eq!(h2.headers().len(), head.headers().len());
});
