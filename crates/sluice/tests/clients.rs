//! Clients that survive the real network (issue 13): the Rust `HubClient` and `sluice sub
//! --fallback` / `sluice ws --reconnect` against a real `sluice serve`, through the fault proxy
//! (`support/fault_proxy.rs`) — cuts every 200–500 ms, upgrades stripped, SSE bodies withheld,
//! offline, a hub restart. Every count is exact: each event once, in order. Loopback only;
//! every wait bounded.

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sluice_client::{
    Event, HubClient, HubClientConfig, Item, Start, Status, Subscription, Transport, TransportMode,
};
use support::fault_proxy::FaultProxy;
use support::hub_process::{BIN, HubProcess};
use tokio::time::{Instant, timeout};

const WAIT: Duration = Duration::from_secs(30);

fn addr(s: &str) -> std::net::SocketAddr {
    s.parse().expect("a socket address")
}

async fn proxy_to(hub: &HubProcess) -> FaultProxy {
    FaultProxy::start(addr("127.0.0.1:0"), addr(&hub.addr))
        .await
        .expect("proxy")
}

/// Publishes `n` events `{prefix}{i}` (i = 1..=n) straight to the hub, one every `pace`.
async fn publish_n(hub: &HubClient, topic: &str, prefix: &str, n: usize, pace: Duration) {
    for i in 1..=n {
        hub.publish(topic, "message", format!("{prefix}{i}"))
            .await
            .expect("publish");
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
}

/// What a subscription delivered, split into items and statuses.
#[derive(Default, Debug)]
struct Seen {
    events: Vec<(String, String)>,
    /// Every item in order: an event's data, `<gap N>`, `<reset>`.
    log: Vec<String>,
    gaps: u64,
    resets: u32,
    switches: Vec<(Transport, Transport)>,
    reconnects: u32,
}

impl Seen {
    fn take(&mut self, e: Event) {
        match e {
            Event::Item(Item::Event { id, data, .. }) => {
                self.log.push(data.clone());
                self.events.push((id, data));
            }
            Event::Item(Item::Gap { missed }) => {
                self.log.push(format!("<gap {missed}>"));
                self.gaps += missed;
            }
            Event::Item(Item::Reset) => {
                self.log.push("<reset>".into());
                self.resets += 1;
            }
            Event::Status(Status::Switched { from, to, .. }) => self.switches.push((from, to)),
            Event::Status(Status::Reconnecting { .. }) => self.reconnects += 1,
            _ => {}
        }
    }

    fn datas(&self) -> Vec<&str> {
        self.events.iter().map(|(_, d)| d.as_str()).collect()
    }
}

/// Reads `sub` until `done(seen)` or the deadline.
async fn read_until(sub: &mut Subscription, seen: &mut Seen, done: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, sub.next()).await {
            Ok(Ok(e)) => seen.take(e),
            Ok(Err(e)) => panic!("subscription ended: {e}; seen {seen:?}"),
            Err(_) => panic!(
                "deadline: {} events, switches {:?}, {} reconnects",
                seen.events.len(),
                seen.switches,
                seen.reconnects
            ),
        }
    }
}

/// Reads `sub` for `quiet`: no event, gap or reset may arrive.
async fn assert_no_more_items(sub: &mut Subscription, quiet: Duration) {
    let end = Instant::now() + quiet;
    while let Ok(r) = tokio::time::timeout_at(end, sub.next()).await {
        if let Ok(Event::Item(it)) = r {
            panic!("unexpected {it:?}");
        }
    }
}

fn expected(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

/// The ids are the topic's consecutive sequence numbers 1..=n of one epoch.
fn assert_consecutive(seen: &Seen, n: usize) {
    let seqs: Vec<u64> = seen
        .events
        .iter()
        .map(|(id, _)| id.rsplit('.').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (1..=n as u64).collect::<Vec<_>>());
    let epochs: HashSet<&str> = seen
        .events
        .iter()
        .map(|(id, _)| id.rsplit_once('.').unwrap().0)
        .collect();
    assert_eq!(epochs.len(), 1);
}

/// A client through a fault proxy to `hub` (with [`quick`] backoff), and one straight to it.
async fn through_a_proxy(hub: &HubProcess) -> (FaultProxy, HubClient, HubClient) {
    let proxy = proxy_to(hub).await;
    let direct = HubClient::new(&hub.url("")).unwrap();
    let client = HubClient::new(&format!("http://{}", proxy.addr()))
        .unwrap()
        .with_config(quick(HubClientConfig::default()));
    (proxy, direct, client)
}

fn quick(config: HubClientConfig) -> HubClientConfig {
    config.with_backoff(
        sluice_client::Backoff::default()
            .with_min(Duration::from_millis(50))
            .with_max(Duration::from_millis(500)),
    )
}

/// Cuts every 200–500 ms while 2,000 events are published: every event exactly once, in
/// order, on WebSocket (the transport the cuts do not block), across many reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_client_through_cuts_every_200_to_500_ms() {
    let hub = HubProcess::start("127.0.0.1:0", &["--retention-events", "5000"]);
    let proxy = proxy_to(&hub).await;
    proxy.set(|f| f.cut_every = Some((200, 500)));
    let direct = HubClient::new(&hub.url("")).unwrap();
    let client = HubClient::new(&format!("http://{}", proxy.addr()))
        .unwrap()
        .with_config(quick(HubClientConfig::default()));
    let mut sub = client.subscribe("cuts", Start::Earliest, TransportMode::Auto);
    let mut seen = Seen::default();
    let publisher = tokio::spawn(async move {
        publish_n(&direct, "cuts", "e", 2_000, Duration::from_millis(2)).await;
    });
    read_until(&mut sub, &mut seen, |s| s.events.len() >= 2_000).await;
    publisher.await.unwrap();
    assert_eq!(seen.datas(), expected("e", 2_000));
    assert_consecutive(&seen, 2_000);
    assert_eq!((seen.gaps, seen.resets), (0, 0));
    assert!(seen.reconnects >= 5, "the proxy cut: {seen:?}");
    assert_eq!(sub.transport(), Transport::Ws);
    // Nothing more: no duplicate arrives late.
    assert_no_more_items(&mut sub, Duration::from_millis(700)).await;
}

/// A live WebSocket subscription cut before its first event resumes without a hole: the hub's
/// opening `{"cursor"}` frame is its resume point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_subscription_cut_before_its_first_event_loses_nothing() {
    let hub = HubProcess::start("127.0.0.1:0", &[]);
    let (proxy, direct, client) = through_a_proxy(&hub).await;
    let mut sub = client.subscribe("live", Start::Now, TransportMode::Only(Transport::Ws));
    loop {
        let e = timeout(WAIT, sub.next()).await.unwrap().unwrap();
        if matches!(e, Event::Status(Status::Open { .. })) {
            break;
        }
    }
    // The opening frame arrives, no event: each read times out (dropping the connection;
    // the next one reconnects from the same "now" — nothing is published yet) until the
    // opening cursor frame set the resume point.
    let deadline = Instant::now() + WAIT;
    let start = loop {
        if let Some(c) = sub.cursor() {
            break c;
        }
        assert!(Instant::now() < deadline, "no opening cursor frame");
        assert!(
            timeout(Duration::from_millis(500), sub.next())
                .await
                .is_err(),
            "no event before the first publish"
        );
    };
    assert!(start.ends_with(".0"), "{start}");
    proxy.cut_all();
    direct.publish("live", "message", "first").await.unwrap();
    let mut seen = Seen::default();
    read_until(&mut sub, &mut seen, |s| !s.events.is_empty()).await;
    assert_eq!(seen.datas(), ["first"]);
}

/// The same over long-poll: a subscription from now whose first (empty) answer gave it the
/// hub's head resumes from that head after the connection is cut, not from a new "now" —
/// which would skip what was published while it was away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_long_poll_cut_before_its_first_event_loses_nothing() {
    let hub = HubProcess::start("127.0.0.1:0", &[]);
    let (proxy, direct, client) = through_a_proxy(&hub).await;
    let mut sub = client.subscribe(
        "live-poll",
        Start::Now,
        TransportMode::Only(Transport::Poll),
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Ok(e) = sub.next().await {
            if tx.send(e).is_err() {
                return;
            }
        }
    });
    // The first answer (the head, no event) came at once; the next poll, from that head, is
    // parked.
    let deadline = Instant::now() + WAIT;
    while hub.metric("sluice_longpoll_parked").await != Some(1) {
        assert!(Instant::now() < deadline, "the second poll never parked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.set(|f| f.offline = true);
    direct
        .publish("live-poll", "message", "while away")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.set(|f| f.offline = false);
    let got = timeout(WAIT, async {
        while let Some(e) = rx.recv().await {
            if let Event::Item(Item::Event { data, .. }) = e {
                return data;
            }
        }
        panic!("the subscription ended");
    })
    .await
    .expect("the event published while the client was away never arrived");
    assert_eq!(got, "while away");
    reader.abort();
}

/// A `next()` cancelled while a long-poll from now waits (a `select!` with a timer, a
/// `timeout`) keeps the poll and its cursor: an event published after the cancellation is
/// still delivered (a new client from a new "now" would start after it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_next_keeps_a_live_long_poll_position() {
    cancelled_next_keeps_a_live_position(Transport::Poll).await;
}

/// The same over SSE: the opening head (an id-only dispatch, no item) survives a cancelled
/// `next()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_next_keeps_a_live_sse_position() {
    cancelled_next_keeps_a_live_position(Transport::Sse).await;
}

async fn cancelled_next_keeps_a_live_position(transport: Transport) {
    let hub = HubProcess::start("127.0.0.1:0", &[]);
    let client = HubClient::new(&hub.url(""))
        .unwrap()
        .with_config(quick(HubClientConfig::default()));
    let topic = format!("cancel-{transport}");
    let mut sub = client.subscribe(&topic, Start::Now, TransportMode::Only(transport));
    // Calls that return (status changes) or are cancelled mid-read after 1.5 s; the first
    // answer (the head) arrives meanwhile. The last call was cancelled.
    while timeout(Duration::from_millis(1500), sub.next())
        .await
        .is_ok()
    {}
    client
        .publish(&topic, "message", "after the cancel")
        .await
        .unwrap();
    let got = timeout(WAIT, async {
        loop {
            if let Event::Item(Item::Event { data, .. }) = sub.next().await.unwrap() {
                return data;
            }
        }
    })
    .await
    .expect("the event published after a cancelled next() never arrived");
    assert_eq!(got, "after the cancel");
}

/// Upgrades stripped by the proxy: on SSE within 2 s. SSE bodies withheld too: on long-poll.
/// Faults cleared: back on WebSocket after `upgrade_after`. 300 events, each once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrade_to_sse_withheld_body_to_long_poll_then_back_to_websocket() {
    let hub = HubProcess::start("127.0.0.1:0", &["--retention-events", "5000"]);
    let proxy = proxy_to(&hub).await;
    let direct = HubClient::new(&hub.url("")).unwrap();
    let config = quick(HubClientConfig::default())
        .with_fallback_timeouts(Duration::from_secs(2), Duration::from_secs(2))
        .with_upgrade_after(Duration::from_secs(2));
    let client = HubClient::new(&format!("http://{}", proxy.addr()))
        .unwrap()
        .with_config(config);
    proxy.set(|f| f.refuse_upgrade = true);
    let started = Instant::now();
    let mut sub = client.subscribe("fb", Start::Earliest, TransportMode::Auto);
    let mut seen = Seen::default();
    read_until(&mut sub, &mut seen, |s| !s.switches.is_empty()).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(seen.switches, [(Transport::Ws, Transport::Sse)]);
    publish_n(&direct, "fb", "a", 100, Duration::ZERO).await;
    read_until(&mut sub, &mut seen, |s| s.events.len() >= 100).await;
    assert_eq!(sub.transport(), Transport::Sse);

    // A buffering proxy: the SSE head passes, the body does not.
    proxy.set(|f| f.withhold_sse = true);
    proxy.cut_all();
    let publisher = {
        let direct = direct.clone();
        tokio::spawn(
            async move { publish_n(&direct, "fb", "b", 100, Duration::from_millis(10)).await },
        )
    };
    read_until(&mut sub, &mut seen, |s| s.events.len() >= 200).await;
    publisher.await.unwrap();
    assert!(
        seen.switches.contains(&(Transport::Sse, Transport::Poll)),
        "{:?}",
        seen.switches
    );
    assert_eq!(sub.transport(), Transport::Poll);

    // The network is fixed: the client finds WebSocket again by itself.
    proxy.set(|f| *f = Default::default());
    let publisher = {
        let direct = direct.clone();
        tokio::spawn(
            async move { publish_n(&direct, "fb", "c", 100, Duration::from_millis(50)).await },
        )
    };
    read_until(&mut sub, &mut seen, |s| s.events.len() >= 300).await;
    publisher.await.unwrap();
    assert_eq!(
        seen.switches.last(),
        Some(&(Transport::Poll, Transport::Ws)),
        "{:?}",
        seen.switches
    );
    let mut want = expected("a", 100);
    want.extend(expected("b", 100));
    want.extend(expected("c", 100));
    assert_eq!(seen.datas(), want);
    assert_consecutive(&seen, 300);
}

/// The hub restarted (memory: history lost) mid-stream: one reset, then the new events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_restart_is_one_reset_then_the_new_events() {
    let hub = HubProcess::start("127.0.0.1:0", &[]);
    let proxy = proxy_to(&hub).await;
    let client = HubClient::new(&format!("http://{}", proxy.addr()))
        .unwrap()
        .with_config(quick(HubClientConfig::default()));
    let direct = HubClient::new(&hub.url("")).unwrap();
    let mut sub = client.subscribe("r", Start::Earliest, TransportMode::Auto);
    let (seen, hub) = across_a_restart(&mut sub, &direct, "r", hub, HubProcess::kill, 10, 5).await;
    assert!(seen.reconnects >= 1);
    drop(hub);
}

/// Publishes `before` events on `topic`, stops the hub with `stop`, starts a new one (memory:
/// history lost) on the same address and publishes `after`: the subscription has them all,
/// with one reset between. Returns what it saw and the new hub.
async fn across_a_restart(
    sub: &mut Subscription,
    publisher: &HubClient,
    topic: &str,
    hub: HubProcess,
    stop: fn(HubProcess),
    before: usize,
    after: usize,
) -> (Seen, HubProcess) {
    let at = hub.addr.clone();
    publish_n(publisher, topic, "a", before, Duration::ZERO).await;
    let mut seen = Seen::default();
    read_until(sub, &mut seen, |s| s.events.len() >= before).await;
    stop(hub);
    let hub = HubProcess::start(&at, &[]);
    publish_n(publisher, topic, "b", after, Duration::ZERO).await;
    read_until(sub, &mut seen, |s| s.events.len() >= before + after).await;
    let mut want = expected("a", before);
    want.push("<reset>".into());
    want.extend(expected("b", after));
    assert_eq!(seen.log, want);
    (seen, hub)
}

/// The hub shut down gracefully (SIGTERM: its SSE streams end cleanly, after a `retry:`) and
/// came back: an SSE subscription reconnects (one reset: a memory hub lost its history), it is
/// not over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_subscription_outlives_a_graceful_hub_restart() {
    let hub = HubProcess::start("127.0.0.1:0", &[]);
    let client = HubClient::new(&hub.url(""))
        .unwrap()
        .with_config(quick(HubClientConfig::default()));
    let mut sub = client.subscribe("g", Start::Earliest, TransportMode::Only(Transport::Sse));
    let (_, hub) = across_a_restart(&mut sub, &client, "g", hub, HubProcess::terminate, 3, 2).await;
    assert_eq!(sub.transport(), Transport::Sse);
    drop(hub);
}

/// A child process whose stdout and stderr lines arrive on channels; killed when dropped.
struct Child {
    child: std::process::Child,
    out: mpsc::Receiver<String>,
    err: mpsc::Receiver<String>,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Child {
    fn spawn(args: &[&str]) -> Child {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sluice");
        let lines = |r: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    let _ = tx.send(l);
                }
            });
            rx
        };
        let out = lines(Box::new(child.stdout.take().unwrap()));
        let err = lines(Box::new(child.stderr.take().unwrap()));
        Child { child, out, err }
    }

    /// Waits (≤ WAIT) for a stdout line.
    async fn line(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(l) = self.out.try_recv() {
                return l;
            }
            assert!(Instant::now() < deadline, "no line from the client");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (≤ WAIT) for a stderr line containing `needle`; returns every line seen.
    async fn stderr_until(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            while let Ok(l) = self.err.try_recv() {
                let hit = l.contains(needle);
                seen.push(l);
                if hit {
                    return seen;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on stderr: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn exit_code(&mut self) -> Option<i32> {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(Instant::now() < deadline, "the client did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `sluice sub --fallback` through a proxy that strips upgrades and cuts every 200–500 ms:
/// on SSE, 2,000 events printed exactly once, in order; a stderr line for the switch and for
/// each reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_sub_fallback_through_cuts_and_a_refused_upgrade() {
    let hub = HubProcess::start("127.0.0.1:0", &["--retention-events", "5000"]);
    let proxy = proxy_to(&hub).await;
    proxy.set(|f| {
        f.refuse_upgrade = true;
        f.cut_every = Some((200, 500));
    });
    let url = format!("ws://{}/ws/cli?cursor=earliest", proxy.addr());
    let mut sub = Child::spawn(&["sub", "--fallback", &url, "--count", "2000"]);
    let switch = sub.stderr_until("WebSocket -> SSE").await;
    let direct = HubClient::new(&hub.url("")).unwrap();
    let publisher = tokio::spawn(async move {
        publish_n(&direct, "cli", "e", 2_000, Duration::from_millis(2)).await;
    });
    let mut lines = Vec::new();
    while lines.len() < 2_000 {
        lines.push(sub.line().await);
    }
    publisher.await.unwrap();
    assert_eq!(sub.exit_code().await, Some(0));
    let datas: Vec<String> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["data"]
                .as_str()
                .unwrap_or_else(|| panic!("{l}"))
                .to_owned()
        })
        .collect();
    assert_eq!(datas, expected("e", 2_000));
    let mut errs: Vec<String> = switch;
    errs.extend(sub.err.try_iter());
    let reconnects = errs
        .iter()
        .filter(|l| l.contains("reconnecting over SSE"))
        .count();
    assert!(reconnects >= 5, "{errs:?}");
}

/// `sluice ws --reconnect`: lines typed while the network is down are queued and sent once,
/// after the reconnection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_ws_reconnect_queues_lines_while_offline() {
    let hub = HubProcess::start("127.0.0.1:0", &[]);
    let proxy = proxy_to(&hub).await;
    let url = format!("ws://{}/ws/q", proxy.addr());
    let mut ws = Child::spawn(&["ws", "--reconnect", &url]);
    assert!(ws.line().await.starts_with("{\"cursor\":"));
    let stdin = ws.child.stdin.as_mut().unwrap();
    writeln!(stdin, "one").unwrap();
    stdin.flush().unwrap();
    assert!(ws.line().await.contains("\"data\":\"one\""));

    proxy.set(|f| f.offline = true);
    ws.stderr_until("reconnecting").await;
    let stdin = ws.child.stdin.as_mut().unwrap();
    writeln!(stdin, "two").unwrap();
    writeln!(stdin, "three").unwrap();
    stdin.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.set(|f| f.offline = false);
    ws.stderr_until("reconnected").await;
    // The new connection is live from now: its cursor, then the two queued lines come back.
    assert!(ws.line().await.starts_with("{\"cursor\":"));
    assert!(ws.line().await.contains("\"data\":\"two\""));
    assert!(ws.line().await.contains("\"data\":\"three\""));
    assert_eq!(ws.exit_code().await, Some(0));

    // Each line is in the topic exactly once.
    let direct = HubClient::new(&hub.url("")).unwrap();
    let mut sub = direct.subscribe("q", Start::Earliest, TransportMode::Only(Transport::Poll));
    let mut seen = Seen::default();
    read_until(&mut sub, &mut seen, |s| s.events.len() >= 3).await;
    assert_no_more_items(&mut sub, Duration::from_millis(500)).await;
    assert_eq!(seen.datas(), ["one", "two", "three"]);
}
