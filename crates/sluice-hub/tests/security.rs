//! Access control and origins: the auth matrix on every route (no token, expired, wrong
//! pattern, valid; header and query tokens), 401/403 before 413, the WebSocket Origin check,
//! CORS and the publish preflight, reserved topics.

mod common;
#[allow(unused_imports)] // used by `common`; unused where sluice-axum includes this file
use common::standalone as serve_under_test;

use common::{Seen, Server, now_unix, ws_next};
use sluice_http::{ClientRequest, StatusCode};
use sluice_hub::{Claims, HubConfig, mint_token};
use sluice_tokio::ws::{self, CloseCode, Message};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

async fn secured() -> Server {
    let mut cfg = HubConfig::default();
    cfg.auth_secret = Some(SECRET.to_vec());
    cfg.max_message_size = 1024;
    Server::start(cfg).await
}

fn token(c: &Claims) -> String {
    mint_token(SECRET, c).unwrap()
}

fn valid() -> String {
    token(
        &Claims::new(now_unix() + 300)
            .subject("tester")
            .subscribe("news.*")
            .publish("news.*"),
    )
}

fn expired() -> String {
    token(&Claims::new(now_unix() - 10).subscribe("*").publish("*"))
}

fn foreign() -> String {
    mint_token(
        b"another secret entirely, 32 byt",
        &Claims::new(now_unix() + 300).subscribe("*").publish("*"),
    )
    .unwrap()
}

/// Status of a publish with an optional bearer token.
async fn publish_status(s: &Server, topic: &str, bearer: Option<&str>, body: &str) -> StatusCode {
    let mut req =
        ClientRequest::post(&s.url(&format!("/publish/{topic}")), body.to_owned()).unwrap();
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    s.request(req).await.0
}

async fn get_status(s: &Server, path: &str, bearer: Option<&str>) -> StatusCode {
    let mut req = ClientRequest::get(&s.url(path)).unwrap();
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    // SSE answers 200 and streams: read the head only.
    if path.starts_with("/sse/") {
        let resp = sluice_http::fetch(req, &Default::default()).await.unwrap();
        return resp.status();
    }
    s.request(req).await.0
}

async fn ws_status(s: &Server, path: &str, headers: &[(&str, &str)]) -> Result<(), u16> {
    match s.ws(path, headers).await {
        Ok(_) => Ok(()),
        Err(ws::Error::Response(e)) => Err(status_of(&e.to_string())),
        Err(e) => panic!("unexpected WebSocket error: {e}"),
    }
}

/// The HTTP status in a refused-handshake error message.
fn status_of(msg: &str) -> u16 {
    msg.split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse::<u16>().ok())
        .find(|n| (400..600).contains(n))
        .unwrap_or_else(|| panic!("no status in {msg:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_matrix_publish() {
    let s = secured().await;
    let v = valid();
    assert_eq!(
        publish_status(&s, "news.eu", None, "x").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        publish_status(&s, "news.eu", Some(&expired()), "x").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        publish_status(&s, "news.eu", Some(&foreign()), "x").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        publish_status(&s, "news.eu", Some("not.a.jwt"), "x").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        publish_status(&s, "sports", Some(&v), "x").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        publish_status(&s, "news.eu", Some(&v), "x").await,
        StatusCode::OK
    );
    // Query token works too.
    let req = ClientRequest::post(&s.url(&format!("/publish/news.us?token={v}")), "y").unwrap();
    assert_eq!(s.request(req).await.0, StatusCode::OK);
    // A subscribe-only token may not publish.
    let reader = token(&Claims::new(now_unix() + 60).subscribe("*"));
    assert_eq!(
        publish_status(&s, "news.eu", Some(&reader), "x").await,
        StatusCode::FORBIDDEN
    );
    // 401 carries a Bearer challenge.
    let (_, h, body) = s
        .request_full(ClientRequest::post(&s.url("/publish/news.eu"), "x").unwrap())
        .await;
    assert!(
        h.iter()
            .any(|(n, v)| n == "www-authenticate" && v.starts_with("Bearer"))
    );
    assert!(body.contains("\"error\":\"unauthorized\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_checked_before_the_body_401_403_before_413() {
    let s = secured().await;
    let big = "z".repeat(4096); // over the 1 KiB limit
    assert_eq!(
        publish_status(&s, "news.eu", None, &big).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        publish_status(&s, "news.eu", Some(&expired()), &big).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        publish_status(&s, "other", Some(&valid()), &big).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        publish_status(&s, "news.eu", Some(&valid()), &big).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // With `Expect: 100-continue` the refused body is never even sent.
    let req = ClientRequest::post(&s.url("/publish/news.eu"), big.clone())
        .unwrap()
        .header("expect", "100-continue");
    assert_eq!(s.request(req).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_matrix_subscribers() {
    let s = secured().await;
    let v = valid();
    for route in ["/sse/news.eu", "/poll/news.eu?timeout=0"] {
        assert_eq!(
            get_status(&s, route, None).await,
            StatusCode::UNAUTHORIZED,
            "{route}"
        );
        assert_eq!(
            get_status(&s, route, Some(&expired())).await,
            StatusCode::UNAUTHORIZED,
            "{route}"
        );
        let other = route.replace("news.eu", "sports");
        assert_eq!(
            get_status(&s, &other, Some(&v)).await,
            StatusCode::FORBIDDEN,
            "{route}"
        );
        assert_eq!(
            get_status(&s, route, Some(&v)).await,
            StatusCode::OK,
            "{route}"
        );
        let sep = if route.contains('?') { '&' } else { '?' };
        assert_eq!(
            get_status(&s, &format!("{route}{sep}token={v}"), None).await,
            StatusCode::OK,
            "{route} with ?token="
        );
    }
    // WebSocket: refused handshakes are HTTP answers.
    assert_eq!(ws_status(&s, "/ws/news.eu", &[]).await, Err(401));
    assert_eq!(
        ws_status(&s, &format!("/ws/news.eu?token={}", expired()), &[]).await,
        Err(401)
    );
    assert_eq!(
        ws_status(&s, &format!("/ws/sports?token={v}"), &[]).await,
        Err(403)
    );
    assert_eq!(
        ws_status(&s, &format!("/ws/news.eu?token={v}"), &[]).await,
        Ok(())
    );
    let bearer = format!("Bearer {v}");
    assert_eq!(
        ws_status(&s, "/ws/news.eu", &[("authorization", &bearer)]).await,
        Ok(())
    );
    assert!(s.hub.metrics().auth_failures >= 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_publish_needs_the_publish_claim() {
    let s = secured().await;
    let reader = token(&Claims::new(now_unix() + 60).subscribe("news.*"));
    let mut ws = s
        .ws(&format!("/ws/news.eu?token={reader}"), &[])
        .await
        .unwrap();
    // A live subscription's first frame is its starting cursor.
    assert!(matches!(ws_next(&mut ws).await, Some(Seen::Cursor(_))));
    ws.send(Message::text("sneaky".to_owned())).await.unwrap();
    assert_eq!(ws_next(&mut ws).await, None);
    assert_eq!(ws.close_info().unwrap().code, CloseCode::POLICY_VIOLATION);
    assert_eq!(
        s.hub.longpoll().head("news.eu").unwrap().seq(),
        0,
        "nothing published"
    );

    let writer = valid();
    let mut ws = s
        .ws(&format!("/ws/news.eu?token={writer}"), &[])
        .await
        .unwrap();
    assert!(matches!(ws_next(&mut ws).await, Some(Seen::Cursor(_))));
    ws.send(Message::text("fine".to_owned())).await.unwrap();
    assert_eq!(ws_next(&mut ws).await.unwrap().data(), Some("fine"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_topics_are_read_only() {
    let s = Server::start(HubConfig::default()).await;
    assert_eq!(
        publish_status(&s, "sys.metrics", None, "{}").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        publish_status(&s, "sys.other", None, "{}").await,
        StatusCode::FORBIDDEN
    );
    let mut ws = s.ws("/ws/sys.metrics", &[]).await.unwrap();
    ws.send(Message::text("x".to_owned())).await.unwrap();
    // The next frames may be metrics; the connection ends with 1008.
    while ws_next(&mut ws).await.is_some() {}
    assert_eq!(ws.close_info().unwrap().code, CloseCode::POLICY_VIOLATION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_origin_check() {
    let mut cfg = HubConfig::default();
    cfg.allow_origins = vec!["https://app.example".into()];
    let s = Server::start(cfg).await;
    // Cross-site WebSocket hijacking attempt: 403.
    assert_eq!(
        ws_status(&s, "/ws/t", &[("origin", "https://evil.example")]).await,
        Err(403)
    );
    assert_eq!(
        ws_status(&s, "/ws/t", &[("origin", "null")]).await,
        Err(403)
    );
    // Allow-listed, same-origin (the page served by the hub) and non-browser clients: fine.
    assert_eq!(
        ws_status(&s, "/ws/t", &[("origin", "https://app.example")]).await,
        Ok(())
    );
    let same = format!("http://{}", s.addr);
    assert_eq!(ws_status(&s, "/ws/t", &[("origin", &same)]).await, Ok(()));
    assert_eq!(ws_status(&s, "/ws/t", &[]).await, Ok(()));
    assert!(s.hub.metrics().origin_refusals >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_for_sse_poll_and_publish_with_preflight() {
    let mut cfg = HubConfig::default();
    cfg.allow_origins = vec!["https://app.example".into()];
    let s = Server::start(cfg).await;
    let acao = |h: &[(String, String)]| {
        h.iter()
            .find(|(n, _)| n == "access-control-allow-origin")
            .map(|(_, v)| v.clone())
    };
    // Preflight for publish.
    let pre = ClientRequest::new(
        "OPTIONS",
        sluice_http::Url::parse(&s.url("/publish/t")).unwrap(),
    )
    .header("origin", "https://app.example")
    .header("access-control-request-method", "POST")
    .header("access-control-request-headers", "authorization");
    let (st, h, _) = s.request_full(pre).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(acao(&h).as_deref(), Some("https://app.example"));
    assert!(
        h.iter()
            .any(|(n, v)| n == "access-control-allow-methods" && v.contains("POST"))
    );
    assert!(
        h.iter().any(|(n, v)| n == "access-control-allow-headers"
            && v.contains("authorization")
            && v.contains("idempotency-key")),
        "a cross-origin sluice.js publish sends Idempotency-Key: {h:?}"
    );
    let bad = ClientRequest::new(
        "OPTIONS",
        sluice_http::Url::parse(&s.url("/publish/t")).unwrap(),
    )
    .header("origin", "https://evil.example");
    assert_eq!(s.request(bad).await.0, StatusCode::FORBIDDEN);
    // Publish: allowed origin gets CORS headers, a foreign origin is refused (CSRF).
    let ok = ClientRequest::post(&s.url("/publish/t"), "x")
        .unwrap()
        .header("origin", "https://app.example");
    let (st, h, _) = s.request_full(ok).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(acao(&h).as_deref(), Some("https://app.example"));
    let evil = ClientRequest::post(&s.url("/publish/t"), "x")
        .unwrap()
        .header("origin", "https://evil.example");
    assert_eq!(s.request(evil).await.0, StatusCode::FORBIDDEN);
    // Poll and SSE: allowed origins get the header, others do not (the browser blocks them).
    let p = ClientRequest::get(&s.url("/poll/t?timeout=0"))
        .unwrap()
        .header("origin", "https://app.example");
    let (st, h, _) = s.request_full(p).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(acao(&h).as_deref(), Some("https://app.example"));
    let p = ClientRequest::get(&s.url("/poll/t?timeout=0"))
        .unwrap()
        .header("origin", "https://evil.example");
    let (_, h, _) = s.request_full(p).await;
    assert_eq!(acao(&h), None);
    let sse = s.sse("/sse/t", &[("origin", "https://app.example")]).await;
    assert_eq!(sse.status(), StatusCode::OK);
    assert_eq!(
        sse.resp.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(sse.resp.header("content-type"), Some("text/event-stream"));
}
