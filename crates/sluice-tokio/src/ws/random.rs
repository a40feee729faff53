//! Unpredictable values for clients: masking keys (RFC 6455 §5.3, §10.3) and
//! handshake nonces (§4.1), from the operating system's CSPRNG via `getrandom`
//! refilled in blocks so a key costs no system call.

use std::cell::RefCell;

const BLOCK: usize = 256;

thread_local! {
    static POOL: RefCell<([u8; BLOCK], usize)> = const { RefCell::new(([0; BLOCK], BLOCK)) };
}

fn fill(out: &mut [u8]) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let mut done = 0;
        while done < out.len() {
            if p.1 == BLOCK {
                getrandom::fill(&mut p.0).expect("the OS random source failed");
                p.1 = 0;
            }
            let take = (BLOCK - p.1).min(out.len() - done);
            let start = p.1;
            out[done..done + take].copy_from_slice(&p.0[start..start + take]);
            // Never hand the same bytes out twice.
            p.0[start..start + take].fill(0);
            p.1 += take;
            done += take;
        }
    });
}

/// A fresh masking key.
pub(crate) fn mask_key() -> [u8; 4] {
    let mut k = [0; 4];
    fill(&mut k);
    k
}

/// A fresh `Sec-WebSocket-Key` nonce.
pub(crate) fn nonce() -> [u8; 16] {
    let mut k = [0; 16];
    fill(&mut k);
    k
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_differ() {
        let a: Vec<[u8; 4]> = (0..100).map(|_| super::mask_key()).collect();
        let distinct: std::collections::HashSet<_> = a.iter().collect();
        assert!(distinct.len() > 90);
        assert_ne!(super::nonce(), super::nonce());
    }
}
