//! The SSE client's LLM rules over loopback: the dialect's terminal event ends the client (no
//! reconnect, even with the connection left open); a GET cut before it reconnects with
//! `Last-Event-ID` and finishes; a POST is never re-sent; the idle timeout counts events, not
//! keep-alive comments or `ping` events. Every wait is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluice_http::{self as http, ClientRequest, Reply, Request};
use sluice_sse::llm::Dialect;
use sluice_tokio::sse::{
    Disconnect, Event, SseClient, SseClientConfig, SseError, SseEvent, SseWriter, SseWriterConfig,
};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(10);

async fn server() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    tokio::spawn(http::serve(
        l,
        http::ServerConfig::default(),
        move |req: Request<TcpStream>| {
            h.fetch_add(1, Ordering::SeqCst);
            script(req)
        },
    ));
    (format!("http://{addr}"), hits)
}

async fn script(req: Request<TcpStream>) -> Reply<TcpStream> {
    let path = req.path().to_owned();
    let last = req.header("last-event-id").map(str::to_owned);
    let cfg = SseWriterConfig::default().with_retry(Some(Duration::from_millis(50)));
    let Ok(mut w) = SseWriter::start(req, cfg).await else {
        return Reply::closed();
    };
    match (path.as_str(), last.as_deref()) {
        ("/cut", None) => {
            let _ = w.send(&Event::new().id("1").data("a")).await;
        }
        ("/cut", Some("1")) => {
            let _ = w.send(&Event::new().id("2").data("b")).await;
            let _ = w.send(&Event::new().data("[DONE]")).await;
            // Held open: the client must stop at `[DONE]`, not at the end of the body.
            tokio::time::sleep(Duration::from_secs(20)).await;
        }
        ("/keepalive", _) => {
            for i in 0..100 {
                let ok = if i % 2 == 0 {
                    w.heartbeat().await.is_ok()
                } else {
                    w.send(&Event::new().event("ping").data("{}")).await.is_ok()
                };
                if !ok {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        ("/tokens", _) => {
            for i in 0..8 {
                let _ = w.send(&Event::new().event("ping").data("{}")).await;
                tokio::time::sleep(Duration::from_millis(150)).await;
                let _ = w.send(&Event::new().data(format!("tok{i}"))).await;
            }
            let _ = w
                .send(
                    &Event::new()
                        .event("message_stop")
                        .data("{\"type\":\"message_stop\"}"),
                )
                .await;
        }
        _ => {}
    }
    w.finish().await
}

async fn next(c: &mut SseClient) -> Result<Option<SseEvent>, SseError> {
    tokio::time::timeout(T, c.next()).await.expect("bounded")
}

/// Event data until the client finishes; the final result.
async fn drain(c: &mut SseClient) -> (Vec<String>, Result<(), SseError>) {
    let mut got = Vec::new();
    loop {
        match next(c).await {
            Ok(Some(SseEvent::Event(e))) => got.push(e.data),
            Ok(Some(_)) => {}
            Ok(None) => return (got, Ok(())),
            Err(e) => return (got, Err(e)),
        }
    }
}

#[tokio::test]
async fn a_get_cut_before_the_end_resumes_and_the_terminal_event_stops_it() {
    let (base, hits) = server().await;
    let cfg = SseClientConfig::default().with_dialect(Some(Dialect::Auto));
    let mut c = SseClient::new(ClientRequest::get(&format!("{base}/cut")).unwrap(), cfg);
    let started = Instant::now();
    let (got, r) = drain(&mut c).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(got, ["a", "b", "[DONE]"]);
    assert!(c.is_done());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "one reconnect, none after [DONE]"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "did not wait for the held body"
    );
}

#[tokio::test]
async fn a_post_cut_before_the_end_is_incomplete_and_not_resent() {
    let (base, hits) = server().await;
    let cfg = SseClientConfig::default().with_dialect(Some(Dialect::OpenAiChat));
    let req = ClientRequest::post(&format!("{base}/cut"), "{\"stream\":true}").unwrap();
    let mut c = SseClient::new(req, cfg);
    let (got, r) = drain(&mut c).await;
    assert_eq!(got, ["a"]);
    assert!(
        matches!(r, Err(SseError::Incomplete(Disconnect::Ended))),
        "{r:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Without a dialect, the same POST ends quietly, still sent once.
    let req = ClientRequest::post(&format!("{base}/cut"), "{}").unwrap();
    let mut c = SseClient::new(req, SseClientConfig::default());
    let (got, r) = drain(&mut c).await;
    assert_eq!((got.len(), r.is_ok()), (1, true));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn idle_timeout_counts_events_not_keep_alives() {
    let (base, _) = server().await;
    // Keep-alive comments and `ping` events every 100 ms, nothing else: idle after 600 ms
    // although bytes keep coming (the byte-level read timeout never trips).
    let cfg = SseClientConfig::default()
        .with_reconnect(false)
        .with_idle_timeout(Some(Duration::from_millis(600)));
    let mut c = SseClient::new(
        ClientRequest::get(&format!("{base}/keepalive")).unwrap(),
        cfg,
    );
    let started = Instant::now();
    let (got, r) = drain(&mut c).await;
    assert_eq!(got.iter().filter(|d| *d != "{}").count(), 0);
    assert!(
        matches!(r, Err(SseError::Disconnected(Disconnect::Idle { .. }))),
        "{r:?}"
    );
    let t = started.elapsed();
    assert!(
        t >= Duration::from_millis(600) && t < Duration::from_secs(5),
        "{t:?}"
    );
    // Tokens every 150 ms with pings between: never idle at 600 ms; ends at message_stop.
    let cfg = SseClientConfig::default()
        .with_dialect(Some(Dialect::Auto))
        .with_idle_timeout(Some(Duration::from_millis(600)));
    let mut c = SseClient::new(ClientRequest::get(&format!("{base}/tokens")).unwrap(), cfg);
    let (got, r) = drain(&mut c).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(got.iter().filter(|d| d.starts_with("tok")).count(), 8);
    assert!(c.is_done());
}
