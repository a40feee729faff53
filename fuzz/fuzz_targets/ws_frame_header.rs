//! sluice-ws frame header parser. Invariants: a decoded header re-encodes to exactly the bytes it
//! was decoded from (lengths are minimal, so the encoding is unique) and `decode(encode(h)) == h`;
//! every shorter prefix asks for more bytes; `Ok(None)` only when fewer than 14 bytes are given.
//! Structured too: a header from `sluice_ws::arbitrary` (every field the format carries, lengths
//! at the encoding edges) encodes to `encoded_len` bytes that decode back to it.
#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sluice_ws::frame::{FrameHeader, MAX_HEADER_LEN, decode_header};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = FrameHeader::arbitrary(&mut Unstructured::new(data)) {
        let mut out = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut out);
        assert_eq!(n, h.encoded_len());
        assert_eq!(decode_header(&out[..n]), Ok(Some((h, n))));
    }
    match decode_header(data) {
        Ok(Some((h, n))) => {
            assert!((2..=MAX_HEADER_LEN).contains(&n));
            assert!(h.payload_len < 1 << 63);
            let mut out = [0u8; MAX_HEADER_LEN];
            let m = h.encode(&mut out);
            assert_eq!(m, n, "consumed length differs from encoded length");
            assert_eq!(m, h.encoded_len());
            assert_eq!(&out[..m], &data[..n], "re-encoding differs");
            assert_eq!(decode_header(&out[..m]), Ok(Some((h, n))));
            for cut in 0..n {
                assert_eq!(decode_header(&data[..cut]), Ok(None));
            }
        }
        Ok(None) => assert!(data.len() < MAX_HEADER_LEN),
        Err(e) => {
            // Length errors only, and they are protocol errors (1002).
            assert_eq!(e.close_code().0, 1002);
        }
    }
});
