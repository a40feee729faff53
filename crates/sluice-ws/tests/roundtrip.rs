//! proptest: encode → decode round trips under arbitrary chunk splits, both roles.

mod support;

use bytes::BytesMut;
use proptest::prelude::*;
use sluice_ws::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, decode_header};
use sluice_ws::{Config, Event, Message};
use support::*;

fn arb_header() -> impl Strategy<Value = FrameHeader> {
    (
        any::<bool>(),
        0u8..8,
        0u8..16,
        proptest::option::of(any::<[u8; 4]>()),
        prop_oneof![0u64..126, 126u64..=65535, 65536u64..(1 << 63)],
    )
        .prop_map(|(fin, rsv, op, mask, payload_len)| FrameHeader {
            fin,
            rsv,
            opcode: OpCode::new(op).unwrap(),
            mask,
            payload_len,
        })
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        ".{0,300}".prop_map(Message::text),
        proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Message::binary),
    ]
}

/// Either one frame or split into fragments of the given sizes.
fn fragments(msg: &Message, cuts: &[usize]) -> Vec<Message> {
    let b = msg.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for &c in cuts {
        let end = c.min(b.len()).max(start);
        out.push(&b[start..end]);
        start = end;
    }
    out.push(&b[start..]);
    out.iter()
        .map(|p| match msg {
            // Fragments need not be UTF-8 on the wire, but the send API takes whole code points:
            // for text, only cut at char boundaries.
            Message::Text(_) => Message::text(String::from_utf8_lossy(p).into_owned()),
            Message::Binary(_) => Message::binary(p.to_vec()),
        })
        .collect()
}

proptest! {
    #[test]
    fn header_round_trip(h in arb_header(), chunk in 1usize..15) {
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
    fn messages_round_trip_both_roles(
        msgs in proptest::collection::vec((arb_message(), proptest::collection::vec(0usize..3000, 0..4)), 1..8),
        chunk in 1usize..2000,
        client_sends in any::<bool>(),
    ) {
        let mut sender = if client_sends { client(Config::default()) } else { server(Config::default()) };
        let mut receiver = if client_sends { server(Config::default()) } else { client(Config::default()) };
        let mut expected = Vec::new();
        for (msg, mut cuts) in msgs {
            cuts.sort_unstable();
            let is_text = msg.is_text();
            let frags = if is_text {
                // Cut text at char boundaries only.
                let s = String::from_utf8(msg.as_bytes().to_vec()).unwrap();
                let cuts: Vec<usize> = cuts.into_iter().filter(|&c| s.is_char_boundary(c.min(s.len()))).collect();
                fragments(&msg, &cuts)
            } else {
                fragments(&msg, &cuts)
            };
            if frags.len() == 1 {
                sender.send(msg.clone()).unwrap();
            } else {
                let last = frags.len() - 1;
                for (i, f) in frags.into_iter().enumerate() {
                    sender.send_fragment(f, i == last).unwrap();
                }
            }
            expected.push(Event::Message(msg));
        }
        let wire = transmits(&mut sender);
        let mut buf = BytesMut::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            receiver.handle_input(&mut buf).unwrap();
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(events(&mut receiver), expected);
    }

    #[test]
    fn arbitrary_input_never_panics_and_ends_with_closed(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        chunk in 1usize..64,
        is_client in any::<bool>(),
    ) {
        let config = Config::default().with_max_frame_size(256).with_max_message_size(512);
        let mut conn = if is_client { client(config) } else { server(config) };
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
    }
}

#[test]
fn fragments_helper_keeps_bytes() {
    let m = Message::binary(vec![1, 2, 3, 4, 5]);
    let f = fragments(&m, &[2, 2, 4]);
    let joined: Vec<u8> = f.iter().flat_map(|m| m.as_bytes().to_vec()).collect();
    assert_eq!(joined, vec![1, 2, 3, 4, 5]);
    assert_eq!(f.len(), 4);
}
