//! SSE end to end over loopback TCP: `SseWriter` on the server, `SseClient` (or a raw socket)
//! on the client. Events, ids, retry and comments; reconnection with `Last-Event-ID`; `204`
//! stop; fatal status and content type; a POST with body and `Authorization`; redirects;
//! heartbeats; disconnect detection on the server; the client's read timeout against a
//! half-open server; HTTP/1.0 close-delimited streams; one encoded `Bytes` to many clients.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use sluice_http::{self as http, ClientRequest, Reply, Request, Response, StatusCode};
use sluice_tokio::sse::{
    Disconnect, Event, ForwardEnd, Idle, ReconnectConfig, ResponseError, SseClient,
    SseClientConfig, SseError, SseEvent, SseWriter, SseWriterConfig, State,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, timeout};

/// Bound on every wait in these tests.
const T: Duration = Duration::from_secs(10);

async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply<TcpStream>> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = http::serve(l, http::ServerConfig::default(), handler).await;
    });
    addr
}

/// Fast reconnects for tests: 50 ms initial and floor 10 ms.
fn fast_config() -> SseClientConfig {
    SseClientConfig::default().with_sse(
        ReconnectConfig::default()
            .with_initial_retry(Duration::from_millis(50))
            .with_min_retry(Duration::from_millis(10)),
    )
}

async fn next<C: http::Connector>(c: &mut SseClient<C>) -> Result<Option<SseEvent>, SseError> {
    timeout(T, c.next())
        .await
        .expect("client item within the bound")
}

/// (type, data, last event id) of an `SseEvent::Event`, else panics.
fn event(ev: Option<SseEvent>) -> (String, String, String) {
    match ev {
        Some(SseEvent::Event(e)) => (
            e.event_type().to_owned(),
            e.data.clone(),
            e.last_event_id().to_owned(),
        ),
        other => panic!("expected an event, got {other:?}"),
    }
}

fn ev(t: &str, d: &str, id: &str) -> (String, String, String) {
    (t.to_owned(), d.to_owned(), id.to_owned())
}

#[tokio::test]
async fn events_ids_retry_and_comments_end_to_end() {
    let addr = serve(|req: Request<TcpStream>| async move {
        let config = SseWriterConfig::default()
            .with_heartbeat_interval(None)
            .with_retry(Some(Duration::from_millis(1500)));
        let Ok(mut sse) = SseWriter::start(req, config).await else {
            return Reply::closed();
        };
        sse.comment("hello").await.unwrap();
        sse.send(&Event::new().data("plain")).await.unwrap();
        sse.send(
            &Event::new()
                .event("greet")
                .id("1")
                .data("line one\nline two\r\nline three"),
        )
        .await
        .unwrap();
        sse.send(&Event::new().data("h\u{e9}llo \u{1F600}"))
            .await
            .unwrap();
        // Pre-encoded bytes holding two events and an id-only block.
        sse.send_bytes(Bytes::from_static(
            b"id: 2\ndata: a\n\nevent: x\ndata: b\n\nid: 3\n\n",
        ))
        .await
        .unwrap();
        sse.send(&Event::new().data("after id-only")).await.unwrap();
        // Caller misuse is a typed error and writes nothing.
        assert!(matches!(
            sse.send(&Event::new().id("a\nb").data("x")).await,
            Err(sluice_tokio::sse::SendError::Encode(_))
        ));
        sse.send(&Event::new().data("last")).await.unwrap();
        // Keep the stream open until the client goes away.
        sse.closed().await;
        sse.finish().await
    })
    .await;
    let mut c = SseClient::get(&format!("http://{addr}/events")).unwrap();
    match next(&mut c).await.unwrap() {
        Some(SseEvent::Open { url, headers }) => {
            assert_eq!(url.path(), "/events");
            assert_eq!(headers.get_str("content-type"), Some("text/event-stream"));
            assert_eq!(
                headers.get_str("cache-control"),
                Some("no-cache, no-transform")
            );
            assert_eq!(headers.get_str("x-accel-buffering"), Some("no"));
            assert_eq!(headers.get_str("transfer-encoding"), Some("chunked"));
        }
        other => panic!("expected Open, got {other:?}"),
    }
    assert!(matches!(
        next(&mut c).await.unwrap(),
        Some(SseEvent::Retry(1500))
    ));
    assert_eq!(c.reconnection_time(), Duration::from_millis(1500));
    assert!(matches!(next(&mut c).await.unwrap(), Some(SseEvent::Comment(s)) if s == "hello"));
    assert_eq!(
        event(next(&mut c).await.unwrap()),
        ev("message", "plain", "")
    );
    assert_eq!(
        event(next(&mut c).await.unwrap()),
        ev("greet", "line one\nline two\nline three", "1")
    );
    assert_eq!(
        event(next(&mut c).await.unwrap()),
        ev("message", "h\u{e9}llo \u{1F600}", "1")
    );
    assert_eq!(event(next(&mut c).await.unwrap()), ev("message", "a", "2"));
    assert_eq!(event(next(&mut c).await.unwrap()), ev("x", "b", "2"));
    assert_eq!(
        event(next(&mut c).await.unwrap()),
        ev("message", "after id-only", "3")
    );
    assert_eq!(
        event(next(&mut c).await.unwrap()),
        ev("message", "last", "3")
    );
    assert_eq!(c.last_event_id(), "3");
    assert_eq!(c.state(), State::Open);
    c.close();
    assert!(next(&mut c).await.unwrap().is_none());
}

/// The server ends the stream twice; each reconnection carries the last event ID; the third
/// request gets 204 and the client stops.
#[tokio::test]
async fn reconnects_with_last_event_id_then_204_stops() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<Option<String>>::new()));
    let seen2 = seen.clone();
    let addr = serve(move |req: Request<TcpStream>| {
        let seen = seen2.clone();
        async move {
            let last = req.header("last-event-id").map(str::to_owned);
            seen.lock().unwrap().push(last.clone());
            let (id, data) = match last.as_deref() {
                None => ("1", "first".to_owned()),
                Some("1") => ("2", "resumed after 1".to_owned()),
                Some(_) => return req.respond(Response::new(StatusCode::NO_CONTENT)),
            };
            let config = SseWriterConfig::default().with_retry(Some(Duration::from_millis(200)));
            let Ok(mut sse) = SseWriter::start(req, config).await else {
                return Reply::closed();
            };
            let _ = sse.send(&Event::new().id(id).data(data)).await;
            sse.finish().await
        }
    })
    .await;
    let mut c = SseClient::new(
        ClientRequest::get(&format!("http://{addr}/r")).unwrap(),
        fast_config(),
    );
    assert!(matches!(
        next(&mut c).await.unwrap(),
        Some(SseEvent::Open { .. })
    ));
    assert!(matches!(
        next(&mut c).await.unwrap(),
        Some(SseEvent::Retry(200))
    ));
    assert_eq!(
        event(next(&mut c).await.unwrap()),
        ev("message", "first", "1")
    );
    let t0 = Instant::now();
    match next(&mut c).await.unwrap() {
        Some(SseEvent::Reconnecting {
            delay,
            cause: Disconnect::Ended,
        }) => assert_eq!(delay, Duration::from_millis(200), "retry is honoured"),
        other => panic!("expected Reconnecting, got {other:?}"),
    }
    assert!(matches!(
        next(&mut c).await.unwrap(),
        Some(SseEvent::Open { .. })
    ));
    assert!(
        t0.elapsed() >= Duration::from_millis(200),
        "waited the reconnection time"
    );
    assert!(matches!(
        next(&mut c).await.unwrap(),
        Some(SseEvent::Retry(200))
    ));
    assert_eq!(
        event(next(&mut c).await.unwrap()),
        ev("message", "resumed after 1", "2")
    );
    assert!(matches!(
        next(&mut c).await.unwrap(),
        Some(SseEvent::Reconnecting { .. })
    ));
    assert!(next(&mut c).await.unwrap().is_none(), "204 stops for good");
    assert_eq!(c.state(), State::Closed);
    assert!(next(&mut c).await.unwrap().is_none());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![None, Some("1".to_owned()), Some("2".to_owned())]
    );
}

#[tokio::test]
async fn no_content_on_first_request_stops() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let addr = serve(move |req: Request<TcpStream>| {
        h.fetch_add(1, Ordering::SeqCst);
        async move { req.respond(Response::new(StatusCode::NO_CONTENT)) }
    })
    .await;
    let mut c = SseClient::new(
        ClientRequest::get(&format!("http://{addr}/")).unwrap(),
        fast_config(),
    );
    assert!(next(&mut c).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1, "no reconnection after 204");
}

async fn fatal_case(status: StatusCode, content_type: &'static str) -> (SseError, usize) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let addr = serve(move |req: Request<TcpStream>| {
        h.fetch_add(1, Ordering::SeqCst);
        async move {
            req.respond(
                Response::new(status)
                    .header("content-type", content_type)
                    .body("data: not for you\n\n"),
            )
        }
    })
    .await;
    let mut c = SseClient::new(
        ClientRequest::get(&format!("http://{addr}/")).unwrap(),
        fast_config(),
    );
    let err = next(&mut c).await.unwrap_err();
    assert_eq!(c.state(), State::Closed);
    assert!(next(&mut c).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(200)).await;
    (err, hits.load(Ordering::SeqCst))
}

#[tokio::test]
async fn status_500_is_fatal() {
    let (err, hits) = fatal_case(StatusCode::INTERNAL_SERVER_ERROR, "text/event-stream").await;
    assert!(
        matches!(err, SseError::Response(ResponseError::Status(500))),
        "{err:?}"
    );
    assert_eq!(hits, 1, "no reconnection");
}

#[tokio::test]
async fn wrong_content_type_is_fatal() {
    let (err, hits) = fatal_case(StatusCode::OK, "text/plain").await;
    assert!(
        matches!(&err, SseError::Response(ResponseError::ContentType(Some(t))) if t == "text/plain"),
        "{err:?}"
    );
    assert_eq!(hits, 1, "no reconnection");
}

#[tokio::test]
async fn content_type_parameters_are_accepted() {
    let addr = serve(|req: Request<TcpStream>| async move {
        let resp = Response::new(StatusCode::OK)
            .header("content-type", "Text/Event-Stream; charset=utf-8");
        let Ok(mut sse) = SseWriter::start_with(req, resp, SseWriterConfig::default()).await else {
            return Reply::closed();
        };
        let _ = sse.send(&Event::new().data("ok")).await;
        sse.finish().await
    })
    .await;
    let mut c = SseClient::new(
        ClientRequest::get(&format!("http://{addr}/")).unwrap(),
        fast_config().with_reconnect(false),
    );
    match next(&mut c).await.unwrap() {
        Some(SseEvent::Open { headers, .. }) => {
            // The caller's Content-Type is kept, not doubled.
            assert_eq!(headers.get_all(b"content-type").count(), 1);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(event(next(&mut c).await.unwrap()), ev("message", "ok", ""));
    assert!(
        next(&mut c).await.unwrap().is_none(),
        "reconnect off: end of stream ends"
    );
}

/// An LLM-API-style request: POST, JSON body, bearer token; the answer streams tokens.
#[tokio::test]
async fn post_with_body_and_authorization() {
    let addr = serve(|mut req: Request<TcpStream>| async move {
        if req.method() != "POST" || req.header("authorization") != Some("Bearer secret") {
            return req.respond(Response::from_status(StatusCode::UNAUTHORIZED));
        }
        assert_eq!(req.header("accept"), Some("text/event-stream"));
        assert_eq!(req.header("content-type"), Some("application/json"));
        let body = req.body().await.unwrap();
        let Ok(mut sse) = SseWriter::start(req, SseWriterConfig::default()).await else {
            return Reply::closed();
        };
        let prompt = String::from_utf8(body.to_vec()).unwrap();
        for tok in ["you", " said", " ", &prompt] {
            let data = format!(r#"{{"delta":{}}}"#, serde_json::Value::from(tok));
            let _ = sse.send(&Event::new().data(data)).await;
        }
        let _ = sse.send(&Event::new().data("[DONE]")).await;
        sse.finish().await
    })
    .await;
    let req = ClientRequest::post(&format!("http://{addr}/v1/chat"), "hi there")
        .unwrap()
        .header("authorization", "Bearer secret")
        .header("content-type", "application/json");
    let mut c = SseClient::new(req, fast_config().with_reconnect(false));
    assert!(matches!(
        next(&mut c).await.unwrap(),
        Some(SseEvent::Open { .. })
    ));
    let mut text = String::new();
    loop {
        let (_, data, _) = event(next(&mut c).await.unwrap());
        if data == "[DONE]" {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(&data).unwrap();
        text.push_str(v["delta"].as_str().unwrap());
    }
    assert_eq!(text, "you said hi there");
    assert!(next(&mut c).await.unwrap().is_none());

    // Without the token: 401 is fatal.
    let req = ClientRequest::post(&format!("http://{addr}/v1/chat"), "x").unwrap();
    let mut c = SseClient::new(req, fast_config());
    assert!(matches!(
        next(&mut c).await,
        Err(SseError::Response(ResponseError::Status(401)))
    ));
}

/// `/old` redirects to `/new`; reconnections start again from the original URL.
#[tokio::test]
async fn follows_redirects_and_reconnects_to_the_original_url() {
    let old_hits = Arc::new(AtomicUsize::new(0));
    let h = old_hits.clone();
    let addr = serve(move |req: Request<TcpStream>| {
        let h = h.clone();
        async move {
            match req.path() {
                "/old" => {
                    h.fetch_add(1, Ordering::SeqCst);
                    req.respond(
                        Response::new(StatusCode::TEMPORARY_REDIRECT).header("location", "/new"),
                    )
                }
                "/new" if req.header("last-event-id").is_some() => {
                    req.respond(Response::new(StatusCode::NO_CONTENT))
                }
                "/new" => {
                    let Ok(mut sse) = SseWriter::start(req, SseWriterConfig::default()).await
                    else {
                        return Reply::closed();
                    };
                    let _ = sse.send(&Event::new().id("r1").data("moved")).await;
                    sse.finish().await
                }
                _ => req.respond(Response::from_status(StatusCode::NOT_FOUND)),
            }
        }
    })
    .await;
    let mut c = SseClient::new(
        ClientRequest::get(&format!("http://{addr}/old")).unwrap(),
        fast_config(),
    );
    match next(&mut c).await.unwrap() {
        Some(SseEvent::Open { url, .. }) => assert_eq!(url.path(), "/new"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        event(next(&mut c).await.unwrap()),
        ev("message", "moved", "r1")
    );
    assert!(matches!(
        next(&mut c).await.unwrap(),
        Some(SseEvent::Reconnecting { .. })
    ));
    assert!(next(&mut c).await.unwrap().is_none());
    assert_eq!(old_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn heartbeats_arrive_when_idle() {
    let addr = serve(|req: Request<TcpStream>| async move {
        let config =
            SseWriterConfig::default().with_heartbeat_interval(Some(Duration::from_millis(50)));
        let Ok(mut sse) = SseWriter::start(req, config).await else {
            return Reply::closed();
        };
        // No events at all: only heartbeats until the client leaves.
        let end = sse.forward(futures_pending()).await;
        assert_eq!(end, ForwardEnd::ClientGone);
        sse.finish().await
    })
    .await;
    let mut c = SseClient::get(&format!("http://{addr}/")).unwrap();
    assert!(matches!(
        next(&mut c).await.unwrap(),
        Some(SseEvent::Open { .. })
    ));
    let t0 = Instant::now();
    for _ in 0..3 {
        assert!(matches!(next(&mut c).await.unwrap(), Some(SseEvent::Comment(s)) if s.is_empty()));
    }
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_secs(3),
        "three heartbeats 50 ms apart took {took:?}"
    );
}

/// A source that never yields.
fn futures_pending() -> impl futures_core::Stream<Item = Bytes> + Send {
    struct Never;
    impl futures_core::Stream for Never {
        type Item = Bytes;
        fn poll_next(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Bytes>> {
            std::task::Poll::Pending
        }
    }
    Never
}

/// Reads a response head from a raw socket; returns it and the bytes after it.
async fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(p + 4);
            return (String::from_utf8(buf).unwrap(), rest);
        }
        let mut chunk = [0u8; 1024];
        let n = timeout(T, s.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "closed before the head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The server notices a client that closed its socket while no event is being sent (no
/// heartbeats either), both with `idle` in a `select!` and with `forward`.
#[tokio::test]
async fn server_notices_disconnect_promptly() {
    for use_forward in [false, true] {
        let (tx, mut rx) = mpsc::channel::<Instant>(1);
        let addr = serve(move |req: Request<TcpStream>| {
            let tx = tx.clone();
            async move {
                let config = SseWriterConfig::default().with_heartbeat_interval(None);
                let Ok(mut sse) = SseWriter::start(req, config).await else {
                    return Reply::closed();
                };
                if use_forward {
                    assert_eq!(sse.forward(futures_pending()).await, ForwardEnd::ClientGone);
                } else {
                    let (_keep, mut events) = broadcast::channel::<Bytes>(4);
                    let idle = tokio::select! {
                        _ = events.recv() => unreachable!("nothing is published"),
                        idle = sse.idle() => idle,
                    };
                    assert_eq!(idle, Idle::Closed);
                }
                assert!(sse.is_closed());
                let _ = tx.send(Instant::now()).await;
                sse.finish().await
            }
        })
        .await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /sse HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n")
            .await
            .unwrap();
        let (head, _) = read_head(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let closed_at = Instant::now();
        drop(s);
        let noticed = timeout(T, rx.recv()).await.unwrap().unwrap();
        let lag = noticed.saturating_duration_since(closed_at);
        assert!(
            lag < Duration::from_secs(1),
            "server noticed the disconnect after {lag:?} (forward: {use_forward})"
        );
    }
}

/// A server that sends the head and one event, then goes silent while keeping the connection
/// open (half-open from the client's point of view): the read timeout drops it and the client
/// reconnects.
#[tokio::test]
async fn read_timeout_on_a_half_open_server() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (held_tx, mut held_rx) = mpsc::channel::<TcpStream>(4);
    tokio::spawn(async move {
        for _ in 0..2 {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            s.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
                  10\r\nid: 9\ndata: hi\n\n\r\n",
            )
            .await
            .unwrap();
            // Hold the socket: never write again, never close.
            let _ = held_tx.send(s).await;
        }
    });
    let mut c = SseClient::new(
        ClientRequest::get(&format!("http://{addr}/")).unwrap(),
        fast_config().with_read_timeout(Some(Duration::from_millis(300))),
    );
    assert!(matches!(
        next(&mut c).await.unwrap(),
        Some(SseEvent::Open { .. })
    ));
    assert_eq!(event(next(&mut c).await.unwrap()), ev("message", "hi", "9"));
    let t0 = Instant::now();
    match next(&mut c).await.unwrap() {
        Some(SseEvent::Reconnecting {
            cause: Disconnect::Http(http::ClientError::Timeout),
            ..
        }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "read timeout after {waited:?}"
    );
    // It reconnects (to the same silent server).
    assert!(matches!(
        next(&mut c).await.unwrap(),
        Some(SseEvent::Open { .. })
    ));
    let _first = held_rx.recv().await;
}

/// HTTP/1.0: the head is written at once, before any event; the body is close-delimited (no
/// chunk framing) and ends with the connection.
#[tokio::test]
async fn http10_head_first_then_close_delimited_body() {
    let (go_tx, go_rx) = mpsc::channel::<()>(1);
    let go_rx = Arc::new(tokio::sync::Mutex::new(go_rx));
    let addr = serve(move |req: Request<TcpStream>| {
        let go_rx = go_rx.clone();
        async move {
            let Ok(mut sse) = SseWriter::start(req, SseWriterConfig::default()).await else {
                return Reply::closed();
            };
            let _ = go_rx.lock().await.recv().await;
            let _ = sse.send(&Event::new().id("1").data("one")).await;
            let _ = sse.send(&Event::new().data("two")).await;
            sse.finish().await
        }
    })
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let (head, rest) = read_head(&mut s).await;
    assert!(rest.is_empty());
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200"), "{head}");
    assert!(
        lower.contains("content-type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(
        lower.contains("cache-control: no-cache, no-transform\r\n"),
        "{head}"
    );
    assert!(lower.contains("x-accel-buffering: no\r\n"), "{head}");
    assert!(!lower.contains("transfer-encoding"), "{head}");
    assert!(!lower.contains("content-length"), "{head}");
    go_tx.send(()).await.unwrap();
    let mut body = Vec::new();
    timeout(T, s.read_to_end(&mut body)).await.unwrap().unwrap();
    assert_eq!(body, b"id: 1\ndata: one\n\ndata: two\n\n");
}

/// Broadcast: one event encoded once, the same `Bytes` written to several clients.
#[tokio::test]
async fn one_encoded_event_to_many_clients() {
    let subscribers = Arc::new(std::sync::Mutex::new(Vec::<mpsc::Sender<Bytes>>::new()));
    let subs = subscribers.clone();
    let addr = serve(move |req: Request<TcpStream>| {
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        subs.lock().unwrap().push(tx);
        async move {
            let Ok(mut sse) = SseWriter::start(req, SseWriterConfig::default()).await else {
                return Reply::closed();
            };
            let _ = sse.forward(Receiver(rx)).await;
            sse.finish().await
        }
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = SseClient::get(&format!("http://{addr}/t")).unwrap();
        assert!(matches!(
            next(&mut c).await.unwrap(),
            Some(SseEvent::Open { .. })
        ));
        clients.push(c);
    }
    let encoded = Event::new()
        .event("news")
        .id("7")
        .data("shared")
        .to_bytes()
        .unwrap();
    let subs: Vec<_> = subscribers.lock().unwrap().clone();
    assert_eq!(subs.len(), 3);
    for tx in &subs {
        tx.send(encoded.clone()).await.unwrap();
    }
    for c in &mut clients {
        assert_eq!(event(next(c).await.unwrap()), ev("news", "shared", "7"));
    }
    // Closing the sources ends the streams; the clients see the end and would reconnect.
    drop(subs);
    subscribers.lock().unwrap().clear();
    for c in &mut clients {
        assert!(matches!(
            next(c).await.unwrap(),
            Some(SseEvent::Reconnecting {
                cause: Disconnect::Ended,
                ..
            })
        ));
    }
}

/// An `mpsc::Receiver` as a `Stream`.
struct Receiver(mpsc::Receiver<Bytes>);

impl futures_core::Stream for Receiver {
    type Item = Bytes;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        self.0.poll_recv(cx)
    }
}
