//! Structured: the frames a real endpoint of either role sends (`sluice_ws::arbitrary::
//! WireFrames`, written by our own encoder from arbitrary messages, fragments, Pings and a
//! Close), read by a peer connection in arbitrary cuts. Invariant: no protocol error, every
//! message delivered exactly once in order, the Close seen with its code, and the same events
//! however the bytes are cut (`sluice_ws::split`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_ws::arbitrary::WireFrames;
use sluice_ws::split::{Splits, events_under_splits};
use sluice_ws::{Config, Event, Role};

fuzz_target!(|input: (WireFrames, u64)| {
    let (w, seed) = input;
    let reader = match w.role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let (events, err) = events_under_splits(
        &w.bytes,
        reader,
        &Config::default(),
        Splits::Random { sets: 4, seed },
    );
    assert_eq!(err, None, "valid frames refused");
    let got: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(got, w.messages);
    if let Some(code) = w.close {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::CloseReceived { code: Some(c), .. } if *c == code))
        );
    }
});
