//! `Sse`, `LastEventId` and `long_poll` in a real `axum::serve` app on loopback: the bytes a
//! WHATWG parser (ours) reads back (HTML §9.2.6), heartbeats in silences, an `Err` item ending
//! the stream as a dropped connection, `Last-Event-ID` (§9.2.4) reaching the handler, and a
//! parked long-poll (`docs/longpoll.md` §5) answered by a publish or freed by a client that
//! goes away.
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::stream;
use sluice_axum::{LastEventId, Sse};
use sluice_http::{ClientConfig, ClientRequest, StatusCode, fetch};
use sluice_sse::{Event, Item, Parser};
use sluice_tokio::longpoll::{LongPoll, LongPollConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(10);

async fn three(LastEventId(last): LastEventId) -> impl IntoResponse {
    let from: u64 = last.and_then(|l| l.parse().ok()).map_or(0, |n: u64| n + 1);
    let events = (from..from + 3).map(|n| Event::new().id(n.to_string()).data(format!("n{n}")));
    Sse::new(stream::iter(events))
        .keep_alive(None)
        .retry(Duration::from_millis(2500))
        .prime("primed")
}

async fn silent() -> impl IntoResponse {
    Sse::new(stream::pending::<Event>()).keep_alive(Some(Duration::from_millis(100)))
}

/// Asks for heartbeats with no pause at all; the floor keeps them 100 ms apart.
async fn zero_keep_alive() -> impl IntoResponse {
    Sse::new(stream::pending::<Event>()).keep_alive(Some(Duration::ZERO))
}

async fn failing() -> impl IntoResponse {
    use futures_util::StreamExt;
    // The failure comes after the first event was on the wire (hyper sends nothing at all when
    // the body fails before its head is flushed).
    let first = stream::iter([Ok(Event::new().data("before"))]);
    let then = stream::once(async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Err(std::io::Error::other("upstream failed"))
    });
    let never = stream::iter([Ok(Event::new().data("never sent"))]);
    Sse::new(first.chain(then).chain(never)).keep_alive(None)
}

async fn poll(
    State(lp): State<LongPoll<String>>,
    Path(topic): Path<String>,
    req: Request,
) -> impl IntoResponse {
    sluice_axum::long_poll(&lp, topic, req).await
}

async fn start() -> (SocketAddr, LongPoll<String>) {
    let lp = LongPoll::<String>::new(LongPollConfig::default());
    lp.ensure_topic(&"news".to_owned());
    let app = Router::new()
        .route("/three", get(three))
        .route("/silent", get(silent))
        .route("/zero", get(zero_keep_alive))
        .route("/failing", get(failing))
        .route("/poll/{topic}", get(poll))
        .with_state(lp.clone());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, lp)
}

/// Everything the parser reports for `path`, until the body ends or `until` items were seen;
/// plus the response fields and whether the body failed.
async fn read_sse(
    url: &str,
    headers: &[(&str, &str)],
    until: usize,
) -> (Vec<(String, String)>, Vec<Item>, bool) {
    let mut req = ClientRequest::get(url).unwrap();
    for (n, v) in headers {
        req = req.header((*n).to_owned(), (*v).to_owned());
    }
    let mut resp = tokio::time::timeout(T, fetch(req, &ClientConfig::default()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let fields = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).to_ascii_lowercase(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    let mut parser = Parser::with_config(sluice_sse::Config::default().with_emit_comments(true));
    let mut items = Vec::new();
    let mut failed = false;
    while items.len() < until {
        match tokio::time::timeout(T, resp.chunk())
            .await
            .expect("bytes in time")
        {
            Ok(Some(b)) => parser.handle_input(&b).unwrap(),
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
        while let Some(i) = parser.poll_item() {
            items.push(i);
        }
    }
    (fields, items, failed)
}

fn data_of(items: &[Item]) -> Vec<(String, String)> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Event(e) => Some((e.last_event_id().to_owned(), e.data.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn sse_response_fields_prelude_and_every_event_once() {
    let (addr, _) = start().await;
    let (fields, items, failed) = read_sse(&format!("http://{addr}/three"), &[], usize::MAX).await;
    assert!(!failed);
    let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(field("content-type"), Some("text/event-stream"));
    assert_eq!(field("cache-control"), Some("no-cache, no-transform"));
    assert_eq!(field("x-accel-buffering"), Some("no"));
    assert!(
        matches!(items.first(), Some(Item::Retry(2500))),
        "{items:?}"
    );
    // The priming event: its id, empty data (an EventSource dispatches it with data "").
    assert_eq!(
        data_of(&items),
        vec![
            ("primed".into(), String::new()),
            ("0".into(), "n0".into()),
            ("1".into(), "n1".into()),
            ("2".into(), "n2".into()),
        ]
    );
}

#[tokio::test]
async fn last_event_id_reaches_the_handler() {
    let (addr, _) = start().await;
    let (_, items, _) = read_sse(
        &format!("http://{addr}/three"),
        &[("Last-Event-ID", "41")],
        usize::MAX,
    )
    .await;
    let ids: Vec<String> = data_of(&items).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["primed", "42", "43", "44"]);
}

#[tokio::test]
async fn heartbeats_fill_the_silences() {
    let (addr, _) = start().await;
    let t0 = std::time::Instant::now();
    let (_, items, _) = read_sse(&format!("http://{addr}/silent"), &[], 3).await;
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|i| matches!(i, Item::Comment(c) if c.is_empty())),
        "{items:?}"
    );
    // Three 100 ms silences, not a burst.
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn a_zero_keep_alive_is_floored_not_a_flood() {
    let (addr, _) = start().await;
    let t0 = std::time::Instant::now();
    let (_, items, _) = read_sse(&format!("http://{addr}/zero"), &[], 3).await;
    assert_eq!(items.len(), 3);
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn an_err_item_ends_the_stream_as_a_dropped_connection() {
    let (addr, _) = start().await;
    let (_, items, failed) = read_sse(&format!("http://{addr}/failing"), &[], usize::MAX).await;
    assert_eq!(data_of(&items), vec![(String::new(), "before".into())]);
    // Not a clean end of the body: the client must reconnect, not think the stream finished.
    assert!(failed, "{items:?}");
}

#[tokio::test]
async fn long_poll_parks_until_a_publish() {
    let (addr, lp) = start().await;
    let url = move |q: &str| format!("http://{addr}/poll/news?{q}");
    // "From now": answered at once with the head cursor.
    let mut r = fetch(
        ClientRequest::get(&url("")).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes(1 << 16).await.unwrap()).unwrap();
    let cursor = v["cursor"].as_str().unwrap().to_owned();
    let parked = tokio::spawn(async move {
        let mut r = fetch(
            ClientRequest::get(&url(&format!("cursor={cursor}&timeout=10"))).unwrap(),
            &ClientConfig::default(),
        )
        .await
        .unwrap();
        let body = r.bytes(1 << 16).await.unwrap();
        (
            r.status(),
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        )
    });
    wait_until(|| lp.parked() == 1).await;
    lp.publish(&"news".to_owned(), "message", "fresh").unwrap();
    let (status, v) = tokio::time::timeout(T, parked).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK);
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{v}");
    assert_eq!(events[0]["data"], "fresh");
    // An unknown topic is the protocol's 410.
    let r = fetch(
        ClientRequest::get(&format!("http://{addr}/poll/nope")).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_parked_poll_whose_client_leaves_frees_its_place() {
    let (addr, lp) = start().await;
    let head = lp.head(&"news".to_owned()).unwrap();
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(
        format!("GET /poll/news?cursor={head}&timeout=30 HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    wait_until(|| lp.parked() == 1).await;
    drop(c);
    // hyper drops the request's future when the connection ends; the bridge tells the
    // endpoint, which stops waiting (no 30 s hold of a dead client).
    wait_until(|| lp.parked() == 0).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /poll/news?timeout=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0; 12];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + T;
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
