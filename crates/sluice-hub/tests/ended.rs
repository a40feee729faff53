//! Topics that end (`POST /close/{topic}`, `docs/hub.md` §2.8) on every transport: each
//! subscriber gets the events, then the end, exactly once; publishes after it get 409; an
//! EventSource reconnecting from the end gets 204; a new subscriber replays what is retained
//! and then gets the end; WebSocket closes with 1000. Loopback, every wait bounded.

mod common;
use common::standalone as serve_under_test;

use common::{Seen, Server, SseItem, T, poll_n};
use serde_json::Value;
use sluice_http::{ClientRequest, StatusCode};
use sluice_hub::{HubConfig, PublishError};
use sluice_tokio::ws::Message;

async fn close(s: &Server, topic: &str) -> (StatusCode, Value) {
    let req = ClientRequest::post(&s.url(&format!("/close/{topic}")), String::new()).unwrap();
    let (st, b) = s.request(req).await;
    (st, serde_json::from_str(&b).unwrap_or(Value::Null))
}

fn data(items: &[Seen]) -> Vec<&str> {
    items.iter().filter_map(Seen::data).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_subscribers_of_every_transport_get_the_events_then_the_end() {
    let s = Server::start(HubConfig::default()).await;
    let mut ws = s.ws("/ws/gen", &[]).await.unwrap();
    let Some(Seen::Cursor(start)) = common::ws_next(&mut ws).await else {
        panic!("opening cursor")
    };
    let mut sse = s.sse("/sse/gen", &[]).await;
    assert_eq!(sse.status(), StatusCode::OK);
    // A long-poll reader from the start, polling until the end.
    let poller = {
        let url = s.url("");
        tokio::spawn(async move {
            let mut cursor = start;
            let mut got = Vec::new();
            loop {
                let req = ClientRequest::get(&format!("{url}/poll/gen?cursor={cursor}&timeout=20"))
                    .unwrap();
                let mut r = sluice_http::fetch(req, &sluice_http::ClientConfig::default())
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let v: Value = serde_json::from_slice(&r.bytes(1 << 20).await.unwrap()).unwrap();
                for e in v["events"].as_array().unwrap() {
                    got.push(e["data"].as_str().unwrap().to_owned());
                }
                cursor = v["cursor"].as_str().unwrap().to_owned();
                if v["end"] == true {
                    return (got, cursor);
                }
            }
        })
    };
    for t in ["Hel", "lo", "!"] {
        s.publish_ok("gen", t).await;
    }
    let (st, v) = close(&s, "gen").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["end"], true);
    let end_id = v["id"].as_str().unwrap().to_owned();
    // Closing again: the same end, nothing appended.
    let (st, v2) = close(&s, "gen").await;
    assert_eq!((st, v2["id"].as_str()), (StatusCode::OK, Some(&*end_id)));
    // Publishing after the end: 409 `ended`, over HTTP and the Rust API.
    let (st, body) = s.publish("gen", "late").await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("\"ended\""), "{body}");
    assert_eq!(
        s.hub.publish("gen", "message", "late").await,
        Err(PublishError::Ended)
    );

    // WebSocket: the three events, the end with its id, then close 1000.
    let mut got = Vec::new();
    while let Some(x) = common::ws_next(&mut ws).await {
        got.push(x);
    }
    assert_eq!(data(&got), ["Hel", "lo", "!"]);
    assert_eq!(got.last(), Some(&Seen::End(end_id.clone())));
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(ws.close_info().map(|c| c.code.0), Some(1000));

    // SSE: the same, then the body ends (no retry hint after it).
    let mut got = Vec::new();
    loop {
        match sse.next_item().await {
            SseItem::Seen(x) => got.push(x),
            SseItem::End => break,
            _ => {}
        }
    }
    assert_eq!(data(&got), ["Hel", "lo", "!"]);
    assert_eq!(got.last(), Some(&Seen::End(end_id.clone())));
    assert_eq!(sse.last_event_id(), end_id);

    // Long-poll: the events, then `"end": true` with the end's id as the cursor.
    let (evs, cursor) = tokio::time::timeout(T, poller).await.unwrap().unwrap();
    assert_eq!(evs, ["Hel", "lo", "!"]);
    assert_eq!(cursor, end_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_end_reconnects_stop_and_new_subscribers_replay() {
    let s = Server::start(HubConfig::default()).await;
    let first = s.publish_ok("done", "a").await;
    s.publish_ok("done", "b").await;
    let (_, v) = close(&s, "done").await;
    let end_id = v["id"].as_str().unwrap().to_owned();

    // An EventSource reconnecting with the end's id: 204, so the browser stops.
    let sse = s.sse("/sse/done", &[("last-event-id", &end_id)]).await;
    assert_eq!(sse.status(), StatusCode::NO_CONTENT);
    // One from before the end: the rest, then the end.
    let mut sse = s.sse("/sse/done", &[("last-event-id", &first)]).await;
    assert_eq!(
        sse.next()
            .await
            .and_then(|x| x.data().map(str::to_owned))
            .as_deref(),
        Some("b")
    );
    assert_eq!(sse.next().await, Some(Seen::End(end_id.clone())));
    assert_eq!(sse.next().await, None);

    // New subscribers (no cursor) replay what is retained, then get the end — all three.
    let mut sse = s.sse("/sse/done", &[]).await;
    let mut got = Vec::new();
    while let Some(x) = sse.next().await {
        got.push(x);
    }
    assert_eq!(data(&got), ["a", "b"]);
    assert_eq!(got.last(), Some(&Seen::End(end_id.clone())));

    let mut ws = s.ws("/ws/done", &[]).await.unwrap();
    let mut got = Vec::new();
    while let Some(x) = common::ws_next(&mut ws).await {
        got.push(x);
    }
    assert_eq!(data(&got), ["a", "b"]);
    assert!(!got.iter().any(|x| matches!(x, Seen::Cursor(_))), "{got:?}");
    assert_eq!(got.last(), Some(&Seen::End(end_id.clone())));
    assert_eq!(ws.close_info().map(|c| c.code.0), Some(1000));

    let (st, v) = s.poll("done", "").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["events"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["end"], true);
    // A WebSocket resuming at the end: the end at once, close 1000.
    let mut ws = s
        .ws(&format!("/ws/done?cursor={end_id}"), &[])
        .await
        .unwrap();
    assert_eq!(
        common::ws_next(&mut ws).await,
        Some(Seen::End(end_id.clone()))
    );
    assert_eq!(common::ws_next(&mut ws).await, None);
    // A long-poll at the end: answered at once (no parking), `end` again.
    let started = std::time::Instant::now();
    let (st, v) = s.poll("done", &format!("cursor={end_id}&timeout=20")).await;
    assert_eq!((st, v["end"].as_bool()), (StatusCode::OK, Some(true)));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // poll_n's reader sees both events.
    let (items, _) = poll_n(&s, "done", "earliest".into(), 2).await;
    assert_eq!(data(&items), ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_publisher_after_the_end_is_closed() {
    let s = Server::start(HubConfig::default()).await;
    let mut ws = s.ws("/ws/w?cursor=earliest", &[]).await.unwrap();
    s.hub.close("w").await.unwrap();
    // The subscriber side already ended: end frame, close 1000; a send races the close.
    let _ = ws.send(Message::text("late")).await;
    let mut got = Vec::new();
    while let Some(x) = common::ws_next(&mut ws).await {
        got.push(x);
    }
    assert!(matches!(got.last(), Some(Seen::End(_))), "{got:?}");
    let (_, v) = s.poll("w", "cursor=earliest").await;
    assert_eq!(v["events"], serde_json::json!([]), "nothing after the end");
    assert_eq!(v["end"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_has_the_publish_checks() {
    let mut cfg = HubConfig::default();
    cfg.auth_secret = Some(b"0123456789abcdef0123456789abcdef".to_vec());
    let s = Server::start(cfg).await;
    let (st, _) = close(&s, "x").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let sub_only = sluice_hub::mint_token(
        b"0123456789abcdef0123456789abcdef",
        &sluice_hub::Claims::new(common::now_unix() + 60).subscribe("*"),
    )
    .unwrap();
    let req = ClientRequest::post(&s.url("/close/x"), String::new())
        .unwrap()
        .header("authorization", format!("Bearer {sub_only}"));
    assert_eq!(s.request(req).await.0, StatusCode::FORBIDDEN);
    let pubber = sluice_hub::mint_token(
        b"0123456789abcdef0123456789abcdef",
        &sluice_hub::Claims::new(common::now_unix() + 60).publish("x"),
    )
    .unwrap();
    let req = ClientRequest::post(&s.url("/close/x"), String::new())
        .unwrap()
        .header("authorization", format!("Bearer {pubber}"));
    assert_eq!(s.request(req).await.0, StatusCode::OK);
    let req = ClientRequest::post(&s.url("/close/sys.metrics"), String::new())
        .unwrap()
        .header("authorization", format!("Bearer {pubber}"));
    assert_eq!(s.request(req).await.0, StatusCode::FORBIDDEN);
    let req = ClientRequest::get(&s.url("/close/x")).unwrap();
    assert_eq!(s.request(req).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_retried_after_the_end_gets_its_first_answer() {
    let s = Server::start(HubConfig::default()).await;
    let publish = |key: &'static str| {
        ClientRequest::post(&s.url("/publish/k"), "x".to_owned())
            .unwrap()
            .header("idempotency-key", key)
    };
    let (st, first) = s.request(publish("key-1")).await;
    assert_eq!(st, StatusCode::OK);
    close(&s, "k").await;
    // The same key again (a retry whose first answer was lost): the first answer, not 409.
    let (st, again) = s.request(publish("key-1")).await;
    assert_eq!((st, again), (StatusCode::OK, first));
    // A new key: refused.
    let (st, _) = s.request(publish("key-2")).await;
    assert_eq!(st, StatusCode::CONFLICT);
}

/// Many attempts of one publish at once (a client that retried while its first attempt was
/// still on its way): one event in the log, every attempt answered with its cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_attempts_with_one_idempotency_key_append_once() {
    let s = Server::start(HubConfig::default()).await;
    for round in 0..20 {
        let topic = format!("race{round}");
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let req = ClientRequest::post(&s.url(&format!("/publish/{topic}")), "x".to_owned())
                .unwrap()
                .header("idempotency-key", "the-one");
            attempts.spawn(async move {
                let cfg = sluice_http::ClientConfig::default();
                let mut r = tokio::time::timeout(T, sluice_http::fetch(req, &cfg))
                    .await
                    .unwrap()
                    .unwrap();
                let body = r.bytes(1 << 16).await.unwrap();
                (r.status(), String::from_utf8_lossy(&body).into_owned())
            });
        }
        let answers = attempts.join_all().await;
        assert!(
            answers.iter().all(|(st, _)| *st == StatusCode::OK),
            "{answers:?}"
        );
        assert!(answers.iter().all(|a| a.1 == answers[0].1), "{answers:?}");
        let (st, v) = s.poll(&topic, "cursor=earliest&timeout=0").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            v["events"].as_array().unwrap().len(),
            1,
            "round {round}: {v}"
        );
    }
}
