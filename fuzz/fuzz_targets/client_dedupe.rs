//! `sluice-client`'s hub frame parser and dedupe on arbitrary frames (one per line).
//!
//! Invariants: no panic; between two resets, the events delivered with cursor ids of one epoch
//! have strictly increasing sequence numbers (a replay is never delivered twice); after an
//! event with a cursor id the resume point is that id; after a gap of `k` it is `k` further.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_client::Item;
use sluice_client::fuzzing::Dedupe;
use sluice_longpoll::{Cursor, Start};

fuzz_target!(|data: &[u8]| {
    let start = match data.first().map(|b| b % 3) {
        Some(0) => Start::Now,
        Some(1) => Start::Earliest,
        _ => Start::At(Cursor::new(7, 3)),
    };
    let mut d = Dedupe::new(start);
    let mut last: Option<Cursor> = match start {
        Start::At(c) => Some(c),
        _ => None,
    };
    for line in data.get(1..).unwrap_or_default().split(|b| *b == b'\n') {
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        let before = d.cursor();
        match d.ws_frame(text) {
            Some(Item::Event { id, .. }) => {
                if let Ok(c) = Cursor::parse(&id) {
                    if let Some(p) = last
                        && p.epoch() == c.epoch()
                    {
                        assert!(c.seq() > p.seq(), "replay delivered: {p:?} then {c:?}");
                    }
                    last = Some(c);
                    assert_eq!(d.cursor().as_deref(), Some(c.encode().as_str()));
                } else {
                    assert_eq!(d.cursor(), before, "a non-cursor id moves nothing");
                }
            }
            Some(Item::Gap { missed }) => {
                if let Some(p) = before.as_deref().and_then(|b| Cursor::parse(b).ok()) {
                    let moved = Cursor::new(p.epoch(), p.seq().saturating_add(missed));
                    assert_eq!(d.cursor().as_deref(), Some(moved.encode().as_str()));
                    last = Some(moved);
                }
            }
            Some(Item::Reset) => {
                last = None;
                assert_eq!(d.cursor(), None, "after a reset: from earliest");
            }
            Some(_) => {}
            None => {
                if let Some(c) = d.cursor().as_deref().and_then(|c| Cursor::parse(c).ok()) {
                    last = last.or(Some(c));
                }
            }
        }
    }
});
