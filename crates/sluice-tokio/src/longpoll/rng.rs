//! Randomness for epochs and jitter: `getrandom`, with a SplitMix64 stream (seeded from
//! `getrandom`) for the per-request timeout jitter so parking costs no system call.

/// 64 bits from the operating system's CSPRNG (topic epochs must never repeat).
pub(crate) fn os_u64() -> u64 {
    getrandom::u64().expect("the OS random source failed")
}

/// A SplitMix64 generator: fast, statistically good, not for secrets (jitter only).
#[derive(Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Jitter {
        Jitter(os_u64())
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_spreads() {
        let mut j = Jitter::new();
        let v: Vec<u64> = (0..1000).map(|_| j.next_u64()).collect();
        let high = v.iter().filter(|&&x| x > u64::MAX / 2).count();
        assert!((400..600).contains(&high), "{high}");
        assert_ne!(os_u64(), os_u64());
    }
}
