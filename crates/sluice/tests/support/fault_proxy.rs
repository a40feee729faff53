//! A TCP fault proxy for tests: sits between a client and a server on loopback and breaks the
//! connection in the ways real networks and proxies do — cuts (after a random time, or all at
//! once), stalls, 1-byte writes, added delay, WebSocket upgrades stripped (a proxy that drops
//! `Upgrade`), response bodies of `text/event-stream` withheld (a buffering proxy), and an
//! offline mode (every connection refused and cut).
//!
//! Used by the tests in `crates/sluice/tests/clients.rs` and, through
//! `examples/fault_proxy.rs` (commands on stdin), by the browser test
//! `scripts/interop/chromium_client.mjs`.

#![allow(dead_code, unreachable_pub)]

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The faults in force. Changes apply to open connections at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Each connection is cut (RST) after a random time in `[min, max]` ms.
    pub cut_every: Option<(u64, u64)>,
    /// Strip `Upgrade`, `Connection` and `Sec-WebSocket-*` from the first request head of a
    /// connection: WebSocket handshakes reach the server as plain GETs.
    pub refuse_upgrade: bool,
    /// A response of `Content-Type: text/event-stream` gets its head through, its body held.
    pub withhold_sse: bool,
    /// New connections are closed at once; open ones are cut.
    pub offline: bool,
    /// Forward in 1-byte writes.
    pub split: bool,
    /// Wait this long before forwarding each read.
    pub delay_ms: u64,
    /// Forward nothing (connections stay open) until cleared.
    pub stall: bool,
}

struct Shared {
    faults: watch::Sender<Faults>,
    /// Bumped by [`FaultProxy::cut_all`]: every open connection ends.
    cuts: watch::Sender<u64>,
    upstream: SocketAddr,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut_all();
    }
}

impl FaultProxy {
    /// Listens on `listen` (e.g. `127.0.0.1:0`) and forwards to `upstream`.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            faults: watch::channel(Faults::default()).0,
            cuts: watch::channel(0).0,
            upstream,
        });
        let s = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(connection(Arc::clone(&s), client));
            }
        });
        Ok(FaultProxy { addr, shared, task })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the faults.
    pub fn set(&self, f: impl FnOnce(&mut Faults)) {
        self.shared.faults.send_modify(f);
        if self.shared.faults.borrow().offline {
            self.cut_all();
        }
    }

    /// Cuts every open connection now.
    pub fn cut_all(&self) {
        self.shared.cuts.send_modify(|n| *n += 1);
    }

    /// Applies one text command (the `fault_proxy` example's stdin protocol); `Err` with a
    /// message for an unknown one.
    pub fn command(&self, line: &str) -> Result<(), String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let on = |w: Option<&&str>| match w.copied() {
            Some("on") => Ok(true),
            Some("off") => Ok(false),
            _ => Err(format!("{line:?}: expected on|off")),
        };
        let num = |w: Option<&&str>| {
            w.and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| format!("{line:?}: expected a number"))
        };
        match words.first().copied() {
            Some("pass") => self.set(|f| *f = Faults::default()),
            Some("cut") => self.cut_all(),
            Some("cut-every") => {
                let (a, b) = (num(words.get(1))?, num(words.get(2))?);
                self.set(|f| f.cut_every = (b > 0).then_some((a.min(b), a.max(b))));
            }
            Some("refuse-upgrade") => {
                let v = on(words.get(1))?;
                self.set(|f| f.refuse_upgrade = v);
            }
            Some("withhold-sse") => {
                let v = on(words.get(1))?;
                self.set(|f| f.withhold_sse = v);
            }
            Some("offline") => {
                let v = on(words.get(1))?;
                self.set(|f| f.offline = v);
            }
            Some("split") => {
                let v = on(words.get(1))?;
                self.set(|f| f.split = v);
            }
            Some("stall") => {
                let v = on(words.get(1))?;
                self.set(|f| f.stall = v);
            }
            Some("delay") => {
                let ms = num(words.get(1))?;
                self.set(|f| f.delay_ms = ms);
            }
            _ => return Err(format!("unknown command {line:?}")),
        }
        Ok(())
    }
}

/// A uniform value in `[lo, hi]` (test jitter; std's random hash keys).
fn between(lo: u64, hi: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(lo ^ hi.rotate_left(17));
    lo + h.finish() % (hi - lo + 1)
}

async fn connection(shared: Arc<Shared>, client: TcpStream) {
    if shared.faults.borrow().offline {
        drop(client);
        return;
    }
    let Ok(server) = TcpStream::connect(shared.upstream).await else {
        drop(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut cuts = shared.cuts.subscribe();
    cuts.borrow_and_update();
    let deadline = shared
        .faults
        .borrow()
        .cut_every
        .map(|(a, b)| tokio::time::Instant::now() + Duration::from_millis(between(a, b)));
    let (cr, cw) = tokio::io::split(client);
    let (sr, sw) = tokio::io::split(server);
    let up = pump(cr, sw, shared.faults.subscribe(), Direction::Request);
    let down = pump(sr, cw, shared.faults.subscribe(), Direction::Response);
    let mut faults = shared.faults.subscribe();
    let cut_later = async {
        // A cut-every set while the connection is open applies to it too.
        let mut at = deadline;
        loop {
            let sleep = async {
                match at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => return,
                r = faults.changed() => {
                    if r.is_err() { return; }
                    let f = faults.borrow_and_update().clone();
                    if f.offline { return; }
                    if at.is_none() {
                        at = f.cut_every.map(|(a, b)| {
                            tokio::time::Instant::now() + Duration::from_millis(between(a, b))
                        });
                    } else if f.cut_every.is_none() {
                        at = None;
                    }
                }
            }
        }
    };
    // A cut drops both connections (the client sees its connection closed mid-stream).
    tokio::select! {
        _ = cuts.changed() => {}
        () = cut_later => {}
        _ = async { tokio::join!(up, down) } => {}
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

/// Forwards `from` to `to` under the faults; returns when `from` ends or a write fails.
async fn pump<R, W>(mut from: R, mut to: W, mut faults: watch::Receiver<Faults>, dir: Direction)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    // The first head of the connection, until its end is seen (rewritten or inspected).
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    let mut withholding = false;
    loop {
        while faults.borrow_and_update().stall {
            if faults.changed().await.is_err() {
                return;
            }
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        // A read that was already waiting when the stall began forwards nothing either.
        while faults.borrow_and_update().stall {
            if faults.changed().await.is_err() {
                return;
            }
        }
        let f = faults.borrow().clone();
        let mut out = buf[..n].to_vec();
        if head.is_some() && !f.refuse_upgrade && !f.withhold_sse {
            // No fault looks at heads: pass bytes through as they come (any protocol, e.g.
            // Redis's, whose messages never end in a blank line).
            head = None;
        }
        if let Some(h) = head.as_mut() {
            h.extend_from_slice(&out);
            let Some(end) = find(h, b"\r\n\r\n") else {
                if h.len() > 64 * 1024 {
                    return;
                }
                continue;
            };
            let rest = h.split_off(end + 4);
            let mut first = std::mem::take(h);
            head = None;
            match dir {
                Direction::Request if f.refuse_upgrade => first = strip_upgrade(&first),
                Direction::Response if f.withhold_sse && is_event_stream(&first) => {
                    withholding = true;
                }
                _ => {}
            }
            first.extend_from_slice(&rest);
            if withholding {
                // The head goes through; the body (anything after it) is held back.
                first.truncate(end + 4);
            }
            out = first;
        } else if withholding {
            continue;
        }
        if f.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
        }
        let ok = if f.split {
            let mut ok = true;
            for b in &out {
                if to.write_all(std::slice::from_ref(b)).await.is_err() || to.flush().await.is_err()
                {
                    ok = false;
                    break;
                }
            }
            ok
        } else {
            to.write_all(&out).await.is_ok() && to.flush().await.is_ok()
        };
        if !ok {
            return;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The head without `Upgrade`, `Connection` and `Sec-WebSocket-*` fields, with
/// `Connection: close` (what a proxy that does not do WebSocket sends on).
fn strip_upgrade(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n") {
        let l = line.to_ascii_lowercase();
        if l.starts_with("upgrade:")
            || l.starts_with("connection:")
            || l.starts_with("sec-websocket-")
        {
            continue;
        }
        if line.is_empty() {
            break;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("connection: close\r\n\r\n");
    out.into_bytes()
}

fn is_event_stream(head: &[u8]) -> bool {
    String::from_utf8_lossy(head)
        .to_ascii_lowercase()
        .split("\r\n")
        .any(|l| l.starts_with("content-type:") && l.contains("text/event-stream"))
}
