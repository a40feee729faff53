//! The hub's JWT (HS256) verification on arbitrary tokens, and sign → verify on arbitrary
//! claims.
//!
//! Invariants: no panic on any token; a token that verifies is unexpired at the time asked
//! (`exp > now`, `nbf <= now`) and was signed with the key (a one-byte change to its
//! signature fails); claims minted with the key verify to the same claims while valid, and
//! never under another key; only claims too large for a token are refused minting.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_hub::{Claims, TokenError, Verifier, mint_token};

const KEY: &[u8] = b"fuzzing key, 32 bytes long......";

fuzz_target!(|data: &[u8]| {
    let v = Verifier::new(KEY);
    let now = 1_700_000_000;
    if let Ok(token) = std::str::from_utf8(data) {
        if let Ok(c) = v.verify_at(token, now) {
            assert!(c.exp > now);
            assert!(c.nbf.is_none_or(|n| n <= now));
            let mut flipped = token.as_bytes().to_vec();
            let last = flipped.len() - 1;
            flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
            let flipped = String::from_utf8(flipped).unwrap();
            assert!(v.verify_at(&flipped, now).is_err() || flipped == token);
        }
    }
    // Arbitrary claims: the fuzz input sets exp, nbf and the patterns.
    if data.len() >= 9 {
        let exp = u64::from_le_bytes(data[..8].try_into().unwrap()) % 4_000_000_000;
        let mut c = Claims::new(exp);
        if data[8] & 1 == 1 {
            c = c.not_before(exp.saturating_sub(u64::from(data[8]) * 1000));
        }
        for p in String::from_utf8_lossy(&data[9..]).split(',').take(8) {
            c = c.subscribe(p).publish(p.chars().rev().collect::<String>());
        }
        let Ok(t) = mint_token(KEY, &c) else {
            // Only claims too large for a token are refused.
            assert!(serde_json::to_vec(&c).unwrap().len() * 4 / 3 > 8 * 1024 - 100);
            return;
        };
        match v.verify_at(&t, now) {
            Ok(back) => assert_eq!(back, c),
            Err(TokenError::Expired) => assert!(exp <= now),
            Err(TokenError::NotYetValid) => assert!(c.nbf.is_some_and(|n| n > now)),
            Err(e) => panic!("a minted token fails: {e}"),
        }
        assert!(Verifier::new(b"another key").verify_at(&t, now).is_err());
    }
});
