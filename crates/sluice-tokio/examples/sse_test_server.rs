//! The SSE server under test in `scripts/interop/chromium_sse.mjs`: a page and scripted
//! event-stream endpoints on one origin, all written with `sluice_tokio::sse::SseWriter`.
//!
//! ```text
//! cargo run -p sluice-tokio --example sse_test_server -- --addr 127.0.0.1:0
//!   GET /            a blank HTML page (the browser test runs `new EventSource(...)` in it)
//!   GET /basic       events: unnamed, named `greet`, with ids, multi-line, unicode, an
//!                    id-only block, comments and 100 ms heartbeats; then stays open
//!   GET /reconnect   by Last-Event-ID: none -> `retry: 800`, id r1, then the stream ends;
//!                    r1 -> id r2 (data names the Last-Event-ID received), then ends;
//!                    r2 -> 204 (the browser must stop)
//!   GET /wrongtype   200 text/plain (the browser must fail without reconnecting)
//!   GET /stats       {"reconnect":[<Last-Event-ID of each request, null if none>],"wrongtype":n,
//!                     "basic_closed":n}  (basic_closed: /basic streams whose client left)
//! ```
//!
//! Prints `listening on http://ADDR` once it accepts connections.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sluice_http::{self as http, Reply, Request, Response, StatusCode};
use sluice_tokio::sse::{Event, ForwardEnd, SseWriter, SseWriterConfig};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Stats {
    reconnect: Vec<Option<String>>,
    wrongtype: usize,
    basic_closed: usize,
}

const PAGE: &str = "<!doctype html><meta charset=utf-8><title>sluice SSE interop</title>\
                    <p>sluice SSE interop page</p>";

async fn route(stats: Arc<Mutex<Stats>>, req: Request<TcpStream>) -> Reply<TcpStream> {
    match req.path() {
        "/" => req.respond(
            Response::new(StatusCode::OK)
                .header("content-type", "text/html; charset=utf-8")
                .body(PAGE),
        ),
        "/basic" => basic(stats, req).await,
        "/reconnect" => reconnect(stats, req).await,
        "/wrongtype" => {
            stats.lock().unwrap().wrongtype += 1;
            req.respond(Response::text(
                StatusCode::OK,
                "data: not an event stream\n\n",
            ))
        }
        "/stats" => {
            let body = {
                let s = stats.lock().unwrap();
                let ids: Vec<String> = s
                    .reconnect
                    .iter()
                    .map(|id| match id {
                        Some(id) => serde_json::Value::from(id.as_str()).to_string(),
                        None => "null".into(),
                    })
                    .collect();
                format!(
                    r#"{{"reconnect":[{}],"wrongtype":{},"basic_closed":{}}}"#,
                    ids.join(","),
                    s.wrongtype,
                    s.basic_closed
                )
            };
            req.respond(
                Response::new(StatusCode::OK)
                    .header("content-type", "application/json")
                    .header("cache-control", "no-store")
                    .body(body),
            )
        }
        _ => req.respond(Response::from_status(StatusCode::NOT_FOUND)),
    }
}

async fn basic(stats: Arc<Mutex<Stats>>, req: Request<TcpStream>) -> Reply<TcpStream> {
    let config =
        SseWriterConfig::default().with_heartbeat_interval(Some(Duration::from_millis(100)));
    let Ok(mut sse) = SseWriter::start(req, config).await else {
        return Reply::closed();
    };
    let events = [
        Event::new().comment("sluice basic stream").data("one"),
        Event::new().event("greet").data("hello"),
        Event::new().id("42").data("with id"),
        Event::new().data("line 1\nline 2\r\nline 3"),
        Event::new().data("h\u{e9}llo \u{1F600} \u{4e16}\u{754c}"),
        Event::new().id("43"),
        Event::new().event("greet").data("after id-only block"),
        Event::new().data("  two leading spaces, both kept"),
        Event::new().event("done").data("end"),
    ];
    for e in &events {
        if sse.send(e).await.is_err() {
            return Reply::closed();
        }
    }
    // Pre-encoded bytes as a broadcaster would send them.
    let shared = Event::new()
        .event("shared")
        .data("encoded once")
        .to_bytes()
        .unwrap();
    if sse.send_bytes(shared).await.is_err() {
        return Reply::closed();
    }
    // Stay open with heartbeats until the page closes the EventSource.
    let source = futures_never();
    if sse.forward(source).await == ForwardEnd::ClientGone {
        stats.lock().unwrap().basic_closed += 1;
    }
    sse.finish().await
}

async fn reconnect(stats: Arc<Mutex<Stats>>, req: Request<TcpStream>) -> Reply<TcpStream> {
    let last = req.header("last-event-id").map(str::to_owned);
    stats.lock().unwrap().reconnect.push(last.clone());
    let (id, data) = match last.as_deref() {
        None => ("r1", "first".to_owned()),
        Some("r1") => ("r2", "second, Last-Event-ID r1".to_owned()),
        Some(_) => return req.respond(Response::new(StatusCode::NO_CONTENT)),
    };
    let config = SseWriterConfig::default().with_retry(Some(Duration::from_millis(800)));
    let Ok(mut sse) = SseWriter::start(req, config).await else {
        return Reply::closed();
    };
    let _ = sse.send(&Event::new().id(id).data(data)).await;
    // The stream ends here: the browser reconnects after the reconnection time.
    sse.finish().await
}

/// A source of events that never yields (the /basic stream is only kept alive).
fn futures_never() -> impl futures_core::Stream<Item = Bytes> + Send {
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => {
                let v = args.next().unwrap_or_default();
                addr = match v.parse() {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("sse_test_server: bad --addr {v:?}: {e}");
                        std::process::exit(2);
                    }
                };
            }
            other => {
                eprintln!("usage: sse_test_server [--addr HOST:PORT]  (unknown {other:?})");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let stats = Arc::new(Mutex::new(Stats::default()));
    http::serve(
        listener,
        http::ServerConfig::default(),
        move |req: Request<TcpStream>| route(stats.clone(), req),
    )
    .await
}
