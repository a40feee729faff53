//! Load tool for the long-poll fan-out bench (`scripts/bench/longpoll_fanout.sh`): parks N
//! long-poll subscribers on a server in another process, publishes one event, and measures
//! the time until every subscriber has its response, the server's CPU time per delivery
//! (from `/proc/<pid>/task/*/schedstat`), its RSS per parked waiter (`VmRSS`), and publish
//! throughput with 4 publishers. Works against the sluice example server and nchan.
//!
//! ```text
//! longpoll_fanout --target sluice|nchan --addr 127.0.0.1:PORT --pid PID[,PID...]
//!                 [--n 1000] [--rounds 5] [--publish-secs 3]
//! ```
//!
//! Prints a human summary and one `RESULT {json}` line.

use std::net::SocketAddr;
use std::time::Duration;

use sluice_benches::keepalive::{NchanCursor, client_cfg, count_after, request};
use sluice_benches::procfs::{cpu_ns, parse_pids, rss_bytes};
use sluice_http::{ClientRequest, Url};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, timeout};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Sluice,
    Nchan,
}

const TOPIC: &str = "bench";
const PAYLOAD: &str = "0123456789abcdef0123456789abcdef"; // 32 bytes

struct Args {
    target: Target,
    addr: SocketAddr,
    pids: Vec<u32>,
    n: usize,
    rounds: usize,
    publish_secs: u64,
}

fn args() -> Args {
    let mut a = Args {
        target: Target::Sluice,
        addr: "127.0.0.1:8080".parse().unwrap(),
        pids: Vec::new(),
        n: 1000,
        rounds: 5,
        publish_secs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--target" => {
                a.target = match v.as_str() {
                    "sluice" => Target::Sluice,
                    "nchan" => Target::Nchan,
                    o => panic!("unknown target {o}"),
                }
            }
            "--addr" => a.addr = v.parse().expect("host:port"),
            "--pid" => a.pids = parse_pids(&v),
            "--n" => a.n = v.parse().expect("n"),
            "--rounds" => a.rounds = v.parse().expect("rounds"),
            "--publish-secs" => a.publish_secs = v.parse().expect("secs"),
            o => panic!("unknown argument {o}"),
        }
    }
    assert!(!a.pids.is_empty(), "--pid is required");
    a
}

fn url(addr: SocketAddr, path: &str) -> Url {
    Url::parse(&format!("http://{addr}{path}")).unwrap()
}

/// How many subscribers the server has parked.
async fn parked(a: &Args, conn: &mut Option<TcpStream>) -> usize {
    let (path, key) = match a.target {
        Target::Sluice => ("/stats", "\"parked\":"),
        Target::Nchan => ("/stats", "subscribers: "),
    };
    let req = ClientRequest::new("GET", url(a.addr, path));
    let Ok((_, _, body)) = request(conn, &req, &client_cfg()).await else {
        return 0;
    };
    count_after(&String::from_utf8_lossy(&body), key)
}

fn publish_req(a: &Args) -> ClientRequest {
    let path = match a.target {
        Target::Sluice => format!("/publish/{TOPIC}"),
        Target::Nchan => format!("/pub/{TOPIC}"),
    };
    ClientRequest::new("POST", url(a.addr, &path)).body(PAYLOAD)
}

async fn publish(a: &Args, conn: &mut Option<TcpStream>) -> String {
    let (status, _, body) = request(conn, &publish_req(a), &client_cfg())
        .await
        .expect("publish");
    assert!((200..300).contains(&status), "publish: {status}");
    // sluice answers {"id":"<cursor>"}: the next round's subscribers resume from it.
    let text = String::from_utf8_lossy(&body).to_string();
    text.split("\"id\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
        .to_owned()
}

/// A subscriber: each round, one long-poll request on its kept-alive connection; reports the
/// instant its response was complete.
async fn subscriber(
    target: Target,
    addr: SocketAddr,
    mut rounds: watch::Receiver<(usize, String)>,
    done: mpsc::UnboundedSender<Result<Instant, String>>,
) {
    let cfg = client_cfg();
    let mut conn = None;
    // nchan: resume with If-Modified-Since / If-None-Match from the previous answer.
    let mut last = NchanCursor::default();
    let mut round = 0;
    loop {
        let cursor = loop {
            let (r, c) = rounds.borrow_and_update().clone();
            if r > round {
                round = r;
                break c;
            }
            if rounds.changed().await.is_err() {
                return;
            }
        };
        let req = match target {
            Target::Sluice => ClientRequest::new(
                "GET",
                url(addr, &format!("/poll/{TOPIC}?cursor={cursor}&timeout=25")),
            ),
            Target::Nchan => ClientRequest::new("GET", url(addr, &format!("/sub/{TOPIC}"))),
        };
        let r = request(&mut conn, &last.apply(req), &cfg).await;
        let report = match r {
            Ok((200, h, body)) if String::from_utf8_lossy(&body).contains(PAYLOAD) => {
                last.advance(&h);
                Ok(Instant::now())
            }
            Ok((s, _, body)) => Err(format!("status {s}: {}", String::from_utf8_lossy(&body))),
            Err(e) => Err(e.to_string()),
        };
        if done.send(report).is_err() {
            return;
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let mut ctl = None;
    // Warm up: the topic exists and the server has served a request.
    let mut cursor = publish(&a, &mut ctl).await;
    sleep(Duration::from_millis(300)).await;
    let rss_base = rss_bytes(&a.pids);

    let (round_tx, round_rx) = watch::channel((0usize, String::new()));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    for _ in 0..a.n {
        tokio::spawn(subscriber(
            a.target,
            a.addr,
            round_rx.clone(),
            done_tx.clone(),
        ));
    }
    drop(done_tx);

    let mut release_ms = Vec::new();
    let mut cpu_us = Vec::new();
    let mut rss_per_waiter = Vec::new();
    for round in 1..=a.rounds {
        round_tx.send_replace((round, cursor.clone()));
        let t0 = Instant::now();
        loop {
            let p = parked(&a, &mut ctl).await;
            if p >= a.n {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "round {round}: only {p} of {} parked",
                a.n
            );
            sleep(Duration::from_millis(20)).await;
        }
        sleep(Duration::from_millis(300)).await;
        let rss = rss_bytes(&a.pids);
        rss_per_waiter.push((rss.saturating_sub(rss_base)) as f64 / a.n as f64);
        let cpu0 = cpu_ns(&a.pids);
        let published = Instant::now();
        cursor = publish(&a, &mut ctl).await;
        let mut last = published;
        for _ in 0..a.n {
            match timeout(Duration::from_secs(120), done_rx.recv()).await {
                Ok(Some(Ok(t))) => last = last.max(t),
                Ok(Some(Err(e))) => panic!("round {round}: subscriber failed: {e}"),
                Ok(None) | Err(_) => panic!("round {round}: fan-out stalled"),
            }
        }
        let cpu1 = cpu_ns(&a.pids);
        let ms = (last - published).as_secs_f64() * 1e3;
        let per = (cpu1 - cpu0) as f64 / 1e3 / a.n as f64;
        eprintln!(
            "{:?} n={} round {round}: all released in {ms:.1} ms, server CPU {per:.2} µs/delivery, \
             RSS +{:.0} B/waiter",
            a.target,
            a.n,
            rss_per_waiter.last().unwrap()
        );
        release_ms.push(ms);
        cpu_us.push(per);
    }
    drop(round_tx);

    // Publish throughput: 4 publishers on their own connections, no subscribers parked.
    let secs = a.publish_secs;
    let cpu0 = cpu_ns(&a.pids);
    let t0 = Instant::now();
    let mut pubs = Vec::new();
    for _ in 0..4 {
        let req = publish_req(&a);
        pubs.push(tokio::spawn(async move {
            let cfg = client_cfg();
            let mut conn = None;
            let mut count = 0u64;
            let end = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < end {
                let (s, _, _) = request(&mut conn, &req, &cfg).await.expect("publish");
                assert!((200..300).contains(&s), "publish status {s}");
                count += 1;
            }
            count
        }));
    }
    let mut total = 0;
    for p in pubs {
        total += p.await.unwrap();
    }
    let el = t0.elapsed().as_secs_f64();
    let pub_cpu_us = (cpu_ns(&a.pids) - cpu0) as f64 / 1e3 / total as f64;
    let pub_rate = total as f64 / el;

    let release = median(&mut release_ms);
    let cpu = median(&mut cpu_us);
    let rss = median(&mut rss_per_waiter);
    eprintln!(
        "{:?} n={}: median of {} rounds: release {release:.1} ms, CPU {cpu:.2} µs/delivery, \
         RSS {rss:.0} B/waiter; publish {pub_rate:.0}/s with 4 publishers ({pub_cpu_us:.1} µs \
         server CPU each)",
        a.target, a.n, a.rounds
    );
    println!(
        "RESULT {{\"target\":\"{:?}\",\"n\":{},\"rounds\":{},\"release_ms\":{release:.2},\
         \"cpu_us_per_delivery\":{cpu:.3},\"rss_bytes_per_waiter\":{rss:.0},\
         \"publish_per_s\":{pub_rate:.0},\"cpu_us_per_publish\":{pub_cpu_us:.2}}}",
        a.target, a.n, a.rounds
    );
}
