//! Cursor codec. Invariants: parsing is canonical (`parse(s)` ok ⇒ `encode(parse(s)) == s`),
//! encode→parse round-trips, and every encoding is URL-safe and at most MAX_CURSOR_LEN bytes.
#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sluice_longpoll::cursor::{Cursor, MAX_CURSOR_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(c) = Cursor::parse(s) {
            assert_eq!(c.encode().as_str(), s, "non-canonical cursor accepted");
        }
    }
    // Structured: a cursor from `sluice_longpoll::arbitrary` (epochs and sequence numbers at
    // their edges too).
    if let Ok(c) = Cursor::arbitrary(&mut Unstructured::new(data)) {
        let e = c.encode();
        assert!(e.len() <= MAX_CURSOR_LEN);
        assert!(
            e.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'.')
        );
        assert_eq!(Cursor::parse(&e), Ok(c));
    }
});
