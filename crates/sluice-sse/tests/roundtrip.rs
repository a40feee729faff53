//! proptest on the crate's public generators (`strategy`, feature `proptest`): arbitrary events
//! → encoder → bytes cut at arbitrary points → the parser gives back exactly the events (data
//! line endings normalised to LF), `retry` values and comments (WHATWG HTML §9.2.6); and for
//! stream-shaped garbage, the same items however the bytes are cut.

use proptest::prelude::*;
use sluice_sse::split::{self, Splits};
use sluice_sse::{Config, strategy};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_parse_round_trip(s in strategy::stream(), cuts in strategy::cuts(2048)) {
        let (items, err) = split::parse_pieces(&Config::default(), &mut split::pieces(&s.bytes, &cuts));
        prop_assert_eq!(err, None);
        prop_assert_eq!(items, s.items);
    }

    #[test]
    fn any_stream_gives_the_same_items_however_cut(raw in strategy::raw_stream(), seed in any::<u64>()) {
        split::items_under_splits(&raw.0, &Config::default(), Splits::Random { sets: 16, seed });
    }

    #[test]
    fn every_single_split_of_a_valid_stream(s in strategy::stream()) {
        prop_assume!(s.bytes.len() <= 256);
        let (items, _) = split::items_under_splits(&s.bytes, &Config::default(), Splits::Every);
        prop_assert_eq!(items, s.items);
    }
}

/// The generator is not trivial: over 200 draws, streams with several events, with `retry`,
/// with comments and with multi-line data all occur.
#[test]
fn the_stream_generator_covers_the_format() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use sluice_sse::Item;
    let mut runner = TestRunner::deterministic();
    let (mut several, mut retry, mut comment, mut multiline) = (0, 0, 0, 0);
    for _ in 0..200 {
        let s = strategy::stream().new_tree(&mut runner).unwrap().current();
        let events = s
            .items
            .iter()
            .filter(|i| matches!(i, Item::Event(_)))
            .count();
        several += usize::from(events >= 3);
        retry += usize::from(s.items.iter().any(|i| matches!(i, Item::Retry(_))));
        comment += usize::from(s.items.iter().any(|i| matches!(i, Item::Comment(_))));
        multiline += usize::from(
            s.items
                .iter()
                .any(|i| matches!(i, Item::Event(e) if e.data.contains('\n'))),
        );
    }
    assert!(
        several > 20 && retry > 20 && comment > 20 && multiline > 20,
        "{several} {retry} {comment} {multiline}"
    );
}
