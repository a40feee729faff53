//! `sluice serve --store`: real processes, real servers. The file store across `kill -9`;
//! three hub processes on one Redis with subscribers on every node and transport (each a
//! real `sluice sub`), a node killed mid-stream, Redis restarted with its AOF, Redis down for
//! 5 s, Redis wiped; the same with NATS JetStream. Counting tests: every subscriber prints every event exactly once, in the
//! one order the store gave them.
//!
//! Every server is started by the test on a free loopback port with its own data directory
//! and stopped by PID (`scripts/setup.sh` installs `redis-server` and `nats-server`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_http::{self as http, ClientConfig, ClientRequest, StatusCode};

const T: Duration = Duration::from_secs(60);

#[path = "support/fault_proxy.rs"]
mod fault_proxy;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (SIGKILL) and reaped when dropped.
struct Proc(Child);

impl Proc {
    fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A `sluice serve` on a free port.
struct Node {
    proc: Proc,
    base: String,
}

fn start_node(store: &str, port: u16) -> Node {
    start_node_with(store, port, &["--retention-events", "10000"])
}

fn start_node_with(store: &str, port: u16, extra: &[&str]) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--store", store])
        .args(extra)
        .env_remove("SLUICE_AUTH_SECRET")
        .env_remove("SLUICE_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_once("open ")
        .map(|(_, u)| u.trim().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| panic!("no URL in the startup line {line:?} (store {store})"));
    Node {
        proc: Proc(child),
        base,
    }
}

/// A `sluice sub` whose output lines are collected.
struct Sub {
    proc: Proc,
    lines: Arc<Mutex<Vec<String>>>,
}

fn start_sub(url: &str, from: &str, lines: Arc<Mutex<Vec<String>>>) -> Sub {
    start_sub_with(&[url, "--from", from], lines)
}

impl Sub {
    /// The ids of the events printed so far, and any other line (gap, reset).
    fn seen(&self) -> (Vec<String>, Vec<String>) {
        let mut ids = Vec::new();
        let mut other = Vec::new();
        for l in self.lines.lock().unwrap().iter() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            match v["id"].as_str() {
                Some(id) => ids.push(id.to_owned()),
                None => other.push(l.clone()),
            }
        }
        (ids, other)
    }

    fn last_id(&self) -> Option<String> {
        self.seen().0.last().cloned()
    }
}

/// The transports' subscribe URLs of `topic` on `base`.
fn urls(base: &str, topic: &str) -> [String; 3] {
    [
        format!("{}/ws/{topic}", base.replace("http://", "ws://")),
        format!("{base}/sse/{topic}"),
        format!("{base}/poll/{topic}"),
    ]
}

async fn post(
    base: &str,
    topic: &str,
    body: &str,
    key: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut req = ClientRequest::post(&format!("{base}/publish/{topic}"), body.to_owned()).unwrap();
    if let Some(k) = key {
        req = req.header("idempotency-key", k.to_owned());
    }
    let mut r = tokio::time::timeout(T, http::fetch(req, &ClientConfig::default()))
        .await
        .unwrap()
        .unwrap();
    let retry = r.header("retry-after").map(str::to_owned);
    let body = r.bytes(1 << 20).await.unwrap();
    (r.status(), String::from_utf8(body.to_vec()).unwrap(), retry)
}

/// Publishes as a careful client does: with an `Idempotency-Key`, retrying a 503 after its
/// `Retry-After` (the first command after Redis came back may fail on the old connection) —
/// the key makes the retry safe even if the first attempt was appended.
async fn publish(base: &str, topic: &str, body: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let key = format!(
        "k{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    for _ in 0..5 {
        let (st, b, retry) = post(base, topic, body, Some(&key)).await;
        if st == StatusCode::SERVICE_UNAVAILABLE {
            assert!(retry.is_some(), "503 without Retry-After: {b}");
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        assert_eq!(st, StatusCode::OK, "{b}");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        return v["id"].as_str().unwrap().to_owned();
    }
    panic!("publish kept failing with 503");
}

async fn get(url: &str) -> (StatusCode, String) {
    let mut r = tokio::time::timeout(
        T,
        http::fetch(ClientRequest::get(url).unwrap(), &ClientConfig::default()),
    )
    .await
    .unwrap()
    .unwrap();
    let body = r.bytes(1 << 20).await.unwrap();
    (r.status(), String::from_utf8(body.to_vec()).unwrap())
}

/// Waits until every subscriber printed `n` events (or the deadline).
async fn wait_for(subs: &[&Sub], n: usize, what: &str) {
    let deadline = Instant::now() + T;
    loop {
        let counts: Vec<usize> = subs.iter().map(|s| s.seen().0.len()).collect();
        if counts.iter().all(|&c| c >= n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: counts {counts:?}, want {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A store server the test starts and stops by PID, on a free port with its own directory.
trait StoreServer {
    fn url(&self) -> String;
    /// Starts it again on the same port and data.
    fn restart(&mut self);
    /// Kills it (SIGKILL).
    fn stop(&mut self);
    /// Loses all its data (the server ends up running).
    fn wipe(&mut self);
}

/// A `redis-server` on a free port with its own directory, AOF fsync always.
struct Redis {
    proc: Option<Proc>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Redis {
            proc: None,
            port: free_port(),
            dir,
        };
        r.restart();
        r
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl StoreServer for Redis {
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", self.dir.path().to_str().unwrap()])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found: run scripts/setup.sh");
        self.proc = Some(Proc(child));
        let deadline = Instant::now() + T;
        // Until it listens and has loaded its AOF (LOADING answers until then).
        while !self.cli(&["ping"]).contains("PONG") {
            assert!(Instant::now() < deadline, "redis-server not ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    fn wipe(&mut self) {
        assert!(self.cli(&["flushall"]).contains("OK"));
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// A `nats-server -js` on a free port with its own store directory.
struct Nats {
    proc: Option<Proc>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nats {
    fn start() -> Nats {
        let mut n = Nats {
            proc: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
        };
        n.restart();
        n
    }
}

impl StoreServer for Nats {
    fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-sd", self.dir.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server not found: run scripts/setup.sh");
        self.proc = Some(Proc(child));
        let deadline = Instant::now() + T;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    fn wipe(&mut self) {
        self.stop();
        for e in std::fs::read_dir(self.dir.path()).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                std::fs::remove_dir_all(p).unwrap();
            } else {
                std::fs::remove_file(p).unwrap();
            }
        }
        self.restart();
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_survives_kill_9_on_every_transport() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().display());
    let port = free_port();
    let mut node = start_node(&store, port);
    let mut ids = Vec::new();
    for i in 0..1000 {
        ids.push(publish(&node.base, "durable", &format!("event {i}")).await);
    }
    // Idempotency: a retried POST gets the first answer, and nothing is appended twice.
    let (s1, a, _) = post(&node.base, "durable", "once", Some("retry-1")).await;
    let (s2, b, _) = post(&node.base, "durable", "once", Some("retry-1")).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(a, b, "the retry got the first answer");
    let once: serde_json::Value = serde_json::from_str(&a).unwrap();
    ids.push(once["id"].as_str().unwrap().to_owned());
    node.proc.kill9();

    let node = start_node(&store, port);
    // The same epoch: the head did not move and the new event follows the old ones.
    let next = publish(&node.base, "durable", "after restart").await;
    let (e_old, e_new) = (ids[0].split('.').nth(1), next.split('.').nth(1));
    assert_eq!(e_old, e_new, "same epoch after kill -9");
    assert!(next.ends_with(".1002"), "{next}");
    ids.push(next);
    // Resume with an old cursor on every transport: no reset, no gap, nothing twice.
    let from = ids[499].clone();
    let want = &ids[500..];
    let subs: Vec<Sub> = urls(&node.base, "durable")
        .iter()
        .map(|u| start_sub(u, &from, Arc::new(Mutex::new(Vec::new()))))
        .collect();
    let refs: Vec<&Sub> = subs.iter().collect();
    wait_for(&refs, want.len(), "resume after kill -9").await;
    for (s, t) in subs.iter().zip(["ws", "sse", "poll"]) {
        let (seen, other) = s.seen();
        assert!(other.is_empty(), "{t}: {other:?}");
        assert_eq!(seen, want, "{t}: every event once, in order");
    }
    // Long-poll straight from the protocol: the old cursor is valid (200, no reset).
    let (st, body) = get(&format!(
        "{}/poll/durable?cursor={}&timeout=0&max=5",
        node.base, ids[0]
    ))
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["reset"], false);
    assert_eq!(v["events"][0]["id"].as_str(), Some(ids[1].as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_three_nodes_kill_9_restart_outage_and_wipe() {
    three_nodes_kill_9_restart_outage_and_wipe(&mut Redis::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_three_nodes_kill_9_restart_outage_and_wipe() {
    three_nodes_kill_9_restart_outage_and_wipe(&mut Nats::start()).await;
}

/// Three hub processes on one store, a subscriber on every node and transport, 5,000 events
/// round-robin, one node killed mid-stream; then the store restarted with its data, down for
/// 5 s, and wiped.
async fn three_nodes_kill_9_restart_outage_and_wipe(server: &mut dyn StoreServer) {
    let store = server.url();
    let mut nodes: Vec<Option<Node>> = (0..3)
        .map(|_| Some(start_node(&store, free_port())))
        .collect();
    let base = |nodes: &[Option<Node>], i: usize| nodes[i].as_ref().unwrap().base.clone();
    let topic = "cluster";
    // A first event gives every subscriber its starting cursor.
    let first = publish(&base(&nodes, 0), topic, "start").await;
    // A subscriber on every node and transport: 9 `sluice sub` processes.
    let mut subs: Vec<(usize, usize, Sub)> = Vec::new();
    for n in 0..3 {
        for (t, u) in urls(&base(&nodes, n), topic).iter().enumerate() {
            subs.push((n, t, start_sub(u, &first, Arc::new(Mutex::new(Vec::new())))));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let total = 5000;
    let mut ids = Vec::with_capacity(total);
    for i in 0..total {
        if i == total / 2 {
            // Node 2 dies mid-stream; its subscribers resume on node 0 with their last id.
            nodes[2].as_mut().unwrap().proc.kill9();
            nodes[2] = None;
            for (n, t, s) in &mut subs {
                if *n == 2 {
                    s.proc.kill9();
                    let from = s.last_id().unwrap_or_else(|| first.clone());
                    let url = urls(&base(&nodes, 0), topic)[*t].clone();
                    *s = start_sub(&url, &from, Arc::clone(&s.lines));
                    *n = 0;
                }
            }
        }
        let alive: Vec<usize> = (0..3).filter(|&n| nodes[n].is_some()).collect();
        let n = alive[i % alive.len()];
        ids.push(publish(&base(&nodes, n), topic, &format!("e{i}")).await);
    }
    let refs: Vec<&Sub> = subs.iter().map(|(_, _, s)| s).collect();
    wait_for(&refs, total, "5,000 events across 3 nodes, one killed").await;
    // One total order: the store's sequence numbers, consecutive.
    for w in ids.windows(2) {
        let seq = |s: &str| s.rsplit('.').next().unwrap().parse::<u64>().unwrap();
        assert_eq!(seq(&w[1]), seq(&w[0]) + 1);
    }
    for (n, t, s) in &subs {
        let (seen, other) = s.seen();
        assert!(other.is_empty(), "node {n} transport {t}: {other:?}");
        assert_eq!(seen.len(), total, "node {n} transport {t}");
        assert!(
            seen == ids,
            "node {n} transport {t}: every event exactly once, in order"
        );
    }

    // The store restarted with its data (Redis AOF, JetStream file storage): cursors stay
    // valid, no reset, delivery goes on.
    server.stop();
    server.restart();
    let after_restart = publish(&base(&nodes, 1), topic, "after redis restart").await;
    assert_eq!(
        after_restart.split('.').nth(1),
        first.split('.').nth(1),
        "same epoch"
    );
    ids.push(after_restart);
    wait_for(&refs, ids.len(), "after a store restart").await;

    // The store down for 5 s: 503 with Retry-After, no subscriber dropped, catch-up after.
    server.stop();
    let (st, body, retry) = post(&base(&nodes, 0), topic, "while down", None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry.is_some(), "Retry-After on 503");
    let (hs, hb) = get(&format!("{}/healthz", base(&nodes, 0))).await;
    assert_eq!(hs, StatusCode::SERVICE_UNAVAILABLE, "{hb}");
    assert!(hb.contains("degraded"), "{hb}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    server.restart();
    ids.push(publish(&base(&nodes, 0), topic, "after the outage").await);
    ids.push(publish(&base(&nodes, 1), topic, "and one more").await);
    wait_for(&refs, ids.len(), "catch-up after the outage").await;
    for (n, t, s) in &subs {
        let (seen, other) = s.seen();
        assert!(other.is_empty(), "node {n} transport {t}: {other:?}");
        assert!(
            seen == ids,
            "node {n} transport {t}: nothing lost or doubled"
        );
    }
    let (hs, _) = get(&format!("{}/healthz", base(&nodes, 0))).await;
    assert_eq!(hs, StatusCode::OK);

    // Data wiped: a new epoch, so every subscriber on every transport gets a reset.
    server.wipe();
    let fresh = publish(&base(&nodes, 0), topic, "new history").await;
    assert_ne!(
        fresh.split('.').nth(1),
        first.split('.').nth(1),
        "new epoch"
    );
    let deadline = Instant::now() + T;
    for (n, t, s) in &subs {
        loop {
            let (seen, other) = s.seen();
            if seen.last() == Some(&fresh) {
                assert!(
                    other.iter().any(|l| l.contains("reset")),
                    "node {n} transport {t}: {other:?}"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {n} transport {t}: no reset"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A Redis that went back in time within an epoch (restarted from an older AOF, a failover to
/// a lagging replica — simulated here by rolling the meta hash and the stream back): the
/// replica notices that the store's head is behind what it delivered, the topic gets a new
/// epoch, and subscribers get a reset — never a second event under an id they already have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_rollback_is_a_reset_not_a_reused_id() {
    let redis = Redis::start();
    let node = start_node(&redis.url(), free_port());
    let topic = "rollback";
    let first = publish(&node.base, topic, "start").await;
    let sub = start_sub(
        &urls(&node.base, topic)[1],
        &first,
        Arc::new(Mutex::new(Vec::new())),
    );
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(publish(&node.base, topic, &format!("e{i}")).await);
    }
    wait_for(&[&sub], 10, "before the rollback").await;
    // Back to seq 6 of 11: events 7..11 are gone from the store, their ids would be reused.
    assert!(
        redis
            .cli(&["hset", "sluice:{rollback}:m", "s", "6"])
            .contains('0')
    );
    for seq in 7..=11 {
        redis.cli(&["xdel", "sluice:{rollback}:s", &format!("0-{seq}")]);
    }
    // The periodic check (2 s) notices; a publish afterwards is in a new epoch.
    let deadline = Instant::now() + T;
    loop {
        if sub.seen().1.iter().any(|l| l.contains("reset")) {
            break;
        }
        assert!(Instant::now() < deadline, "no reset after the rollback");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = publish(&node.base, topic, "after").await;
    assert_ne!(
        after.split('.').nth(1),
        first.split('.').nth(1),
        "a new epoch"
    );
    let deadline = Instant::now() + T;
    while sub.last_id().as_ref() != Some(&after) {
        assert!(Instant::now() < deadline, "the new event did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (seen, _) = sub.seen();
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no id delivered twice: {seen:?}");
}

/// A client resuming on a node whose copy of the topic is behind (its store stalls: here a
/// proxy between that node and Redis stops forwarding) with a cursor another node handed out
/// gets a 503 with `Retry-After` — the node cannot tell whether the cursor is real — not a
/// `400 cursor_ahead`, which every client takes as final. Once the store answers, the same
/// request is served from that cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_from_a_node_further_along_waits_out_a_stalled_store() {
    let redis = Redis::start();
    let upstream = format!("127.0.0.1:{}", redis.port).parse().unwrap();
    let proxy = fault_proxy::FaultProxy::start("127.0.0.1:0".parse().unwrap(), upstream)
        .await
        .unwrap();
    let a = start_node(&redis.url(), free_port());
    let b = start_node(&format!("redis://{}", proxy.addr()), free_port());
    let topic = "behind";
    let first = publish(&a.base, topic, "one").await;
    let poll = |base: &str, cursor: &str| format!("{base}/poll/{topic}?cursor={cursor}&timeout=0");
    // B has the topic (loaded at `first`).
    let (st, body) = get(&poll(&b.base, &first)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    proxy.set(|f| f.stall = true);
    let mut last = first.clone();
    for i in 0..3 {
        last = publish(&a.base, topic, &format!("e{i}")).await;
    }
    let mut r = tokio::time::timeout(
        T,
        http::fetch(
            ClientRequest::get(&poll(&b.base, &last)).unwrap(),
            &ClientConfig::default(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let body = r.bytes(1 << 20).await.unwrap();
    let body = String::from_utf8_lossy(&body);
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(r.header("retry-after").is_some(), "{body}");
    proxy.set(|f| f.stall = false);
    let deadline = Instant::now() + T;
    loop {
        let (st, body) = get(&poll(&b.base, &last)).await;
        if st == StatusCode::OK {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["cursor"].as_str(), Some(last.as_str()), "{body}");
            assert_eq!(v["events"].as_array().map(Vec::len), Some(0), "{body}");
            break;
        }
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(Instant::now() < deadline, "never served after the stall");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Topic names that are not NATS subject tokens (`a..b`, a leading or trailing dot) are stored
/// like any other, and do not make the store look unhealthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_topics_with_dots_anywhere() {
    let nats = Nats::start();
    let node = start_node(&nats.url(), free_port());
    for topic in ["a..b", ".lead", "trail.", "x.y.z"] {
        let first = publish(&node.base, topic, "one").await;
        let second = publish(&node.base, topic, "two").await;
        let (st, body) = get(&format!(
            "{}/poll/{topic}?cursor={first}&timeout=0",
            node.base
        ))
        .await;
        assert_eq!(st, StatusCode::OK, "{topic}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["events"][0]["id"].as_str(),
            Some(second.as_str()),
            "{topic}"
        );
    }
    let (hs, hb) = get(&format!("{}/healthz", node.base)).await;
    assert_eq!(hs, StatusCode::OK, "{hb}");
}

/// A refused WebSocket upgrade on a stored topic (not a handshake, or a broken one) loads
/// nothing and leaves no topic behind; a valid one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrades_on_a_stored_topic_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(&format!("file:{}", dir.path().display()), free_port());
    let topics = || async {
        let (_, m) = get(&format!("{}/metrics", node.base)).await;
        m.lines()
            .find_map(|l| l.strip_prefix("sluice_topics "))
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let before = topics().await;
    let (st, _) = get(&format!("{}/ws/plain", node.base)).await;
    assert!(st.is_client_error(), "not a handshake: {st}");
    let broken = ClientRequest::get(&format!("{}/ws/broken", node.base))
        .unwrap()
        .header("upgrade", "websocket")
        .header("connection", "upgrade");
    let mut r = tokio::time::timeout(T, http::fetch(broken, &ClientConfig::default()))
        .await
        .unwrap()
        .unwrap();
    assert!(
        r.status().is_client_error(),
        "no Sec-WebSocket-Key: {}",
        r.status()
    );
    let _ = r.bytes(4096).await;
    assert_eq!(topics().await, before, "refused upgrades created no topic");
    let url = format!("{}/ws/valid", node.base.replace("http://", "ws://"));
    let (_socket, _) = sluice_tokio::ws::connect(&url, sluice_tokio::ws::WsConfig::default())
        .await
        .unwrap();
    assert_eq!(topics().await, before + 1, "an accepted one did");
}

/// `sluice sub` with extra arguments, collecting its lines.
fn start_sub_with(args: &[&str], lines: Arc<Mutex<Vec<String>>>) -> Sub {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("sub")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let l = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            l.lock().unwrap().push(line);
        }
    });
    Sub {
        proc: Proc(child),
        lines,
    }
}

/// A node with a short presence TTL.
fn start_presence_node(store: &str, port: u16) -> Node {
    start_node_with(store, port, &["--presence-ttl", "3s"])
}

/// Waits until `sub` printed a line with `needle`; returns when (≤ T).
async fn wait_line(sub: &Sub, needle: &str) {
    let deadline = Instant::now() + T;
    while !sub.lines.lock().unwrap().iter().any(|l| l.contains(needle)) {
        assert!(
            Instant::now() < deadline,
            "no line with {needle}: {:?}",
            sub.lines.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The client ids `GET /presence/room` lists on `base`.
async fn present(base: &str, topic: &str) -> Vec<String> {
    let (st, body) = get(&format!("{base}/presence/{topic}")).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut ids: Vec<String> = v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(v["count"].as_u64(), Some(ids.len() as u64));
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_presence_and_ephemeral_across_three_nodes_and_a_node_loss() {
    let mut r = Redis::start();
    presence_across_nodes(&mut r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_presence_and_ephemeral_across_three_nodes_and_a_node_loss() {
    let mut n = Nats::start();
    presence_across_nodes(&mut n).await;
}

/// Three nodes: a watcher with notices on node 1, members on nodes 2 (WebSocket) and 3 (SSE)
/// and a long-poller on node 2. Everyone is listed on every node; joins from other nodes reach
/// the watcher; an ephemeral event published on node 3 reaches live subscribers on every
/// node and no replay; node 3 killed (-9): its member leaves within the TTL (3 s).
async fn presence_across_nodes(server: &mut dyn StoreServer) {
    let store = server.url();
    let nodes: Vec<Node> = (0..3)
        .map(|_| start_presence_node(&store, free_port()))
        .collect();
    let b = |i: usize| nodes[i].base.clone();
    let ws = |i: usize| b(i).replace("http://", "ws://");
    let watcher = start_sub_with(
        &[
            &format!("{}/ws/room", ws(0)),
            "--presence",
            "--client",
            "watcher",
        ],
        Arc::new(Mutex::new(Vec::new())),
    );
    wait_line(&watcher, r#""client":"watcher""#).await;
    let m2 = start_sub_with(
        &[&format!("{}/ws/room", ws(1)), "--client", "m2"],
        Arc::new(Mutex::new(Vec::new())),
    );
    let mut m3 = start_sub_with(
        &[&format!("{}/sse/room", b(2)), "--client", "m3"],
        Arc::new(Mutex::new(Vec::new())),
    );
    let p2 = start_sub_with(
        &[&format!("{}/poll/room", b(1)), "--client", "p2"],
        Arc::new(Mutex::new(Vec::new())),
    );
    // Joins on other nodes reach the watcher (each node writes its members; the watcher's
    // node reads them every second).
    for id in ["m2", "m3", "p2"] {
        wait_line(&watcher, &format!(r#"{{"join":{{"client":"{id}""#)).await;
    }
    for i in 0..3 {
        let deadline = Instant::now() + T;
        loop {
            let ids = present(&b(i), "room").await;
            if ids == ["m2", "m3", "p2", "watcher"] {
                break;
            }
            assert!(Instant::now() < deadline, "node {i}: {ids:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // An ephemeral event published on node 3 reaches live subscribers on nodes 1 and 2.
    let (st, body, _) = post(&b(2), "room?ephemeral=1&event=typing", "typing…", None).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let eph = r#"{"ephemeral":{"event":"typing","data":"typing…"}}"#;
    wait_line(&watcher, eph).await;
    wait_line(&m2, eph).await;
    wait_line(&m3, eph).await;
    // Never in the log, on any node.
    let (_, body) = get(&format!("{}/poll/room?cursor=earliest&timeout=0", b(1))).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["events"].as_array().unwrap().len(), 0, "{body}");

    // Node 3 dies without a word: m3 leaves within the TTL (3 s) plus one read (1 s).
    let killed = Instant::now();
    m3.proc.kill9();
    let mut n3 = nodes;
    let dead = n3.remove(2);
    drop(dead);
    wait_line(&watcher, r#"{"leave":{"client":"m3""#).await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(8), "{took:?}");
    let deadline = Instant::now() + T;
    while present(&n3[0].base, "room").await != ["m2", "p2", "watcher"] {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop((watcher, m2, p2, n3));
}

/// Waits until `sub` printed the end (`{"end":true}`); its event ids.
async fn wait_end(sub: &Sub, what: &str) -> Vec<String> {
    let deadline = Instant::now() + T;
    loop {
        let (ids, other) = sub.seen();
        if other.iter().any(|l| l.contains("\"end\":true")) {
            return ids;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no end; saw {ids:?} {other:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn close_topic(base: &str, topic: &str) -> String {
    let req = ClientRequest::post(&format!("{base}/close/{topic}"), String::new()).unwrap();
    let mut r = tokio::time::timeout(T, http::fetch(req, &ClientConfig::default()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes(4096).await.unwrap()).unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// Topics that end (hub §2.8) with a store: the end is stored like an event, so it survives a
/// kill -9 (file) and reaches every node (Redis, NATS): followers on another node get the
/// events then the end, and publishing there is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_topics_survive_kill_9_and_reach_every_node() {
    // File store: kill -9 after the end, restart: the end is still there.
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().display());
    let port = free_port();
    let mut node = start_node(&store, port);
    let ids = [
        publish(&node.base, "gen", "a").await,
        publish(&node.base, "gen", "b").await,
    ];
    let end = close_topic(&node.base, "gen").await;
    node.proc.kill9();
    let node = start_node(&store, port);
    let (st, body) = get(&format!("{}/poll/gen?cursor=earliest&timeout=0", node.base)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["end"].as_bool(), v["cursor"].as_str()),
        (Some(true), Some(&*end))
    );
    assert_eq!(v["events"].as_array().map(Vec::len), Some(2));
    let (st, _, _) = post(&node.base, "gen", "late", None).await;
    assert_eq!(st, StatusCode::CONFLICT, "still ended after kill -9");
    for u in urls(&node.base, "gen") {
        let sub = start_sub(&u, "earliest", Arc::new(Mutex::new(Vec::new())));
        assert_eq!(wait_end(&sub, &u).await, ids, "{u}");
    }

    // Shared stores: closed on node 0, seen ended on node 1.
    let mut redis = Redis::start();
    let mut nats = Nats::start();
    for server in [&mut redis as &mut dyn StoreServer, &mut nats] {
        let store = server.url();
        let (n0, n1) = (
            start_node(&store, free_port()),
            start_node(&store, free_port()),
        );
        let first = publish(&n0.base, "gen.x", "one").await;
        let subs: Vec<Sub> = urls(&n1.base, "gen.x")
            .iter()
            .map(|u| start_sub(u, &first, Arc::new(Mutex::new(Vec::new()))))
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let two = publish(&n0.base, "gen.x", "two").await;
        close_topic(&n0.base, "gen.x").await;
        for s in &subs {
            assert_eq!(
                wait_end(s, &store).await,
                std::slice::from_ref(&two),
                "{store}"
            );
        }
        let deadline = Instant::now() + T;
        loop {
            let (st, b, _) = post(&n1.base, "gen.x", "late", None).await;
            if st == StatusCode::CONFLICT {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{store}: node 1 still takes publishes: {st} {b}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What a node answers for a topic that ended at `end` once the end is older than the
/// retention age: still ended (hub §2.8), on every transport.
async fn assert_still_ended(base: &str, topic: &str, end: &str, what: &str) {
    let poll_at_end = format!("{base}/poll/{topic}?cursor={end}&timeout=0");
    let (st, body) = get(&poll_at_end).await;
    assert_eq!(st, StatusCode::OK, "{what}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["end"].as_bool(), v["cursor"].as_str()),
        (Some(true), Some(end)),
        "{what}: a poll at the end gets the end: {body}"
    );
    let (st, b, _) = post(base, topic, "late", None).await;
    assert_eq!(
        st,
        StatusCode::CONFLICT,
        "{what}: a publish after the end: {b}"
    );
    assert!(b.contains("\"ended\""), "{what}: {b}");
    assert_eq!(close_topic(base, topic).await, end, "{what}: closing again");
    let (st, body) = get(&format!("{base}/sse/{topic}?cursor={end}")).await;
    assert_eq!(
        st,
        StatusCode::NO_CONTENT,
        "{what}: an EventSource resuming at the end: {body}"
    );
    // Nothing was appended: the end is still the head, for a new reader too.
    let (st, body) = get(&format!("{base}/poll/{topic}?cursor=earliest&timeout=0")).await;
    assert_eq!(st, StatusCode::OK, "{what}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["end"].as_bool(), v["cursor"].as_str()),
        (Some(true), Some(end)),
        "{what}: {body}"
    );
}

/// `sluice serve` flags for the tests of ended topics whose end ages out.
const SHORT_RETENTION: [&str; 4] = ["--retention-events", "10000", "--retention-age", "1s"];

/// hub §2.8 with a store: the end outlives the end event. After the end aged out of retention
/// and a kill -9, the restarted node loads the topic again from the file store: still ended
/// (publishes get 409, a poll at the end gets the end, an EventSource resuming there 204).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_ended_topic_stays_ended_after_the_end_ages_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().display());
    let port = free_port();
    let mut node = start_node_with(&store, port, &SHORT_RETENTION);
    publish(&node.base, "gen", "a").await;
    let end = close_topic(&node.base, "gen").await;
    node.proc.kill9();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let node = start_node_with(&store, port, &SHORT_RETENTION);
    assert_still_ended(&node.base, "gen", &end, "file, restarted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_ended_topic_stays_ended_after_the_end_ages_out() {
    shared_ended_topic_stays_ended_after_the_end_ages_out(&mut Redis::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_ended_topic_stays_ended_after_the_end_ages_out() {
    shared_ended_topic_stays_ended_after_the_end_ages_out(&mut Nats::start()).await;
}

/// Closed on node 0; once the end aged out, node 1 starts and loads the topic: still ended.
async fn shared_ended_topic_stays_ended_after_the_end_ages_out(server: &mut dyn StoreServer) {
    let store = server.url();
    let n0 = start_node_with(&store, free_port(), &SHORT_RETENTION);
    publish(&n0.base, "gen.y", "one").await;
    let end = close_topic(&n0.base, "gen.y").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n1 = start_node_with(&store, free_port(), &SHORT_RETENTION);
    assert_still_ended(&n1.base, "gen.y", &end, &store).await;
}
