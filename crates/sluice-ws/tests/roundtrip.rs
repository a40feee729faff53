//! proptest on the crate's public generators (`strategy`, feature `proptest`): frame headers
//! encode → decode (RFC 6455 §5.2), what an endpoint sends is what its peer receives under any
//! cutting of the bytes, and arbitrary bytes never panic and end in one `Closed`.

mod support;

use proptest::prelude::*;
use sluice_ws::frame::{MAX_HEADER_LEN, decode_header};
use sluice_ws::split::{self, Splits};
use sluice_ws::{Config, Event, Role, strategy};
use support::*;

fn peer(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

proptest! {
    #[test]
    fn header_round_trip(h in strategy::frame_header(), chunk in 1usize..15) {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut buf);
        prop_assert_eq!(n, h.encoded_len());
        prop_assert_eq!(decode_header(&buf[..n]), Ok(Some((h, n))));
        // Every strict prefix asks for more bytes.
        for cut in (0..n).step_by(chunk) {
            prop_assert_eq!(decode_header(&buf[..cut]), Ok(None));
        }
    }

    #[test]
    fn what_one_role_sends_the_other_receives_however_cut(
        w in prop_oneof![Just(Role::Client), Just(Role::Server)].prop_flat_map(strategy::frames),
        seed in any::<u64>(),
    ) {
        let (events, err) = split::events_under_splits(
            &w.bytes, peer(w.role), &Config::default(), Splits::Random { sets: 16, seed },
        );
        prop_assert_eq!(err, None);
        let messages: Vec<_> = events
            .iter()
            .filter_map(|e| match e { Event::Message(m) => Some(m.clone()), _ => None })
            .collect();
        prop_assert_eq!(messages, w.messages.clone());
        if let Some(code) = w.close {
            prop_assert!(
                events.iter().any(|e| matches!(e, Event::CloseReceived { code: Some(c), .. } if *c == code)),
                "{:?}", events
            );
        }
    }

    #[test]
    fn frames_from_the_generator_arrive_in_every_single_split(w in strategy::frames(Role::Client)) {
        prop_assume!(w.bytes.len() <= 300);
        let (events, err) = split::events_under_splits(&w.bytes, Role::Server, &Config::default(), Splits::Every);
        prop_assert_eq!(err, None);
        let n = events.iter().filter(|e| matches!(e, Event::Message(_))).count();
        prop_assert_eq!(n, w.messages.len());
    }

    #[test]
    fn arbitrary_input_never_panics_and_ends_with_closed(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        chunk in 1usize..64,
        is_client in any::<bool>(),
    ) {
        let config = Config::default().with_max_frame_size(256).with_max_message_size(512);
        let mut conn = if is_client { client(config.clone()) } else { server(config.clone()) };
        let r = feed_chunked(&mut conn, &bytes, chunk);
        let ev = events(&mut conn);
        if let Err(e) = r {
            let last = ev.last().unwrap();
            prop_assert!(
                matches!(last, Event::Closed { code, .. } if *code == e.close_code()),
                "{:?} then {:?}", e, last
            );
            prop_assert!(conn.is_closed());
        }
        let closed_at = ev.iter().position(|e| matches!(e, Event::Closed { .. }));
        if let Some(i) = closed_at {
            prop_assert_eq!(i, ev.len() - 1);
        }
        // However the bytes are cut, the same events and error.
        let role = if is_client { Role::Client } else { Role::Server };
        split::events_under_splits(&bytes, role, &config, Splits::Random { sets: 8, seed: bytes.len() as u64 });
    }
}

/// The generator is not trivial: over 200 draws, several messages, fragmented ones, text and
/// binary, Pings and Closes all occur.
#[test]
fn the_frame_generator_covers_the_protocol() {
    use proptest::strategy::ValueTree;
    use sluice_ws::frame::OpCode;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut several, mut fragmented, mut ping, mut close) = (0, 0, 0, 0);
    for _ in 0..200 {
        let w = strategy::frames(Role::Client)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        several += usize::from(w.messages.len() >= 3);
        close += usize::from(w.close.is_some());
        let frames = decode_frames(&w.bytes, true);
        ping += usize::from(frames.iter().any(|f| f.1 == OpCode::PING.get()));
        fragmented += usize::from(frames.iter().any(|f| f.1 == OpCode::CONTINUATION.get()));
    }
    assert!(
        several > 20 && fragmented > 20 && ping > 20 && close > 20,
        "{several} {fragmented} {ping} {close}"
    );
}
