//! The HTTP/1.1 body decoder on its own (`Content-Length`, chunked with extensions and
//! trailers, close-delimited), fed in pieces cut where the input says.
//!
//! Invariants: no panic; the same outcome (data, completeness, leftover, extension bytes, or
//! the same error) whether the bytes arrive in one piece or cut anywhere; never more data than
//! input, and a `Content-Length` body is exactly that long; on a complete body, data +
//! framing + leftover account for the whole input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_http::Framing;
use sluice_http::fuzzing::decode_body;

fuzz_target!(|data: &[u8]| {
    let [mode, c1, c2, c3, rest @ ..] = data else {
        return;
    };
    let framing = match mode % 4 {
        0 => Framing::Chunked,
        1 => Framing::Length(u64::from(*c1) * 7),
        2 => Framing::CloseDelimited,
        _ => Framing::Chunked,
    };
    let eof = mode & 0x80 != 0;
    let max_trailer = 64 + usize::from(*c2) * 4;
    let cuts = [
        usize::from(*c1),
        usize::from(*c2) * 3,
        usize::from(*c3) * 11,
        1,
    ];
    let whole = decode_body(framing, rest, &[], eof, max_trailer);
    let split = decode_body(framing, rest, &cuts, eof, max_trailer);
    let bytewise: Vec<usize> = (1..rest.len().min(512)).collect();
    let fine = decode_body(framing, rest, &bytewise, eof, max_trailer);
    match (&whole, &split, &fine) {
        (Ok(a), Ok(b), Ok(c)) => {
            assert_eq!(a, b, "cut at {cuts:?}");
            if rest.len() < 512 {
                assert_eq!(a, c, "byte by byte");
            }
            assert!(a.data.len() <= rest.len());
            if let Framing::Length(n) = framing
                && a.complete
            {
                assert_eq!(a.data.len() as u64, n);
            }
            if a.complete {
                assert!(a.data.len() + a.rest.len() + a.extension_bytes as usize <= rest.len());
            }
        }
        (Err(a), Err(b), _) => assert_eq!(a, b, "cut at {cuts:?}"),
        _ => panic!("outcome depends on the cuts: {whole:?} vs {split:?} vs byte by byte {fine:?}"),
    }
});
