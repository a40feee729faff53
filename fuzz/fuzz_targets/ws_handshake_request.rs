//! Server handshake parse fed arbitrary bytes.
//!
//! Invariants: no panic; `Ok(Some((_, n)))` has `n <= len` and parsing `input[..n]` alone (and
//! resuming across an arbitrary split) gives the same request; the request validates again
//! through `from_parts` and its 101 answer carries the right accept key; `Ok(None)` only while
//! within the head limit; every error answers a 4xx/5xx with a well-formed response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_ws::handshake::{
    Accept, HandshakeLimits, RequestParser, ServerRequest, accept_key, parse_request,
};

fuzz_target!(|data: &[u8]| {
    let limits = HandshakeLimits::default()
        .with_max_head_size(2048)
        .with_max_headers(16);
    let result = parse_request(data, &limits);

    // Resuming across a split must agree with the one-shot parse.
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let mut parser = RequestParser::new(limits);
    let resumed = match parser.parse(&data[..cut]) {
        Ok(None) => parser.parse(data),
        other => other,
    };
    assert_eq!(resumed, result, "split at {cut}");

    match result {
        Ok(Some((req, n))) => {
            assert!(n <= data.len() && n <= limits.max_head_size);
            assert_eq!(
                parse_request(&data[..n], &limits),
                Ok(Some((req.clone(), n)))
            );
            let again = ServerRequest::from_parts("GET", req.path(), 1, req.headers().iter());
            assert_eq!(again.as_ref(), Ok(&req));
            let answer = req
                .accept(&Accept::new())
                .expect("plain accept cannot fail");
            let expected = accept_key(req.key().as_bytes());
            let needle = format!("\r\nSec-WebSocket-Accept: {expected}\r\n");
            assert!(answer.windows(needle.len()).any(|w| w == needle.as_bytes()));
            assert!(answer.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
            assert!(answer.ends_with(b"\r\n\r\n"));
        }
        Ok(None) => assert!(data.len() <= limits.max_head_size),
        Err(e) => {
            let code = e.status().as_u16();
            assert!((400..600).contains(&code), "{e:?} → {code}");
            let resp = e.response();
            let text = std::str::from_utf8(&resp).expect("answers are ASCII");
            assert!(text.starts_with(&format!("HTTP/1.1 {code} ")));
            let (head, body) = text.split_once("\r\n\r\n").expect("complete head");
            assert!(head.contains("\r\nConnection: close"));
            assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
        }
    }
});
