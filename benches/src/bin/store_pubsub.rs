//! Load tool for the store bench (`scripts/bench/store_compare.sh`): publish throughput and
//! publish → delivery latency of `sluice serve --store …` across nodes.
//!
//! One WebSocket subscriber per node (`--node ADDR`, repeated) on one topic; `--concurrency`
//! publishers send `--events` publishes round-robin over the nodes (`POST /publish`, one at a
//! time each). Measured: publishes per second (from the first send to the last `200`), and per
//! delivery (every event on every node) the time from sending its publish to the subscriber
//! receiving it — p50 / p99 / max. Every delivery is checked: exactly once, in one order on
//! every node.
//!
//! ```text
//! store_pubsub --node 127.0.0.1:P1 [--node 127.0.0.1:P2 ...] [--events 20000]
//!              [--concurrency 16] [--payload 64]
//! ```
//!
//! Prints a human summary and one `RESULT {json}` line.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_http::{self as http, ClientRequest};
use sluice_tokio::ws::{self, Message, WsConfig};
use tokio::time::{Instant, sleep};

const TOPIC: &str = "bench.store";

struct Args {
    nodes: Vec<String>,
    events: usize,
    concurrency: usize,
    payload: usize,
}

fn args() -> Args {
    let mut a = Args {
        nodes: Vec::new(),
        events: 20_000,
        concurrency: 16,
        payload: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--node" => a.nodes.push(v),
            "--events" => a.events = v.parse().expect("events"),
            "--concurrency" => a.concurrency = v.parse().expect("concurrency"),
            "--payload" => a.payload = v.parse().expect("payload"),
            o => panic!("unknown argument {o}"),
        }
    }
    assert!(!a.nodes.is_empty(), "at least one --node");
    a
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(a));
}

async fn publish(addr: &str, data: String) -> Result<String, String> {
    let req = ClientRequest::post(&format!("http://{addr}/publish/{TOPIC}"), data).unwrap();
    let mut resp = http::fetch(req, &http::ClientConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp.bytes(4096).await.map_err(|e| e.to_string())?;
    if status == 200 {
        Ok(String::from_utf8_lossy(&body).into_owned())
    } else {
        Err(format!("publish: HTTP {status}"))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// What one subscriber received: (event index, time received), in arrival order.
type Received = Arc<Mutex<Vec<(usize, Instant)>>>;

async fn run(a: Args) {
    // The topic exists and its epoch is fixed before anyone subscribes.
    publish(&a.nodes[0], "warmup".into())
        .await
        .expect("hub reachable");
    let mut received: Vec<Received> = Vec::new();
    for node in &a.nodes {
        let r: Received = Arc::new(Mutex::new(Vec::with_capacity(a.events)));
        let cfg = WsConfig::default()
            .ping_interval(None)
            .idle_timeout(None)
            .deflate(None);
        let (mut sock, _) = ws::connect(&format!("ws://{node}/ws/{TOPIC}"), cfg)
            .await
            .expect("ws connect");
        let r2 = Arc::clone(&r);
        tokio::spawn(async move {
            while let Some(Ok(m)) = sock.recv().await {
                if let Message::Text(t) = m {
                    let s = t.as_str();
                    // {"id":"..","event":"message","data":"ev-N-..."}
                    if let Some(i) = s
                        .find("\"data\":\"ev-")
                        .and_then(|p| s[p + 11..].split('-').next())
                        .and_then(|i| i.parse::<usize>().ok())
                    {
                        r2.lock().unwrap().push((i, Instant::now()));
                    }
                }
            }
        });
        received.push(r);
    }
    sleep(Duration::from_millis(300)).await;

    let pad = "x".repeat(a.payload.saturating_sub(12));
    let sent: Arc<Vec<Mutex<Option<Instant>>>> =
        Arc::new((0..a.events).map(|_| Mutex::new(None)).collect());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let nodes: Arc<Vec<String>> = Arc::new(a.nodes.clone());
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let (sent, next, nodes, pad) = (sent.clone(), next.clone(), nodes.clone(), pad.clone());
        let total = a.events;
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let node = &nodes[i % nodes.len()];
                *sent[i].lock().unwrap() = Some(Instant::now());
                publish(node, format!("ev-{i}-{pad}"))
                    .await
                    .expect("publish");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let publish_secs = t0.elapsed().as_secs_f64();
    // Wait for every delivery.
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.iter().any(|r| r.lock().unwrap().len() < a.events) {
        assert!(Instant::now() < deadline, "deliveries missing");
        sleep(Duration::from_millis(20)).await;
    }
    let mut lat = Vec::with_capacity(a.events * a.nodes.len());
    let first_order: Vec<usize> = received[0].lock().unwrap().iter().map(|x| x.0).collect();
    for r in &received {
        let r = r.lock().unwrap();
        let order: Vec<usize> = r.iter().map(|x| x.0).collect();
        assert_eq!(order.len(), a.events, "exactly once");
        assert_eq!(order, first_order, "one order on every node");
        for &(i, at) in r.iter() {
            let s = sent[i].lock().unwrap().expect("sent");
            lat.push(at.saturating_duration_since(s).as_secs_f64() * 1000.0);
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rate = a.events as f64 / publish_secs;
    let (p50, p99, max) = (
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
    );
    println!(
        "{} publishes over {} node(s), concurrency {}: {rate:.0}/s; publish -> delivery p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms ({} deliveries, each once, one order)",
        a.events,
        a.nodes.len(),
        a.concurrency,
        lat.len()
    );
    println!(
        "RESULT {{\"nodes\":{},\"events\":{},\"concurrency\":{},\"publish_per_s\":{rate:.0},\"p50_ms\":{p50:.3},\"p99_ms\":{p99:.3},\"max_ms\":{max:.3}}}",
        a.nodes.len(),
        a.events,
        a.concurrency
    );
}
