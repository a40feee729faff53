//! The long-poll driver end to end over loopback TCP: the failure-matrix items that need a
//! driver (docs/longpoll.md sections 4, 5 and 8): publish racing a parked request, disconnect
//! while parked, timeout, the waiter cap, CORS and headers, and the client stream across
//! server restarts (reset) and retention overflow (gap with its exact count).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sluice_http::{self as http, ClientRequest, Reply, Request, Response, StatusCode};
use sluice_longpoll::{ClientConfig, ClientEvent, LogConfig, ServerConfig, Start};
use sluice_tokio::longpoll::{LongPoll, LongPollClient, LongPollClientConfig, LongPollConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep, timeout};

/// Routes `/poll/{topic}` to the store.
async fn route(lp: LongPoll<String>, req: Request<TcpStream>) -> Reply<TcpStream> {
    match req.path().strip_prefix("/poll/").map(str::to_owned) {
        Some(topic) => lp.handle(&topic, req).await,
        None => req.respond(Response::from_status(StatusCode::NOT_FOUND)),
    }
}

async fn start_on(listener: TcpListener, lp: LongPoll<String>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = http::serve(
            listener,
            http::ServerConfig::default(),
            move |req: Request<TcpStream>| route(lp.clone(), req),
        )
        .await;
    })
}

async fn start(lp: &LongPoll<String>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    start_on(l, lp.clone()).await;
    addr
}

fn store(config: LongPollConfig) -> LongPoll<String> {
    let lp = LongPoll::new(config);
    lp.create_topic("t".into(), LogConfig::default());
    lp
}

struct Answer {
    status: u16,
    headers: http::Headers,
    body: String,
}

async fn get(addr: SocketAddr, target: &str, origin: Option<&str>) -> Answer {
    let mut req = ClientRequest::get(&format!("http://{addr}{target}")).unwrap();
    if let Some(o) = origin {
        req = req.header("origin", o.to_owned());
    }
    let mut resp = http::fetch(req, &http::ClientConfig::default())
        .await
        .unwrap();
    let body = resp.bytes(1 << 20).await.unwrap();
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// Waits (bounded) until the store has `n` parked requests.
async fn until_parked(lp: &LongPoll<String>, n: usize) {
    let t0 = Instant::now();
    while lp.parked() != n {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "parked {} != {n}",
            lp.parked()
        );
        sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_answers_headers_and_cors() {
    let mut cfg = LongPollConfig::default();
    cfg.allow_origins = vec!["https://app.example".into()];
    let lp = store(cfg);
    let addr = start(&lp).await;
    let c1 = lp.publish("t", "m", Bytes::from("one")).unwrap();

    // No cursor: at once, the head, no events (section 4.1).
    let a = get(addr, "/poll/t", Some("https://app.example")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers.get_str("content-type"), Some("application/json"));
    assert_eq!(a.headers.get_str("cache-control"), Some("no-store"));
    assert_eq!(
        a.headers.get_str("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(a.headers.get_str("vary"), Some("origin"));
    assert_eq!(json(&a.body)["cursor"], c1.to_string());
    assert_eq!(json(&a.body)["events"], serde_json::json!([]));

    // Not allow-listed: no CORS header.
    let a = get(
        addr,
        "/poll/t?cursor=earliest",
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(a.headers.get_str("access-control-allow-origin"), None);
    let v = json(&a.body);
    assert_eq!(v["events"][0]["data"], "one");
    assert_eq!(v["events"][0]["id"], c1.to_string());

    // Errors keep the headers and carry a JSON body.
    let a = get(addr, "/poll/t?cursor=nope", None).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.headers.get_str("cache-control"), Some("no-store"));
    assert!(json(&a.body)["error"].is_string());
    let ahead = sluice_longpoll::Cursor::new(c1.epoch(), 9);
    let a = get(addr, &format!("/poll/t?cursor={ahead}"), None).await;
    assert_eq!(
        (a.status, json(&a.body)["error"].as_str()),
        (400, Some("cursor_ahead"))
    );
    let a = get(addr, "/poll/missing?cursor=earliest", None).await;
    assert_eq!(a.status, 410);
    let a = get(addr, "/poll/t?timeout=soon", None).await;
    assert_eq!(a.status, 400);

    let resp = http::fetch(
        ClientRequest::post(&format!("http://{addr}/poll/t"), "x").unwrap(),
        &http::ClientConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.header("allow"), Some("GET"));

    // timeout=0 is plain polling: answered at once even with nothing to read.
    let t0 = Instant::now();
    let a = get(addr, &format!("/poll/t?cursor={c1}&timeout=0"), None).await;
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert_eq!(json(&a.body)["cursor"], c1.to_string());
    assert_eq!(lp.parked(), 0);
}

/// Section 5: a parked request is answered by the next publish, with CORS and no-store on the
/// streamed answer too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_request_released_by_publish() {
    let mut cfg = LongPollConfig::default();
    cfg.allow_origins = vec!["*".into()];
    let lp = store(cfg);
    let addr = start(&lp).await;
    let head = lp.head("t").unwrap();
    let waiter = tokio::spawn(async move {
        get(
            addr,
            &format!("/poll/t?cursor={head}"),
            Some("http://x.example"),
        )
        .await
    });
    until_parked(&lp, 1).await;
    let id = lp
        .publish("t", "chat", Bytes::from("hi \"there\""))
        .unwrap();
    let a = timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.headers.get_str("cache-control"), Some("no-store"));
    assert_eq!(
        a.headers.get_str("access-control-allow-origin"),
        Some("http://x.example")
    );
    let v = json(&a.body);
    assert_eq!(v["cursor"], id.to_string());
    assert_eq!(v["events"][0]["event"], "chat");
    assert_eq!(v["events"][0]["data"], "hi \"there\"");
    assert_eq!(lp.parked(), 0);
}

/// Register-then-read: a publish racing the request's registration is never lost. Each round
/// polls from the head while another task publishes at a random moment; every answer must
/// carry the event (a lost wake-up would time out instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_racing_parked_request() {
    let lp = store(LongPollConfig::default());
    let addr = start(&lp).await;
    let topic = String::from("t");
    for round in 0..200u32 {
        let head = lp.head(&topic).unwrap();
        let poll = tokio::spawn(async move {
            get(addr, &format!("/poll/t?cursor={head}&timeout=5"), None).await
        });
        let lp2 = lp.clone();
        let topic2 = topic.clone();
        let publisher = tokio::spawn(async move {
            for _ in 0..(round % 7) {
                tokio::task::yield_now().await;
            }
            if round % 3 == 0 {
                sleep(Duration::from_micros(u64::from(round) * 3)).await;
            }
            lp2.publish(&topic2, "m", Bytes::from(round.to_string()))
                .unwrap()
        });
        let id = publisher.await.unwrap();
        let a = timeout(Duration::from_secs(4), poll)
            .await
            .unwrap_or_else(|_| panic!("round {round}: publish lost"))
            .unwrap();
        let v = json(&a.body);
        assert_eq!(v["events"][0]["data"], round.to_string(), "round {round}");
        assert_eq!(v["cursor"], id.to_string());
    }
    assert_eq!(lp.parked(), 0);
}

/// Section 5: a client that disconnects while parked leaves no waiter behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_while_parked_cancels_waiter() {
    let lp = store(LongPollConfig::default());
    let addr = start(&lp).await;
    let head = lp.head("t").unwrap();
    let mut socks = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET /poll/t?cursor={head}&timeout=20 HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        socks.push(s);
    }
    until_parked(&lp, 50).await;
    // Nothing is written while parked: the whole answer goes out in one write later.
    let mut buf = vec![0u8; 1024];
    assert!(
        timeout(Duration::from_millis(200), socks[0].read(&mut buf))
            .await
            .is_err(),
        "a parked request gets no bytes before its answer"
    );
    // Half of them go away: closed outright, or reset.
    for s in socks.drain(..25) {
        drop(s);
    }
    until_parked(&lp, 25).await;
    drop(socks);
    until_parked(&lp, 0).await;
    // The store still works, and a publish has nobody left to answer.
    lp.publish("t", "m", Bytes::from("x")).unwrap();
    assert_eq!(lp.parked(), 0);
}

/// Section 5: the effective timeout elapses → `200`, no events, cursor unchanged; the
/// connection stays usable (keep-alive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_answers_empty_with_unchanged_cursor() {
    let lp = store(LongPollConfig::default());
    let addr = start(&lp).await;
    let c = lp.publish("t", "m", Bytes::from("a")).unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /poll/t?cursor={c}&timeout=1 HTTP/1.1\r\nhost: x\r\n\r\n");
    for _ in 0..2 {
        let t0 = Instant::now();
        s.write_all(req.as_bytes()).await.unwrap();
        let (head, body) = read_length_response(&mut s).await;
        let el = t0.elapsed();
        assert!(
            el >= Duration::from_millis(950) && el < Duration::from_secs(3),
            "{el:?}"
        );
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("cache-control: no-store"), "{head}");
        let v = json(&body);
        assert_eq!(v["cursor"], c.to_string());
        assert_eq!(v["events"], serde_json::json!([]));
        assert_eq!(
            (v["more"].as_bool(), v["reset"].as_bool()),
            (Some(false), Some(false))
        );
        assert!(v["gap"].is_null());
    }
    assert_eq!(lp.parked(), 0);
}

/// Reads one response framed by Content-Length: (head, body).
async fn read_length_response(s: &mut TcpStream) -> (String, String) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(out[..end + 4].to_vec()).unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .expect("content-length")
                .trim()
                .parse()
                .unwrap();
            if out.len() >= end + 4 + len {
                let body = String::from_utf8(out[end + 4..end + 4 + len].to_vec()).unwrap();
                return (head, body);
            }
        }
        let n = timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
    }
}

/// Section 5: beyond the waiter cap, `503` with `Retry-After` at once; a freed slot is
/// usable again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiter_cap_gives_503_with_retry_after() {
    let mut cfg = LongPollConfig::default();
    cfg.server = {
        let mut s = ServerConfig::default();
        s.max_waiters = 3;
        s.retry_after = 7;
        s
    };
    let lp = store(cfg);
    let addr = start(&lp).await;
    let head = lp.head("t").unwrap();
    let mut socks = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET /poll/t?cursor={head} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        socks.push(s);
    }
    until_parked(&lp, 3).await;
    let a = get(addr, &format!("/poll/t?cursor={head}"), None).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.headers.get_str("retry-after"), Some("7"));
    assert_eq!(json(&a.body)["error"], "busy");
    assert_eq!(lp.parked(), 3);
    drop(socks.pop());
    until_parked(&lp, 2).await;
    let a = get(addr, &format!("/poll/t?cursor={head}&timeout=0"), None).await;
    assert_eq!(a.status, 200);
}

fn fast_client() -> LongPollClientConfig {
    let mut poll = ClientConfig::default();
    poll.backoff_base = Duration::from_millis(20);
    poll.backoff_max = Duration::from_millis(200);
    poll.timeout = Some(Duration::from_secs(5));
    let mut c = LongPollClientConfig::default();
    c.poll = poll;
    c
}

/// Pulls the next surfaced item, skipping (and counting) retried transport errors.
async fn next_item(c: &mut LongPollClient, errors: &mut u32) -> ClientEvent {
    loop {
        match timeout(Duration::from_secs(10), c.next())
            .await
            .expect("stalled")
        {
            Ok(ev) => return ev,
            Err(e) if e.is_terminal() => panic!("terminal: {e}"),
            Err(_) => *errors += 1,
        }
    }
}

/// A server in its own runtime, so that a "restart" drops every connection at once.
struct Process {
    rt: tokio::runtime::Runtime,
}

impl Process {
    async fn spawn(addr: SocketAddr, lp: LongPoll<String>) -> Process {
        // The previous process's listener closes in the background: retry (bounded).
        let mut tries = 0;
        let std_l = loop {
            match std::net::TcpListener::bind(addr) {
                Ok(l) => break l,
                Err(e) if tries < 400 => {
                    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
                    tries += 1;
                    sleep(Duration::from_millis(5)).await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        std_l.set_nonblocking(true).unwrap();
        rt.spawn(async move {
            let l = TcpListener::from_std(std_l).unwrap();
            start_on(l, lp).await.await.unwrap();
        });
        Process { rt }
    }

    fn kill(self) {
        self.rt.shutdown_background();
    }
}

/// Section 8: every event exactly once and in order across two server restarts (in-memory
/// log: new epoch → one reset each), with publishes while the client is connected and while
/// the server is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exactly_once_across_restarts() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let topic = String::from("t");
    let mut c = LongPollClient::new(
        &format!("http://{addr}/poll/t"),
        Start::Earliest,
        fast_client(),
    )
    .unwrap();
    let mut errors = 0;
    let mut seen: Vec<String> = Vec::new();
    let mut resets = 0;
    for life in 0..3 {
        let lp = store(LongPollConfig::default());
        // Events published before the client reconnects are in the new epoch's log.
        for i in 0..3 {
            lp.publish(&topic, "m", Bytes::from(format!("{life}-{i}")))
                .unwrap();
        }
        // After a restart the server comes back late: the client meanwhile gets refused.
        let p = {
            let lp = lp.clone();
            tokio::spawn(async move {
                if life > 0 {
                    sleep(Duration::from_millis(150)).await;
                }
                Process::spawn(addr, lp).await
            })
        };
        let publisher = {
            let lp = lp.clone();
            let topic = topic.clone();
            tokio::spawn(async move {
                sleep(Duration::from_millis(if life > 0 { 200 } else { 0 })).await;
                for i in 3..40 {
                    lp.publish(&topic, "m", Bytes::from(format!("{life}-{i}")))
                        .unwrap();
                    if i % 5 == 0 {
                        sleep(Duration::from_millis(3)).await;
                    }
                }
            })
        };
        let mut got = 0;
        while got < 40 {
            match next_item(&mut c, &mut errors).await {
                ClientEvent::Event(e) => {
                    seen.push(e.data);
                    got += 1;
                }
                ClientEvent::Reset => {
                    assert!(life > 0 && got == 0, "reset only at a restart");
                    resets += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        publisher.await.unwrap();
        p.await.unwrap().kill();
    }
    let want: Vec<String> = (0..3)
        .flat_map(|l| (0..40).map(move |i| format!("{l}-{i}")))
        .collect();
    assert_eq!(seen, want, "every event exactly once, in order");
    assert_eq!(resets, 2);
    assert!(
        errors >= 2,
        "the late restarts were seen as transport errors: {errors}"
    );
}

/// Retention overflow while the client is away: one gap with the exact count, then the
/// retained events; nothing skipped silently. Also through the `Stream` interface.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gap_on_retention_overflow() {
    let lp: LongPoll<String> = LongPoll::new(LongPollConfig::default());
    lp.create_topic("t".into(), LogConfig::default().with_max_events(5));
    let addr = start(&lp).await;
    let topic = String::from("t");
    for i in 1..=2 {
        lp.publish(&topic, "m", Bytes::from(format!("{i}")))
            .unwrap();
    }
    let mut c = LongPollClient::new(
        &format!("http://{addr}/poll/t"),
        Start::Earliest,
        fast_client(),
    )
    .unwrap();
    let mut errors = 0;
    for i in 1..=2 {
        match next_item(&mut c, &mut errors).await {
            ClientEvent::Event(e) => assert_eq!(e.data, i.to_string()),
            other => panic!("{other:?}"),
        }
    }
    // The client is away (no request in flight) while 20 more are published: the log keeps
    // 18..=22, so 3..=17 (15 events) are lost.
    for i in 3..=22 {
        lp.publish(&topic, "m", Bytes::from(format!("{i}")))
            .unwrap();
    }
    use futures_core::Stream;
    let mut s = c.into_stream();
    let mut items = Vec::new();
    while items.len() < 6 {
        let item = timeout(
            Duration::from_secs(10),
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut s).poll_next(cx)),
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap();
        items.push(item);
    }
    assert_eq!(items[0], ClientEvent::Gap { missed: 15 });
    let data: Vec<_> = items[1..]
        .iter()
        .map(|e| match e {
            ClientEvent::Event(e) => e.data.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(data, ["18", "19", "20", "21", "22"]);
    assert_eq!(errors, 0);
}

/// `503` from the cap is retried after `Retry-After`, and the events still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_honours_retry_after() {
    let mut cfg = LongPollConfig::default();
    cfg.server = {
        let mut s = ServerConfig::default();
        s.max_waiters = 1;
        s.retry_after = 1;
        s
    };
    let lp = store(cfg);
    let addr = start(&lp).await;
    let head = lp.head("t").unwrap();
    let mut blocker = TcpStream::connect(addr).await.unwrap();
    blocker
        .write_all(format!("GET /poll/t?cursor={head} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    until_parked(&lp, 1).await;
    let mut c = LongPollClient::new(
        &format!("http://{addr}/poll/t"),
        Start::At(head),
        fast_client(),
    )
    .unwrap();
    let t0 = Instant::now();
    let e = c.next().await.unwrap_err();
    assert!(!e.is_terminal(), "{e}");
    assert!(e.to_string().contains("503"), "{e}");
    drop(blocker);
    until_parked(&lp, 0).await;
    lp.publish("t", "m", Bytes::from("late")).unwrap();
    let mut errors = 0;
    match next_item(&mut c, &mut errors).await {
        ClientEvent::Event(e) => assert_eq!(e.data, "late"),
        other => panic!("{other:?}"),
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(990),
        "waited Retry-After, not the 20 ms backoff: {:?}",
        t0.elapsed()
    );
}
