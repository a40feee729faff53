//! Shared driver for the connection fuzz targets.

use bytes::{Bytes, BytesMut};
use sluice_ws::frame::{MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode, decode_header};
use sluice_ws::mask::apply_mask;
use sluice_ws::{Config, Connection, Event, Message, Role, State};

const MAX_FRAME: usize = 1024;
const MAX_MESSAGE: usize = 4096;

/// Input layout: byte 0 = chunk size, byte 1 = command bits (bit 5: read with `poll_input`
/// instead of `handle_input`), rest = peer bytes.
///
/// Invariants checked:
/// - after `handle_input` (or `poll_input` returning `None`) the input buffer holds less than
///   one frame (header + max frame);
/// - delivered messages respect `max_message_size`, control payloads are ≤ 125 bytes;
/// - an `Err` is followed by `Event::Closed` with the error's code, and no event comes after
///   `Event::Closed` (which happens at most once); later input is ignored;
/// - everything we transmit decodes as valid frames, masked iff we are a client, with no frame
///   after our Close.
pub fn run(role: Role, data: &[u8]) {
    let [chunk, cmds, rest @ ..] = data else {
        return;
    };
    let chunk = usize::from(*chunk).max(1);
    let config = Config::default()
        .with_max_frame_size(MAX_FRAME)
        .with_max_message_size(MAX_MESSAGE)
        .with_auto_pong(cmds & 1 == 0);
    let mut key = 0u32;
    let mut conn = Connection::new(role, config).with_mask_source(move || {
        key = key.wrapping_add(0x0101_0101);
        key.to_le_bytes()
    });
    let mut buf = BytesMut::new();
    let mut closed_seen = false;
    let mut close_sent = false;
    for (i, piece) in rest.chunks(chunk).enumerate() {
        buf.extend_from_slice(piece);
        let mut events = Vec::new();
        let result = if cmds & 32 != 0 {
            // One event at a time, as sluice-tokio's driver reads.
            loop {
                match conn.poll_input(&mut buf) {
                    Ok(Some(ev)) => events.push(ev),
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            }
        } else {
            conn.handle_input(&mut buf)
        };
        assert!(
            buf.len() < MAX_HEADER_LEN + MAX_FRAME,
            "input buffer exceeds one frame"
        );
        events.extend(std::iter::from_fn(|| conn.poll_event()));
        check_events(&events, &mut closed_seen);
        if let Err(e) = &result {
            assert!(
                matches!(events.last(), Some(Event::Closed { code, .. }) if *code == e.close_code())
            );
            assert_eq!(conn.state(), State::Closed);
        }
        // Exercise the command side too.
        if cmds & 2 != 0 && i % 3 == 0 {
            let _ = conn.send(Message::binary(Bytes::copy_from_slice(piece)));
        }
        if cmds & 4 != 0 && i % 5 == 1 {
            let _ = conn.ping(Bytes::copy_from_slice(&piece[..piece.len().min(125)]));
        }
        if cmds & 8 != 0 && i == 2 {
            let _ = conn.close(sluice_ws::CloseCode::NORMAL, "fuzz");
        }
        if cmds & 16 == 0 || i % 2 == 0 {
            drain(&mut conn, role, &mut close_sent);
        }
    }
    conn.handle_eof();
    let events: Vec<Event> = std::iter::from_fn(|| conn.poll_event()).collect();
    check_events(&events, &mut closed_seen);
    assert!(closed_seen, "handle_eof always ends in Closed");
    assert!(conn.is_closed());
    drain(&mut conn, role, &mut close_sent);
}

fn check_events(events: &[Event], closed_seen: &mut bool) {
    for e in events {
        assert!(!*closed_seen, "event after Closed: {e:?}");
        match e {
            Event::Message(m) => assert!(m.len() <= MAX_MESSAGE),
            Event::Ping(p) | Event::Pong(p) => assert!(p.len() <= MAX_CONTROL_PAYLOAD),
            Event::CloseReceived { code, reason } => {
                assert!(code.is_none_or(|c| c.is_sendable()));
                assert!(reason.len() <= MAX_CONTROL_PAYLOAD - 2);
            }
            Event::Closed { .. } => *closed_seen = true,
            _ => {}
        }
    }
}

fn drain(conn: &mut Connection, role: Role, close_sent: &mut bool) {
    while let Some(t) = conn.poll_transmit() {
        assert!(!*close_sent, "frame transmitted after Close");
        let bytes = t.to_vec();
        let (h, n) = decode_header(&bytes).unwrap().unwrap();
        assert_eq!(n + h.payload_len as usize, bytes.len());
        assert_eq!(h.mask.is_some(), role == Role::Client);
        assert_eq!(h.rsv, 0);
        if h.opcode.is_control() {
            assert!(h.fin && h.payload_len <= MAX_CONTROL_PAYLOAD as u64);
        }
        if h.opcode == OpCode::CLOSE {
            let mut p = bytes[n..].to_vec();
            if let Some(k) = h.mask {
                apply_mask(&mut p, k);
            }
            assert!(p.len() != 1);
            if p.len() >= 2 {
                assert!(sluice_ws::CloseCode(u16::from_be_bytes([p[0], p[1]])).is_sendable());
            }
            *close_sent = true;
        }
    }
}
