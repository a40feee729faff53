//! The failure matrix of issue 5, one named test per failure, through the wire forms
//! (query strings in, JSON bodies out) on an in-memory server.

mod harness;

use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::{Net, Polled, TOPIC, json, render};
use sluice_longpoll::{
    Client, ClientConfig, Cursor, Handled, LogConfig, Request, Server, ServerConfig, Start,
    StatusCode,
};

fn ready(h: Handled) -> sluice_longpoll::Response {
    match h {
        Handled::Ready(r) => r,
        Handled::Parked(id) => panic!("parked {id:?}"),
    }
}

fn q(net: &Net, seq: u64) -> String {
    format!("cursor={}&timeout=0", Cursor::new(net.epoch, seq))
}

#[test]
fn restart_with_memory_log_is_reset() {
    let mut net = Net::new(ServerConfig::default(), LogConfig::default(), 1);
    net.publish("a");
    assert_eq!(net.poll(0, false), Polled::Answered(200));
    assert_eq!(render(&net.events(0)), ["a"]);
    let old = net.clients[0].cursor().unwrap();
    net.restart();
    net.publish("b");
    // The old cursor's seq (1) is not ahead of the new head (1), but even a far-ahead seq
    // in the old epoch is a reset: the epoch is checked first.
    let forged = format!("cursor={}&timeout=0", Cursor::new(old.epoch(), 999));
    let v = json(&ready(net.request(&forged)));
    assert_eq!(v["reset"], true);
    assert_eq!(v["events"][0]["data"], "b");
    assert_eq!(net.poll(0, false), Polled::Answered(200));
    assert_eq!(render(&net.events(0)), ["reset", "b"]);
    assert_eq!(net.clients[0].cursor(), Some(Cursor::new(net.epoch, 1)));
}

/// Ten events, retention keeps the last four: oldest retained seq 7, head 10.
fn overflowed(by_age: bool) -> Net {
    let cfg = if by_age {
        LogConfig::default().with_max_age(Duration::from_secs(60))
    } else {
        LogConfig::default().with_max_events(4)
    };
    let mut net = Net::new(ServerConfig::default(), cfg, 0);
    for i in 1..=10 {
        net.publish(&format!("e{i}"));
        if by_age && i == 6 {
            net.advance(Duration::from_secs(61));
        }
    }
    net
}

/// Returns (gap missed, event seqs) for a read from `seq`.
fn read_at(net: &mut Net, seq: u64) -> (Option<u64>, Vec<String>) {
    let v = json(&ready(net.request(&q(net, seq))));
    let ids = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"].as_str().unwrap().to_owned())
        .collect();
    (v["gap"]["missed"].as_u64(), ids)
}

fn retention_matrix(by_age: bool) {
    let mut net = overflowed(by_age);
    // (By age, expiry happens on the next read; force it with one.)
    let _ = read_at(&mut net, 10);
    let log = net.server.log(&TOPIC).unwrap();
    assert_eq!((log.oldest_seq(), log.head().seq()), (7, 10));
    let tail = |from: u64| (from..=10).map(|i| format!("e{i}")).collect::<Vec<_>>();
    // Cursor = 0: six events gone.
    assert_eq!(read_at(&mut net, 0), (Some(6), tail(7)));
    // Cursor = oldest - 2: exactly one gone (event 6).
    assert_eq!(read_at(&mut net, 5), (Some(1), tail(7)));
    // Cursor = oldest - 1: the reader has seen event 6, nothing is missing.
    assert_eq!(read_at(&mut net, 6), (None, tail(7)));
    // Cursor = oldest: resumes after the oldest retained.
    assert_eq!(read_at(&mut net, 7), (None, tail(8)));
    // Cursor = head: nothing new (timeout=0 answers empty; otherwise it parks).
    assert_eq!(read_at(&mut net, 10), (None, vec![]));
    // Cursor = head + 1: ahead of the head → 400.
    let r = ready(net.request(&q(&net, 11)));
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(&r)["error"], "cursor_ahead");
}

#[test]
fn retention_overflow_by_count_exact_missed() {
    retention_matrix(false);
}

#[test]
fn retention_overflow_by_age_exact_missed() {
    retention_matrix(true);
}

#[test]
fn retention_overflow_everything_expired_gap_at_head() {
    let mut net = Net::new(
        ServerConfig::default(),
        LogConfig::default().with_max_age(Duration::from_secs(1)),
        0,
    );
    for i in 0..3 {
        net.publish(&format!("e{i}"));
    }
    net.advance(Duration::from_secs(2));
    let v = json(&ready(net.request(&q(&net, 1))));
    assert_eq!(v["gap"]["missed"], 2);
    assert_eq!(v["events"].as_array().unwrap().len(), 0);
    assert_eq!(v["cursor"], Cursor::new(net.epoch, 3).to_string());
}

#[test]
fn cursor_ahead_of_head_is_400() {
    let mut net = Net::new(ServerConfig::default(), LogConfig::default(), 1);
    net.publish("a");
    for seq in [2, 3, u64::MAX] {
        let r = ready(net.request(&format!("cursor={}", Cursor::new(net.epoch, seq))));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    // And the client stops on it instead of looping.
    net.clients[0] = Client::new(
        ClientConfig::default(),
        Start::At(Cursor::new(net.epoch, 5)),
    );
    assert_eq!(net.poll(0, false), Polled::Answered(400));
    assert_eq!(net.poll(0, false), Polled::BackingOff);
    assert!(net.clients[0].next_request(net.now).is_none());
}

#[test]
fn response_lost_and_retried_same_events_no_duplicates() {
    let mut net = Net::new(ServerConfig::default(), LogConfig::default(), 1);
    net.publish("a");
    net.publish("b");
    let req = net.clients[0].next_request(net.now).unwrap().to_query();
    let first = ready(net.request(&req));
    // The response is lost; the client backs off and retries the same cursor.
    assert_eq!(net.poll(0, true), Polled::Answered(200));
    assert!(
        net.clients[0].next_request(net.now).is_none(),
        "backing off"
    );
    net.advance(Duration::from_secs(1));
    let retry = net.clients[0].next_request(net.now).unwrap().to_query();
    assert_eq!(retry, req, "same cursor after a loss");
    let second = ready(net.request(&retry));
    assert_eq!(first.body(), second.body(), "at-least-once: same events");
    net.deliver(0, &second, false);
    net.deliver(0, &first, false);
    net.deliver(0, &second, false);
    assert_eq!(render(&net.events(0)), ["a", "b"]);
}

#[test]
fn publish_racing_registration_is_never_lost() {
    // Publish lands after the client read the head but before its request is handled:
    // the request's read sees it and answers at once.
    let mut net = Net::new(ServerConfig::default(), LogConfig::default(), 1);
    let req = net.clients[0].next_request(net.now).unwrap();
    net.publish("raced");
    let r = ready(net.request(&req.to_query()));
    net.deliver(0, &r, false);
    assert_eq!(render(&net.events(0)), ["raced"]);
    // Publish lands right after registration: the parked waiter is released.
    assert_eq!(net.poll(0, false), Polled::Parked);
    net.publish("after");
    assert!(net.pending.is_empty());
    assert_eq!(render(&net.events(0)), ["after"]);
    // Every interleaving of one publish with N registrations, same outcome.
    for k in 0..5 {
        let mut net = Net::new(ServerConfig::default(), LogConfig::default(), 5);
        for i in 0..5 {
            if i == k {
                net.publish("x");
            }
            let _ = net.poll(i, false);
        }
        for i in 0..5 {
            assert_eq!(render(&net.events(i)), ["x"], "client {i}, publish at {k}");
        }
        assert_eq!(net.server.parked(), 0);
    }
}

#[test]
fn two_concurrent_polls_from_one_client() {
    let mut net = Net::new(ServerConfig::default(), LogConfig::default(), 1);
    assert_eq!(net.poll(0, false), Polled::Parked);
    assert_eq!(net.poll(0, false), Polled::Parked);
    assert_eq!(net.server.parked(), 2);
    net.publish("a");
    net.publish("b");
    assert_eq!(
        render(&net.events(0)),
        ["a"],
        "both polls got [a]; one deduped"
    );
    // Two more in flight, answered out of order with overlapping batches.
    assert_eq!(net.poll(0, false), Polled::Answered(200));
    assert_eq!(render(&net.events(0)), ["b"]);
    let stale = ready(net.request(&format!("cursor={}", Cursor::new(net.epoch, 0))));
    net.deliver(0, &stale, false);
    assert!(net.events(0).is_empty(), "late overlapping answer deduped");
}

#[test]
fn disconnect_while_parked_leaks_no_waiter() {
    let mut net = Net::new(ServerConfig::default(), LogConfig::default(), 3);
    for i in 0..3 {
        assert_eq!(net.poll(i, false), Polled::Parked);
    }
    net.disconnect(1);
    assert_eq!(net.server.parked(), 2);
    net.publish("a");
    assert_eq!(net.server.parked(), 0);
    assert!(
        net.server.poll_response().is_none(),
        "nothing for the gone client"
    );
    assert_eq!(net.server.poll_timeout(), None, "its timer is gone too");
    // Park and drop many times on a quiet topic: memory stays bounded.
    for _ in 0..50_000 {
        let Handled::Parked(id) = net.request(&format!("cursor={}", Cursor::new(net.epoch, 1)))
        else {
            panic!()
        };
        assert!(net.server.cancel(id));
    }
    assert_eq!(net.server.parked(), 0);
    assert_eq!(net.server.poll_timeout(), None);
}

#[test]
fn ten_thousand_parked_waiters_released_by_one_publish() {
    let mut s: Server<&str> = Server::new(ServerConfig::default());
    s.create_topic("t", 1, LogConfig::default());
    let t = Instant::now();
    let req = Request::parse_query("cursor=1.1.0").unwrap();
    let mut ids = std::collections::HashSet::new();
    for i in 0..10_000u32 {
        match s.handle_request(t, &"t", &req, u64::from(i.wrapping_mul(2_654_435_761))) {
            Handled::Parked(id) => assert!(ids.insert(id)),
            Handled::Ready(r) => panic!("{:?}", r.status()),
        }
    }
    assert_eq!(s.parked(), 10_000);
    // The cap (default 10,000) is reached: the next one gets 503 + Retry-After.
    let r = ready(s.handle_request(t, &"t", &req, 0));
    assert_eq!(
        (r.status(), r.retry_after()),
        (StatusCode::SERVICE_UNAVAILABLE, Some(2))
    );
    s.publish(t, &"t", "m", Bytes::from_static(b"go")).unwrap();
    let mut n = 0;
    let mut body = None;
    while let Some((id, r)) = s.poll_response() {
        assert!(ids.remove(&id));
        assert_eq!(r.status(), StatusCode::OK);
        let b = body.get_or_insert_with(|| r.body().clone());
        assert_eq!(b.as_ptr(), r.body().as_ptr(), "one encoding shared by all");
        n += 1;
    }
    assert_eq!((n, s.parked()), (10_000, 0));
    assert_eq!(s.poll_timeout(), None);
    let v: serde_json::Value = serde_json::from_slice(body.unwrap().as_ref()).unwrap();
    assert_eq!(v["events"][0]["data"], "go");
}

#[test]
fn slow_consumer_gets_gap_publisher_never_blocks() {
    let mut net = Net::new(
        ServerConfig::default(),
        LogConfig::default().with_max_events(100),
        2,
    );
    // Client 1 keeps up; client 0 is stalled while 1,000 events are published.
    for i in 0..1000 {
        net.publish(&format!("e{i}"));
        if i % 50 == 0 {
            while net.poll(1, false) == Polled::Answered(200) && net.clients[1].more() {}
        }
    }
    while net.poll(1, false) == Polled::Answered(200) && net.clients[1].more() {}
    let fast = render(&net.events(1));
    assert_eq!(fast.len(), 1000, "the fast reader got everything");
    assert!(fast.iter().all(|e| !e.starts_with("gap")));
    assert_eq!(net.server.log(&TOPIC).unwrap().len(), 100, "bounded memory");
    // The slow one resumes: exactly 900 missed, then the 100 retained, in order.
    net.advance(Duration::from_secs(1));
    net.poll(0, false);
    let slow = render(&net.events(0));
    assert_eq!(slow[0], "gap900");
    assert_eq!(
        slow[1..],
        (900..1000).map(|i| format!("e{i}")).collect::<Vec<_>>()[..]
    );
}

#[test]
fn forged_cursors_are_400_or_reset_never_a_silent_skip() {
    let mut net = Net::new(ServerConfig::default(), LogConfig::default(), 0);
    net.publish("a");
    for bad in [
        "cursor=1.5eed.01",
        "cursor=1.5EED.1",
        "cursor=2.5eed.1",
        "cursor=1.5eed",
        "cursor=1.5eed.1.1",
        "cursor=1.5eed.99999999999999999999",
        "cursor=%31.5eed.1%",
        "cursor=1.5eed.1&cursor=1.5eed.0",
        "cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "timeout=ten",
        "max=0",
    ] {
        let req = Request::parse_query(bad);
        let err = req.expect_err(bad);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // Well-formed forgeries: ahead → 400; another epoch → reset (never events of this epoch
    // presented as the continuation of another).
    let r = ready(net.request(&format!("cursor={}", Cursor::new(net.epoch, 2))));
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v = json(&ready(
        net.request(&format!("cursor={}", Cursor::new(net.epoch ^ 1, 0))),
    ));
    assert_eq!(
        (v["reset"].clone(), v["events"][0]["data"].clone()),
        (true.into(), "a".into())
    );
    // Percent-encoded but canonical after decoding is accepted.
    let r = ready(net.request("cursor=%31.5eed.0&timeout=0"));
    assert_eq!(json(&r)["events"][0]["data"], "a");
}

#[test]
fn waiter_cap_503_retry_after_is_honoured() {
    let mut sc = ServerConfig::default();
    sc.max_waiters = 1;
    sc.retry_after = 7;
    let mut net = Net::new(sc, LogConfig::default(), 2);
    assert_eq!(net.poll(0, false), Polled::Parked);
    assert_eq!(net.poll(1, false), Polled::Answered(503));
    let wake = net.clients[1].poll_timeout().unwrap();
    assert!(wake >= net.now + Duration::from_secs(7));
    assert_eq!(net.poll(1, false), Polled::BackingOff);
    net.publish("a");
    net.advance(wake - net.now);
    assert_eq!(net.poll(1, false), Polled::Answered(200));
    assert_eq!(render(&net.events(1)), ["a"]);
}

#[test]
fn timeout_answers_empty_with_cursor_unchanged() {
    let mut net = Net::new(ServerConfig::default(), LogConfig::default(), 1);
    net.publish("a");
    net.poll(0, false);
    let _ = net.events(0);
    let before = net.clients[0].cursor();
    assert_eq!(net.poll(0, false), Polled::Parked);
    let deadline = net.server.poll_timeout().unwrap();
    assert!(deadline <= net.now + Duration::from_secs(25));
    assert!(deadline >= net.now + Duration::from_secs(20));
    net.advance(deadline - net.now);
    assert!(net.pending.is_empty());
    assert_eq!(net.clients[0].cursor(), before);
    assert!(net.events(0).is_empty());
}

#[test]
fn from_now_and_earliest() {
    let mut net = Net::new(
        ServerConfig::default(),
        LogConfig::default().with_max_events(2),
        0,
    );
    for d in ["a", "b", "c"] {
        net.publish(d);
    }
    let v = json(&ready(net.request("")));
    assert_eq!(v["cursor"], Cursor::new(net.epoch, 3).to_string());
    assert_eq!(v["events"].as_array().unwrap().len(), 0);
    let v = json(&ready(net.request("cursor=earliest")));
    assert_eq!(v["gap"], serde_json::Value::Null, "earliest is never a gap");
    assert_eq!(v["events"][0]["data"], "b");
    assert_eq!(v["events"][0]["id"], Cursor::new(net.epoch, 2).to_string());
    let v = json(&ready(net.request("cursor=earliest&max=1")));
    assert_eq!(
        (v["more"].clone(), v["cursor"].clone()),
        (true.into(), Cursor::new(net.epoch, 2).to_string().into())
    );
    // Earliest on an empty topic parks at the head.
    let mut s: Server<&str> = Server::new(ServerConfig::default());
    s.create_topic("e", 1, LogConfig::default());
    let t = Instant::now();
    assert!(matches!(
        s.handle_request(t, &"e", &Request::new(Start::Earliest), 0),
        Handled::Parked(_)
    ));
}
