//! Fuzz the long-poll client (`sluice_longpoll::Client`) with peer answers: statuses,
//! `Retry-After` values and JSON bodies (the `end` member included) from the input.
//!
//! Invariants: no panic; within one epoch the surfaced events' sequence numbers strictly
//! increase (a gap accounts for any hole), every event is after the client's position; after
//! `ClientEvent::End` nothing more is surfaced, the client is ended and sends no request.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sluice_longpoll::{Client, ClientConfig, ClientEvent, Cursor, Start};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut c = Client::new(ClientConfig::default(), Start::At(Cursor::new(1, 0)));
    let mut last: Option<Cursor> = c.cursor();
    let mut ended = false;
    // Answers separated by 0xFF: first byte picks the status, the rest is the body.
    for (i, answer) in data.split(|&b| b == 0xFF).enumerate() {
        let (status, body) = match answer.split_first() {
            Some((&s, body)) => (
                [200u16, 200, 200, 503, 400, 410, 429, 500][usize::from(s % 8)],
                body,
            ),
            None => (200, &[][..]),
        };
        let t = now + Duration::from_secs(i as u64 * 60);
        let _ = c.handle_response(t, status, Some("1"), body, i as u64);
        while let Some(ev) = c.poll_event() {
            assert!(!ended, "an item after the end: {ev:?}");
            match ev {
                ClientEvent::Event(e) => {
                    if let Some(l) = last
                        && l.epoch() == e.id.epoch()
                    {
                        assert!(e.id.seq() > l.seq(), "event {} not after {}", e.id, l);
                    }
                    last = Some(e.id);
                }
                ClientEvent::Reset => last = None,
                ClientEvent::Gap { missed } => assert!(missed > 0),
                ClientEvent::End => ended = true,
            }
        }
        if ended {
            assert!(c.is_ended());
            assert!(c.next_request(t).is_none(), "a request after the end");
        }
    }
});
