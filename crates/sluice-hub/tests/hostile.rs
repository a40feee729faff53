//! Byte-level repros of the defects a hostile-client pass found (issue 16), each now a
//! regression test: DNS rebinding and Origin schemes, timeouts a client could hold open,
//! token expiry on open sessions, JWT edges, refused upgrades that kept the connection,
//! topics created by requests that did nothing, chunked-body limits, invalid `Host` values.
//! (Retained events pinning read buffers is in `pinning.rs`, which measures RSS and so runs
//! alone in its process; the file-descriptor cap is tested on the CLI under `ulimit -n`.)

mod common;
#[allow(unused_imports)] // used by `common`; unused where sluice-axum includes this file
use common::standalone as serve_under_test;

use std::time::{Duration, Instant};

use common::{Server, SseItem, T, now_unix};
use sluice_http::{ClientRequest, StatusCode};
use sluice_hub::{Claims, HubConfig, mint_token};
use sluice_tokio::ws::{self, CloseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Writes `input` in one write, then reads until the server closes (bounded by `T`).
async fn exchange(s: &Server, input: &[u8]) -> String {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(input).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(T, c.read_to_end(&mut out))
        .await
        .expect("the server must close the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(resp: &str) -> u16 {
    resp.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {resp:?}"))
}

/// `METHOD path` with `host` (and `extra` fields), `Connection: close`.
fn request(method: &str, path: &str, host: &str, extra: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\n{extra}connection: close\r\n\r\n")
        .into_bytes()
}

const UPGRADE: &str = "upgrade: websocket\r\nconnection: Upgrade\r\n\
    sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n";

/// The Host guard is the hub's, not its listener's: a hub without auth mounted in a router of
/// one's own (here `sluice_http::serve` with `Hub::route` behind an app route) refuses a
/// rebound name too, and still answers loopback names.
#[tokio::test]
async fn dns_rebinding_is_refused_however_the_hub_is_mounted() {
    use sluice_http::{Request, Response, ServerConfig};
    let hub = sluice_hub::Hub::new(HubConfig::default());
    let h = hub.clone();
    let app = move |req: Request<TcpStream>| {
        let hub = h.clone();
        async move {
            match req.path() {
                "/app" => req.respond(Response::text(StatusCode::OK, "app\n")),
                _ => hub.route(req).await,
            }
        }
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(sluice_http::serve(l, ServerConfig::default(), app));
    let ask = |host: &'static str| async move {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(&request("GET", "/healthz", host, ""))
            .await
            .unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(T, c.read_to_end(&mut out))
            .await
            .unwrap()
            .ok();
        status_of(&String::from_utf8_lossy(&out))
    };
    assert_eq!(ask("rebind.attacker.example").await, 403);
    assert_eq!(ask("localhost").await, 200);
    assert_eq!(hub.metrics().host_refusals, 1);
}

/// Item 2: a loopback hub without auth answers only loopback names, so a rebound name is
/// refused on every route; the Origin's scheme must be one the hub serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_rebinding_is_refused_on_a_loopback_hub() {
    let s = Server::start(HubConfig::default()).await;
    let port = s.addr.port();
    let evil = format!("rebind.attacker.example:{port}");
    let origin = format!("origin: http://{evil}\r\n");
    for (method, path, extra) in [
        ("POST", "/publish/t", "content-length: 1\r\n"),
        ("GET", "/ws/t", UPGRADE),
        ("GET", "/poll/t?timeout=0", ""),
        ("GET", "/sse/t", ""),
        ("GET", "/", ""),
        ("GET", "/metrics", ""),
    ] {
        let mut req = request(method, path, &evil, &format!("{origin}{extra}"));
        if method == "POST" {
            req.extend_from_slice(b"x");
        }
        let resp = exchange(&s, &req).await;
        assert_eq!(status_of(&resp), 403, "{method} {path}: {resp}");
        assert!(resp.contains("host_not_allowed"), "{resp}");
    }
    assert_eq!(s.hub.metrics().host_refusals, 6);
    assert!(
        s.hub.longpoll().head("t").is_none(),
        "no topic, nothing published"
    );
    // Loopback names, with their port, are fine; so is a request without Origin.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("[::1]:{port}"),
        "127.0.0.2".to_owned(),
    ] {
        let resp = exchange(&s, &request("GET", "/healthz", &host, "")).await;
        assert_eq!(status_of(&resp), 200, "{host}: {resp}");
    }
    // Same authority but another scheme is not the same origin.
    let host = format!("127.0.0.1:{port}");
    for (scheme, want) in [("ftp", 403), ("https", 403), ("http", 200)] {
        let mut req = request(
            "POST",
            "/publish/t",
            &host,
            &format!("origin: {scheme}://{host}\r\ncontent-length: 1\r\n"),
        );
        req.extend_from_slice(b"x");
        let resp = exchange(&s, &req).await;
        assert_eq!(status_of(&resp), want, "{scheme}: {resp}");
    }
}

/// `allow_hosts` names more hosts; a hub with auth (or not on loopback) has no guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_hosts_and_auth_lift_the_guard() {
    let mut cfg = HubConfig::default();
    cfg.allow_hosts = vec!["hub.example".into()];
    let s = Server::start(cfg).await;
    let ok = exchange(&s, &request("GET", "/healthz", "HUB.example:1", "")).await;
    assert_eq!(status_of(&ok), 200, "{ok}");
    let no = exchange(&s, &request("GET", "/healthz", "other.example", "")).await;
    assert_eq!(status_of(&no), 403, "{no}");

    let mut cfg = HubConfig::default();
    cfg.auth_secret = Some(SECRET.to_vec());
    let s = Server::start(cfg).await;
    let ok = exchange(&s, &request("GET", "/healthz", "any.example", "")).await;
    assert_eq!(status_of(&ok), 200, "{ok}");
}

/// Item 3: the body deadline is for the whole body; `\r\n` does not keep a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_bodies_and_empty_lines_cannot_hold_a_connection() {
    let mut cfg = HubConfig::default();
    cfg.http.body_read_timeout = Duration::from_secs(5);
    cfg.http.body_total_timeout = Duration::from_millis(800);
    cfg.http.keep_alive_timeout = Duration::from_millis(500);
    let s = Server::start(cfg).await;

    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"POST /publish/t HTTP/1.1\r\nhost: localhost\r\ncontent-length: 14\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    for _ in 0..14 {
        if c.write_all(b"x").await.is_err() {
            break;
        }
        let mut b = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(200), c.read(&mut b)).await {
            out.extend_from_slice(&b[..n]);
            if n == 0 || out.ends_with(b"}") {
                break;
            }
        }
    }
    let resp = String::from_utf8_lossy(&out);
    assert_eq!(status_of(&resp), 408, "{resp}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    for _ in 0..40 {
        if c.write_all(b"\r\n").await.is_err() {
            closed = true;
            break;
        }
        let mut b = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(100), c.read(&mut b)).await {
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => panic!("unexpected answer {:?}", String::from_utf8_lossy(&b[..n])),
            Err(_) => {}
        }
    }
    assert!(
        closed,
        "an idle connection fed empty lines must still be closed"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// Item 4: sessions end at the token's `exp` — WebSocket with close 1008, SSE with a
/// `sluice-expired` event and the end of the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_their_token_expires() {
    let mut cfg = HubConfig::default();
    cfg.auth_secret = Some(SECRET.to_vec());
    let s = Server::start(cfg).await;
    // `exp` is in whole seconds: the token expires more than 1 s and at most 2 s from here.
    let started = Instant::now();
    let exp = now_unix() + 2;
    let t = mint_token(SECRET, &Claims::new(exp).subscribe("*").publish("*")).unwrap();
    let auth = format!("Bearer {t}");
    let mut socket = s.ws("/ws/t", &[("authorization", &auth)]).await.unwrap();
    let mut sse = s.sse(&format!("/sse/t?token={t}"), &[]).await;
    assert_eq!(sse.status(), StatusCode::OK);
    // The session stays open, then ends: no frame but the opening cursor (the topic is
    // quiet), a Close.
    assert!(matches!(
        common::ws_next(&mut socket).await,
        Some(common::Seen::Cursor(_))
    ));
    assert_eq!(common::ws_next(&mut socket).await, None);
    let close = socket.close_info().expect("a close frame");
    assert_eq!(close.code, CloseCode::POLICY_VIOLATION);
    assert_eq!(&*close.reason, "token expired");
    assert!(
        started.elapsed() > Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    let mut saw_expired = false;
    loop {
        match sse.next_item().await {
            SseItem::End => break,
            SseItem::Seen(common::Seen::Event { event, .. }) if event == "sluice-expired" => {
                saw_expired = true;
            }
            _ => {}
        }
    }
    assert!(saw_expired);
    // The expired token opens nothing now.
    let r = s.ws("/ws/t", &[("authorization", &auth)]).await;
    assert!(matches!(r, Err(ws::Error::Response(_))), "{r:?}");
}

/// Item 5: `nbf` in the future, `exp` equal to now, and two `Authorization` fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_edges_are_refused() {
    let mut cfg = HubConfig::default();
    cfg.auth_secret = Some(SECRET.to_vec());
    let s = Server::start(cfg).await;
    let now = now_unix();
    let ok = mint_token(SECRET, &Claims::new(now + 60).publish("*")).unwrap();
    let nbf = mint_token(
        SECRET,
        &Claims::new(now + 60).not_before(now + 30).publish("*"),
    )
    .unwrap();
    let exp_now = mint_token(SECRET, &Claims::new(now).publish("*")).unwrap();
    let publish = |extra: String| {
        let mut r = request(
            "POST",
            "/publish/t",
            "localhost",
            &format!("{extra}content-length: 1\r\n"),
        );
        r.push(b'x');
        r
    };
    let resp = exchange(&s, &publish(format!("authorization: Bearer {ok}\r\n"))).await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    for t in [&nbf, &exp_now] {
        let resp = exchange(&s, &publish(format!("authorization: Bearer {t}\r\n"))).await;
        assert_eq!(status_of(&resp), 401, "{resp}");
    }
    let two = format!("authorization: Bearer {ok}\r\nauthorization: Bearer {nbf}\r\n");
    let resp = exchange(&s, &publish(two)).await;
    assert_eq!(status_of(&resp), 400, "{resp}");
}

/// Item 6: after refusing an upgrade (401 for the token, 403 for the Origin) the connection
/// is closed: a pipelined request behind it is not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upgrade_closes_the_connection() {
    let mut cfg = HubConfig::default();
    cfg.auth_secret = Some(SECRET.to_vec());
    let s = Server::start(cfg).await;
    let t = mint_token(SECRET, &Claims::new(now_unix() + 60).subscribe("*")).unwrap();
    let next = "GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n";
    for (extra, want) in [
        (String::new(), 401),
        (
            format!("authorization: Bearer {t}\r\norigin: http://evil.example\r\n"),
            403,
        ),
    ] {
        let req = format!("GET /ws/t HTTP/1.1\r\nhost: localhost\r\n{extra}{UPGRADE}\r\n{next}");
        let resp = exchange(&s, req.as_bytes()).await;
        assert_eq!(status_of(&resp), want, "{resp}");
        assert_eq!(
            resp.matches("HTTP/1.1 ").count(),
            1,
            "one answer only: {resp}"
        );
        assert!(
            resp.to_ascii_lowercase().contains("connection: close"),
            "{resp}"
        );
    }
}

/// Item 7: requests that wait for nothing create no topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_do_nothing_create_no_topic() {
    let mut cfg = HubConfig::default();
    cfg.max_topics = 4;
    let s = Server::start(cfg).await;
    let topics = |s: &Server| s.hub.metrics().topics;
    assert_eq!(topics(&s), 1, "sys.metrics");
    for i in 0..20 {
        for req in [
            request("GET", &format!("/ws/n{i}"), "localhost", ""),
            request(
                "GET",
                &format!("/ws/o{i}"),
                "localhost",
                &format!("origin: http://evil.example\r\n{UPGRADE}"),
            ),
            request("HEAD", &format!("/sse/h{i}"), "localhost", ""),
            request("GET", &format!("/poll/p{i}?timeout=0"), "localhost", ""),
            // Nor one that names a client: no presence on the topic it made and dropped.
            request(
                "GET",
                &format!("/poll/c{i}?timeout=0&client=c{i}"),
                "localhost",
                "",
            ),
            // A query the protocol refuses (400) waits for nothing either.
            request("GET", &format!("/poll/q{i}?timeout=soon"), "localhost", ""),
        ] {
            let resp = exchange(&s, &req).await;
            assert!(matches!(status_of(&resp), 200 | 400 | 403 | 426), "{resp}");
        }
    }
    assert_eq!(topics(&s), 1);
    for i in 0..20 {
        let resp = exchange(
            &s,
            &request("GET", &format!("/presence/c{i}"), "localhost", ""),
        )
        .await;
        assert!(resp.ends_with("{\"clients\":[],\"count\":0}"), "{resp}");
    }
    // Real topics still fit the table.
    for t in ["a", "b", "c"] {
        assert_eq!(s.publish(t, "x").await.0, StatusCode::OK);
    }
    // A plain poll of an existing topic leaves it alone.
    let (st, body) = s.poll("a", "timeout=0&cursor=earliest").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(topics(&s), 4);
}

/// Item 8: a huge chunk size is a 413 at once; chunk extensions count against the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_limits_on_publish() {
    let s = Server::start(HubConfig::default()).await;
    let head = "POST /publish/t HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\r\n";
    let started = Instant::now();
    let resp = exchange(&s, format!("{head}FFFFFFFFFFFFFFFF\r\nabc").as_bytes()).await;
    assert_eq!(status_of(&resp), 413, "{resp}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // 70 chunks of one byte, each with a 1,000-byte extension: 70 KB against a 64 KiB limit.
    let mut body = head.as_bytes().to_vec();
    for _ in 0..70 {
        body.extend_from_slice(format!("1;{}\r\nx\r\n", "e".repeat(1000)).as_bytes());
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let resp = exchange(&s, &body).await;
    assert_eq!(status_of(&resp), 413, "{resp}");
    assert!(s.hub.longpoll().head("t").is_none(), "nothing published");
}

/// Item 9: invalid `Host` values are a 400 (RFC 9112 §3.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_host_values_are_400() {
    let s = Server::start(HubConfig::default()).await;
    for host in ["", "a b", "[::1", "localhost:99999", "user@localhost"] {
        let resp = exchange(&s, &request("GET", "/healthz", host, "")).await;
        assert_eq!(status_of(&resp), 400, "{host:?}: {resp}");
    }
}

/// The guard does not get in the way of ordinary clients: ours send `Host: 127.0.0.1:PORT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_clients_pass_the_host_guard() {
    let s = Server::start(HubConfig::default()).await;
    let (st, _) = s
        .request(ClientRequest::get(&s.url("/healthz")).unwrap())
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(s.publish("t", "x").await.0, StatusCode::OK);
}
