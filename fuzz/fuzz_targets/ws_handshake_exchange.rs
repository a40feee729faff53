//! Structured: a valid opening handshake and its valid 101 (`sluice_ws::arbitrary::
//! HandshakeExchange`), and head-shaped garbage (`RawHead`). Invariants: the request parses in
//! every split to the same request, consuming exactly its bytes, with the client's key; the
//! answer is accepted by the client side; garbage gets the same answer however it is cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_ws::arbitrary::{HandshakeExchange, RawHead};
use sluice_ws::handshake::{HandshakeLimits, parse_response};
use sluice_ws::split::{Splits, request_under_splits};

fuzz_target!(|input: (HandshakeExchange, RawHead, u64)| {
    let (h, raw, seed) = input;
    let limits = HandshakeLimits::default();
    let (req, n) = request_under_splits(&h.request_bytes, limits, Splits::Random { sets: 4, seed })
        .expect("a valid handshake refused")
        .expect("a whole head reported incomplete");
    assert_eq!(n, h.request_bytes.len());
    assert_eq!(req.key(), h.request.key());
    assert!(matches!(
        parse_response(&h.response_bytes, &h.request, &limits),
        Ok(Some(_))
    ));
    let _ = request_under_splits(&raw.0, limits, Splits::Random { sets: 4, seed });
});
