//! Every transport delivers every event of a published sequence exactly once and in order,
//! across forced reconnects that resume by cursor; one cursor space across transports; gaps
//! when a subscriber falls out of retention; slow subscribers never block the publisher.

mod common;
#[allow(unused_imports)] // used by `common`; unused where sluice-axum includes this file
use common::standalone as serve_under_test;

use std::time::Duration;

use common::{Seen, Server, SseItem, T, poll_n, publish_at, ws_next};
use sluice_http::StatusCode;
use sluice_hub::HubConfig;
use sluice_tokio::ws::Message;

const N: usize = 60;

fn data(i: usize) -> String {
    format!("m{i} line\nsecond line \u{e9}")
}

fn check_sequence(items: &[Seen], from: usize, to: usize, what: &str) {
    let got: Vec<&str> = items
        .iter()
        .map(|s| s.data().expect("only events"))
        .collect();
    let want: Vec<String> = (from..to).map(data).collect();
    assert_eq!(got, want, "{what}: every event exactly once, in order");
}

/// Publishes `data(from..to)` over HTTP with small pauses, so subscribers see live traffic.
fn spawn_publisher(
    s: &Server,
    topic: &'static str,
    from: usize,
    to: usize,
) -> tokio::task::JoinHandle<()> {
    let base = s.url("");
    tokio::spawn(async move {
        for i in from..to {
            publish_at(&base, topic, &data(i)).await;
            if i % 5 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_every_event_once_in_order_across_reconnect() {
    let s = Server::start(HubConfig::default()).await;
    let first = s.publish_ok("seq", &data(0)).await;
    // Subscribe from the first event's id (events after it), then a live sequence.
    let mut ws = s.ws(&format!("/ws/seq?cursor={first}"), &[]).await.unwrap();
    let publisher = spawn_publisher(&s, "seq", 1, N);
    let mut seen = Vec::new();
    while seen.len() < N / 2 {
        seen.push(ws_next(&mut ws).await.unwrap());
    }
    // Forced reconnect: drop the socket without a close handshake, resume by cursor.
    let cursor = seen.last().unwrap().id().unwrap().to_owned();
    drop(ws);
    let mut ws = s
        .ws(&format!("/ws/seq?cursor={cursor}"), &[])
        .await
        .unwrap();
    while seen.len() < N - 1 {
        seen.push(ws_next(&mut ws).await.unwrap());
    }
    publisher.await.unwrap();
    check_sequence(&seen, 1, N, "websocket");
    // Nothing more (no duplicates) after the last event.
    let extra = tokio::time::timeout(Duration::from_millis(200), ws.recv()).await;
    assert!(extra.is_err(), "no extra frame: {extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_every_event_once_in_order_across_reconnect() {
    let s = Server::start(HubConfig::default()).await;
    // No cursor: live from now, and the opening `id:` is the head.
    let mut sse = s.sse("/sse/seq", &[]).await;
    assert_eq!(sse.status(), StatusCode::OK);
    assert_eq!(sse.next_item().await, SseItem::Retry(2000));
    let head = s.hub.longpoll().head("seq").unwrap().to_string();
    let publisher = spawn_publisher(&s, "seq", 0, N);
    let mut seen = Vec::new();
    while seen.len() < N / 3 {
        seen.push(sse.next().await.unwrap());
    }
    let _ = head;
    // Forced reconnect the way a browser does it: same URL, Last-Event-ID header (the id of
    // the last event dispatched; the parser may already hold the next one's `id:` line).
    let last = seen.last().unwrap().id().unwrap().to_owned();
    drop(sse);
    let mut sse = s
        .sse("/sse/seq?cursor=earliest", &[("last-event-id", &last)])
        .await;
    assert_eq!(sse.status(), StatusCode::OK);
    while seen.len() < N {
        seen.push(sse.next().await.unwrap());
    }
    publisher.await.unwrap();
    check_sequence(&seen, 0, N, "sse");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_opening_id_makes_live_subscription_lossless() {
    let s = Server::start(HubConfig::default()).await;
    s.publish_ok("live", "before").await;
    let mut sse = s.sse("/sse/live", &[]).await;
    // Drain the opening (retry + id of the head) without any event.
    assert_eq!(sse.next_item().await, SseItem::Retry(2000));
    let head = s.hub.longpoll().head("live").unwrap().to_string();
    // The parser set Last-Event-ID from the opening `id:` line although no event fired.
    assert_eq!(sse.opening_id().await, head);
    assert_eq!(sse.parser.poll_item(), None, "the opening fires no event");
    drop(sse);
    // Events published while disconnected are delivered on reconnect.
    s.publish_ok("live", "while away").await;
    let mut sse = s.sse("/sse/live", &[("last-event-id", &head)]).await;
    assert_eq!(sse.next().await.unwrap().data(), Some("while away"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_every_event_once_in_order_across_reconnect() {
    let s = Server::start(HubConfig::default()).await;
    let (st, v) = s.poll("seq", "").await;
    assert_eq!(st, StatusCode::OK);
    let cursor = v["cursor"].as_str().unwrap().to_owned();
    let publisher = spawn_publisher(&s, "seq", 0, N);
    // Each poll is its own connection here: every request is a reconnect by cursor.
    let (items, _) = poll_n(&s, "seq", cursor, N).await;
    publisher.await.unwrap();
    check_sequence(&items, 0, N, "long-poll");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_cursor_space_across_transports() {
    let s = Server::start(HubConfig::default()).await;
    for i in 0..10 {
        s.publish_ok("x", &data(i)).await;
    }
    // Cursor from long-poll → SSE.
    let (_, v) = s.poll("x", "cursor=earliest&max=3&timeout=0").await;
    let c3 = v["cursor"].as_str().unwrap().to_owned();
    let mut sse = s.sse(&format!("/sse/x?cursor={c3}"), &[]).await;
    let mut from_sse = Vec::new();
    for _ in 3..6 {
        from_sse.push(sse.next().await.unwrap());
    }
    check_sequence(&from_sse, 3, 6, "sse from a poll cursor");
    // Cursor from SSE → long-poll.
    let c6 = from_sse.last().unwrap().id().unwrap().to_owned();
    let (items, _) = poll_n(&s, "x", c6.clone(), 2).await;
    check_sequence(&items[..2], 6, 8, "poll from an SSE id");
    // Cursor from SSE → WebSocket, and from WebSocket → SSE.
    let mut ws = s.ws(&format!("/ws/x?cursor={c6}"), &[]).await.unwrap();
    let mut from_ws = Vec::new();
    for _ in 6..10 {
        from_ws.push(ws_next(&mut ws).await.unwrap());
    }
    check_sequence(&from_ws, 6, 10, "ws from an SSE id");
    let c8 = from_ws[1].id().unwrap().to_owned();
    let mut sse = s.sse("/sse/x", &[("last-event-id", &c8)]).await;
    let a = sse.next().await.unwrap();
    let b = sse.next().await.unwrap();
    check_sequence(&[a, b], 8, 10, "sse from a ws id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap_notice_on_every_transport_after_falling_out_of_retention() {
    let mut cfg = HubConfig::default();
    cfg.retention.max_events = 5;
    let s = Server::start(cfg).await;
    let first = s.publish_ok("g", &data(0)).await;
    for i in 1..20 {
        s.publish_ok("g", &data(i)).await;
    }
    // Seen event 1 (seq 1); retained are seqs 16..=20: missed 2..=15 = 14 events.
    let mut ws = s.ws(&format!("/ws/g?cursor={first}"), &[]).await.unwrap();
    assert_eq!(ws_next(&mut ws).await, Some(Seen::Gap(14)));
    let rest: Vec<Seen> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(ws_next(&mut ws).await.unwrap());
        }
        v
    };
    check_sequence(&rest, 15, 20, "ws after the gap");

    let mut sse = s.sse(&format!("/sse/g?cursor={first}"), &[]).await;
    assert_eq!(sse.next().await, Some(Seen::Gap(14)));
    let mut v = Vec::new();
    for _ in 0..5 {
        v.push(sse.next().await.unwrap());
    }
    check_sequence(&v, 15, 20, "sse after the gap");

    let (items, _) = poll_n(&s, "g", first.clone(), 5).await;
    assert_eq!(items[0], Seen::Gap(14));
    check_sequence(&items[1..], 15, 20, "poll after the gap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_when_the_cursor_is_from_another_epoch() {
    let s = Server::start(HubConfig::default()).await;
    s.publish_ok("r", "a").await;
    // A syntactically valid cursor of another epoch (as after a server restart).
    let stale = "1.1.5";
    let mut ws = s.ws(&format!("/ws/r?cursor={stale}"), &[]).await.unwrap();
    assert_eq!(ws_next(&mut ws).await, Some(Seen::Reset));
    assert_eq!(ws_next(&mut ws).await.unwrap().data(), Some("a"));
    let mut sse = s.sse("/sse/r", &[("last-event-id", stale)]).await;
    assert_eq!(sse.next().await, Some(Seen::Reset));
    assert_eq!(sse.next().await.unwrap().data(), Some("a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_gets_a_gap_and_never_blocks_the_publisher() {
    let mut cfg = HubConfig::default();
    cfg.retention.max_events = 100;
    let s = Server::start(cfg).await;
    let first = s.publish_ok("slow", "start").await;
    // A WebSocket subscriber that does not read while a large burst is published.
    let mut ws = s
        .ws(&format!("/ws/slow?cursor={first}"), &[])
        .await
        .unwrap();
    let mut sse = s.sse(&format!("/sse/slow?cursor={first}"), &[]).await;
    let payload = "x".repeat(4000);
    let total = 20_000;
    let started = std::time::Instant::now();
    for _ in 0..total {
        s.hub
            .publish("slow", "message", payload.clone())
            .await
            .unwrap();
    }
    // 80 MB through a log of 100 events: publishing never waited for the stalled readers.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "publishing took {:?}",
        started.elapsed()
    );
    // Both readers eventually report an explicit gap, then reach the end of the log.
    let mut gaps = 0u64;
    let mut events = 0u64;
    let deadline = tokio::time::Instant::now() + T;
    while gaps + events < total as u64 {
        assert!(tokio::time::Instant::now() < deadline);
        match ws_next(&mut ws).await.unwrap() {
            Seen::Gap(n) => gaps += n,
            Seen::Event { .. } => events += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        gaps > 0,
        "the stalled WebSocket reader fell out of retention"
    );
    assert_eq!(
        gaps + events,
        total as u64,
        "every event delivered or counted as missed"
    );
    let (mut sgaps, mut sevents) = (0u64, 0u64);
    while sgaps + sevents < total as u64 {
        match sse.next().await.unwrap() {
            Seen::Gap(n) => sgaps += n,
            Seen::Event { .. } => sevents += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(sgaps > 0);
    assert_eq!(sgaps + sevents, total as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_text_frames_are_published_as_message_events() {
    let s = Server::start(HubConfig::default()).await;
    let mut a = s.ws("/ws/chat", &[]).await.unwrap();
    let mut sse = s.sse("/sse/chat", &[]).await;
    assert_eq!(sse.next_item().await, SseItem::Retry(2000));
    a.send(Message::text("hello from ws".to_owned()))
        .await
        .unwrap();
    let got = sse.next().await.unwrap();
    assert!(
        matches!(&got, Seen::Event { event, data, .. } if event == "message" && data == "hello from ws")
    );
    // The subscription started live: its first frame is the head it started at (resuming
    // there replays exactly the event below), then the publisher sees its own message too
    // (chat semantics), with the same id.
    let Some(Seen::Cursor(start)) = ws_next(&mut a).await else {
        panic!("a live WebSocket subscription starts with its cursor");
    };
    let echo = ws_next(&mut a).await.unwrap();
    assert_eq!(echo, got);
    let mut resumed = s
        .ws(&format!("/ws/chat?cursor={start}"), &[])
        .await
        .unwrap();
    assert_eq!(
        ws_next(&mut resumed).await.unwrap(),
        got,
        "resume from the opening cursor"
    );
    // And long-poll from earliest.
    let (_, v) = s.poll("chat", "cursor=earliest&timeout=0").await;
    assert_eq!(v["events"][0]["data"], "hello from ws");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_event_types_and_json_shapes() {
    let s = Server::start(HubConfig::default()).await;
    let url = s.url("/publish/t?event=chat.msg");
    let (st, h, body) = s
        .request_full(sluice_http::ClientRequest::post(&url, "hi").unwrap())
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        h.iter()
            .any(|(n, v)| n == "content-type" && v == "application/json")
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1);
    let id = v["id"].as_str().unwrap();
    let (_, p) = s.poll("t", "cursor=earliest&timeout=0").await;
    assert_eq!(p["events"][0]["id"], id);
    assert_eq!(p["events"][0]["event"], "chat.msg");
    // Percent-encoded type (a space) is fine; a line break is 400.
    let ok = s.url("/publish/t?event=a%20b");
    let (st, _) = s
        .request(sluice_http::ClientRequest::post(&ok, "x").unwrap())
        .await;
    assert_eq!(st, StatusCode::OK);
    for bad in ["a%0Ab", "a%0Db", "sluice-gap", "%ZZ"] {
        let u = s.url(&format!("/publish/t?event={bad}"));
        let (st, body) = s
            .request(sluice_http::ClientRequest::post(&u, "x").unwrap())
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // Not UTF-8: 400.
    let u = s.url("/publish/t");
    let (st, _) = s
        .request(sluice_http::ClientRequest::post(&u, vec![0xffu8, 0xfe]).unwrap())
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let _ = T;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_heartbeats_when_idle_and_one_cache_control() {
    let mut cfg = HubConfig::default();
    cfg.sse_heartbeat = Duration::from_millis(100);
    let s = Server::start(cfg).await;
    // The hub's idle clock starts after the request: two heartbeats take at least two
    // intervals from here, however late this task reads them.
    let started = std::time::Instant::now();
    let mut sse = s.sse("/sse/hb", &[]).await;
    let cc: Vec<_> = sse
        .resp
        .headers()
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"cache-control"))
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(
        cc,
        vec![bytes::Bytes::from_static(b"no-cache, no-transform")]
    );
    assert_eq!(sse.resp.header("x-accel-buffering"), Some("no"));
    assert_eq!(sse.next_item().await, SseItem::Retry(2000));
    assert_eq!(sse.next_item().await, SseItem::Comment);
    assert_eq!(sse.next_item().await, SseItem::Comment);
    assert!(
        started.elapsed() >= Duration::from_millis(195),
        "{:?}",
        started.elapsed()
    );
    // An event resets the idle clock; the next heartbeat follows it.
    s.publish_ok("hb", "x").await;
    assert_eq!(sse.next().await.unwrap().data(), Some("x"));
}
