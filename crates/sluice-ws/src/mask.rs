//! Payload masking (RFC 6455 §5.3).
//!
//! Masking XORs every payload byte `i` with `key[i % 4]`. The fast path works a machine word at a
//! time (a `u64` holding the key twice) in safe code; [`apply_mask_bytewise`] is the obvious
//! byte-by-byte reference the tests and fuzz targets compare it against.

/// XORs `buf` with the masking `key`, starting at key position 0 (RFC 6455 §5.3).
///
/// Applying the same key twice restores the original bytes.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
    apply_mask_offset(buf, key, 0);
}

/// XORs `buf` with `key` as if `buf` started `offset` bytes into the payload.
///
/// Use this to (un)mask a payload that arrives in pieces: the piece starting at payload byte `n`
/// is masked with `apply_mask_offset(piece, key, n)`.
#[inline]
pub fn apply_mask_offset(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that position 0 of `buf` uses `key[offset % 4]`.
    let shift = offset % 4;
    let key = [
        key[shift],
        key[(shift + 1) % 4],
        key[(shift + 2) % 4],
        key[(shift + 3) % 4],
    ];
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word) ^ wide;
        chunk.copy_from_slice(&x.to_ne_bytes());
    }
    // The processed prefix is a multiple of 8 (hence of 4) bytes: the tail starts at key[0].
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Byte-at-a-time reference implementation of [`apply_mask_offset`].
///
/// Slow on purpose: it is the specification the fast path is checked against.
pub fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_5_7_hello_masked() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut p = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut p, [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(&p, b"Hello");
    }

    #[test]
    fn fast_path_matches_reference_every_offset_and_len() {
        let key = [0x01, 0x23, 0xa5, 0xfe];
        let data: Vec<u8> = (0..100u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..data.len() {
            for offset in 0..8 {
                let mut a = data[..len].to_vec();
                let mut b = a.clone();
                apply_mask_offset(&mut a, key, offset);
                apply_mask_bytewise(&mut b, key, offset);
                assert_eq!(a, b, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn split_masking_equals_whole() {
        let key = [9, 8, 7, 6];
        let data: Vec<u8> = (0..=255u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key);
        for cut in 0..data.len() {
            let mut parts = data.clone();
            let (a, b) = parts.split_at_mut(cut);
            apply_mask_offset(a, key, 0);
            apply_mask_offset(b, key, cut);
            assert_eq!(parts, whole, "cut {cut}");
        }
    }
}
