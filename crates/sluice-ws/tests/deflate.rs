//! permessage-deflate (RFC 7692) through whole connections: negotiation to wire and back,
//! every parameter combination, random chunk splits, fragments, the bomb, RSV1 rules.
#![cfg(feature = "deflate")]

mod support;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sluice_ws::deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
use sluice_ws::handshake::Extension;
use sluice_ws::{CloseCode, Config, Connection, Event, Message, ProtocolError, Role};
use support::{counter_mask, events, feed_chunked, frame_rsv, transmits};

/// Negotiates like the two handshakes would and returns (client, server).
fn negotiated(
    client_cfg: &DeflateConfig,
    server_cfg: &DeflateConfig,
    config: Config,
) -> (Connection, Connection) {
    let offer = Extension::parse_list(client_cfg.offer().to_string().as_bytes()).unwrap();
    let agreed = server_cfg.accept_offers(&offer).expect("server accepts");
    let answer = Extension::parse_list(agreed.to_extension().to_string().as_bytes()).unwrap();
    let client_agreed = client_cfg
        .accept_response(&answer)
        .unwrap()
        .expect("client agrees");
    assert_eq!(client_agreed, agreed);
    let client = Connection::new(Role::Client, config.clone())
        .with_mask_source(counter_mask())
        .with_deflate(PerMessageDeflate::new(
            Role::Client,
            &client_agreed,
            client_cfg,
        ));
    let server = Connection::new(Role::Server, config).with_deflate(PerMessageDeflate::new(
        Role::Server,
        &agreed,
        server_cfg,
    ));
    (client, server)
}

fn messages(conn: &mut Connection) -> Vec<Message> {
    events(conn)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// The messages `conn` hands out when `bytes` arrive in `chunk`-sized reads and are taken
/// with [`Connection::poll_input`].
fn poll_messages(conn: &mut Connection, bytes: &[u8], chunk: usize) -> Vec<Message> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        while let Some(ev) = conn.poll_input(&mut buf).unwrap() {
            if let Event::Message(m) = ev {
                out.push(m);
            }
        }
    }
    out
}

fn chat(i: usize) -> String {
    format!(
        r#"{{"type":"message","room":"general","user":"user{}","text":"hello number {} from the chat","ts":{}}}"#,
        i % 7,
        i,
        1_700_000_000 + i
    )
}

/// RFC 7692 §7.2.3.1: what the server sends for "Hello" is the RFC's frame, byte for byte.
#[test]
fn rfc7692_7_2_3_1_hello_on_the_wire() {
    let cfg = DeflateConfig::default().with_threshold(0);
    let (_, mut server) = negotiated(&cfg, &cfg, Config::default());
    server.send(Message::text("Hello")).unwrap();
    assert_eq!(
        transmits(&mut server),
        [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
    // §7.2.3.2: the second one refers back into the first.
    server.send(Message::text("Hello")).unwrap();
    assert_eq!(
        transmits(&mut server),
        [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]
    );
}

/// RFC 7692 §7.2.3.1 fragmented example received by a client, and RSV1 rules (§6).
#[test]
fn rfc7692_fragments_and_rsv1_rules() {
    let cfg = DeflateConfig::default();
    let (mut client, _) = negotiated(&cfg, &cfg, Config::default());
    let mut wire = frame_rsv(false, 0b100, 1, None, &[0xf2, 0x48, 0xcd]);
    wire.extend(frame_rsv(true, 0, 9, None, b"ping in between"));
    wire.extend(frame_rsv(true, 0, 0, None, &[0xc9, 0xc9, 0x07, 0x00]));
    feed_chunked(&mut client, &wire, 1).unwrap();
    let ev = events(&mut client);
    assert_eq!(ev[0], Event::Ping(Bytes::from_static(b"ping in between")));
    assert_eq!(ev[1], Event::Message(Message::text("Hello")));

    // RSV1 on a continuation frame, on a control frame: 1002.
    for bad in [
        [
            frame_rsv(false, 0b100, 1, None, &[0xf2, 0x48]),
            frame_rsv(true, 0b100, 0, None, &[0x00]),
        ]
        .concat(),
        frame_rsv(true, 0b100, 9, None, b""),
    ] {
        let (mut client, _) = negotiated(&cfg, &cfg, Config::default());
        let err = feed_chunked(&mut client, &bad, 64).unwrap_err();
        assert!(matches!(err, ProtocolError::ReservedBits { .. }), "{err:?}");
        assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
    }
    // RSV2 is still reserved.
    let (mut client, _) = negotiated(&cfg, &cfg, Config::default());
    let err = feed_chunked(&mut client, &frame_rsv(true, 0b010, 1, None, b"x"), 64).unwrap_err();
    assert!(matches!(err, ProtocolError::ReservedBits { .. }));
    // Corrupt DEFLATE data: 1007.
    let (mut client, _) = negotiated(&cfg, &cfg, Config::default());
    let err = feed_chunked(
        &mut client,
        &frame_rsv(true, 0b100, 2, None, &[0xff, 0xff]),
        64,
    )
    .unwrap_err();
    assert_eq!(err, ProtocolError::InvalidCompressedData);
    assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    // Invalid UTF-8 inside compressed text: 1007 too.
    let (mut c2, mut s2) = negotiated(&cfg, &cfg, Config::default());
    s2.send(Message::binary(vec![0xffu8; 100])).unwrap();
    let mut wire = transmits(&mut s2);
    wire[0] = (wire[0] & 0xf0) | 0x1; // binary -> text
    let err = feed_chunked(&mut c2, &wire, 7).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidUtf8);
}

/// A decompression bomb: 64 MiB of zeros in ~64 KiB of frames, against a 1 MiB limit. The
/// connection fails with 1009 having inflated at most the limit + 1 byte.
#[test]
fn bomb_closes_with_1009() {
    let cfg = DeflateConfig::default();
    let config = Config::default().with_max_message_size(1 << 20);
    let (mut client, mut server) = negotiated(&cfg, &cfg, config);
    // The client is not limited by its own receive limit when sending: fragments.
    let zeros = Bytes::from(vec![0u8; 1 << 20]);
    for i in 0..64 {
        client
            .send_fragment(Message::binary(zeros.clone()), i == 63)
            .unwrap();
    }
    let wire = transmits(&mut client);
    assert!(wire.len() < 128 << 10, "{}", wire.len());
    let err = feed_chunked(&mut server, &wire, 4096).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::MessageTooLarge {
            size: (1 << 20) + 1,
            max: 1 << 20
        }
    );
    assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    let out = transmits(&mut server);
    assert_eq!(&out[..4], &[0x88, 0x02, 0x03, 0xf1]);
}

#[test]
fn small_messages_below_threshold_go_plain() {
    let cfg = DeflateConfig::default().with_threshold(100);
    let (_, mut server) = negotiated(&cfg, &cfg, Config::default());
    server.send(Message::text("short")).unwrap();
    let wire = transmits(&mut server);
    assert_eq!(wire[0], 0x81, "no RSV1");
    server.send(Message::text(chat(1).repeat(3))).unwrap();
    assert_eq!(transmits(&mut server)[0], 0xc1, "RSV1");
    server
        .ping(Bytes::from(chat(2).into_bytes()[..100].to_vec()))
        .unwrap();
    assert_eq!(
        transmits(&mut server)[0],
        0x89,
        "control frames never compressed"
    );
}

/// Without context takeover the state is freed after each message.
#[test]
fn no_context_takeover_frees_state() {
    let cfg = DeflateConfig::default()
        .with_server_no_context_takeover(true)
        .with_client_no_context_takeover(true)
        .with_threshold(0);
    let (mut client, mut server) = negotiated(&cfg, &cfg, Config::default());
    client.send(Message::text(chat(1))).unwrap();
    let wire = transmits(&mut client);
    assert_eq!(client.deflate().unwrap().has_state(), (false, false));
    feed_chunked(&mut server, &wire, 1000).unwrap();
    assert_eq!(messages(&mut server), vec![Message::text(chat(1))]);
    assert_eq!(server.deflate().unwrap().has_state(), (false, false));
    // With takeover they stay.
    let cfg = DeflateConfig::default().with_threshold(0);
    let (mut client, mut server) = negotiated(&cfg, &cfg, Config::default());
    client.send(Message::text(chat(1))).unwrap();
    feed_chunked(&mut server, &transmits(&mut client), 1000).unwrap();
    assert_eq!(client.deflate().unwrap().has_state(), (true, false));
    assert_eq!(server.deflate().unwrap().has_state(), (false, true));
    let s = server.deflate().unwrap().stats();
    assert_eq!(s.messages_inflated, 1);
    assert_eq!(s.inflate_out, chat(1).len() as u64);
}

fn params_strategy() -> impl Strategy<Value = (DeflateConfig, DeflateConfig)> {
    let bits = prop_oneof![Just(15u8), Just(8u8), Just(9u8), Just(12u8)];
    (
        any::<[bool; 4]>(),
        bits.clone(),
        bits.clone(),
        bits.clone(),
        bits,
        0u32..=9,
    )
        .prop_map(|(f, sb, cb, ssb, scb, level)| {
            let client = DeflateConfig::default()
                .with_server_no_context_takeover(f[0])
                .with_client_no_context_takeover(f[1])
                .with_server_max_window_bits(sb)
                .with_client_max_window_bits(cb)
                .with_threshold(0)
                .with_level(level);
            let server = DeflateConfig::default()
                .with_server_no_context_takeover(f[2])
                .with_client_no_context_takeover(f[3])
                .with_server_max_window_bits(ssb)
                .with_client_max_window_bits(scb)
                .with_level(level)
                .with_threshold(0);
            (client, server)
        })
}

/// A message as a list of fragments (one element: sent whole).
fn message_strategy() -> impl Strategy<Value = (bool, Vec<Vec<u8>>)> {
    let text_piece = prop_oneof![
        "[a-z {}\":,0-9]{0,300}".prop_map(String::into_bytes),
        (0usize..50).prop_map(|i| chat(i).into_bytes()),
        "\\PC{0,40}".prop_map(String::into_bytes),
    ];
    let bin_piece = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        (0usize..5000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ];
    prop_oneof![
        proptest::collection::vec(text_piece, 1..4).prop_map(|v| (true, v)),
        proptest::collection::vec(bin_piece, 1..4).prop_map(|v| (false, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every parameter combination, both directions, random fragments and chunk splits:
    /// what arrives is what was sent.
    #[test]
    fn round_trip_every_parameter_combination(
        (ccfg, scfg) in params_strategy(),
        msgs in proptest::collection::vec(message_strategy(), 1..8),
        chunk in 1usize..700,
    ) {
        let (mut client, mut server) = negotiated(&ccfg, &scfg, Config::default());
        let mut expected = Vec::new();
        for (text, pieces) in &msgs {
            let whole: Vec<u8> = pieces.concat();
            let make = |b: &[u8]| if *text {
                Message::text(String::from_utf8(b.to_vec()).unwrap())
            } else {
                Message::binary(b.to_vec())
            };
            // Text pieces are each valid UTF-8 (whole strings), so fragments are too.
            if pieces.len() == 1 {
                client.send(make(&whole)).unwrap();
                server.send(make(&whole)).unwrap();
            } else {
                for (i, p) in pieces.iter().enumerate() {
                    let fin = i + 1 == pieces.len();
                    client.send_fragment(make(p), fin).unwrap();
                    server.send_fragment(make(p), fin).unwrap();
                }
            }
            expected.push(make(&whole));
        }
        let to_server = transmits(&mut client);
        let to_client = transmits(&mut server);
        feed_chunked(&mut server, &to_server, chunk).unwrap();
        feed_chunked(&mut client, &to_client, chunk).unwrap();
        prop_assert_eq!(messages(&mut server), expected.clone());
        prop_assert_eq!(messages(&mut client), expected.clone());
        // The same bytes read one event at a time (`poll_input`, sluice-tokio's way).
        let (mut client2, mut server2) = negotiated(&ccfg, &scfg, Config::default());
        prop_assert_eq!(poll_messages(&mut server2, &to_server, chunk), expected.clone());
        prop_assert_eq!(poll_messages(&mut client2, &to_client, chunk), expected);
    }

    /// Peer bytes through the inflate path never produce more than the limit.
    #[test]
    fn inflate_output_bounded(payload in proptest::collection::vec(any::<u8>(), 0..2000), max in 0usize..5000) {
        let mut d = PerMessageDeflate::new(Role::Server, &DeflateParams::default(), &DeflateConfig::default());
        let mut out = Vec::new();
        let _ = d.decompress(&payload, true, &mut out, max);
        prop_assert!(out.len() <= max + 1);
    }
}

#[test]
fn chunked_input_buffer_untouched_by_compressed_partial_frames() {
    // A compressed frame split mid-payload keeps its bytes in the caller's buffer.
    let cfg = DeflateConfig::default().with_threshold(0);
    let (mut client, mut server) = negotiated(&cfg, &cfg, Config::default());
    client.send(Message::text(chat(3).repeat(10))).unwrap();
    let wire = transmits(&mut client);
    let mut buf = BytesMut::from(&wire[..wire.len() - 3]);
    server.handle_input(&mut buf).unwrap();
    assert!(messages(&mut server).is_empty());
    buf.extend_from_slice(&wire[wire.len() - 3..]);
    server.handle_input(&mut buf).unwrap();
    assert_eq!(
        messages(&mut server),
        vec![Message::text(chat(3).repeat(10))]
    );
}

/// An empty last fragment after a flushed one, then an empty message (RFC 7692 §7.2.3.6:
/// an empty compressed message is the single byte 0x00).
#[test]
fn empty_fragments_and_messages() {
    let cfg = DeflateConfig::default().with_threshold(0);
    let (mut client, mut server) = negotiated(&cfg, &cfg, Config::default());
    client.send_fragment(Message::text("abc"), false).unwrap();
    client.send_fragment(Message::text(""), true).unwrap();
    client.send(Message::text("")).unwrap();
    client.send(Message::text("abc")).unwrap();
    let wire = transmits(&mut client);
    feed_chunked(&mut server, &wire, 1).unwrap();
    assert_eq!(
        messages(&mut server),
        vec![
            Message::text("abc"),
            Message::text(""),
            Message::text("abc")
        ]
    );
    server.send(Message::text("")).unwrap();
    server.send(Message::text("")).unwrap();
    let wire = transmits(&mut server);
    assert_eq!(&wire[..3], &[0xc1, 0x01, 0x00]);
    assert_eq!(&wire[3..], &[0xc1, 0x01, 0x00]);
}
