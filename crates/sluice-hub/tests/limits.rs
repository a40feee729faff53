//! Limits and bad input: 413, 503 at max connections, 429 per IP, 431 from the HTTP layer,
//! 400 for bad topics, cursors and event types, 503 at max topics, 1009 for a WebSocket
//! message over the limit, 404/405; and graceful shutdown (WebSocket 1001, polls answered,
//! SSE streams ended after a retry hint, serve returns).

mod common;
#[allow(unused_imports)] // used by `common`; unused where sluice-axum includes this file
use common::standalone as serve_under_test;

use std::time::Duration;

use common::{Server, SseItem, T, ws_next};
use sluice_http::{ClientRequest, StatusCode};
use sluice_hub::HubConfig;
use sluice_tokio::ws::{CloseCode, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends raw bytes on a fresh connection and returns the status of the answer.
async fn raw_status(s: &Server, request: &[u8]) -> u16 {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(T, c.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_size_413_and_websocket_1009() {
    let mut cfg = HubConfig::default();
    cfg.max_message_size = 100;
    let s = Server::start(cfg).await;
    assert_eq!(s.publish("t", &"a".repeat(100)).await.0, StatusCode::OK);
    assert_eq!(
        s.publish("t", &"a".repeat(101)).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Chunked body over the limit: 413 too.
    let chunked =
        b"POST /publish/t HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\r\n\
        40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\
        40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n0\r\n\r\n";
    assert_eq!(raw_status(&s, chunked).await, 413);
    // The library API enforces the same limit.
    assert!(matches!(
        s.hub.publish("t", "message", "a".repeat(101)).await,
        Err(sluice_hub::PublishError::TooLarge {
            size: 101,
            max: 100
        })
    ));
    // A WebSocket message over the limit closes with 1009.
    let mut ws = s.ws("/ws/t", &[]).await.unwrap();
    ws.send(Message::text("b".repeat(101))).await.unwrap();
    while ws_next(&mut ws).await.is_some() {}
    assert_eq!(ws.close_info().unwrap().code, CloseCode::MESSAGE_TOO_BIG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_too_large_is_431_from_the_http_layer() {
    let s = Server::start(HubConfig::default()).await;
    let big = "x".repeat(20 * 1024);
    let req = format!("GET /poll/t HTTP/1.1\r\nhost: localhost\r\nx-big: {big}\r\n\r\n");
    assert_eq!(raw_status(&s, req.as_bytes()).await, 431);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_topics_cursors_and_routes() {
    let s = Server::start(HubConfig::default()).await;
    let long = "x".repeat(129);
    for topic in ["a%20b", "a:b", "", long.as_str(), "a/b", "%2e%2e"] {
        assert_eq!(
            s.publish(topic, "x").await.0,
            StatusCode::BAD_REQUEST,
            "{topic:?}"
        );
        let (st, v) = s.poll(topic, "timeout=0").await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{topic:?}");
        assert_eq!(v["error"], "bad_topic");
        let sse = s.sse(&format!("/sse/{topic}"), &[]).await;
        assert_eq!(sse.status(), StatusCode::BAD_REQUEST, "{topic:?}");
        assert!(
            s.ws(&format!("/ws/{topic}"), &[]).await.is_err(),
            "{topic:?}"
        );
    }
    assert_eq!(s.publish(&"x".repeat(128), "x").await.0, StatusCode::OK);
    // Bad cursors are 400 on every transport; a cursor ahead of the head too.
    let head = s.hub.longpoll().head("t");
    assert!(head.is_none());
    let id = s.publish_ok("t", "one").await;
    let ahead = {
        let (prefix, seq) = id.rsplit_once('.').unwrap();
        format!("{prefix}.{}", seq.parse::<u64>().unwrap() + 5)
    };
    for c in ["garbage", "1.XYZ.1", ahead.as_str()] {
        assert_eq!(
            s.poll("t", &format!("cursor={c}")).await.0,
            StatusCode::BAD_REQUEST,
            "{c}"
        );
        let sse = s.sse(&format!("/sse/t?cursor={c}"), &[]).await;
        assert_eq!(sse.status(), StatusCode::BAD_REQUEST, "{c}");
        let sse = s.sse("/sse/t", &[("last-event-id", c)]).await;
        assert_eq!(sse.status(), StatusCode::BAD_REQUEST, "{c}");
        assert!(
            s.ws(&format!("/ws/t?cursor={c}"), &[]).await.is_err(),
            "{c}"
        );
    }
    // Unknown routes and wrong methods.
    let (st, _) = s
        .request(ClientRequest::get(&s.url("/nope")).unwrap())
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .request(ClientRequest::get(&s.url("/publish/t")).unwrap())
        .await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    let (st, _) = s
        .request(ClientRequest::post(&s.url("/poll/t"), "x").unwrap())
        .await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    // The page, health and metrics.
    let (st, h, body) = s
        .request_full(ClientRequest::get(&s.url("/")).unwrap())
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        h.iter()
            .any(|(n, v)| n == "content-type" && v.starts_with("text/html"))
    );
    assert!(body.contains("<html"), "{body}");
    assert_eq!(
        s.request(ClientRequest::get(&s.url("/healthz")).unwrap())
            .await
            .0,
        StatusCode::OK
    );
    let (st, m) = s
        .request(ClientRequest::get(&s.url("/metrics")).unwrap())
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(m.contains("sluice_topics 3\n"), "{m}"); // sys.metrics, t, and the 128-char one
    // Two publishes here plus sys.metrics' once a second.
    let published: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("sluice_events_published_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(published >= 2, "{m}");
}

/// Waits (at most `T`) until `/healthz` answers 200: a connection slot is free again.
async fn wait_for_a_free_slot(s: &Server) {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let (st, _) = s
            .request(ClientRequest::get(&s.url("/healthz")).unwrap())
            .await;
        if st == StatusCode::OK {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_503_and_per_ip_429() {
    let mut cfg = HubConfig::default();
    cfg.max_connections = 2;
    let s = Server::start(cfg).await;
    let a = s.sse("/sse/t", &[]).await;
    let b = s.sse("/sse/t", &[]).await;
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let (st, h, body) = s
        .request_full(ClientRequest::get(&s.url("/healthz")).unwrap())
        .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(h.iter().any(|(n, _)| n == "retry-after"));
    assert_eq!(s.hub.metrics().refused_max_connections, 1);
    // A slot frees when a subscriber leaves.
    drop(a);
    wait_for_a_free_slot(&s).await;
    drop(b);

    let mut cfg = HubConfig::default();
    cfg.max_connections_per_ip = Some(1);
    let s = Server::start(cfg).await;
    let a = s.sse("/sse/t", &[]).await;
    assert_eq!(a.status(), StatusCode::OK);
    let (st, _) = s
        .request(ClientRequest::get(&s.url("/healthz")).unwrap())
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(s.hub.metrics().refused_per_ip, 1);
}

/// A WebSocket subscriber that stops reading is dropped once a write has waited for the write
/// timeout (it would otherwise hold its session, its buffers and whatever it was sent, for as
/// long as it keeps the TCP connection open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_that_stops_reading_is_dropped_by_the_write_timeout() {
    let mut cfg = HubConfig::default();
    cfg.http.write_timeout = Duration::from_secs(3);
    let s = Server::start(cfg).await;
    let silent = s.ws("/ws/t", &[]).await.expect("websocket");
    let reader = s.ws("/ws/t", &[]).await.expect("websocket");
    let ws_open = |s: &Server| s.hub.metrics().ws;
    // Both sessions counted (the gauge moves once the hub's side is past its 101).
    let deadline = std::time::Instant::now() + T;
    while ws_open(&s) < 2 {
        assert!(std::time::Instant::now() < deadline, "{}", ws_open(&s));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // 16 MiB of events: more than the socket buffers of a connection that nobody reads take.
    let event = "x".repeat(32 * 1024);
    let reader = tokio::spawn(async move {
        let mut reader = reader;
        let mut n = 0;
        while let Some(Ok(_)) = reader.recv().await {
            n += 1;
        }
        n
    });
    let started = std::time::Instant::now();
    for _ in 0..512 {
        assert_eq!(s.publish("t", &event).await.0, StatusCode::OK);
    }
    let deadline = std::time::Instant::now() + T;
    while ws_open(&s) > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the silent subscriber is still connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() >= Duration::from_secs(3));
    // The subscriber that reads is still served.
    assert_eq!(ws_open(&s), 1);
    assert!(!reader.is_finished(), "the reading subscriber was dropped");
    drop(silent);
}

/// A WebSocket session runs in a task of its own after the handshake (the HTTP connection's
/// task ends): its connection still holds its slot until the socket closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_sessions_keep_their_connection_slots() {
    let mut cfg = HubConfig::default();
    cfg.max_connections = 2;
    let s = Server::start(cfg).await;
    let mut a = s.ws("/ws/t", &[]).await.expect("first websocket");
    let _b = s.ws("/ws/t", &[]).await.expect("second websocket");
    // Both sessions are past their handshake and still count.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (st, _) = s
        .request(ClientRequest::get(&s.url("/healthz")).unwrap())
        .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        s.ws("/ws/t", &[]).await.is_err(),
        "a third websocket got in"
    );
    // Closing one frees its slot.
    a.close(CloseCode::NORMAL, "bye").await.unwrap();
    while a.recv().await.is_some() {}
    drop(a);
    wait_for_a_free_slot(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_topics_503_and_idle_topics_are_reaped() {
    let mut cfg = HubConfig::default();
    cfg.max_topics = 3; // sys.metrics + 2
    cfg.topic_idle = Duration::from_millis(100);
    let s = Server::start(cfg).await;
    assert_eq!(s.publish("a", "x").await.0, StatusCode::OK);
    // A subscriber that waits creates "b" (then goes away).
    let b = s.sse("/sse/b", &[]).await;
    assert_eq!(b.status(), StatusCode::OK);
    drop(b);
    assert_eq!(s.publish("c", "x").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        s.poll("c", "timeout=0").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(s.ws("/ws/c", &[]).await.is_err());
    assert!(s.hub.metrics().refused_max_topics >= 3);
    // "b" never had an event and has no subscriber: it is removed after `topic_idle`, and
    // "c" can be created. "a" holds a live event and stays.
    let deadline = tokio::time::Instant::now() + T;
    while s.publish("c", "x").await.0 != StatusCode::OK {
        assert!(
            tokio::time::Instant::now() < deadline,
            "idle topic never reaped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(s.hub.longpoll().head("a").is_some());
    assert!(s.hub.longpoll().head("b").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_closes_every_transport() {
    let s = Server::start(HubConfig::default()).await;
    let id = s.publish_ok("t", "one").await;
    let mut ws = s.ws(&format!("/ws/t?cursor={id}"), &[]).await.unwrap();
    let mut sse = s.sse(&format!("/sse/t?cursor={id}"), &[]).await;
    assert_eq!(sse.next_item().await, SseItem::Retry(2000));
    let poll = {
        let url = s.url(&format!("/poll/t?cursor={id}&timeout=20"));
        tokio::spawn(async move {
            let req = ClientRequest::get(&url).unwrap();
            let mut r = sluice_http::fetch(req, &Default::default()).await.unwrap();
            let st = r.status();
            let body = r.bytes(1 << 20).await.unwrap();
            (st, String::from_utf8(body.to_vec()).unwrap())
        })
    };
    // Wait until the poll is parked.
    let deadline = tokio::time::Instant::now() + T;
    while s.hub.metrics().parked_polls == 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    s.hub.shutdown();
    // WebSocket: Close 1001.
    assert_eq!(ws_next(&mut ws).await, None);
    assert_eq!(ws.close_info().unwrap().code, CloseCode::GOING_AWAY);
    // Long-poll: answered at once, no events, cursor unchanged.
    let (st, body) = tokio::time::timeout(T, poll).await.unwrap().unwrap();
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["cursor"], id.as_str());
    assert_eq!(v["events"].as_array().unwrap().len(), 0);
    // SSE: a final retry hint, then the end of the body.
    assert_eq!(sse.next_item().await, SseItem::Retry(2000));
    assert_eq!(sse.next_item().await, SseItem::End);
    // serve returns, well within the grace period.
    tokio::time::timeout(T, s.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Nothing listens any more.
    assert!(TcpStream::connect(s.addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_keep_alive_connections_at_once() {
    let s = Server::start(HubConfig::default()).await;
    // An idle keep-alive connection after one request.
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = c.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let started = std::time::Instant::now();
    s.hub.shutdown();
    tokio::time::timeout(T, s.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(c.read(&mut buf).await.unwrap_or(0), 0, "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permessage_deflate_is_off_by_default() {
    let s = Server::start(HubConfig::default()).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(
        b"GET /ws/t HTTP/1.1\r\nhost: localhost\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
          sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\
          sec-websocket-extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(T, c.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(!head.contains("sec-websocket-extensions"), "{head}");
}
