#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt::Debug;

/// Which cut sets [`same_under_splits`] tries, besides the whole input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Splits {
    /// Every single cut point `1..len` (two pieces each) and the one-byte-at-a-time split:
    /// `len + 1` runs, so the whole check is quadratic in the input length.
    Every,
    /// `sets` cut sets of 1 to 16 cuts each, drawn from a xorshift seeded with `seed` (a
    /// failure replays with the same seed).
    Random {
        /// How many cut sets.
        sets: usize,
        /// The generator's seed.
        seed: u64,
    },
}

/// The pieces of `input` cut at `cuts` (positions into `input`, in any order; out-of-range
/// and repeated ones are ignored). Empty pieces are not produced.
pub fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut at: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < input.len())
        .collect();
    at.sort_unstable();
    at.dedup();
    at.push(input.len());
    let mut start = 0;
    at.into_iter().filter_map(move |end| {
        let piece = &input[start..end];
        start = end;
        (!piece.is_empty()).then_some(piece)
    })
}

/// Runs `feed` on `input` whole, then cut per `splits`, and returns the whole-input result.
///
/// `feed` gets the pieces in order and returns what the parser made of them (items, errors,
/// its final state — anything comparable). It must start from a fresh parser each call.
///
/// # Panics
/// When the result for some cut set differs from the whole-input one: the message names the
/// cut points, then both results.
pub fn same_under_splits<T, F>(input: &[u8], splits: Splits, mut feed: F) -> T
where
    T: PartialEq + Debug,
    F: FnMut(&mut dyn Iterator<Item = &[u8]>) -> T,
{
    let whole = feed(&mut core::iter::once(input).filter(|p| !p.is_empty()));
    let mut check = |cuts: &[usize]| {
        let got = feed(&mut pieces(input, cuts));
        assert!(
            got == whole,
            "result differs when the input ({} bytes) is cut at {cuts:?}:\n  cut:   {got:?}\n  whole: {whole:?}",
            input.len()
        );
    };
    match splits {
        Splits::Every => {
            for c in 1..input.len() {
                check(&[c]);
            }
            let every: Vec<usize> = (1..input.len()).collect();
            check(&every);
        }
        Splits::Random { sets, seed } => {
            let mut x = seed | 1;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let len = input.len().max(1) as u64;
            for _ in 0..sets {
                let n = 1 + (next() % 16) as usize;
                let cuts: Vec<usize> = (0..n).map(|_| (next() % len) as usize).collect();
                check(&cuts);
            }
        }
    }
    whole
}

/// A proptest strategy for up to 32 cut points into an input of `len` bytes (sorted), to
/// shrink towards fewer cuts.
#[cfg(feature = "proptest")]
pub fn cuts(len: usize) -> impl proptest::strategy::Strategy<Value = Vec<usize>> {
    use proptest::strategy::Strategy;
    proptest::collection::vec(0..len.max(1), 0..32).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

/// A proptest strategy for any `arbitrary::Arbitrary` type: up to 4 KiB of bytes, read by
/// `T::arbitrary` (bytes it rejects are drawn again). Shrinking works on the bytes, so it moves
/// towards shorter, simpler values. This is how Sluice's `strategy` modules build on the
/// generators its `arbitrary` impls define — one generator for fuzzing and property tests.
#[cfg(feature = "proptest")]
pub fn from_arbitrary<T>() -> impl proptest::strategy::Strategy<Value = T>
where
    T: for<'a> arbitrary::Arbitrary<'a> + Debug,
{
    with_arbitrary(|u| T::arbitrary(u))
}

/// As [`from_arbitrary`], with a generator function of your own (for example one that takes a
/// parameter: `with_arbitrary(move |u| Frames::arbitrary_for(role, u))`).
#[cfg(feature = "proptest")]
pub fn with_arbitrary<T, F>(generate: F) -> impl proptest::strategy::Strategy<Value = T>
where
    T: Debug,
    F: Fn(&mut arbitrary::Unstructured<'_>) -> arbitrary::Result<T>,
{
    use proptest::strategy::Strategy;
    proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..4096)
        .prop_filter_map("bytes the generator rejects", move |bytes| {
            generate(&mut arbitrary::Unstructured::new(&bytes)).ok()
        })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::vec;

    fn sum_lens(p: &mut dyn Iterator<Item = &[u8]>) -> usize {
        p.map(<[u8]>::len).sum()
    }

    #[test]
    fn pieces_cover_the_input_once() {
        let input = b"abcdefgh";
        let got: Vec<&[u8]> = pieces(input, &[3, 0, 8, 3, 99, 5]).collect();
        assert_eq!(got, vec![&b"abc"[..], b"de", b"fgh"]);
        assert_eq!(same_under_splits(input, Splits::Every, sum_lens), 8);
        assert_eq!(same_under_splits(b"", Splits::Every, sum_lens), 0);
    }

    #[test]
    #[should_panic(expected = "cut at")]
    fn a_parser_that_depends_on_the_cut_is_caught() {
        // Counts pieces: differs as soon as the input is cut.
        same_under_splits(b"abc", Splits::Random { sets: 4, seed: 1 }, |p| p.count());
    }
}
