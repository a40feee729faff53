//! Failure matrix: 10,000 parked long-poll requests over loopback TCP, released by one
//! publish, each answered exactly once with the event, and none left parked.
//!
//! Client and server sockets live in this one process (2 descriptors per waiter). If the soft
//! `RLIMIT_NOFILE` (read from `/proc/self/limits`; it is not raised here) cannot hold 10,000
//! pairs, the test scales down to what fits and says so on stderr. (The fan-out bench runs
//! the clients in a separate process and does the full 10,000.)

use std::time::Duration;

use bytes::Bytes;
use sluice_http::{self as http, Request, Response, StatusCode};
use sluice_longpoll::LogConfig;
use sluice_tokio::longpoll::{LongPoll, LongPollConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

const WANT: usize = 10_000;

fn soft_nofile() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    if soft == "unlimited" {
        return Some(usize::MAX);
    }
    soft.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_parked_waiters_released_by_one_publish() {
    let soft = soft_nofile().unwrap_or(1024);
    let n = WANT.min(soft.saturating_sub(400) / 2);
    if n < WANT {
        eprintln!(
            "longpoll_fanout: soft fd limit {soft} holds {n} client+server socket pairs, \
             not {WANT}: scaled down"
        );
    }
    assert!(n >= 100, "fd limit {soft} too low for a meaningful fan-out");

    let mut cfg = LongPollConfig::default();
    cfg.server.max_waiters = WANT;
    let lp: LongPoll<String> = LongPoll::new(cfg);
    lp.create_topic("t".into(), LogConfig::default());
    let head = lp.head("t").unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_lp = lp.clone();
    let mut server_cfg = http::ServerConfig::default();
    server_cfg.initial_read_buffer = 512;
    tokio::spawn(http::serve(
        listener,
        server_cfg,
        move |req: Request<TcpStream>| {
            let lp = server_lp.clone();
            async move {
                match req.path().strip_prefix("/poll/").map(str::to_owned) {
                    Some(t) => lp.handle(&t, req).await,
                    None => req.respond(Response::from_status(StatusCode::NOT_FOUND)),
                }
            }
        },
    ));

    let request = format!("GET /poll/t?cursor={head}&timeout=25 HTTP/1.1\r\nhost: x\r\n\r\n");
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        socks.push(s);
    }
    let t0 = Instant::now();
    while lp.parked() < n {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "only {} of {n} parked",
            lp.parked()
        );
        sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(lp.parked(), n);

    let mut readers = JoinSet::new();
    for mut s in socks {
        readers.spawn(async move {
            let mut out = Vec::with_capacity(512);
            let mut buf = [0u8; 1024];
            // One Content-Length answer; its JSON body ends with `}`.
            while !out.ends_with(b"}") {
                let k = s.read(&mut buf).await.unwrap();
                assert!(k > 0, "closed: {}", String::from_utf8_lossy(&out));
                out.extend_from_slice(&buf[..k]);
            }
            String::from_utf8(out).unwrap()
        });
    }
    let published = Instant::now();
    let id = lp.publish("t", "m", Bytes::from("go")).unwrap();
    let want = format!(r#"{{"cursor":"{id}","events":[{{"id":"{id}","event":"m","data":"go"}}]"#);
    let mut answered = 0;
    while let Some(r) = timeout(Duration::from_secs(60), readers.join_next())
        .await
        .expect("fan-out stalled")
    {
        let text = r.unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert_eq!(text.matches(want.as_str()).count(), 1, "{text}");
        answered += 1;
    }
    let took = published.elapsed();
    eprintln!("longpoll_fanout: {answered} parked requests released by one publish in {took:?}");
    assert_eq!(answered, n);
    assert_eq!(lp.parked(), 0);
}
