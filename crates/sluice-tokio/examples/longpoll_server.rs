//! A small long-poll server over `sluice_tokio::longpoll` (the server under test in
//! `scripts/bench/longpoll_fanout.sh`, and a way to try `sluice poll`).
//!
//! ```text
//! cargo run --release -p sluice-tokio --example longpoll_server -- --addr 127.0.0.1:8080
//!   GET  /poll/{topic}?cursor=&timeout=&max=   the long-poll protocol (docs/longpoll.md)
//!   POST /publish/{topic}[?event=TYPE]         body = data → {"id":"<cursor>"}
//!   GET  /stats                                {"parked":n,"topics":n}
//! ```
//!
//! Topics are created on first use. Flags: `--addr A` (default 127.0.0.1:8080),
//! `--max-waiters N` (default 10,000), `--retention-events N` (default 10,000),
//! `--threads N` (runtime worker threads, default: all cores), `--allow-origin O` (repeatable).

use bytes::Bytes;
use sluice_http::{self as http, Reply, Request, Response, StatusCode};
use sluice_longpoll::LogConfig;
use sluice_tokio::longpoll::{LongPoll, LongPollConfig};
use tokio::net::{TcpListener, TcpStream};

fn valid_topic(t: &str) -> bool {
    (1..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

async fn route(lp: LongPoll<String>, mut req: Request<TcpStream>) -> Reply<TcpStream> {
    let path = req.path().to_owned();
    if let Some(topic) = path.strip_prefix("/poll/") {
        if !valid_topic(topic) {
            return req.respond(Response::from_status(StatusCode::BAD_REQUEST));
        }
        let topic = topic.to_owned();
        lp.ensure_topic(&topic);
        return lp.handle(&topic, req).await;
    }
    if let Some(topic) = path.strip_prefix("/publish/") {
        if req.method() != "POST" || !valid_topic(topic) {
            return req.respond(Response::from_status(StatusCode::BAD_REQUEST));
        }
        let topic = topic.to_owned();
        let event = req.query_param("event").unwrap_or("message").to_owned();
        let body = match req.body().await {
            Ok(b) => b,
            Err(e) => return req.respond(Response::from_status(e.status())),
        };
        lp.ensure_topic(&topic);
        return match lp.publish(&topic, &event, body) {
            Ok(id) => req.respond(
                Response::new(StatusCode::OK)
                    .header("content-type", "application/json")
                    .body(format!("{{\"id\":\"{id}\"}}")),
            ),
            Err(e) => req.respond(Response::text(
                StatusCode::BAD_REQUEST,
                Bytes::from(format!("{e}\n")),
            )),
        };
    }
    if path == "/stats" {
        let body = format!(
            "{{\"parked\":{},\"topics\":{}}}",
            lp.parked(),
            lp.topic_count()
        );
        return req.respond(
            Response::new(StatusCode::OK)
                .header("content-type", "application/json")
                .body(body),
        );
    }
    req.respond(Response::from_status(StatusCode::NOT_FOUND))
}

fn main() -> std::io::Result<()> {
    let mut addr = String::from("127.0.0.1:8080");
    let mut cfg = LongPollConfig::default();
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match a.as_str() {
            "--addr" => addr = val("--addr"),
            "--max-waiters" => cfg.server.max_waiters = val(&a).parse().expect("a number"),
            "--retention-events" => {
                cfg.log = LogConfig::default().with_max_events(val(&a).parse().expect("a number"));
            }
            "--threads" => threads = Some(val(&a).parse::<usize>().expect("a number")),
            "--allow-origin" => cfg.allow_origins.push(val(&a)),
            other => {
                eprintln!("unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        rt.worker_threads(n);
    }
    rt.enable_all().build()?.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        eprintln!(
            "long-poll server on http://{} (pid {})",
            listener.local_addr()?,
            std::process::id()
        );
        let lp: LongPoll<String> = LongPoll::new(cfg);
        http::serve(
            listener,
            http::ServerConfig::default(),
            move |req: Request<TcpStream>| route(lp.clone(), req),
        )
        .await
    })
}
