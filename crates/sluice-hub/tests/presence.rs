//! Presence (`GET /presence/{topic}`), join/leave notices (`?presence=1`) and ephemeral events
//! on every transport, with auth subjects; leave on disconnect, on the dead-peer timeout and
//! after a poller's grace; ephemeral events never in the log. Loopback, every wait bounded.

mod common;
use common::standalone as serve_under_test;

use std::time::Duration;

use common::{Server, SseItem, T, now_unix};
use serde_json::Value;
use sluice_http::{ClientRequest, StatusCode};
use sluice_hub::{Claims, HubConfig, mint_token};
use sluice_tokio::ws::{Message, WebSocket};
use tokio::net::TcpStream;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn token(sub: &str, pattern: &str) -> String {
    let c = Claims::new(now_unix() + 300)
        .subject(sub)
        .subscribe(pattern)
        .publish(pattern);
    mint_token(SECRET, &c).unwrap()
}

async fn secured(tweak: impl FnOnce(&mut HubConfig)) -> Server {
    let mut cfg = HubConfig::default();
    cfg.auth_secret = Some(SECRET.to_vec());
    tweak(&mut cfg);
    Server::start(cfg).await
}

/// The next text frame as JSON.
async fn frame(ws: &mut WebSocket<TcpStream>) -> Value {
    let m = tokio::time::timeout(T, ws.recv())
        .await
        .expect("a frame in time")
        .expect("open")
        .expect("no error");
    match m {
        Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
        other => panic!("{other:?}"),
    }
}

async fn presence(s: &Server, topic: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = ClientRequest::get(&s.url(&format!("/presence/{topic}"))).unwrap();
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let (st, body) = s.request(req).await;
    (st, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Waits until `GET /presence` lists `n` clients.
async fn until_count(s: &Server, topic: &str, tok: &str, n: u64) -> Value {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let (st, v) = presence(s, topic, Some(tok)).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        if v["count"] == n {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "count {n}: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_on_every_transport_with_subjects_and_join_leave_in_order() {
    let s = secured(|_| {}).await;
    let alice = token("alice", "room");
    let bob = token("bob", "room");
    let carol = token("carol", "room");
    // Alice watches with notices (WebSocket): her own join first.
    let mut a = s
        .ws(&format!("/ws/room?client=a1&presence=1&token={alice}"), &[])
        .await
        .unwrap();
    assert!(frame(&mut a).await["cursor"].is_string());
    assert_eq!(
        frame(&mut a).await,
        serde_json::json!({"join": {"client": "a1", "sub": "alice", "transport": "ws"}})
    );
    // Bob on SSE.
    let bob_sse = s
        .sse(&format!("/sse/room?client=b1&token={bob}"), &[])
        .await;
    assert_eq!(bob_sse.status(), StatusCode::OK);
    assert_eq!(
        frame(&mut a).await,
        serde_json::json!({"join": {"client": "b1", "sub": "bob", "transport": "sse"}})
    );
    // Carol long-polls (parked in the background).
    let url = s.url(&format!("/poll/room?client=c1&timeout=3&token={carol}"));
    let poller = tokio::spawn(async move {
        let _ = sluice_http::fetch(
            ClientRequest::get(&url).unwrap(),
            &sluice_http::ClientConfig::default(),
        )
        .await;
    });
    assert_eq!(
        frame(&mut a).await,
        serde_json::json!({"join": {"client": "c1", "sub": "carol", "transport": "poll"}})
    );
    let v = until_count(&s, "room", &alice, 3).await;
    let mut got: Vec<(String, String, String)> = v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c["since"].as_u64().unwrap() > 1_700_000_000_000);
            (
                c["client"].as_str().unwrap().to_owned(),
                c["sub"].as_str().unwrap().to_owned(),
                c["transport"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("a1".into(), "alice".into(), "ws".into()),
            ("b1".into(), "bob".into(), "sse".into()),
            ("c1".into(), "carol".into(), "poll".into()),
        ]
    );
    // Bob disconnects: a leave.
    drop(bob_sse);
    assert_eq!(
        frame(&mut a).await,
        serde_json::json!({"leave": {"client": "b1", "sub": "bob", "transport": "sse"}})
    );
    until_count(&s, "room", &alice, 2).await;
    poller.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_needs_subscribe_permission() {
    let s = secured(|_| {}).await;
    assert_eq!(presence(&s, "room", None).await.0, StatusCode::UNAUTHORIZED);
    let other = token("eve", "elsewhere");
    assert_eq!(
        presence(&s, "room", Some(&other)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        presence(&s, "room", Some(&token("ok", "room"))).await,
        (
            StatusCode::OK,
            serde_json::json!({"count": 0, "clients": []})
        )
    );
    // Ephemeral publishing needs the publish permission like any publish.
    let req = ClientRequest::post(&s.url("/publish/room?ephemeral=1"), "x")
        .unwrap()
        .header("authorization", format!("Bearer {other}"));
    assert_eq!(s.request(req).await.0, StatusCode::FORBIDDEN);
    // A malformed client id is refused.
    let ok = token("ok", "room");
    let (st, _) = s
        .poll("room", &format!("client=a.b&timeout=0&token={ok}"))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_peer_and_a_poller_past_its_grace_leave() {
    let s = Server::start({
        let mut c = HubConfig::default();
        c.ws_ping_interval = Duration::from_millis(200);
        c.ws_idle_timeout = Duration::from_millis(600);
        c.presence_grace = Duration::from_millis(500);
        c
    })
    .await;
    let mut watcher = s.ws("/ws/r?presence=1&client=w", &[]).await.unwrap();
    assert!(frame(&mut watcher).await["cursor"].is_string());
    assert!(frame(&mut watcher).await["join"]["client"] == "w");
    // A client that never reads again: no Pong, so the hub drops it after the idle timeout
    // (its clock starts after this request reached the hub).
    let started = tokio::time::Instant::now();
    let silent = s.ws("/ws/r?client=dead", &[]).await.unwrap();
    assert_eq!(frame(&mut watcher).await["join"]["client"], "dead");
    // The watcher keeps reading (its pings are answered), so it stays.
    assert_eq!(frame(&mut watcher).await["leave"]["client"], "dead");
    assert!(
        started.elapsed() >= Duration::from_millis(590),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
    // A poller: present for the grace after its answer, then gone (the sweep runs each second).
    // The grace starts after the request reached the hub: at least 500 ms from here.
    let asked = tokio::time::Instant::now();
    let (st, _) = s.poll("r", "client=p&timeout=0").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(frame(&mut watcher).await["join"]["client"], "p");
    assert_eq!(frame(&mut watcher).await["leave"]["client"], "p");
    let after = asked.elapsed();
    assert!(
        after >= Duration::from_millis(490) && after < Duration::from_secs(3),
        "{after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_events_reach_live_subscribers_and_are_never_replayed() {
    let s = Server::start(HubConfig::default()).await;
    let mut ws = s.ws("/ws/e", &[]).await.unwrap();
    assert!(frame(&mut ws).await["cursor"].is_string());
    let mut sse = s.sse("/sse/e", &[]).await;
    assert_eq!(sse.next_item().await, SseItem::Retry(2000));
    // The head (and its `retry:`) is written before the stream joins the topic's live set;
    // the opening `id:` line after. Ephemeral events reach only live members: wait for it.
    sse.opening_id().await;
    // Publish over HTTP.
    let (st, body) = s
        .request(
            ClientRequest::post(&s.url("/publish/e?ephemeral=1&event=typing"), "alice…").unwrap(),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ephemeral"], true);
    assert_eq!(v["receivers"], 2);
    assert_eq!(
        frame(&mut ws).await,
        serde_json::json!({"ephemeral": {"event": "typing", "data": "alice…"}})
    );
    let Some(common::Seen::Event { event, data, .. }) = sse.next().await else {
        panic!("an SSE event");
    };
    assert_eq!(event, "sluice-ephemeral");
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap(),
        serde_json::json!({"event": "typing", "data": "alice…"})
    );
    // From a WebSocket client: a frame flagged ephemeral.
    ws.send(Message::text(
        r#"{"ephemeral":{"event":"cursor","data":"{\"x\":1}"}}"#,
    ))
    .await
    .unwrap();
    assert_eq!(
        frame(&mut ws).await,
        serde_json::json!({"ephemeral": {"event": "cursor", "data": "{\"x\":1}"}})
    );
    // A stored event after them; the log holds only it.
    let id = s.publish_ok("e", "stored").await;
    assert_eq!(frame(&mut ws).await["id"], id.as_str());
    let (_, v) = s.poll("e", "cursor=earliest&timeout=0").await;
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{v}");
    assert_eq!(events[0]["data"], "stored");
    let mut late = s.ws("/ws/e?cursor=earliest", &[]).await.unwrap();
    assert_eq!(frame(&mut late).await["data"], "stored");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), late.recv())
            .await
            .is_err(),
        "nothing else is replayed"
    );
}
