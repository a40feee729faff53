//! Load tool for the hub broadcast bench (`scripts/bench/hub_broadcast.sh`): connects N
//! subscribers to one topic of a server running in another process — `sluice serve`, or nchan
//! (nginx + libnginx-mod-nchan, one channel that takes WebSocket, EventSource and long-poll
//! subscribers) — a mix of WebSocket, SSE and long-poll, using the sluice-tokio clients; then
//! publishes events one at a time and measures, per event, the time from sending the publish
//! request until the last subscriber has the event; over the whole broadcast phase, the
//! server's CPU time per delivery (every thread of every `--pid`, from `schedstat`); and its
//! RSS per subscriber (`VmRSS` with every subscriber connected minus before any).
//!
//! ```text
//! hub_broadcast --addr 127.0.0.1:PORT --pid PID[,PID...] [--target sluice|nchan] [--n 10000]
//!               [--mix 1:1:1] [--events 30] [--payload 64] [--ws-deflate]
//!               [--poll-client raw|full]
//! ```
//!
//! `--mix ws:sse:poll` gives the shares of each transport. WebSocket clients offer no
//! permessage-deflate unless `--ws-deflate`. Long-poll subscribers of both servers are, by
//! default, the same lean loop (`raw`: one request at a time on a kept-alive connection, the
//! position taken from the answer — nchan's `Last-Modified`/`Etag`, the hub's `cursor` — and
//! the events found in the body by their marker), so that the load tool spends the same work
//! per delivery on either; `full` runs sluice-tokio's `LongPollClient` against the hub. The
//! load tool shares the machine's cores with the server, so its own CPU per delivery is
//! reported too (`client_cpu_us_per_delivery`): it is part of every latency figure. Prints a human summary and one `RESULT {json}`
//! line.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sluice_benches::keepalive::{NchanCursor, client_cfg, count_after, request};
use sluice_benches::procfs::{cpu_ns, parse_pids, rss_bytes, threads_cpu_ns, user_system_ticks};
use sluice_http::{self as http, ClientRequest};
use sluice_tokio::longpoll::{ClientEvent, LongPollClient, LongPollClientConfig, Start};
use sluice_tokio::sse::{SseClient, SseClientConfig, SseEvent};
use sluice_tokio::ws::{self, Message, WsConfig};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

const TOPIC: &str = "bench.broadcast";

/// The server under test.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Sluice,
    Nchan,
}

struct Args {
    target: Target,
    addr: String,
    pids: Vec<u32>,
    n: usize,
    mix: [usize; 3],
    events: usize,
    payload: usize,
    ws_deflate: bool,
    /// sluice-tokio's `LongPollClient` for the hub's long-poll subscribers (`--poll-client
    /// full`) instead of the raw loop both servers get by default.
    full_poll_client: bool,
}

fn args() -> Args {
    let mut a = Args {
        target: Target::Sluice,
        addr: "127.0.0.1:8080".into(),
        pids: Vec::new(),
        n: 10_000,
        mix: [1, 1, 1],
        events: 30,
        payload: 64,
        ws_deflate: false,
        full_poll_client: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--ws-deflate" {
            a.ws_deflate = true;
            continue;
        }
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--addr" => a.addr = v,
            "--pid" => a.pids = parse_pids(&v),
            "--target" => {
                a.target = match v.as_str() {
                    "sluice" => Target::Sluice,
                    "nchan" => Target::Nchan,
                    o => panic!("unknown target {o}"),
                }
            }
            "--n" => a.n = v.parse().expect("n"),
            "--events" => a.events = v.parse().expect("events"),
            "--payload" => a.payload = v.parse().expect("payload"),
            "--poll-client" => {
                a.full_poll_client = match v.as_str() {
                    "raw" => false,
                    "full" => true,
                    o => panic!("--poll-client raw|full, not {o}"),
                }
            }
            "--mix" => {
                let p: Vec<usize> = v.split(':').map(|x| x.parse().expect("mix")).collect();
                assert!(
                    p.len() == 3 && p.iter().sum::<usize>() > 0,
                    "--mix ws:sse:poll"
                );
                a.mix = [p[0], p[1], p[2]];
            }
            o => panic!("unknown argument {o}"),
        }
    }
    assert!(!a.pids.is_empty(), "--pid of the server is required");
    a
}

/// nchan's subscriber count (`GET /stats`, `nchan_stub_status`): every WebSocket, EventSource
/// and parked long-poll subscriber of every channel.
async fn nchan_subscribers(addr: &str) -> Option<u64> {
    let req = ClientRequest::get(&format!("http://{addr}/stats")).ok()?;
    let mut conn = None;
    let (_, _, body) = request(&mut conn, &req, &client_cfg()).await.ok()?;
    Some(count_after(&String::from_utf8_lossy(&body), "subscribers: ") as u64)
}

/// Has every subscriber registered (WS and SSE handlers open, long-polls parked)?
async fn all_registered(target: Target, addr: &str, want: (u64, u64, u64)) -> bool {
    match target {
        Target::Sluice => hub_counts(addr)
            .await
            .is_some_and(|c| c.0 >= want.0 && c.1 >= want.1 && c.2 >= want.2),
        Target::Nchan => nchan_subscribers(addr)
            .await
            .is_some_and(|c| c >= want.0 + want.1 + want.2),
    }
}

/// Long-polls parked again after an event (the other subscribers stay registered).
async fn polls_parked(target: Target, addr: &str, want: (u64, u64, u64)) -> bool {
    match target {
        Target::Sluice => hub_counts(addr).await.is_some_and(|c| c.2 >= want.2),
        Target::Nchan => all_registered(target, addr, want).await,
    }
}

/// Subscribers the hub reports: (ws, sse, parked long-polls), from `GET /metrics`.
async fn hub_counts(addr: &str) -> Option<(u64, u64, u64)> {
    let req = ClientRequest::get(&format!("http://{addr}/metrics")).ok()?;
    let mut resp = http::fetch(req, &http::ClientConfig::default())
        .await
        .ok()?;
    let body = resp.bytes(1 << 20).await.ok()?;
    let text = String::from_utf8_lossy(&body);
    let get = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    Some((
        get("sluice_subscribers{transport=\"ws\"}"),
        get("sluice_subscribers{transport=\"sse\"}"),
        get("sluice_longpoll_parked"),
    ))
}

/// Counts deliveries of each event; the delivery that completes an event reports its time.
struct Tally {
    remaining: Vec<AtomicUsize>,
    done: mpsc::UnboundedSender<(usize, Instant)>,
    /// Subscribers that saw an event they could not place (should stay 0).
    strays: AtomicUsize,
}

impl Tally {
    /// `data` is `ev-<index>-` and padding (what nchan sends as is), or a hub envelope
    /// `{"id":"..","event":"message","data":"ev-<index>-..."}` around it.
    fn delivered(&self, data: &str) {
        let data = match data.find("\"data\":\"") {
            _ if data.starts_with("ev-") => data,
            Some(p) => &data[p + 8..],
            // A hub message that carries no event (the WebSocket's opening `{"cursor":..}`).
            None if data.starts_with('{') => return,
            None => data,
        };
        let idx = data
            .strip_prefix("ev-")
            .and_then(|r| r.split('-').next())
            .and_then(|i| i.parse::<usize>().ok());
        match idx.and_then(|i| self.remaining.get(i).map(|r| (i, r))) {
            Some((i, r)) => {
                if r.fetch_sub(1, Ordering::AcqRel) == 1 {
                    let _ = self.done.send((i, Instant::now()));
                }
            }
            None => {
                self.strays.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ws,
    Sse,
    Poll,
}

/// One subscriber: connects, reports `ready`, then counts events until the process ends.
async fn subscriber(
    target: Target,
    kind: Kind,
    addr: Arc<str>,
    tally: Arc<Tally>,
    ws_deflate: bool,
    full_poll_client: bool,
) -> Result<(), String> {
    let path = |sluice: &str| match target {
        Target::Sluice => format!("{sluice}/{TOPIC}"),
        Target::Nchan => format!("/sub/{TOPIC}"),
    };
    match (kind, target) {
        (Kind::Ws, _) => {
            let mut cfg = WsConfig::default().ping_interval(None).idle_timeout(None);
            if !ws_deflate {
                cfg = cfg.deflate(None);
            }
            let (mut sock, _) = ws::connect(&format!("ws://{addr}{}", path("/ws")), cfg)
                .await
                .map_err(|e| format!("ws connect: {e}"))?;
            while let Some(m) = sock.recv().await {
                if let Message::Text(t) = m.map_err(|e| format!("ws: {e}"))? {
                    tally.delivered(t.as_str());
                }
            }
            Err("ws closed".into())
        }
        (Kind::Sse, _) => {
            let req = ClientRequest::get(&format!("http://{addr}{}", path("/sse"))).unwrap();
            let mut c = SseClient::new(req, SseClientConfig::default().with_read_timeout(None));
            loop {
                match c.next().await {
                    Ok(Some(SseEvent::Event(e))) => tally.delivered(&e.data),
                    Ok(Some(SseEvent::Reconnecting { cause, .. })) => {
                        return Err(format!("sse: {cause}"));
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => return Err("sse ended".into()),
                    Err(e) => return Err(format!("sse: {e}")),
                }
            }
        }
        (Kind::Poll, _) if target == Target::Nchan || !full_poll_client => {
            // One lean loop for both servers: a request at a time on a kept-alive connection;
            // the position is nchan's Last-Modified/Etag (sent back as headers), or the hub's
            // `cursor` (in the next URL).
            let cfg = client_cfg();
            let mut conn = None;
            let mut nchan = NchanCursor::default();
            let base = match target {
                Target::Nchan => format!("http://{addr}{}", path("")),
                Target::Sluice => format!("http://{addr}/poll/{TOPIC}?timeout=25"),
            };
            let mut url = http::Url::parse(&base).unwrap();
            loop {
                let req = nchan.apply(ClientRequest::new("GET", url.clone()));
                match request(&mut conn, &req, &cfg).await {
                    Ok((200, h, body)) => {
                        let text = String::from_utf8_lossy(&body);
                        if target == Target::Nchan {
                            nchan.advance(&h);
                            tally.delivered(&text);
                            continue;
                        }
                        let cursor = text
                            .split_once("\"cursor\":\"")
                            .and_then(|(_, r)| r.split_once('"'))
                            .map(|(c, _)| c)
                            .ok_or("poll: an answer without a cursor")?;
                        url = http::Url::parse(&format!("{base}&cursor={cursor}")).unwrap();
                        let mut rest = &*text;
                        while let Some(p) = rest.find("\"data\":\"") {
                            tally.delivered(&rest[p..]);
                            rest = &rest[p + 8..];
                        }
                    }
                    // nchan's 304/408: nothing yet, ask again.
                    Ok((304 | 408, _, _)) => {}
                    Ok((s, _, _)) => return Err(format!("poll: HTTP {s}")),
                    Err(e) => return Err(format!("poll: {e}")),
                }
            }
        }
        // `--poll-client full`: the hub with sluice-tokio's client (nchan takes the loop above).
        (Kind::Poll, _) => {
            let mut cfg = LongPollClientConfig::default();
            cfg.poll.timeout = Some(Duration::from_secs(25));
            let mut c =
                LongPollClient::new(&format!("http://{addr}/poll/{TOPIC}"), Start::Now, cfg)
                    .map_err(|e| e.to_string())?;
            loop {
                match c.next().await {
                    Ok(ClientEvent::Event(e)) => tally.delivered(&e.data),
                    Ok(_) => {}
                    Err(e) if e.is_terminal() => return Err(format!("poll: {e}")),
                    Err(_) => {}
                }
            }
        }
    }
}

async fn publish(target: Target, addr: &str, data: String) -> Result<(), String> {
    let path = match target {
        Target::Sluice => "publish",
        Target::Nchan => "pub",
    };
    let req = ClientRequest::post(&format!("http://{addr}/{path}/{TOPIC}"), data).unwrap();
    let mut resp = http::fetch(req, &http::ClientConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let _ = resp.bytes(4096).await;
    if (200..300).contains(&status) {
        Ok(())
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

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(a));
}

async fn run(a: Args) {
    let addr: Arc<str> = a.addr.as_str().into();
    let total: usize = a.mix.iter().sum();
    let n_ws = a.n * a.mix[0] / total;
    let n_sse = a.n * a.mix[1] / total;
    let n_poll = a.n - n_ws - n_sse;
    // Make sure the topic exists before measuring the baseline (an event nobody counts).
    publish(a.target, &addr, "warmup".into())
        .await
        .expect("server reachable");
    sleep(Duration::from_millis(500)).await;
    let rss_before = rss_bytes(&a.pids);

    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let tally = Arc::new(Tally {
        remaining: (0..a.events).map(|_| AtomicUsize::new(a.n)).collect(),
        done: done_tx,
        strays: AtomicUsize::new(0),
    });
    let failures = Arc::new(AtomicUsize::new(0));
    let t_connect = Instant::now();
    let kinds = std::iter::repeat_n(Kind::Ws, n_ws)
        .chain(std::iter::repeat_n(Kind::Sse, n_sse))
        .chain(std::iter::repeat_n(Kind::Poll, n_poll));
    for (i, kind) in kinds.enumerate() {
        // Paced: 200 connection starts per 20 ms, well inside the listen backlog.
        if i % 200 == 199 {
            sleep(Duration::from_millis(20)).await;
        }
        let (addr, tally, failures) = (addr.clone(), tally.clone(), failures.clone());
        let (deflate, target, full) = (a.ws_deflate, a.target, a.full_poll_client);
        tokio::spawn(async move {
            if let Err(e) = subscriber(target, kind, addr, tally, deflate, full).await
                && failures.fetch_add(1, Ordering::Relaxed) < 5
            {
                eprintln!("subscriber {kind:?}: {e}");
            }
        });
    }
    // Every subscriber is registered at the hub: WS and SSE handlers open, long-polls parked.
    let want = (n_ws as u64, n_sse as u64, n_poll as u64);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut registered = false;
    while Instant::now() < deadline {
        if all_registered(a.target, &addr, want).await {
            registered = true;
            break;
        }
        sleep(Duration::from_millis(200)).await;
    }
    let connect_secs = t_connect.elapsed().as_secs_f64();
    assert!(
        registered,
        "not every subscriber registered at the server in 120 s (wanted {want:?}; sluice: {:?}, nchan: {:?}); failures {}",
        hub_counts(&addr).await,
        nchan_subscribers(&addr).await,
        failures.load(Ordering::Relaxed)
    );
    sleep(Duration::from_millis(1000)).await;
    let rss_after = rss_bytes(&a.pids);
    println!(
        "{:?}: {} subscribers (ws {n_ws}, sse {n_sse}, poll {n_poll}) connected in {connect_secs:.1} s; server RSS {} -> {} KiB",
        a.target,
        a.n,
        rss_before / 1024,
        rss_after / 1024
    );

    // Broadcast: one event at a time; the next once every subscriber has the previous one and
    // the long-polls are parked again.
    let pad = "x".repeat(a.payload.saturating_sub(12));
    let mut lat_ms = Vec::with_capacity(a.events);
    let mut missed = 0usize;
    let cpu0 = cpu_ns(&a.pids);
    let client_cpu0 = threads_cpu_ns("self", "");
    let ticks0 = user_system_ticks(&a.pids);
    let t_bcast = Instant::now();
    for i in 0..a.events {
        let t0 = Instant::now();
        publish(a.target, &addr, format!("ev-{i}-{pad}"))
            .await
            .expect("publish");
        match timeout(Duration::from_secs(30), done_rx.recv()).await {
            Ok(Some((k, at))) if k == i => lat_ms.push(at.duration_since(t0).as_secs_f64() * 1e3),
            Ok(other) => panic!("event {i}: unexpected completion {other:?}"),
            Err(_) => {
                let left = tally.remaining[i].load(Ordering::Relaxed);
                eprintln!("event {i}: {left} subscribers still missing it after 30 s");
                missed += left;
            }
        }
        // Let the long-poll clients park again (cheap: one request to the hub).
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if want.2 == 0 || polls_parked(a.target, &addr, want).await {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
    }
    let bcast_secs = t_bcast.elapsed().as_secs_f64();
    let cpu_secs = (cpu_ns(&a.pids) - cpu0) as f64 / 1e9;
    let client_cpu_secs = (threads_cpu_ns("self", "") - client_cpu0) as f64 / 1e9;
    let ticks1 = user_system_ticks(&a.pids);
    let (user_t, sys_t) = (ticks1.0 - ticks0.0, ticks1.1 - ticks0.1);
    let system_share = sys_t as f64 / (user_t + sys_t).max(1) as f64;
    let deliveries = (a.n * a.events - missed) as f64;
    let us_per_delivery = cpu_secs / deliveries * 1e6;
    let client_us_per_delivery = client_cpu_secs / deliveries * 1e6;
    let rss_per_sub = (rss_after.saturating_sub(rss_before)) as f64 / a.n as f64;
    lat_ms.sort_by(f64::total_cmp);
    let (p50, p90, p99, max) = (
        percentile(&lat_ms, 0.5),
        percentile(&lat_ms, 0.9),
        percentile(&lat_ms, 0.99),
        lat_ms.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "{:?}: {} events x {} subscribers in {bcast_secs:.1} s: server CPU {cpu_secs:.2} s = {us_per_delivery:.2} us/delivery ({:.0} % in the kernel); \
         publish -> last delivery p50 {p50:.1} ms, p90 {p90:.1} ms, p99 {p99:.1} ms, max {max:.1} ms; RSS/subscriber {rss_per_sub:.0} B; \
         load tool CPU {client_us_per_delivery:.2} us/delivery; missed {missed}, strays {}, failed subscribers {}",
        a.target,
        a.events,
        a.n,
        system_share * 100.0,
        tally.strays.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
    );
    println!(
        "RESULT {{\"target\":\"{}\",\"n\":{},\"ws\":{n_ws},\"sse\":{n_sse},\"poll\":{n_poll},\"events\":{},\"payload\":{},\"ws_deflate\":{},\
         \"cpu_us_per_delivery\":{us_per_delivery:.3},\"client_cpu_us_per_delivery\":{client_us_per_delivery:.3},\"poll_client\":\"{}\",\"system_share\":{system_share:.3},\"rss_bytes_per_subscriber\":{rss_per_sub:.0},\
         \"latency_ms_p50\":{p50:.2},\"latency_ms_p90\":{p90:.2},\"latency_ms_p99\":{p99:.2},\"latency_ms_max\":{max:.2},\"missed\":{missed},\
         \"connect_secs\":{connect_secs:.2}}}",
        format!("{:?}", a.target).to_lowercase(),
        a.n,
        a.events,
        a.payload,
        a.ws_deflate,
        if a.full_poll_client { "full" } else { "raw" },
    );
    std::process::exit(if missed == 0 { 0 } else { 1 });
}
