//! Fuzz encode → parse: events built from the input are encoded (or rejected with the right
//! error when a field cannot be encoded), then parsed back in input-derived reads; and the
//! crate's own generator (`sluice_sse::arbitrary::EventStream`) checked under random cuts.
//!
//! Invariant: the parser yields exactly the comments, retries and events that were encoded,
//! with data line endings normalised to LF and the last event ID carried between events.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sluice_sse::arbitrary::EventStream;
use sluice_sse::split::{Splits, items_under_splits};
use sluice_sse::{Config, EncodeError, Event, Item, Parser};
use std::time::Duration;

fn lines(s: &str) -> Vec<String> {
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .split('\n')
        .map(str::to_owned)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    // Structured: a valid stream from `sluice_sse::arbitrary` gives back exactly its items,
    // however it is cut.
    if let Ok(s) = EventStream::arbitrary(&mut Unstructured::new(data)) {
        let seed = data.len() as u64;
        let (items, err) = items_under_splits(
            &s.bytes,
            &Config::default(),
            Splits::Random { sets: 4, seed },
        );
        assert_eq!(err, None);
        assert_eq!(items, s.items);
    }
    let mut buf = BytesMut::new();
    let mut expected = vec![];
    let mut id = String::new();
    for record in data.split(|&b| b == 0xFF).take(16) {
        let Some((&flags, body)) = record.split_first() else {
            continue;
        };
        let text = String::from_utf8_lossy(body);
        let mut parts = text.split('\u{1}');
        let mut next = || parts.next().unwrap_or("").to_owned();
        let (ev, idv, dat, com) = (next(), next(), next(), next());
        let mut e = Event::new();
        if flags & 16 != 0 {
            e = e.comment(com.clone());
        }
        if flags & 1 != 0 {
            e = e.event(ev.clone());
        }
        if flags & 2 != 0 {
            e = e.id(idv.clone());
        }
        if flags & 4 != 0 {
            e = e.retry(Duration::from_millis(u64::from(flags) * 7));
        }
        if flags & 8 != 0 {
            e = e.data(dat.clone());
        }
        let bad_event = flags & 1 != 0 && ev.contains(['\r', '\n']);
        let bad_id_lb = flags & 2 != 0 && idv.contains(['\r', '\n']);
        let bad_id_nul = flags & 2 != 0 && idv.contains('\0');
        let before = buf.len();
        match e.encode(&mut buf) {
            Err(err) => {
                assert_eq!(buf.len(), before, "nothing written on error");
                let ok = match err {
                    EncodeError::LineBreakInEvent => bad_event,
                    EncodeError::LineBreakInId => !bad_event && bad_id_lb,
                    EncodeError::NulInId => !bad_event && !bad_id_lb && bad_id_nul,
                    _ => false,
                };
                assert!(ok, "wrong error {err:?}");
                continue;
            }
            Ok(()) => assert!(!bad_event && !bad_id_lb && !bad_id_nul),
        }
        if flags & 16 != 0 {
            expected.extend(lines(&com).into_iter().map(Item::Comment));
        }
        if flags & 4 != 0 {
            expected.push(Item::Retry(u64::from(flags) * 7));
        }
        if flags & 2 != 0 {
            id = idv;
        }
        if flags & 8 != 0 {
            expected.push(Item::Event(sluice_sse::MessageEvent::new(
                if flags & 1 != 0 { ev } else { String::new() },
                lines(&dat).join("\n"),
                &id,
            )));
        }
    }
    let mut p = Parser::new();
    let mut got = vec![];
    let step = data.first().map_or(1, |&b| usize::from(b % 13) + 1);
    for chunk in buf.chunks(step) {
        p.handle_input(chunk).expect("default limits hold");
        got.extend(std::iter::from_fn(|| p.poll_item()));
    }
    p.handle_eof();
    got.extend(std::iter::from_fn(|| p.poll_item()));
    assert_eq!(got, expected);
    assert_eq!(p.last_event_id(), id);
});
