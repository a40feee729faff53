//! Load tool for the hub broadcast bench (`scripts/bench/hub_broadcast.sh`): connects N
//! subscribers to one topic of a `sluice serve` running in another process — a mix of
//! WebSocket, SSE and long-poll, using the sluice-tokio clients — then publishes events one at
//! a time and measures, per event, the time from sending the publish request until the last
//! subscriber has the event; over the whole broadcast phase, the hub's CPU time per delivery
//! (`utime + stime` of `/proc/<pid>/stat`); and the hub's RSS per subscriber (`VmRSS` with
//! every subscriber connected minus before any).
//!
//! ```text
//! hub_broadcast --addr 127.0.0.1:PORT --pid PID [--n 10000] [--mix 1:1:1] [--events 30]
//!               [--payload 64] [--ws-deflate]
//! ```
//!
//! `--mix ws:sse:poll` gives the shares of each transport. WebSocket clients offer no
//! permessage-deflate unless `--ws-deflate`. Prints a human summary and one `RESULT {json}`
//! line.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sluice_http::{self as http, ClientRequest};
use sluice_tokio::longpoll::{ClientEvent, LongPollClient, LongPollClientConfig, Start};
use sluice_tokio::sse::{SseClient, SseClientConfig, SseEvent};
use sluice_tokio::ws::{self, Message, WsConfig};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

const TOPIC: &str = "bench.broadcast";

struct Args {
    addr: String,
    pid: u32,
    n: usize,
    mix: [usize; 3],
    events: usize,
    payload: usize,
    ws_deflate: bool,
}

fn args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:8080".into(),
        pid: 0,
        n: 10_000,
        mix: [1, 1, 1],
        events: 30,
        payload: 64,
        ws_deflate: false,
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
            "--pid" => a.pid = v.parse().expect("pid"),
            "--n" => a.n = v.parse().expect("n"),
            "--events" => a.events = v.parse().expect("events"),
            "--payload" => a.payload = v.parse().expect("payload"),
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
    assert!(a.pid != 0, "--pid of the hub is required");
    a
}

/// Server CPU time in clock ticks: (`utime`, `stime`), fields 14 and 15 of `/proc/<pid>/stat`.
fn cpu_ticks(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // The command name (field 2) may contain spaces: count fields after its closing paren.
    let rest = &s[s.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    (f[11].parse().unwrap(), f[12].parse().unwrap())
}

fn ticks_per_sec() -> f64 {
    // getconf CLK_TCK; 100 on every Linux configuration in practice.
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("/proc/<pid>/status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
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
    /// `data` is `ev-<index>-` and padding.
    fn delivered(&self, data: &str) {
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
    kind: Kind,
    addr: Arc<str>,
    tally: Arc<Tally>,
    ws_deflate: bool,
) -> Result<(), String> {
    match kind {
        Kind::Ws => {
            let mut cfg = WsConfig::default().ping_interval(None).idle_timeout(None);
            if !ws_deflate {
                cfg = cfg.deflate(None);
            }
            let (mut sock, _) = ws::connect(&format!("ws://{addr}/ws/{TOPIC}"), cfg)
                .await
                .map_err(|e| format!("ws connect: {e}"))?;
            while let Some(m) = sock.recv().await {
                if let Message::Text(t) = m.map_err(|e| format!("ws: {e}"))? {
                    // {"id":"..","event":"message","data":"ev-N-..."}
                    let s = t.as_str();
                    if let Some(p) = s.find("\"data\":\"") {
                        tally.delivered(&s[p + 8..]);
                    }
                }
            }
            Err("ws closed".into())
        }
        Kind::Sse => {
            let req = ClientRequest::get(&format!("http://{addr}/sse/{TOPIC}")).unwrap();
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
        Kind::Poll => {
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

async fn publish(addr: &str, data: String) -> Result<(), String> {
    let req = ClientRequest::post(&format!("http://{addr}/publish/{TOPIC}"), data).unwrap();
    let mut resp = http::fetch(req, &http::ClientConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let _ = resp.bytes(4096).await;
    if status == 200 {
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
    publish(&addr, "warmup".into())
        .await
        .expect("hub reachable");
    sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(a.pid);

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
        let deflate = a.ws_deflate;
        tokio::spawn(async move {
            if let Err(e) = subscriber(kind, addr, tally, deflate).await
                && failures.fetch_add(1, Ordering::Relaxed) < 5
            {
                eprintln!("subscriber {kind:?}: {e}");
            }
        });
    }
    // Every subscriber is registered at the hub: WS and SSE handlers open, long-polls parked.
    let want = (n_ws as u64, n_sse as u64, n_poll as u64);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = (0, 0, 0);
    while Instant::now() < deadline {
        if let Some(c) = hub_counts(&addr).await {
            last = c;
            if c.0 >= want.0 && c.1 >= want.1 && c.2 >= want.2 {
                break;
            }
        }
        sleep(Duration::from_millis(200)).await;
    }
    let connect_secs = t_connect.elapsed().as_secs_f64();
    assert!(
        last.0 >= want.0 && last.1 >= want.1 && last.2 >= want.2,
        "subscribers at the hub {last:?}, wanted {want:?}; failures {}",
        failures.load(Ordering::Relaxed)
    );
    sleep(Duration::from_millis(1000)).await;
    let rss_after = rss_kib(a.pid);
    println!(
        "{} subscribers (ws {n_ws}, sse {n_sse}, poll {n_poll}) connected in {connect_secs:.1} s; hub RSS {rss_before} -> {rss_after} KiB",
        a.n
    );

    // Broadcast: one event at a time; the next once every subscriber has the previous one and
    // the long-polls are parked again.
    let pad = "x".repeat(a.payload.saturating_sub(12));
    let mut lat_ms = Vec::with_capacity(a.events);
    let mut missed = 0usize;
    let cpu0 = cpu_ticks(a.pid);
    let t_bcast = Instant::now();
    for i in 0..a.events {
        let t0 = Instant::now();
        publish(&addr, format!("ev-{i}-{pad}"))
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
            match hub_counts(&addr).await {
                Some(c) if c.2 >= want.2 => break,
                _ => sleep(Duration::from_millis(20)).await,
            }
        }
    }
    let bcast_secs = t_bcast.elapsed().as_secs_f64();
    let cpu1 = cpu_ticks(a.pid);
    let (user, sys) = (
        (cpu1.0 - cpu0.0) as f64 / ticks_per_sec(),
        (cpu1.1 - cpu0.1) as f64 / ticks_per_sec(),
    );
    let cpu_secs = user + sys;
    let deliveries = (a.n * a.events - missed) as f64;
    let us_per_delivery = cpu_secs / deliveries * 1e6;
    let rss_per_sub = (rss_after.saturating_sub(rss_before)) as f64 * 1024.0 / a.n as f64;
    lat_ms.sort_by(f64::total_cmp);
    let (p50, p90, max) = (
        percentile(&lat_ms, 0.5),
        percentile(&lat_ms, 0.9),
        lat_ms.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "{} events x {} subscribers in {bcast_secs:.1} s: hub CPU {cpu_secs:.2} s (user {user:.2}, system {sys:.2}) = {us_per_delivery:.2} us/delivery; \
         publish -> last delivery p50 {p50:.1} ms, p90 {p90:.1} ms, max {max:.1} ms; RSS/subscriber {rss_per_sub:.0} B; \
         missed {missed}, strays {}, failed subscribers {}",
        a.events,
        a.n,
        tally.strays.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
    );
    println!(
        "RESULT {{\"n\":{},\"ws\":{n_ws},\"sse\":{n_sse},\"poll\":{n_poll},\"events\":{},\"payload\":{},\"ws_deflate\":{},\
         \"cpu_us_per_delivery\":{us_per_delivery:.3},\"user_share\":{:.2},\"rss_bytes_per_subscriber\":{rss_per_sub:.0},\
         \"latency_ms_p50\":{p50:.2},\"latency_ms_p90\":{p90:.2},\"latency_ms_max\":{max:.2},\"missed\":{missed},\
         \"connect_secs\":{connect_secs:.2}}}",
        a.n,
        a.events,
        a.payload,
        a.ws_deflate,
        user / cpu_secs.max(1e-9)
    );
    std::process::exit(if missed == 0 { 0 } else { 1 });
}
