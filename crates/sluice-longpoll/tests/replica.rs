//! A `Log` used as a replica of a store's log (`Log::resume`, `Log::append_at`, `Log::reset`):
//! under any sequence of store events with holes and epoch changes, every read tells the
//! truth — the events after the cursor that the replica holds, consecutive and in order, and a
//! gap of exactly the numbers the replica never got (or dropped), never a skipped or
//! duplicated event.

use std::time::Instant;

use bytes::Bytes;
use proptest::prelude::*;
use sluice_longpoll::{AppendError, Cursor, Log, LogConfig, ReadLimits, ReadOutcome};

#[derive(Debug, Clone)]
enum Op {
    /// The store's next event, `skip` numbers after the replica's head (0: the next one).
    Append { skip: u64 },
    /// A duplicate of an event the replica has (a notice that lost the race).
    Duplicate { back: u64 },
    /// The store's epoch changed: restart at `head`.
    Reset { head: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u64..3).prop_map(|skip| Op::Append { skip }),
        1 => (0u64..5).prop_map(|back| Op::Duplicate { back }),
        1 => (0u64..50).prop_map(|head| Op::Reset { head }),
    ]
}

const ALL: ReadLimits = ReadLimits {
    max_events: usize::MAX,
    max_bytes: usize::MAX,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn reads_of_a_replica_are_exact(
        start in 0u64..20,
        max_events in 1usize..8,
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let t = Instant::now();
        let cfg = LogConfig::default().with_max_events(max_events);
        let mut epoch = 1u64;
        let mut log = Log::resume(epoch, start, cfg);
        // The model: the retained events' sequence numbers, and the head.
        let mut retained: Vec<u64> = Vec::new();
        let mut head = start;
        for op in ops {
            match op {
                Op::Append { skip } => {
                    let seq = head + 1 + skip;
                    let c = log.append_at(t, seq, "m", Bytes::from(seq.to_string())).unwrap();
                    prop_assert_eq!(c, Cursor::new(epoch, seq));
                    if skip > 0 {
                        retained.clear(); // a hole: nothing before it is consecutive
                    }
                    retained.push(seq);
                    if retained.len() > max_events {
                        retained.remove(0);
                    }
                    head = seq;
                }
                Op::Duplicate { back } => {
                    let seq = head.saturating_sub(back);
                    prop_assert_eq!(
                        log.append_at(t, seq, "m", Bytes::new()),
                        Err(AppendError::NotAfterHead { seq, head })
                    );
                }
                Op::Reset { head: h } => {
                    epoch += 1;
                    log.reset(epoch, h);
                    retained.clear();
                    head = h;
                }
            }
            prop_assert_eq!(log.head(), Cursor::new(epoch, head));
            // Every cursor of this epoch up to the head reads exactly.
            for from in 0..=head {
                let want_after: Vec<u64> = retained.iter().copied().filter(|&s| s > from).collect();
                let oldest = retained.first().copied().unwrap_or(head + 1);
                let missed = oldest.saturating_sub(from + 1);
                match log.read(Cursor::new(epoch, from), ALL) {
                    ReadOutcome::Events(b) => {
                        prop_assert_eq!(missed, 0, "from {}", from);
                        let got: Vec<u64> = b.events().map(|e| e.seq()).collect();
                        prop_assert_eq!(got, want_after);
                        prop_assert_eq!(b.next(), Cursor::new(epoch, head));
                    }
                    ReadOutcome::Gap { missed: m, batch } => {
                        prop_assert_eq!(m, missed, "from {}", from);
                        let got: Vec<u64> = batch.events().map(|e| e.seq()).collect();
                        prop_assert_eq!(got, want_after);
                    }
                    other => prop_assert!(false, "from {}: {:?}", from, other),
                }
            }
            // A cursor past the head is refused; one of another epoch is a reset.
            let ahead = matches!(
                log.read(Cursor::new(epoch, head + 1), ALL),
                ReadOutcome::BadCursor { .. }
            );
            prop_assert!(ahead);
            let other = matches!(
                log.read(Cursor::new(epoch + 1000, 0), ALL),
                ReadOutcome::Reset { .. }
            );
            prop_assert!(other);
        }
    }
}
