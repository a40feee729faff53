//! sluice-ws masking. Invariants: the word-at-a-time fast path equals the bytewise reference at
//! every offset and length; masking twice is the identity; masking in two pieces (the second
//! continuing at its offset) equals masking the whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_ws::mask::{apply_mask, apply_mask_bytewise, apply_mask_offset};

fuzz_target!(|data: &[u8]| {
    let [k0, k1, k2, k3, off, cut, payload @ ..] = data else {
        return;
    };
    let key = [*k0, *k1, *k2, *k3];
    let offset = usize::from(*off);
    let mut fast = payload.to_vec();
    let mut slow = payload.to_vec();
    apply_mask_offset(&mut fast, key, offset);
    apply_mask_bytewise(&mut slow, key, offset);
    assert_eq!(fast, slow);
    apply_mask_offset(&mut fast, key, offset);
    assert_eq!(fast, payload);

    let cut = usize::from(*cut).min(payload.len());
    let mut whole = payload.to_vec();
    apply_mask(&mut whole, key);
    let mut parts = payload.to_vec();
    let (a, b) = parts.split_at_mut(cut);
    apply_mask_offset(a, key, 0);
    apply_mask_offset(b, key, cut);
    assert_eq!(parts, whole);
});
