//! Client handshake response parse fed arbitrary bytes, against a fixed request offering two
//! subprotocols and one extension.
//!
//! Invariants: no panic; `Ok(Some((_, n)))` has `n <= len`, parsing `input[..n]` alone (and
//! resuming across an arbitrary split) gives the same answer, the answer's accept key is the
//! expected one and its subprotocol/extensions are among those offered; `UnexpectedStatus`
//! never carries 101; `Ok(None)` only while within the head limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_ws::handshake::{
    ClientHandshake, Extension, HandshakeLimits, ResponseError, ResponseParser, parse_response,
};

fuzz_target!(|data: &[u8]| {
    // The RFC 6455 §1.3 nonce: the expected accept is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
    let req = ClientHandshake::new("server.example.com", "/chat", *b"the sample nonce")
        .and_then(|r| r.protocol("chat"))
        .and_then(|r| r.protocol("superchat"))
        .map(|r| r.extension(Extension::new("permessage-deflate").unwrap()))
        .unwrap();
    let limits = HandshakeLimits::default()
        .with_max_head_size(2048)
        .with_max_headers(16);
    let result = parse_response(data, &req, &limits);

    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let mut parser = ResponseParser::new(limits);
    let resumed = match parser.parse(&data[..cut], &req) {
        Ok(None) => parser.parse(data, &req),
        other => other,
    };
    assert_eq!(resumed, result, "split at {cut}");

    match result {
        Ok(Some((res, n))) => {
            assert!(n <= data.len() && n <= limits.max_head_size);
            assert_eq!(
                parse_response(&data[..n], &req, &limits),
                Ok(Some((res.clone(), n)))
            );
            let accept = res
                .headers()
                .get("sec-websocket-accept")
                .expect("accept present");
            assert_eq!(accept.trim_ascii(), req.expected_accept().as_bytes());
            if let Some(p) = res.protocol() {
                assert!(req.protocols().iter().any(|o| o == p));
            }
            for e in res.extensions() {
                assert!(e.name().eq_ignore_ascii_case("permessage-deflate"));
            }
        }
        Ok(None) => assert!(data.len() <= limits.max_head_size),
        Err(ResponseError::UnexpectedStatus { status, .. }) => assert_ne!(status.as_u16(), 101),
        Err(_) => {}
    }
});
