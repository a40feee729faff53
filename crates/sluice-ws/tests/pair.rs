//! An in-memory client/server pair driving both state machines.

mod support;

use bytes::Bytes;
use sluice_ws::{CloseCode, Config, Event, Message, State};
use support::Pair;

fn messages(events: &[Event]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn echo_both_ways_every_chunk_size() {
    for chunk in [1, 2, 5, 13, 64, 1 << 20] {
        let mut p = Pair::new(Config::default(), chunk);
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        p.client.send(Message::text("hello server")).unwrap();
        p.client.send(Message::binary(big.clone())).unwrap();
        p.server.send(Message::text("hello client")).unwrap();
        p.run();
        assert_eq!(
            messages(&p.server_events),
            vec![Message::text("hello server"), Message::binary(big)]
        );
        assert_eq!(
            messages(&p.client_events),
            vec![Message::text("hello client")]
        );
        assert!(p.client_error.is_none() && p.server_error.is_none());
    }
}

#[test]
fn fragmented_send_is_reassembled() {
    let mut p = Pair::new(Config::default(), 3);
    p.client.send_fragment(Message::text("κό"), false).unwrap();
    p.client.ping(Bytes::from_static(b"between")).unwrap();
    p.client.send_fragment(Message::text("σμε"), false).unwrap();
    p.run();
    p.client.send_fragment(Message::text("!"), true).unwrap();
    p.server
        .send_fragment(Message::binary(vec![1, 2]), false)
        .unwrap();
    p.server
        .send_fragment(Message::binary(vec![3]), true)
        .unwrap();
    p.run();
    assert_eq!(messages(&p.server_events), vec![Message::text("κόσμε!")]);
    assert_eq!(
        messages(&p.client_events),
        vec![Message::binary(vec![1, 2, 3])]
    );
    // The ping was answered automatically.
    assert!(
        p.client_events
            .contains(&Event::Pong(Bytes::from_static(b"between")))
    );
}

#[test]
fn ping_storm_latest_win_and_data_flows() {
    let mut p = Pair::new(Config::default(), 7);
    for i in 0..1000u32 {
        p.client
            .ping(Bytes::from(i.to_be_bytes().to_vec()))
            .unwrap();
        if i % 100 == 0 {
            p.client.send(Message::text(format!("m{i}"))).unwrap();
        }
    }
    p.run();
    let pings = p
        .server_events
        .iter()
        .filter(|e| matches!(e, Event::Ping(_)))
        .count();
    assert_eq!(pings, 1000);
    let pongs: Vec<&Bytes> = p
        .client_events
        .iter()
        .filter_map(|e| {
            if let Event::Pong(b) = e {
                Some(b)
            } else {
                None
            }
        })
        .collect();
    // The server polls transmits once per run() round, after up to 1000 pings: it answers the
    // latest `max_pending_pongs` of them.
    assert!(!pongs.is_empty() && pongs.len() < 1000);
    assert_eq!(pongs.last().unwrap().as_ref(), &999u32.to_be_bytes());
    assert_eq!(messages(&p.server_events).len(), 10);
}

#[test]
fn client_closes_first() {
    let mut p = Pair::new(Config::default(), 4);
    p.client.send(Message::text("last words")).unwrap();
    p.client.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(p.client.state(), State::Closing);
    p.run();
    assert_eq!(p.client.state(), State::Closed);
    assert_eq!(p.server.state(), State::Closed);
    assert_eq!(
        p.server_events,
        vec![
            Event::Message(Message::text("last words")),
            Event::CloseReceived {
                code: Some(CloseCode::NORMAL),
                reason: "done".into()
            },
            Event::Closed {
                code: CloseCode::NORMAL,
                reason: "done".into()
            },
        ]
    );
    assert_eq!(
        p.client_events,
        vec![
            Event::CloseReceived {
                code: Some(CloseCode::NORMAL),
                reason: String::new()
            },
            Event::Closed {
                code: CloseCode::NORMAL,
                reason: String::new()
            },
        ]
    );
}

#[test]
fn server_closes_first_while_client_sends() {
    let mut p = Pair::new(Config::default(), 1);
    p.server.close(CloseCode::GOING_AWAY, "restart").unwrap();
    // The client sends before it has seen the server's close: the server still delivers it.
    p.client.send(Message::binary(vec![9; 300])).unwrap();
    p.run();
    assert_eq!(
        messages(&p.server_events),
        vec![Message::binary(vec![9; 300])]
    );
    assert!(matches!(
        p.server_events.last(),
        Some(Event::Closed {
            code: CloseCode::GOING_AWAY,
            ..
        })
    ));
    assert!(matches!(
        p.client_events.last(),
        Some(Event::Closed { code: CloseCode::GOING_AWAY, reason }) if reason == "restart"
    ));
}

#[test]
fn simultaneous_close() {
    let mut p = Pair::new(Config::default(), 2);
    p.client.close(CloseCode(4000), "c").unwrap();
    p.server.close(CloseCode(4001), "s").unwrap();
    p.run();
    // Each side reports the peer's code (§7.1.5) and neither sends a second Close.
    assert!(matches!(
        p.client_events.last(),
        Some(Event::Closed {
            code: CloseCode(4001),
            ..
        })
    ));
    assert!(matches!(
        p.server_events.last(),
        Some(Event::Closed {
            code: CloseCode(4000),
            ..
        })
    ));
    assert!(!p.client.has_transmit() && !p.server.has_transmit());
}

#[test]
fn limits_fail_the_sender_peer_with_1009() {
    let mut p = Pair::new(Config::default().with_max_message_size(1000), 64);
    p.client.send(Message::binary(vec![0; 1001])).unwrap();
    p.run();
    assert!(p.server_error.is_some());
    assert!(matches!(
        p.client_events.last(),
        Some(Event::Closed {
            code: CloseCode::MESSAGE_TOO_BIG,
            ..
        })
    ));
}

/// `Connection::split_sender`: the sending side moves to a second connection (a fragmented
/// message in progress included); the first keeps receiving and answering Pings and the Close.
#[test]
fn split_sender_sends_while_the_receiver_answers() {
    let mut client = support::client(Config::default());
    let mut server = support::server(Config::default());
    server
        .send_fragment(Message::binary(vec![1]), false)
        .unwrap();
    let mut wire = support::transmits(&mut server);
    let mut tx = server.split_sender();
    tx.send_fragment(Message::binary(vec![2]), true).unwrap();
    tx.send(Message::text("from the sender")).unwrap();
    wire.extend(support::transmits(&mut tx));
    assert!(
        server.send(Message::text("x")).is_ok(),
        "the receiver may still queue"
    );
    let _ = support::transmits(&mut server);
    client.handle_input(&mut wire.as_slice().into()).unwrap();
    assert_eq!(
        messages(&support::events(&mut client)),
        vec![
            Message::binary(vec![1, 2]),
            Message::text("from the sender")
        ]
    );
    // A Ping and the Close reach the receiving side; it answers both.
    client.ping(Bytes::from_static(b"p")).unwrap();
    client.close(CloseCode::NORMAL, "bye").unwrap();
    let mut up = support::transmits(&mut client).as_slice().into();
    server.handle_input(&mut up).unwrap();
    let answers = support::transmits(&mut server);
    let frames = support::decode_frames(&answers, false);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!((frames[0].1, frames[0].2.as_slice()), (0xA, &b"p"[..]));
    assert_eq!(frames[1].1, 0x8);
    assert!(
        support::transmits(&mut tx).is_empty(),
        "the sender queued nothing of its own"
    );
    assert!(matches!(
        support::events(&mut server).last(),
        Some(Event::Closed { .. })
    ));
    // The Close frame is recognisable without decoding.
    let mut t = server.split_sender();
    assert!(t.poll_transmit().is_none());
    let mut c = support::server(Config::default());
    c.close(CloseCode::NORMAL, "").unwrap();
    assert!(c.poll_transmit().unwrap().is_close());
    c = support::server(Config::default());
    c.send(Message::text("y")).unwrap();
    assert!(!c.poll_transmit().unwrap().is_close());
    assert_eq!(c.state(), State::Open);
}
