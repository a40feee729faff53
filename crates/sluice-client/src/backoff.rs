//! Reconnection delays: exponential with full jitter ("Exponential Backoff And Jitter", AWS
//! Architecture Blog, 2015): attempt `n` waits a uniform random time in
//! `[0, min(max, min_delay × multiplier^(n-1))]`, so a crowd of clients cut at the same moment
//! spreads its reconnections over the whole window instead of arriving in waves.

use std::time::Duration;

/// The backoff policy of a reconnecting client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// The ceiling of the first retry's delay. Default 250 ms.
    pub min: Duration,
    /// The largest ceiling. Default 10 s.
    pub max: Duration,
    /// Growth of the ceiling per failed attempt. Default 2. Values below 1 are taken as 1.
    pub multiplier: f64,
    /// Give up after this many failed attempts in a row (`None`: never). Default `None`.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            min: Duration::from_millis(250),
            max: Duration::from_secs(10),
            multiplier: 2.0,
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// Sets [`Backoff::min`].
    #[must_use]
    pub fn with_min(mut self, min: Duration) -> Self {
        self.min = min;
        self
    }

    /// Sets [`Backoff::max`].
    #[must_use]
    pub fn with_max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Sets [`Backoff::multiplier`].
    #[must_use]
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets [`Backoff::max_attempts`].
    #[must_use]
    pub fn with_max_attempts(mut self, max_attempts: Option<u32>) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// The ceiling of attempt `attempt` (1 = the first retry).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let m = if self.multiplier.is_finite() {
            self.multiplier.max(1.0)
        } else {
            1.0
        };
        let exp = i32::try_from(attempt.saturating_sub(1).min(1_000)).unwrap_or(1_000);
        let factor = m.powi(exp);
        let max = self.max.max(self.min);
        let secs = self.min.as_secs_f64() * factor;
        if secs.is_finite() && secs < max.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            max
        }
    }

    /// The delay before attempt `attempt`, for a uniform `unit` in `[0, 1)`: full jitter over
    /// [`Backoff::ceiling`].
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The delay before attempt `attempt`, jittered with the operating system's randomness.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, unit_random())
    }

    /// Whether `failed` attempts in a row exhaust [`Backoff::max_attempts`].
    pub fn exhausted(&self, failed: u32) -> bool {
        self.max_attempts.is_some_and(|m| failed >= m)
    }
}

/// `bytes` random bytes as hex (ids; not for secrets when the OS refuses randomness).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    if getrandom::fill(&mut b).is_err() {
        for (i, x) in b.iter_mut().enumerate() {
            *x = (unit_random() * 256.0) as u8 ^ (i as u8);
        }
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A uniform value in `[0, 1)` (53 random bits; jitter only, not for secrets). Falls back to
/// the clock's nanoseconds if the OS refuses randomness.
pub(crate) fn unit_random() -> f64 {
    let bits = getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| {
                u64::from(d.subsec_nanos()).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            })
    });
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_grow_and_cap() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(1), Duration::from_millis(250));
        assert_eq!(b.ceiling(2), Duration::from_millis(500));
        assert_eq!(b.ceiling(3), Duration::from_secs(1));
        assert_eq!(b.ceiling(7), Duration::from_secs(10));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(10));
        let odd = Backoff::default().with_multiplier(f64::NAN);
        assert_eq!(odd.ceiling(9), Duration::from_millis(250));
    }

    #[test]
    fn full_jitter_spans_the_window() {
        let b = Backoff::default();
        assert_eq!(b.delay_with(3, 0.0), Duration::ZERO);
        assert_eq!(b.delay_with(3, 0.5), Duration::from_millis(500));
        assert!(b.delay_with(3, 0.999_999) <= Duration::from_secs(1));
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..2_000 {
            let d = b.delay(3);
            assert!(d <= Duration::from_secs(1));
            seen_low |= d < Duration::from_millis(100);
            seen_high |= d > Duration::from_millis(900);
        }
        assert!(seen_low && seen_high, "jitter covers [0, ceiling]");
    }

    #[test]
    fn attempts_are_bounded_when_asked() {
        let b = Backoff::default().with_max_attempts(Some(5));
        assert!(!b.exhausted(4));
        assert!(b.exhausted(5));
        assert!(!Backoff::default().exhausted(u32::MAX));
    }
}
