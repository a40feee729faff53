//! `ws_load`: a closed-loop WebSocket load generator for any `ws://` or `wss://` echo
//! server.
//!
//! ```text
//! # throughput / latency / server CPU per message
//! ws_load --url ws://127.0.0.1:9001/ --conns 100 --size 20 --duration 3 --pid $SERVER_PID
//! # idle memory per connection (server RSS growth over 10,000 idle connections)
//! ws_load --url ws://127.0.0.1:9001/ --idle 10000 --pid $SERVER_PID
//! # the same over TLS, trusting a test CA
//! ws_load --url wss://127.0.0.1:9001/ --cacert ca.pem --conns 100 --size 20 --pid $SERVER_PID
//! ```
//!
//! Load mode: opens `--conns` connections, then on each one sends a binary message
//! of `--size` bytes, waits for its echo, and repeats (closed loop) until the
//! connection has done `--msgs` round trips or the run's time is up. After
//! `--warmup` seconds it measures for `--duration` seconds: messages per second,
//! p50/p99 round-trip latency, and the CPU time of the server (`--pid`, all its
//! threads, from `/proc/<pid>/task/*/schedstat`) and of this load generator, per
//! message and as a share of one core. A load generator near 100 % of its cores
//! is the bottleneck: give it `--threads`.
//!
//! Idle mode: opens `--idle-base` connections, samples the server's `VmRSS`,
//! opens `--idle` more, samples again and reports the growth per connection.
//!
//! The client is `sluice_tokio::ws::connect_request` for every server (no
//! permessage-deflate offer), so only the server differs between runs: over
//! `sluice_http::TcpConnector` for `ws://`, over `sluice_http::DefaultConnector`
//! (rustls, ring provider, ALPN `http/1.1`) for `wss://`, trusting only `--cacert`
//! when given (else the webpki roots). The last line of output is a machine-readable
//! `RESULT key=value ...` line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use sluice_http::{ClientTls, Connector, DefaultConnector, TcpConnector};
use sluice_tokio::ws::{self, CloseCode, Message, WebSocket, WsConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;

/// Closed-loop WebSocket echo load generator.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
struct Args {
    /// Echo server URL (ws:// or wss://).
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    url: String,
    /// wss://: trust only this CA certificate (PEM) instead of the webpki roots.
    #[arg(long, value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 100)]
    conns: usize,
    /// Round trips per connection at most (warmup included).
    #[arg(long, default_value_t = 10_000_000)]
    msgs: u64,
    /// Message size in bytes (binary messages).
    #[arg(long, default_value_t = 20)]
    size: usize,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Seconds measured (the run ends earlier if every connection did `--msgs`).
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Server process id, for its CPU time (`schedstat`) and memory (`VmRSS`).
    #[arg(long)]
    pid: Option<u32>,
    /// Worker threads of this load generator (1 = current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Label echoed in the RESULT line.
    #[arg(long, default_value = "-")]
    label: String,
    /// Idle mode: connections opened after the baseline sample.
    #[arg(long)]
    idle: Option<usize>,
    /// Idle mode: connections opened before the baseline sample.
    #[arg(long, default_value_t = 1000)]
    idle_base: usize,
    /// Idle mode: connection attempts in flight at once.
    #[arg(long, default_value_t = 128)]
    idle_parallel: usize,
    /// Idle mode: seconds to let the server settle before each RSS sample.
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    let args = Args::parse();
    let rt = if args.threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let res = rt.block_on(run(args));
    if let Err(e) = res {
        eprintln!("ws_load: {e}");
        std::process::exit(1);
    }
}

/// Client configuration: 64 MiB limits, no permessage-deflate offer (the peers
/// do not implement it, so every server is measured on plain frames).
fn client_config() -> WsConfig {
    let mut cfg = WsConfig::default().deflate(None);
    cfg.protocol = cfg
        .protocol
        .with_max_frame_size(64 << 20)
        .with_max_message_size(64 << 20);
    cfg
}

/// Picks the connector for the URL's scheme: plain TCP for `ws://` (the same
/// stream type as before TLS support), TCP + rustls for `wss://`.
async fn run(args: Args) -> Result<(), Error> {
    let req = sluice_http::ClientRequest::get(&args.url)?;
    if req.url().is_secure() {
        let tls = match &args.cacert {
            Some(path) => ClientTls::empty().add_ca_pem_file(path)?,
            None => ClientTls::default(),
        };
        mode(args, Arc::new(DefaultConnector::new(tls))).await
    } else {
        if args.cacert.is_some() {
            return Err("--cacert is for wss:// URLs".into());
        }
        mode(args, Arc::new(TcpConnector)).await
    }
}

async fn mode<C>(args: Args, connector: Arc<C>) -> Result<(), Error>
where
    C: Connector + 'static,
    C::Stream: 'static,
{
    match args.idle {
        Some(n) => idle(connector, args.clone(), n).await,
        None => load(connector, args.clone()).await,
    }
}

async fn open<C: Connector>(connector: &C, url: &str) -> Result<WebSocket<C::Stream>, Error> {
    let req = sluice_http::ClientRequest::get(url)?;
    let (ws, _) = ws::connect_request(connector, &req, client_config()).await?;
    Ok(ws)
}

/// Opens `n` connections, at most `parallel` handshakes in flight.
async fn open_many<C>(
    connector: &Arc<C>,
    url: &str,
    n: usize,
    parallel: usize,
) -> Result<Vec<WebSocket<C::Stream>>, Error>
where
    C: Connector + 'static,
    C::Stream: 'static,
{
    let mut out = Vec::with_capacity(n);
    let mut set = JoinSet::new();
    let mut started = 0;
    while out.len() < n {
        while started < n && set.len() < parallel.max(1) {
            let url = url.to_string();
            let connector = Arc::clone(connector);
            set.spawn(async move { open(&*connector, &url).await });
            started += 1;
        }
        match set.join_next().await {
            Some(r) => out.push(r??),
            None => break,
        }
    }
    Ok(out)
}

/// CPU time (ns) of every thread of `pid`, from `/proc/<pid>/task/*/schedstat`.
/// Threads that already exited are not counted.
fn cpu_ns(pid: &str) -> Option<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = entry.ok()?.path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(path) {
            total += s.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

/// Resident set size of `pid` in bytes (`VmRSS` of `/proc/<pid>/status`).
fn rss_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct Shared {
    measuring: AtomicBool,
    stop: AtomicBool,
    done: AtomicU64,
}

struct Snapshot {
    at: Instant,
    done: u64,
    server_ns: Option<u64>,
    client_ns: Option<u64>,
}

fn snapshot(shared: &Shared, pid: Option<u32>) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        done: shared.done.load(Ordering::Relaxed),
        server_ns: pid.and_then(|p| cpu_ns(&p.to_string())),
        client_ns: cpu_ns("self"),
    }
}

fn new_hist() -> Histogram<u64> {
    // Nanoseconds, 1 ns .. 100 s, 3 significant digits.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("histogram bounds")
}

/// One connection's closed loop. Returns its latency histogram (measured window).
async fn run_conn<S>(
    mut ws: WebSocket<S>,
    payload: Bytes,
    msgs: u64,
    shared: Arc<Shared>,
) -> Result<Histogram<u64>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut hist = new_hist();
    let mut n = 0;
    while n < msgs && !shared.stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        ws.send(Message::Binary(payload.clone())).await?;
        match ws.recv().await {
            Some(Ok(Message::Binary(b))) if b.len() == payload.len() => {}
            Some(Ok(Message::Binary(b))) => {
                return Err(
                    format!("echo of {} bytes came back as {}", payload.len(), b.len()).into(),
                );
            }
            Some(Ok(Message::Text(_))) => return Err("echo came back as text".into()),
            Some(Err(e)) => return Err(e.into()),
            None => return Err("server closed the connection".into()),
        }
        let dt = t0.elapsed();
        if shared.measuring.load(Ordering::Relaxed) {
            hist.saturating_record(dt.as_nanos().min(u64::MAX as u128) as u64);
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
    // Closing handshake, bounded by the driver's close timeout.
    if ws.close(CloseCode::NORMAL, "").await.is_ok() {
        while let Some(r) = ws.recv().await {
            if r.is_err() {
                break;
            }
        }
    }
    Ok(hist)
}

async fn load<C>(connector: Arc<C>, args: Args) -> Result<(), Error>
where
    C: Connector + 'static,
    C::Stream: 'static,
{
    if args.conns == 0 || args.msgs == 0 {
        return Err("--conns and --msgs must be at least 1".into());
    }
    let sockets = open_many(&connector, &args.url, args.conns, 128).await?;
    let payload = Bytes::from((0..args.size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let shared = Arc::new(Shared {
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        done: AtomicU64::new(0),
    });
    let mut set = JoinSet::new();
    for ws in sockets {
        set.spawn(run_conn(ws, payload.clone(), args.msgs, shared.clone()));
    }
    let mut hist = new_hist();
    let mut first_err: Option<Error> = None;
    let mut absorb = |r: Result<Result<Histogram<u64>, Error>, tokio::task::JoinError>,
                      hist: &mut Histogram<u64>| match r {
        Ok(Ok(h)) => hist.add(h).expect("same histogram bounds"),
        Ok(Err(e)) => {
            first_err.get_or_insert(e);
        }
        Err(e) => {
            first_err.get_or_insert(e.into());
        }
    };

    // Warmup (ends early if every connection is done).
    let warm = Duration::from_secs_f64(args.warmup);
    let _ = tokio::time::timeout(warm, async {
        while let Some(r) = set.join_next().await {
            absorb(r, &mut hist);
        }
    })
    .await;
    let start = snapshot(&shared, args.pid);
    shared.measuring.store(true, Ordering::Relaxed);
    let window = Duration::from_secs_f64(args.duration);
    let _ = tokio::time::timeout(window, async {
        while let Some(r) = set.join_next().await {
            absorb(r, &mut hist);
        }
    })
    .await;
    let end = snapshot(&shared, args.pid);
    shared.measuring.store(false, Ordering::Relaxed);
    shared.stop.store(true, Ordering::Relaxed);
    // Each task ends after at most one more round trip and a closing handshake.
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(r) = set.join_next().await {
            absorb(r, &mut hist);
        }
    })
    .await;
    if drained.is_err() {
        set.abort_all();
        eprintln!("ws_load: some connections did not finish within 30 s; aborted");
    }
    if let Some(e) = first_err {
        return Err(e);
    }

    let secs = end.at.duration_since(start.at).as_secs_f64();
    let msgs = end.done - start.done;
    if msgs == 0 {
        return Err("no round trip completed in the measured window (raise --msgs?)".into());
    }
    let per_msg_us = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some((b - a) as f64 / 1e3 / msgs as f64),
        _ => None,
    };
    let util = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some((b - a) as f64 / 1e9 / secs),
        _ => None,
    };
    let server_us = per_msg_us(start.server_ns, end.server_ns);
    let server_util = util(start.server_ns, end.server_ns);
    let client_us = per_msg_us(start.client_ns, end.client_ns);
    let client_util = util(start.client_ns, end.client_ns);
    let rate = msgs as f64 / secs;
    let p50 = hist.value_at_quantile(0.50) as f64 / 1e3;
    let p99 = hist.value_at_quantile(0.99) as f64 / 1e3;
    let fmt = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |v| format!("{v:.d$}"));
    println!(
        "{} conns x {} B: {msgs} echoes in {secs:.2} s = {rate:.0} msg/s, \
         {:.1} MB/s each way; latency p50 {p50:.1} us, p99 {p99:.1} us",
        args.conns,
        args.size,
        rate * args.size as f64 / 1e6
    );
    println!(
        "server CPU {} us/msg ({} of a core); load generator CPU {} us/msg ({} of {} thread(s))",
        fmt(server_us, 2),
        fmt(server_util.map(|u| u * 100.0), 0) + " %",
        fmt(client_us, 2),
        fmt(client_util.map(|u| u * 100.0), 0) + " %",
        args.threads.max(1)
    );
    println!(
        "RESULT label={} conns={} size={} msgs={msgs} secs={secs:.3} msgs_per_s={rate:.0} \
         p50_us={p50:.1} p99_us={p99:.1} server_cpu_us_per_msg={} server_util={} \
         client_cpu_us_per_msg={} client_util={} client_threads={}",
        args.label,
        args.conns,
        args.size,
        fmt(server_us, 3),
        fmt(server_util, 3),
        fmt(client_us, 3),
        fmt(client_util, 3),
        args.threads.max(1)
    );
    Ok(())
}

async fn idle<C>(connector: Arc<C>, args: Args, n: usize) -> Result<(), Error>
where
    C: Connector + 'static,
    C::Stream: 'static,
{
    let pid = args.pid.ok_or("--idle needs --pid")?;
    let settle = Duration::from_secs_f64(args.settle);
    let mut held = open_many(&connector, &args.url, args.idle_base, args.idle_parallel).await?;
    tokio::time::sleep(settle).await;
    let before = rss_bytes(pid).ok_or("cannot read the server's VmRSS")?;
    let t0 = Instant::now();
    held.extend(open_many(&connector, &args.url, n, args.idle_parallel).await?);
    let open_secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let after = rss_bytes(pid).ok_or("cannot read the server's VmRSS")?;
    let per_conn = (after as f64 - before as f64) / n as f64;
    println!(
        "server RSS {:.1} MiB with {} connections, {:.1} MiB with {} (opened in {open_secs:.1} s): \
         {:.2} KiB per idle connection",
        before as f64 / (1 << 20) as f64,
        args.idle_base,
        after as f64 / (1 << 20) as f64,
        held.len(),
        per_conn / 1024.0
    );
    println!(
        "RESULT label={} idle={n} idle_base={} rss_before={before} rss_after={after} \
         bytes_per_conn={per_conn:.0}",
        args.label, args.idle_base
    );
    drop(held);
    Ok(())
}
