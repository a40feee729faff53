//! RFC 8441 handshakes from arbitrary HTTP/2 request and response fields (what an h2 layer
//! hands over after HPACK): `ServerRequest::from_h2_parts` and
//! `HandshakeResponse::from_h2_parts`.
//!
//! Input: lines; the first three are `:method`, `:protocol` (empty: none) and `:path`, then
//! `name: value` fields; a line `--` starts the response fields, whose status is the last
//! byte of the input mapped onto 100..=599 (`d` is 200).
//!
//! Invariants: no panic; an accepted request is an extended CONNECT for `websocket` with a
//! `/` path and a non-empty host, carries no key, and its answer builds with a plain
//! `Accept`; a refusal maps to a 4xx/5xx; an accepted response had status 200 and selects
//! only what the fixed client offered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_ws::handshake::{
    Accept, ClientHandshake, Extension, HandshakeResponse, ServerRequest, StatusCode,
};

fn fields(lines: &[&[u8]]) -> Vec<(String, Vec<u8>)> {
    lines
        .iter()
        .filter_map(|l| {
            let i = l.iter().position(|&b| b == b':')?;
            let name = std::str::from_utf8(&l[..i]).ok()?.trim().to_owned();
            let value = l[i + 1..]
                .strip_prefix(b" ")
                .unwrap_or(&l[i + 1..])
                .to_vec();
            Some((name, value))
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let text: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if text.len() < 3 {
        return;
    }
    let (Ok(method), Ok(protocol), Ok(path)) = (
        std::str::from_utf8(text[0]),
        std::str::from_utf8(text[1]),
        std::str::from_utf8(text[2]),
    ) else {
        return;
    };
    let split = text.iter().position(|l| *l == b"--").unwrap_or(text.len());
    let req_fields = fields(&text[3..split.max(3)]);
    let resp_fields = fields(text.get(split + 1..).unwrap_or(&[]));

    let protocol = (!protocol.is_empty()).then_some(protocol);
    let parsed = ServerRequest::from_h2_parts(
        method,
        protocol,
        path,
        req_fields.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
    );
    match parsed {
        Ok(r) => {
            assert_eq!(method, "CONNECT");
            assert!(protocol.is_some_and(|p| p.eq_ignore_ascii_case("websocket")));
            assert!(r.path().starts_with('/'));
            assert!(!r.host().is_empty());
            assert!(r.key().is_empty());
            r.accept(&Accept::new()).expect("plain accept cannot fail");
        }
        Err(e) => assert!((400..600).contains(&e.status().as_u16()), "{e:?}"),
    }

    let client = ClientHandshake::new("example.com", "/chat", [7; 16])
        .unwrap()
        .protocol("chat")
        .unwrap()
        .extension(Extension::new("permessage-deflate").unwrap());
    let status = StatusCode::from_u16(100 + u16::from(data[data.len() - 1]) % 500).unwrap();
    match HandshakeResponse::from_h2_parts(
        status,
        resp_fields.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
        &client,
    ) {
        Ok(resp) => {
            assert_eq!(status, StatusCode::OK);
            assert!(resp.protocol().is_none_or(|p| p == "chat"));
            for e in resp.extensions() {
                assert!(e.name().eq_ignore_ascii_case("permessage-deflate"));
            }
        }
        Err(_) => {}
    }
    // The client's own h2 fields are well formed: lower-case names, version 13 first.
    let f = client.h2_fields();
    assert_eq!(f[0], ("sec-websocket-version".to_owned(), b"13".to_vec()));
    assert!(
        f.iter()
            .all(|(n, _)| n.bytes().all(|b| !b.is_ascii_uppercase()))
    );
});
