//! Fuzz the LLM dialect rules (`sluice_sse::llm`) with peer bytes: an event stream, parsed,
//! each event classified under `Dialect::Auto` and under each dialect.
//!
//! Invariants: no panic; the outcome is decided by the first terminal signal and never changes
//! afterwards (`is_done` only after a `Done`, a failure carries a non-empty kind); the
//! detected dialect never changes once set; a `[DONE]` or `sluice-end` event always ends an
//! `Auto` stream; `text_delta` never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_sse::llm::{Completion, Dialect, Signal, text_delta};
use sluice_sse::{Item, Parser};

fuzz_target!(|data: &[u8]| {
    let mut p = Parser::new();
    if p.handle_input(data).is_err() {
        return;
    }
    p.handle_eof();
    let events: Vec<_> = std::iter::from_fn(|| p.poll_item())
        .filter_map(|i| match i {
            Item::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    for d in Dialect::ALL {
        let mut c = Completion::new(d);
        let mut ended = false;
        let mut detected = None;
        for e in &events {
            let _ = text_delta(e);
            let s = c.handle_event(e);
            if let (Some(a), Some(b)) = (detected, c.detected()) {
                assert_eq!(a, b, "detected dialect changed");
            }
            detected = c.detected();
            let terminal = matches!(s, Signal::Done | Signal::Failed(_));
            if d == Dialect::Auto && (e.data == "[DONE]" || e.event_type() == "sluice-end") {
                assert!(terminal, "Auto did not end at {e:?}");
            }
            if !ended && terminal {
                ended = true;
                assert_eq!(c.is_done(), s == Signal::Done);
                if let Signal::Failed(err) = &s {
                    assert!(!err.kind.is_empty(), "failure without a kind");
                }
            }
            assert_eq!(
                c.is_finished(),
                ended,
                "outcome decided by the first terminal event"
            );
        }
    }
});
