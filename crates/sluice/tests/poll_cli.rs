//! `sluice poll` end to end: the binary against an in-process long-poll server on loopback.
//! Events as JSON lines, waiting for new ones, resuming from a printed id, gaps and resets as
//! their own lines, and one-line errors with a non-zero exit.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sluice_http::{self as http, Request, Response, StatusCode};
use sluice_tokio::longpoll::{LogConfig, LongPoll, LongPollConfig};
use tokio::net::{TcpListener, TcpStream};

async fn server(lp: &LongPoll<String>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let lp = lp.clone();
    tokio::spawn(http::serve(
        l,
        http::ServerConfig::default(),
        move |req: Request<TcpStream>| {
            let lp = lp.clone();
            async move {
                match req.path().strip_prefix("/poll/").map(str::to_owned) {
                    Some(t) => lp.handle(&t, req).await,
                    None => req.respond(Response::from_status(StatusCode::NOT_FOUND)),
                }
            }
        },
    ));
    addr
}

/// A running `sluice poll` with its stdout lines arriving on a channel.
struct Poll {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Poll {
    fn spawn(args: &[&str]) -> Poll {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("poll")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Poll { child, lines }
    }

    async fn line(&self) -> serde_json::Value {
        let t0 = std::time::Instant::now();
        loop {
            match self.lines.try_recv() {
                Ok(l) => return serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}")),
                Err(mpsc::TryRecvError::Empty) => {
                    assert!(t0.elapsed() < Duration::from_secs(15), "no line");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(mpsc::TryRecvError::Disconnected) => panic!("stdout closed"),
            }
        }
    }

    /// Waits (bounded) for exit; returns the code and stderr.
    async fn exit(mut self) -> (i32, String) {
        let t0 = std::time::Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                assert!(self.lines.try_recv().is_err(), "unexpected extra output");
                return (st.code().unwrap_or(-1), err);
            }
            if t0.elapsed() > Duration::from_secs(15) {
                let _ = self.child.kill();
                panic!("sluice poll did not exit");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn event(v: &serde_json::Value) -> (&str, &str, &str) {
    (
        v["id"].as_str().unwrap(),
        v["event"].as_str().unwrap(),
        v["data"].as_str().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_waits_and_resumes() {
    let lp: LongPoll<String> = LongPoll::new(LongPollConfig::default());
    let t = String::from("news");
    lp.create_topic(t.clone(), LogConfig::default());
    let addr = server(&lp).await;
    let url = format!("http://{addr}/poll/news");
    let ids: Vec<String> = ["a", "b \"quoted\"\nline"]
        .iter()
        .map(|d| lp.publish(&t, "m", d.to_string()).unwrap().to_string())
        .collect();

    let p = Poll::spawn(&[&url, "--from", "earliest", "--count", "4", "--timeout", "5"]);
    assert_eq!(event(&p.line().await), (ids[0].as_str(), "m", "a"));
    assert_eq!(
        event(&p.line().await),
        (ids[1].as_str(), "m", "b \"quoted\"\nline")
    );
    // It is now parked: new events arrive as they are published.
    let t0 = std::time::Instant::now();
    while lp.parked() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let c = lp.publish(&t, "alert", "c").unwrap().to_string();
    assert_eq!(event(&p.line().await), (c.as_str(), "alert", "c"));
    let d = lp.publish(&t, "m", "d").unwrap().to_string();
    assert_eq!(event(&p.line().await), (d.as_str(), "m", "d"));
    assert_eq!(p.exit().await.0, 0);

    // Resume right after a printed id.
    let p = Poll::spawn(&[&url, "--from", &ids[1], "--count", "2"]);
    assert_eq!(event(&p.line().await).2, "c");
    assert_eq!(event(&p.line().await).2, "d");
    assert_eq!(p.exit().await.0, 0);

    // `now` (the default) skips history: only what is published after.
    let p = Poll::spawn(&[&url, "--count", "1"]);
    let t0 = std::time::Instant::now();
    while lp.parked() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    lp.publish(&t, "m", "e").unwrap();
    assert_eq!(event(&p.line().await).2, "e");
    assert_eq!(p.exit().await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap_and_reset_lines() {
    let lp: LongPoll<String> = LongPoll::new(LongPollConfig::default());
    let t = String::from("small");
    lp.create_topic(t.clone(), LogConfig::default().with_max_events(2));
    let addr = server(&lp).await;
    let url = format!("http://{addr}/poll/small");
    let ids: Vec<_> = (1..=5)
        .map(|i| lp.publish(&t, "m", format!("{i}")).unwrap())
        .collect();

    // Retained: 4 and 5; from 1 the events 2 and 3 are lost — said so, with the count.
    let p = Poll::spawn(&[&url, "--from", &ids[0].to_string(), "--count", "2"]);
    assert_eq!(p.line().await, serde_json::json!({"gap": {"missed": 2}}));
    assert_eq!(event(&p.line().await).2, "4");
    assert_eq!(event(&p.line().await).2, "5");
    assert_eq!(p.exit().await.0, 0);

    // A cursor of another epoch (a restarted server): reset, then the retained events.
    let other = sluice_tokio::longpoll::Cursor::new(ids[0].epoch() ^ 1, 9);
    let p = Poll::spawn(&[&url, "--from", &other.to_string(), "--count", "2"]);
    assert_eq!(p.line().await, serde_json::json!({"reset": true}));
    // Events 1-3 of the current epoch are gone too: counted.
    assert_eq!(p.line().await, serde_json::json!({"gap": {"missed": 3}}));
    assert_eq!(event(&p.line().await).2, "4");
    assert_eq!(event(&p.line().await).2, "5");
    assert_eq!(p.exit().await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_line_and_non_zero() {
    let lp: LongPoll<String> = LongPoll::new(LongPollConfig::default());
    let addr = server(&lp).await;

    let (code, err) = Poll::spawn(&[&format!("http://{addr}/poll/missing")])
        .exit()
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("410"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let (code, err) = Poll::spawn(&["not a url"]).exit().await;
    assert_eq!(code, 2);
    assert!(err.contains("bad URL"), "{err}");

    // Nothing listening: refused before any answer → exit 1 at once.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (code, err) = Poll::spawn(&[&format!("http://{closed}/poll/x")])
        .exit()
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["poll", "http://127.0.0.1:1/poll/x", "--from", "1.ABC.1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap rejects a malformed cursor"
    );
}
