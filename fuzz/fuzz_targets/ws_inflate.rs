//! sluice-ws permessage-deflate inflate path (feature `deflate`). Invariants, for arbitrary peer
//! bytes split into arbitrary frames and a limit from the input:
//! - `PerMessageDeflate::decompress` never grows its output past `limit + 1` bytes, and
//!   succeeds only with at most `limit` bytes;
//! - a server `Connection` with deflate fed the same bytes as compressed frames delivers only
//!   messages of at most `max_message_size` bytes, and a failure is 1007 / 1009 / 1002;
//! - what our compressor produces from the input inflates back to the input.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sluice_ws::deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
use sluice_ws::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, RSV1};
use sluice_ws::{CloseCode, Config, Connection, Event, Role};

fuzz_target!(|data: &[u8]| {
    let [a, b, cut, payload @ ..] = data else {
        return;
    };
    let limit = usize::from(*a) * 64 + usize::from(*b & 0x3f);
    let params = DeflateParams::default();
    let config = DeflateConfig::default().with_level(u32::from(*b >> 6) * 3);

    // Direct: two pieces of one message.
    let cut = usize::from(*cut).min(payload.len());
    let mut d = PerMessageDeflate::new(Role::Server, &params, &config);
    let mut out = Vec::new();
    let r = d
        .decompress(&payload[..cut], false, &mut out, limit)
        .and_then(|()| d.decompress(&payload[cut..], true, &mut out, limit));
    assert!(out.len() <= limit + 1, "{} > {} + 1", out.len(), limit);
    if r.is_ok() {
        assert!(out.len() <= limit);
    }

    // Through a connection: the same bytes as a compressed binary message in two frames.
    let mut conn = Connection::new(Role::Server, Config::default().with_max_message_size(limit))
        .with_deflate(PerMessageDeflate::new(Role::Server, &params, &config));
    let mut wire = BytesMut::new();
    for (i, piece) in [&payload[..cut], &payload[cut..]].into_iter().enumerate() {
        let h = FrameHeader {
            fin: i == 1,
            rsv: if i == 0 { RSV1 } else { 0 },
            opcode: if i == 0 {
                OpCode::BINARY
            } else {
                OpCode::CONTINUATION
            },
            mask: Some([1, 2, 3, 4]),
            payload_len: piece.len() as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut head);
        wire.extend_from_slice(&head[..n]);
        let mut p = piece.to_vec();
        sluice_ws::mask::apply_mask(&mut p, [1, 2, 3, 4]);
        wire.extend_from_slice(&p);
    }
    let res = conn.handle_input(&mut wire);
    while let Some(ev) = conn.poll_event() {
        match ev {
            Event::Message(m) => assert!(m.as_bytes().len() <= limit),
            Event::Closed { code, .. } => assert!(
                [
                    CloseCode::INVALID_PAYLOAD,
                    CloseCode::MESSAGE_TOO_BIG,
                    CloseCode::PROTOCOL_ERROR
                ]
                .contains(&code),
                "{code:?}"
            ),
            _ => {}
        }
    }
    if let Err(e) = res {
        assert_ne!(e.close_code(), CloseCode::NORMAL);
    }

    // Round trip of our own compressor.
    let mut c = PerMessageDeflate::new(Role::Client, &params, &config);
    let z = c.compress(payload, true);
    let mut back = Vec::new();
    let mut s = PerMessageDeflate::new(Role::Server, &params, &config);
    s.decompress(&z, true, &mut back, payload.len())
        .expect("our own output inflates");
    assert_eq!(back, payload);
});
