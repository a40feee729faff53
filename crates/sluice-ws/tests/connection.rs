//! The connection state machine against RFC 6455 vectors and Autobahn-style cases.

mod support;

use bytes::{Bytes, BytesMut};
use sluice_ws::{
    CloseCode, Config, Connection, Event, Message, ProtocolError, Role, SendError, State,
};
use support::*;

fn closed(code: u16) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Closed { code: c, .. } if c.0 == code)
}

type Frames = Vec<(bool, u8, Vec<u8>)>;

/// Feeds `bytes` (any chunking) to a server and returns (events, result, transmitted frames).
fn server_sees(bytes: &[u8], chunk: usize) -> (Vec<Event>, Result<(), ProtocolError>, Frames) {
    let mut s = server(Config::default());
    let r = feed_chunked(&mut s, bytes, chunk);
    let ev = events(&mut s);
    let out = decode_frames(&transmits(&mut s), false);
    (ev, r, out)
}

fn close_frame(code: u16) -> (bool, u8, Vec<u8>) {
    (true, 0x8, code.to_be_bytes().to_vec())
}

#[test]
fn rfc_5_7_single_frame_unmasked_text_to_client() {
    let mut c = client(Config::default());
    let mut buf = BytesMut::from(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f][..]);
    c.handle_input(&mut buf).unwrap();
    assert!(buf.is_empty());
    assert_eq!(events(&mut c), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn rfc_5_7_single_frame_masked_text_to_server() {
    let bytes = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    for chunk in 1..=bytes.len() {
        let (ev, r, out) = server_sees(&bytes, chunk);
        r.unwrap();
        assert_eq!(ev, vec![Event::Message(Message::text("Hello"))]);
        assert!(out.is_empty());
    }
}

#[test]
fn rfc_5_7_fragmented_unmasked_text() {
    let mut c = client(Config::default());
    let bytes = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    feed_chunked(&mut c, &bytes, 1).unwrap();
    assert_eq!(events(&mut c), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn rfc_5_7_ping_and_masked_pong() {
    // Unmasked Ping "Hello" to a client; the client answers with a masked Pong "Hello".
    let mut c = client(Config::default());
    feed_chunked(&mut c, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], 3).unwrap();
    assert_eq!(
        events(&mut c),
        vec![Event::Ping(Bytes::from_static(b"Hello"))]
    );
    let out = transmits(&mut c);
    assert_eq!(
        decode_frames(&out, true),
        vec![(true, 0xA, b"Hello".to_vec())]
    );
    // And the §5.7 masked Pong decodes on a server.
    let (ev, r, _) = server_sees(
        &[
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
        1,
    );
    r.unwrap();
    assert_eq!(ev, vec![Event::Pong(Bytes::from_static(b"Hello"))]);
}

#[test]
fn rfc_5_7_256_bytes_and_64k_binary() {
    for len in [256usize, 65536] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut bytes = if len == 256 {
            vec![0x82, 0x7E, 0x01, 0x00]
        } else {
            vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]
        };
        bytes.extend_from_slice(&payload);
        let mut c = client(Config::default());
        feed_chunked(&mut c, &bytes, 1000).unwrap();
        assert_eq!(
            events(&mut c),
            vec![Event::Message(Message::binary(payload))]
        );
    }
}

#[test]
fn sent_frames_match_rfc_5_7_encoding() {
    let mut s = server(Config::default());
    s.send(Message::text("Hello")).unwrap();
    let t = s.poll_transmit().unwrap();
    assert_eq!(t.header(), &[0x81, 0x05]);
    assert_eq!(&t.payload()[..], b"Hello");
    let mut c = Connection::new(Role::Client, Config::default())
        .with_mask_source(|| [0x37, 0xfa, 0x21, 0x3d]);
    c.send(Message::text("Hello")).unwrap();
    assert_eq!(
        c.poll_transmit().unwrap().to_vec(),
        vec![
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
        ]
    );
    s.send(Message::binary(vec![0u8; 256])).unwrap();
    assert_eq!(
        s.poll_transmit().unwrap().header(),
        &[0x82, 0x7E, 0x01, 0x00]
    );
}

#[test]
fn single_frame_message_is_not_copied() {
    let mut c = client(Config::default());
    let mut buf = BytesMut::from(&frame(true, 0x2, None, &[7u8; 1000])[..]);
    let base = buf.as_ptr() as usize;
    c.handle_input(&mut buf).unwrap();
    let Some(Event::Message(Message::Binary(b))) = c.poll_event() else {
        panic!()
    };
    assert_eq!(
        b.as_ptr() as usize,
        base + 4,
        "payload shares the input buffer"
    );
}

#[test]
fn role_rules_5_1() {
    // A server rejects an unmasked frame; a client rejects a masked one: both with 1002.
    let (ev, r, out) = server_sees(&frame(true, 0x1, None, b"hi"), 64);
    assert_eq!(r, Err(ProtocolError::UnmaskedFrame));
    assert!(closed(1002)(ev.last().unwrap()));
    assert_eq!(out, vec![close_frame(1002)]);
    let mut c = client(Config::default());
    assert_eq!(
        feed_chunked(&mut c, &cframe(true, 0x1, b"hi"), 64),
        Err(ProtocolError::MaskedFrame)
    );
    assert_eq!(
        decode_frames(&transmits(&mut c), true),
        vec![close_frame(1002)]
    );
}

#[test]
fn reserved_bits_and_opcodes_5_2() {
    // Autobahn 3.x and 4.x: 1002, and messages before the offending frame are kept.
    for rsv in 1..8u8 {
        let mut bytes = cframe(true, 0x1, b"ok");
        bytes.extend(frame_rsv(true, rsv, 0x1, Some([1, 2, 3, 4]), b"x"));
        let (ev, r, out) = server_sees(&bytes, 5);
        assert_eq!(r, Err(ProtocolError::ReservedBits { rsv }));
        assert_eq!(ev[0], Event::Message(Message::text("ok")));
        assert!(closed(1002)(&ev[1]));
        assert_eq!(ev.len(), 2);
        assert_eq!(out, vec![close_frame(1002)]);
    }
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        let (ev, r, out) = server_sees(&cframe(true, op, b""), 1);
        assert_eq!(r, Err(ProtocolError::ReservedOpcode(op)));
        assert!(closed(1002)(&ev[0]));
        assert_eq!(out, vec![close_frame(1002)]);
    }
}

#[test]
fn control_frame_rules_5_5() {
    // Autobahn 2.5: ping with 126 bytes; 5.1/5.2: fragmented ping/pong.
    let (_, r, out) = server_sees(&cframe(true, 0x9, &[0u8; 126]), 7);
    assert_eq!(r, Err(ProtocolError::ControlFrameTooLarge { size: 126 }));
    assert_eq!(out, vec![close_frame(1002)]);
    let (_, r, _) = server_sees(&cframe(false, 0x9, b"a"), 7);
    assert_eq!(r, Err(ProtocolError::FragmentedControlFrame));
    // 125 bytes is fine (Autobahn 2.4).
    let (ev, r, out) = server_sees(&cframe(true, 0x9, &[0xfe; 125]), 7);
    r.unwrap();
    assert_eq!(ev, vec![Event::Ping(Bytes::from(vec![0xfe; 125]))]);
    assert_eq!(out, vec![(true, 0xA, vec![0xfe; 125])]);
}

#[test]
fn fragmentation_with_interleaved_control_frames_5_4() {
    // Autobahn 5.6-5.9: text fragments with pings in between, chunked every way.
    let mut bytes = cframe(false, 0x1, b"frag");
    bytes.extend(cframe(true, 0x9, b"p1"));
    bytes.extend(cframe(false, 0x0, b"men"));
    bytes.extend(cframe(true, 0xA, b"unsolicited"));
    bytes.extend(cframe(true, 0x9, b"p2"));
    bytes.extend(cframe(true, 0x0, b"ted"));
    for chunk in [1, 2, 3, 7, 100] {
        let (ev, r, out) = server_sees(&bytes, chunk);
        r.unwrap();
        assert_eq!(
            ev,
            vec![
                Event::Ping(Bytes::from_static(b"p1")),
                Event::Pong(Bytes::from_static(b"unsolicited")),
                Event::Ping(Bytes::from_static(b"p2")),
                Event::Message(Message::text("fragmented")),
            ]
        );
        // Every ping is answered, in order (Autobahn 2.10).
        let pongs: Vec<_> = out.iter().map(|f| (f.1, f.2.clone())).collect();
        assert_eq!(pongs, vec![(0xA, b"p1".to_vec()), (0xA, b"p2".to_vec())]);
    }
}

#[test]
fn fragmentation_errors_5_x() {
    // Autobahn 5.9-5.12: continuation with nothing to continue.
    let (_, r, out) = server_sees(&cframe(true, 0x0, b"x"), 3);
    assert_eq!(r, Err(ProtocolError::UnexpectedContinuation));
    assert_eq!(out, vec![close_frame(1002)]);
    let (_, r, _) = server_sees(&cframe(false, 0x0, b"x"), 3);
    assert_eq!(r, Err(ProtocolError::UnexpectedContinuation));
    // Autobahn 5.18: a new text frame while a message is in progress.
    let mut bytes = cframe(false, 0x1, b"a");
    bytes.extend(cframe(true, 0x1, b"b"));
    let (_, r, _) = server_sees(&bytes, 3);
    assert_eq!(r, Err(ProtocolError::ExpectedContinuation));
    // Empty fragments are fine (Autobahn 6.1.2).
    let mut bytes = cframe(false, 0x1, b"");
    bytes.extend(cframe(false, 0x0, b""));
    bytes.extend(cframe(true, 0x0, b""));
    let (ev, r, _) = server_sees(&bytes, 1);
    r.unwrap();
    assert_eq!(ev, vec![Event::Message(Message::text(""))]);
}

#[test]
fn invalid_utf8_fails_with_1007() {
    // Autobahn 6.3.1: one frame.
    let bad = [
        0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65,
        0x64,
    ];
    let (ev, r, out) = server_sees(&cframe(true, 0x1, &bad), 100);
    assert_eq!(r, Err(ProtocolError::InvalidUtf8));
    assert!(closed(1007)(&ev[0]));
    assert_eq!(out, vec![close_frame(1007)]);
    // Autobahn 6.3.2: the same bytes one per fragment.
    let mut bytes = Vec::new();
    for (i, b) in bad.iter().enumerate() {
        bytes.extend(cframe(
            i == bad.len() - 1,
            if i == 0 { 1 } else { 0 },
            &[*b],
        ));
    }
    let (_, r, out) = server_sees(&bytes, 100);
    assert_eq!(r, Err(ProtocolError::InvalidUtf8));
    assert_eq!(out, vec![close_frame(1007)]);
    // A message ending inside a code point is invalid.
    let (_, r, _) = server_sees(&cframe(true, 0x1, &[0xe2, 0x82]), 100);
    assert_eq!(r, Err(ProtocolError::InvalidUtf8));
    let mut bytes = cframe(false, 0x1, b"ok");
    bytes.extend(cframe(true, 0x0, &[0xf0, 0x9f]));
    let (_, r, _) = server_sees(&bytes, 100);
    assert_eq!(r, Err(ProtocolError::InvalidUtf8));
}

#[test]
fn utf8_fails_fast_inside_a_partial_frame() {
    // Autobahn 6.4.3/6.4.4: a frame whose payload turns invalid early; the rest never arrives.
    let mut payload = "κόσμε".as_bytes().to_vec();
    payload.extend_from_slice(&[0xf4, 0x90, 0x80, 0x80]);
    payload.extend_from_slice(b"-edited");
    let bytes = cframe(true, 0x1, &payload);
    let cut = 6 + "κόσμε".len() + 2; // header + valid prefix + F4 90
    let mut s = server(Config::default());
    let mut buf = BytesMut::from(&bytes[..cut - 1]);
    s.handle_input(&mut buf).unwrap();
    buf.extend_from_slice(&bytes[cut - 1..cut]);
    assert_eq!(s.handle_input(&mut buf), Err(ProtocolError::InvalidUtf8));
    // Also across fragments: the second fragment's first byte makes it impossible.
    let mut c = client(Config::default());
    let mut buf = BytesMut::from(&frame(false, 0x1, None, &[0xce])[..]);
    c.handle_input(&mut buf).unwrap();
    buf.extend_from_slice(&frame(false, 0x0, None, &[0x41])[..]);
    assert_eq!(c.handle_input(&mut buf), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn valid_utf8_split_everywhere() {
    let text = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 𝄞 €";
    let b = text.as_bytes();
    for cut in 0..=b.len() {
        let mut bytes = cframe(false, 0x1, &b[..cut]);
        bytes.extend(cframe(true, 0x0, &b[cut..]));
        let (ev, r, _) = server_sees(&bytes, 1 + cut % 5);
        r.unwrap();
        assert_eq!(ev, vec![Event::Message(Message::text(text))]);
    }
}

#[test]
fn close_payload_rules_7_4() {
    // Autobahn 7.3.1: empty close → echo empty close, Closed{1005}.
    let (ev, r, out) = server_sees(&cframe(true, 0x8, b""), 1);
    r.unwrap();
    assert_eq!(
        ev,
        vec![
            Event::CloseReceived {
                code: None,
                reason: String::new()
            },
            Event::Closed {
                code: CloseCode::NO_STATUS,
                reason: String::new()
            },
        ]
    );
    assert_eq!(out, vec![(true, 0x8, vec![])]);
    // Autobahn 7.3.2: 1-byte payload → 1002.
    let (_, r, out) = server_sees(&cframe(true, 0x8, b"\x03"), 1);
    assert_eq!(r, Err(ProtocolError::CloseFrameTooShort));
    assert_eq!(out, vec![close_frame(1002)]);
    // Autobahn 7.7.x / 7.9.x: valid codes are echoed, invalid ones get 1002.
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
        4000, 4999,
    ] {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(b"bye");
        let (ev, r, out) = server_sees(&cframe(true, 0x8, &p), 2);
        r.unwrap();
        assert_eq!(
            ev[0],
            Event::CloseReceived {
                code: Some(CloseCode(code)),
                reason: "bye".into()
            }
        );
        assert_eq!(out, vec![close_frame(code)], "{code}");
    }
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let (_, r, out) = server_sees(&cframe(true, 0x8, &code.to_be_bytes()), 2);
        assert_eq!(r, Err(ProtocolError::InvalidCloseCode(code)));
        assert_eq!(out, vec![close_frame(1002)], "{code}");
    }
    // Autobahn 7.5.1: invalid UTF-8 reason → 1007.
    let mut p = 1000u16.to_be_bytes().to_vec();
    p.extend_from_slice(&[0xce, 0xba, 0xed, 0xa0, 0x80]);
    let (_, r, out) = server_sees(&cframe(true, 0x8, &p), 2);
    assert_eq!(r, Err(ProtocolError::InvalidUtf8));
    assert_eq!(out, vec![close_frame(1007)]);
}

#[test]
fn nothing_after_close_is_processed() {
    // Autobahn 7.1.x: frames after the peer's Close are ignored, nothing more is sent.
    let mut bytes = cframe(true, 0x8, &1000u16.to_be_bytes());
    bytes.extend(cframe(true, 0x1, b"late"));
    bytes.extend(cframe(true, 0x9, b"late ping"));
    let (ev, r, out) = server_sees(&bytes, 3);
    r.unwrap();
    assert_eq!(ev.len(), 2);
    assert!(closed(1000)(&ev[1]));
    assert_eq!(out, vec![close_frame(1000)]);
}

#[test]
fn we_close_first_then_peer_answers() {
    let mut s = server(Config::default());
    s.close(CloseCode::GOING_AWAY, "shutdown").unwrap();
    assert_eq!(s.state(), State::Closing);
    assert_eq!(s.send(Message::text("x")), Err(SendError::Closed));
    assert_eq!(s.ping(Bytes::new()), Err(SendError::Closed));
    assert_eq!(s.close(CloseCode::NORMAL, ""), Err(SendError::Closed));
    let out = decode_frames(&transmits(&mut s), false);
    let mut want = 1001u16.to_be_bytes().to_vec();
    want.extend_from_slice(b"shutdown");
    assert_eq!(out, vec![(true, 0x8, want)]);
    // Messages still arrive while closing; pings are not answered any more.
    let mut bytes = cframe(true, 0x1, b"in flight");
    bytes.extend(cframe(true, 0x9, b"p"));
    bytes.extend(cframe(true, 0x8, &1001u16.to_be_bytes()));
    feed_chunked(&mut s, &bytes, 4).unwrap();
    assert_eq!(s.state(), State::Closed);
    let ev = events(&mut s);
    assert_eq!(ev[0], Event::Message(Message::text("in flight")));
    assert!(closed(1001)(ev.last().unwrap()));
    assert!(transmits(&mut s).is_empty());
}

#[test]
fn eof_without_close_is_abnormal() {
    let mut s = server(Config::default());
    let mut buf = BytesMut::from(&cframe(true, 0x1, b"partial")[..5]);
    s.handle_input(&mut buf).unwrap();
    s.handle_eof();
    assert_eq!(
        events(&mut s),
        vec![Event::Closed {
            code: CloseCode::ABNORMAL,
            reason: String::new()
        }]
    );
    s.handle_eof();
    assert!(s.poll_event().is_none());
}

#[test]
fn limits_1009() {
    let config = Config::default()
        .with_max_frame_size(10)
        .with_max_message_size(15);
    let mut s = server(config.clone());
    // The header alone is enough to refuse: the payload never needs to arrive.
    let r = feed_chunked(&mut s, &cframe(true, 0x2, &[0; 11])[..8], 100);
    assert_eq!(r, Err(ProtocolError::FrameTooLarge { size: 11, max: 10 }));
    assert_eq!(
        decode_frames(&transmits(&mut s), false),
        vec![close_frame(1009)]
    );
    let mut s = server(config);
    let mut bytes = cframe(false, 0x2, &[0; 10]);
    bytes.extend(cframe(true, 0x0, &[0; 6]));
    let r = feed_chunked(&mut s, &bytes, 100);
    assert_eq!(r, Err(ProtocolError::MessageTooLarge { size: 16, max: 15 }));
    assert!(closed(1009)(&events(&mut s)[0]));
}

#[test]
fn send_errors_are_caller_misuse() {
    let mut s = server(Config::default());
    assert_eq!(
        s.ping(Bytes::from(vec![0; 126])),
        Err(SendError::ControlFrameTooLarge {
            size: 126,
            max: 125
        })
    );
    assert_eq!(
        s.close(CloseCode::ABNORMAL, ""),
        Err(SendError::InvalidCloseCode(1006))
    );
    assert_eq!(
        s.close(CloseCode::NORMAL, &"x".repeat(124)),
        Err(SendError::ReasonTooLong {
            size: 124,
            max: 123
        })
    );
    assert_eq!(s.state(), State::Open);
    let mut c = Connection::new(Role::Client, Config::default());
    assert_eq!(c.send(Message::text("x")), Err(SendError::NoMaskSource));
    // Fragmented sending.
    s.send_fragment(Message::text("a"), false).unwrap();
    assert_eq!(
        s.send(Message::text("b")),
        Err(SendError::FragmentInProgress)
    );
    assert_eq!(
        s.send_fragment(Message::binary(vec![1]), true),
        Err(SendError::FragmentKindMismatch)
    );
    s.ping(Bytes::from_static(b"mid")).unwrap();
    s.send_fragment(Message::text("b"), true).unwrap();
    let out = decode_frames(&transmits(&mut s), false);
    assert_eq!(
        out,
        vec![
            (false, 1, b"a".to_vec()),
            (true, 9, b"mid".to_vec()),
            (true, 0, b"b".to_vec())
        ]
    );
}

#[test]
fn close_with_no_status_sends_empty_payload() {
    let mut s = server(Config::default());
    s.close(CloseCode::NO_STATUS, "").unwrap();
    assert_eq!(
        decode_frames(&transmits(&mut s), false),
        vec![(true, 8, vec![])]
    );
}

#[test]
fn non_minimal_length_is_rejected() {
    let (_, r, out) = server_sees(&[0x82, 0xFE, 0x00, 0x05, 1, 2, 3, 4], 1);
    assert_eq!(r, Err(ProtocolError::NonMinimalLength { len: 5 }));
    assert_eq!(out, vec![close_frame(1002)]);
    let (_, r, _) = server_sees(&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0], 1);
    assert_eq!(r, Err(ProtocolError::InvalidLength));
}

#[test]
fn ping_flood_keeps_latest_pongs_only() {
    // Autobahn 2.10: ten pings in one read get ten pongs.
    let mut bytes = Vec::new();
    for i in 0..10u8 {
        bytes.extend(cframe(true, 0x9, &[i]));
    }
    let (_, r, out) = server_sees(&bytes, bytes.len());
    r.unwrap();
    let want: Vec<_> = (0..10u8).map(|i| (true, 0xA, vec![i])).collect();
    assert_eq!(out, want);
    // Beyond max_pending_pongs, the oldest pending pong is dropped: the latest pings win.
    for limit in [1usize, 3] {
        let mut s = server(Config::default().with_max_pending_pongs(limit));
        feed_chunked(&mut s, &bytes, bytes.len()).unwrap();
        let out = decode_frames(&transmits(&mut s), false);
        let want: Vec<_> = (10 - limit as u8..10)
            .map(|i| (true, 0xA, vec![i]))
            .collect();
        assert_eq!(out, want);
    }
    // A pong pending when we close goes out before our Close.
    let mut s = server(Config::default());
    feed_chunked(&mut s, &cframe(true, 0x9, b"x"), 100).unwrap();
    s.close(CloseCode::NORMAL, "").unwrap();
    let out = decode_frames(&transmits(&mut s), false);
    assert_eq!(out, vec![(true, 0xA, b"x".to_vec()), close_frame(1000)]);
}

#[test]
fn connection_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Connection>();
    assert_send_sync::<Event>();
    assert_send_sync::<sluice_ws::Transmit>();
}

/// `poll_input` hands out one event at a time, decoding only as far as the frame that made
/// it: the message before a protocol violation comes out (and can be answered) before the
/// error, and `Closed` after it.
#[test]
fn poll_input_hands_out_one_event_at_a_time() {
    let mut c = client(Config::default());
    let mut buf = BytesMut::from(
        &[
            0x81, 0x02, b'h', b'i', // "hi"
            0x89, 0x00, // ping
            0x82, 0x01, 0x07, // binary [7]
            0xA1, 0x00, // RSV2 set: protocol error
        ][..],
    );
    assert_eq!(
        c.poll_input(&mut buf),
        Ok(Some(Event::Message(Message::text("hi"))))
    );
    assert_eq!(buf.len(), 7, "later frames stay in the buffer");
    c.send(Message::text("answer")).unwrap();
    assert_eq!(c.poll_input(&mut buf), Ok(Some(Event::Ping(Bytes::new()))));
    assert_eq!(buf.len(), 5);
    assert_eq!(
        c.poll_input(&mut buf),
        Ok(Some(Event::Message(Message::Binary(Bytes::from_static(
            &[7]
        )))))
    );
    let err = c.poll_input(&mut buf).unwrap_err();
    assert_eq!(err.close_code(), sluice_ws::CloseCode::PROTOCOL_ERROR);
    assert!(matches!(c.poll_input(&mut buf), Ok(Some(ev)) if closed(1002)(&ev)));
    assert_eq!(c.poll_input(&mut buf), Ok(None));
    assert_eq!(c.state(), State::Closed);
    // What was sent went out in order: the answer, the automatic Pong, then the Close.
    let frames = decode_frames(&transmits(&mut c), true);
    let opcodes: Vec<u8> = frames.iter().map(|f| f.1).collect();
    assert_eq!(opcodes, vec![0x1, 0xA, 0x8]);
}

/// A fragmented message (RFC 6455 §5.4) goes through the queue: `handle_input_until_message`
/// still stops right after the frame that completes it, and `poll_input` hands it out whole.
#[test]
fn a_fragmented_message_stops_both_one_message_at_a_time_paths() {
    let frames: &[u8] = &[
        0x01, 0x02, b'h', b'e', // text, not final
        0x80, 0x03, b'l', b'l', b'o', // continuation, final
        0x82, 0x01, 0x07, // binary [7]
    ];
    let mut c = client(Config::default());
    let mut buf = BytesMut::from(frames);
    assert_eq!(c.handle_input_until_message(&mut buf), Ok(true));
    assert_eq!(events(&mut c), vec![Event::Message(Message::text("hello"))]);
    assert_eq!(buf.len(), 3, "the binary frame stays in the buffer");

    let mut c = client(Config::default());
    let mut buf = BytesMut::from(frames);
    assert_eq!(
        c.poll_input(&mut buf),
        Ok(Some(Event::Message(Message::text("hello"))))
    );
    assert_eq!(buf.len(), 3);
    assert_eq!(
        c.poll_input(&mut buf),
        Ok(Some(Event::Message(Message::Binary(Bytes::from_static(
            &[7]
        )))))
    );
}

/// A frame cut anywhere: `poll_input` says `None` and keeps the partial frame; the rest
/// completes it.
#[test]
fn poll_input_waits_for_the_rest_of_a_frame() {
    let mut c = client(Config::default());
    let mut buf = BytesMut::from(&[0x81, 0x05, b'h', b'e'][..]);
    assert_eq!(c.poll_input(&mut buf), Ok(None));
    buf.extend_from_slice(b"llo");
    assert_eq!(
        c.poll_input(&mut buf),
        Ok(Some(Event::Message(Message::text("hello"))))
    );
    assert!(buf.is_empty());
    assert_eq!(c.poll_input(&mut buf), Ok(None));
}

/// `handle_input_until_message` stops after each data message, leaving later frames
/// (here: a message, then a frame with a reserved RSV bit) unexamined until it is called
/// again, so a driver can answer the first message before the connection fails.
#[test]
fn until_message_answers_before_failing_on_the_next_frame() {
    let mut c = client(Config::default());
    let mut buf = BytesMut::from(
        &[
            0x81, 0x02, b'h', b'i', // "hi"
            0x89, 0x00, // ping (no message: keeps going)
            0x82, 0x01, 0x07, // binary [7]
            0xA1, 0x00, // RSV2 set: protocol error
        ][..],
    );
    assert_eq!(c.handle_input_until_message(&mut buf), Ok(true));
    assert_eq!(events(&mut c), vec![Event::Message(Message::text("hi"))]);
    assert_eq!(buf.len(), 7, "later frames stay in the buffer");
    c.send(Message::text("answer")).unwrap();
    assert_eq!(c.handle_input_until_message(&mut buf), Ok(true));
    assert_eq!(
        events(&mut c),
        vec![
            Event::Ping(Bytes::new()),
            Event::Message(Message::Binary(Bytes::from_static(&[7])))
        ]
    );
    assert!(c.handle_input_until_message(&mut buf).is_err());
    assert!(events(&mut c).iter().any(closed(1002)));
    assert_eq!(c.state(), State::Closed);
}
