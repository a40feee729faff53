//! `sluice serve`: run the hub (WebSocket, SSE and long-poll on one port, one replay log per
//! topic) until SIGINT or SIGTERM, then shut down gracefully and exit 0.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use sluice_hub::{Hub, HubConfig};

/// Arguments of `sluice serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Routes (see docs/hub.md):
  POST /publish/{topic}[?event=TYPE]   body = event data            -> {\"id\":\"<cursor>\"}
  GET  /ws/{topic}[?cursor=C]          WebSocket: events as JSON text frames; text frames publish
  GET  /sse/{topic}[?cursor=C]         Server-Sent Events (Last-Event-ID resumes)
  GET  /poll/{topic}?cursor=C&timeout=S&max=N   long-poll
  GET  /   web page     GET /metrics   Prometheus text     GET /healthz

Without --auth-secret the hub binds 127.0.0.1 (this machine only) and anyone who can reach it
may publish and subscribe. With a secret it binds 0.0.0.0 by default and every topic route
needs a JWT (HS256; `sluice token` mints one) in `Authorization: Bearer` or `?token=`.

Examples:
  sluice serve
  sluice serve --addr 127.0.0.1:9000 --retention-events 10000 --retention-age 1h
  SLUICE_AUTH_SECRET=$(head -c32 /dev/urandom | base64) sluice serve --allow-origin https://app.example
  sluice serve --max-connections 20000 --max-message-size 1MiB --log-format json
  sluice serve --tls-cert cert.pem --tls-key key.pem      # https://, wss://, HTTP/2 (kill -HUP reloads)

Without TLS the port also speaks HTTP/2 with prior knowledge (h2c), for proxies.")]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080, or 0.0.0.0:8080 with --auth-secret].
    /// Port 0 picks a free port (printed at start).
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<SocketAddr>,
    /// Most events retained per topic.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    retention_events: usize,
    /// Most bytes of event data retained per topic (suffixes K, M, G, KiB, MiB, GiB).
    #[arg(long, value_name = "B", default_value = "16MiB", value_parser = parse_bytes)]
    retention_bytes: usize,
    /// Oldest event age retained (e.g. 90s, 10m, 1h; a bare number is seconds).
    #[arg(long, value_name = "AGE", default_value = "10m", value_parser = parse_duration)]
    retention_age: Duration,
    /// With a shared store (redis://, nats://): a node's presence record lives this long
    /// without a refresh, so the clients of a node that dies leave within it.
    #[arg(long, value_name = "T", default_value = "15s", value_parser = parse_duration)]
    presence_ttl: Duration,
    /// A long-poll client that names itself (?client=ID) stays present this long after each
    /// answer.
    #[arg(long, value_name = "T", default_value = "10s", value_parser = parse_duration)]
    presence_grace: Duration,
    /// HS256 secret for access tokens: turns authentication on.
    #[arg(
        long,
        value_name = "S",
        env = "SLUICE_AUTH_SECRET",
        hide_env_values = true
    )]
    auth_secret: Option<String>,
    /// Origin allowed cross-origin (CORS for SSE/poll/publish, the WebSocket Origin check);
    /// repeatable; `*` allows any. Same-origin pages are always allowed.
    #[arg(long = "allow-origin", value_name = "O")]
    allow_origins: Vec<String>,
    /// Host name the hub answers to besides loopback names; repeatable; `*` allows any. On a
    /// loopback address without --auth-secret only loopback names are answered (a guard
    /// against DNS rebinding); elsewhere any name is, unless this is given.
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_hosts: Vec<String>,
    /// Most open connections (503 beyond).
    #[arg(long, value_name = "N", default_value_t = 16_384)]
    max_connections: usize,
    /// Most open connections per client IP address (429 beyond). Default: no per-IP cap.
    #[arg(long, value_name = "N")]
    max_connections_per_ip: Option<usize>,
    /// Most topics (503 beyond; idle empty topics are removed after a minute).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_topics: usize,
    /// Largest event data: publish body (413 beyond) or WebSocket message (close 1009).
    #[arg(long, value_name = "B", default_value = "64KiB", value_parser = parse_bytes)]
    max_message_size: usize,
    /// Log format on stderr (level from RUST_LOG, default info).
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// TLS certificate chain (PEM, leaf first): serve https:// and wss:// on the port, with
    /// HTTP/2 and HTTP/1.1 by ALPN. Reloaded on SIGHUP without dropping connections.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Where topics' history lives: `memory` (this process only: a restart is a reset for
    /// every client), `file:DIR` (embedded and durable: survives restarts and `kill -9`), or
    /// `redis://HOST:PORT[/DB]` (Redis Streams) or `nats://HOST:PORT` (NATS JetStream), both
    /// shared by any number of `sluice serve` processes. `sys.*` topics always stay in the
    /// process.
    #[arg(
        long,
        value_name = "URL",
        default_value = "memory",
        env = "SLUICE_STORE"
    )]
    store: sluice_hub::store::StoreUrl,
    /// For `file:`: `always` fsyncs each commit as soon as the writer is free; `batch` lets
    /// the writer wait up to 2 ms for more publishes to share the fsync. Neither answers a
    /// publish before its fsync, so neither loses an acknowledged event on power failure.
    #[arg(long, value_name = "POLICY", default_value = "always")]
    fsync: sluice_hub::store::FsyncPolicy,
    /// Threads that serve connections (the runtime's workers). Default: one per CPU core the
    /// process may use. On a machine shared with other busy processes, fewer workers can
    /// spend less CPU per delivery (no wake-ups and task steals across threads).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
}

/// `123`, `64K`/`64KB` (×1000), `64KiB` (×1024), `M`, `MiB`, `G`, `GiB`.
fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        u => {
            return Err(format!(
                "unknown size unit {u:?} (use K, KiB, M, MiB, G, GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

/// `500ms`, `90s`, `10m`, `1h`, `2d`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("not a duration: {s:?}"))?;
    let secs = |m: u64| {
        n.checked_mul(m)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("duration too large: {s:?}"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        u => Err(format!("unknown duration unit {u:?} (use ms, s, m, h, d)")),
    }
}

fn init_logs(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        // A log line that cannot be written (stderr closed: the reader of our pipe is gone)
        // is dropped. The default reports it with `eprintln!`, which panics on the same
        // closed pipe — in whichever task logged, e.g. the one that handles SIGTERM.
        .log_internal_errors(false);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub(crate) fn run(a: ServeArgs) -> i32 {
    init_logs(&a.log_format);
    let secret = match a.auth_secret.as_deref() {
        Some("") => {
            eprintln!("sluice serve: --auth-secret (or SLUICE_AUTH_SECRET) is empty");
            return 2;
        }
        s => s.map(|s| s.as_bytes().to_vec()),
    };
    if a.retention_events == 0 || a.max_connections == 0 || a.max_message_size == 0 {
        eprintln!(
            "sluice serve: --retention-events, --max-connections and --max-message-size must be at least 1"
        );
        return 2;
    }
    let addr = a.addr.unwrap_or_else(|| {
        if secret.is_some() {
            SocketAddr::from(([0, 0, 0, 0], 8080))
        } else {
            SocketAddr::from(([127, 0, 0, 1], 8080))
        }
    });
    let mut cfg = HubConfig::default();
    cfg.retention.max_events = a.retention_events;
    cfg.retention.max_bytes = a.retention_bytes;
    cfg.retention.max_age = a.retention_age;
    cfg.presence_ttl = a.presence_ttl.max(Duration::from_millis(300));
    cfg.presence_grace = a.presence_grace;
    cfg.max_connections = a.max_connections;
    cfg.max_connections_per_ip = a.max_connections_per_ip;
    cfg.max_topics = a.max_topics;
    cfg.max_message_size = a.max_message_size;
    cfg.allow_origins = a.allow_origins;
    cfg.allow_hosts = a.allow_hosts;
    let authenticated = secret.is_some();
    if let Some(s) = &secret
        && s.len() < 32
    {
        tracing::warn!(
            "the auth secret is shorter than 32 bytes: HS256 wants at least 256 random bits"
        );
    }
    cfg.auth_secret = secret;
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => match sluice_http::ServerTls::from_pem_files(c, k) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("sluice serve: TLS: {e}");
                return 2;
            }
        },
        _ => None,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = a.workers {
        rt.worker_threads(usize::from(n));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice serve: cannot start the runtime: {e}");
            return 1;
        }
    };
    let store = a.store.with_fsync(a.fsync);
    rt.block_on(serve(cfg, addr, authenticated, tls, store))
}

async fn serve(
    cfg: HubConfig,
    addr: SocketAddr,
    authenticated: bool,
    tls: Option<sluice_http::ServerTls>,
    store: sluice_hub::store::StoreUrl,
) -> i32 {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("sluice serve: cannot listen on {addr}: {e}");
            return 1;
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    let store_kind = store.kind();
    let store_cfg = sluice_hub::store::StoreConfig::default().with_retention(cfg.retention.clone());
    let hub = match sluice_hub::store::open(&store, store_cfg).await {
        Ok(None) => Hub::new(cfg),
        Ok(Some(s)) => match Hub::with_store(cfg, s).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("sluice serve: store {store_kind}: {e}");
                return 1;
            }
        },
        Err(e) => {
            eprintln!("sluice serve: store {store_kind}: {e}");
            return 1;
        }
    };
    let browse_host = if local.ip().is_unspecified() {
        match local {
            SocketAddr::V4(_) => "127.0.0.1".to_owned(),
            SocketAddr::V6(_) => "[::1]".to_owned(),
        }
    } else {
        match local {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{browse_host}:{}/", local.port());
    let c = hub.config();
    tracing::info!(
        addr = %local,
        retention_events = c.retention.max_events,
        retention_bytes = c.retention.max_bytes,
        retention_age_s = c.retention.max_age.as_secs(),
        max_connections = c.max_connections,
        max_message_size = c.max_message_size,
        auth = authenticated,
        tls = tls.is_some(),
        store = store_kind,
        "sluice hub listening"
    );
    if !authenticated {
        if local.ip().is_loopback() {
            tracing::info!(
                "no --auth-secret: listening on loopback only; anyone on this machine may publish and subscribe"
            );
        } else {
            tracing::warn!(
                "no --auth-secret and a non-loopback address: anyone who can reach {local} may publish and subscribe"
            );
        }
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "sluice hub on {local}: open {url}");
        let _ = out.flush();
    }
    let stopper = hub.clone();
    tokio::spawn(async move {
        let name = wait_for_signal().await;
        stopper.shutdown();
        tracing::info!(
            signal = name,
            "shutting down (a second signal exits at once)"
        );
        let name = wait_for_signal().await;
        tracing::warn!(signal = name, "second signal: exiting now");
        std::process::exit(130);
    });
    if let Some(tls) = &tls {
        reload_on_sighup(tls.clone());
    }
    match hub.serve_tls(listener, tls).await {
        Ok(()) => {
            tracing::info!("stopped");
            0
        }
        Err(e) => {
            tracing::error!(error = %e, "listener failed");
            1
        }
    }
}

/// Re-reads the certificate and key on every SIGHUP (new handshakes use them; open
/// connections keep theirs). A failed reload keeps the certificate in use and logs why.
fn reload_on_sighup(tls: sluice_http::ServerTls) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot watch SIGHUP: the certificate will not be reloaded");
            return;
        };
        while hup.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: TLS reload failed; keeping the old certificate")
                }
            }
        }
    });
    #[cfg(not(unix))]
    drop(tls);
}

/// Waits for SIGINT or SIGTERM and names it.
pub(crate) async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("123"), Ok(123));
        assert_eq!(parse_bytes("64KiB"), Ok(65536));
        assert_eq!(parse_bytes("64K"), Ok(64_000));
        assert_eq!(parse_bytes("16MiB"), Ok(16 << 20));
        assert_eq!(parse_bytes("1gib"), Ok(1 << 30));
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("99999999999999999999GiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("m").is_err());
    }
}
