//! Split halves side by side: a WebSocket server whose every connection runs a reader task
//! and a writer task on a 2-thread tokio runtime, each crate with its own way to split.
//!
//! ```text
//! cargo run --release -p sluice-benches --example ws_split -- \
//!     --impl sluice|sluice-locked|tungstenite|fastwebsockets|sockudo|tokio-websockets \
//!     [--size 20] [--conns 1] [--msgs 100000]
//! ```
//! (`scripts/bench/ws_split.sh` runs every implementation in alternating rounds.)
//!
//! Per connection `--msgs` messages go each way at once: the server's reader task counts the
//! binary messages it receives while its writer task sends `--size`-byte binary messages, one
//! `send` (write and flush) each. The peer is in the same process on plain threads with
//! blocking sockets, so it costs little: one thread writes a prebuilt image of masked frames
//! (a Ping after every 1,000 data frames), one reads and counts the server's data frames and
//! Pongs. Printed: when each direction finished, messages per second over both directions
//! (2 × msgs × conns / time until both finished), the CPU of the server's runtime threads per
//! message (from `/proc/self/task/*/schedstat`), and Pings sent vs Pongs received.
//!
//! The splits: sluice `WebSocket::split_with(TcpStream::into_split)` (reader lock-free, answers
//! Pings itself) and `WebSocket::split` (`sluice-locked`: one lock around the connection);
//! tokio-tungstenite and tokio-websockets through `StreamExt::split` (a `BiLock` around the
//! stream: the crates answer Pings under it); fastwebsockets `WebSocket::split(into_split)`
//! (lock-free halves; the reader hands each Pong to a closure, which writes it through the
//! writer behind a `tokio::sync::Mutex`, as its documentation shows); sockudo-ws
//! `WebSocketStream::split` (a control task per connection writes Pongs; the transport is
//! behind a mutex).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sluice_ws::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
use tokio::net::{TcpListener, TcpStream};

/// Counters the server tasks and the peer threads share.
#[derive(Default)]
struct Counts {
    server_rx: AtomicU64,
    client_rx: AtomicU64,
    pings: AtomicU64,
    pongs: AtomicU64,
}

const PING_EVERY: usize = 1_000;
const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn main() {
    let mut imp = String::from("sluice");
    let (mut size, mut conns, mut msgs) = (20usize, 1usize, 100_000u64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().expect("a value");
        match a.as_str() {
            "--impl" => imp = val(),
            "--size" => size = val().parse().expect("--size"),
            "--conns" => conns = val().parse().expect("--conns"),
            "--msgs" => msgs = val().parse().expect("--msgs"),
            _ => {
                eprintln!("usage: ws_split --impl NAME [--size N] [--conns N] [--msgs N]");
                std::process::exit(2);
            }
        }
    }
    let msgs = msgs.div_ceil(PING_EVERY as u64) * PING_EVERY as u64;
    sockudo_ws::init_clock();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ws-split-server")
        .enable_all()
        .build()
        .expect("runtime");
    let counts = Arc::new(Counts::default());
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    {
        let (imp, counts) = (imp.clone(), counts.clone());
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let _ = tcp.set_nodelay(true);
                let Ok(tcp) = sluice_benches::handshake(tcp).await else {
                    continue;
                };
                serve(&imp, tcp, size, msgs, counts.clone());
            }
        });
    }
    let ready = Arc::new(std::sync::Barrier::new(conns + 1));
    let peers: Vec<_> = (0..conns)
        .map(|_| peer(addr, size, msgs, &counts, &ready))
        .collect();
    let (cpu0, t0) = (server_cpu_ns(), Instant::now());
    ready.wait();
    let want = msgs * conns as u64;
    let deadline = t0 + Duration::from_secs(120);
    let (mut up_done, mut down_done) = (None, None);
    while (up_done.is_none() || down_done.is_none()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        if up_done.is_none() && counts.server_rx.load(Relaxed) >= want {
            up_done = Some(t0.elapsed());
        }
        if down_done.is_none() && counts.client_rx.load(Relaxed) >= want {
            down_done = Some(t0.elapsed());
        }
    }
    let (cpu1, took) = (server_cpu_ns(), t0.elapsed().as_secs_f64());
    let (Some(up), Some(down)) = (up_done, down_done) else {
        eprintln!(
            "impl={imp}: timed out (server got {}, client got {} of {want})",
            counts.server_rx.load(Relaxed),
            counts.client_rx.load(Relaxed)
        );
        std::process::exit(1);
    };
    // The last Pongs may still be on their way: give them a moment.
    std::thread::sleep(Duration::from_millis(200));
    let total = 2 * want;
    println!(
        "impl={imp} size={size} conns={conns} msgs_each_way={want} up_s={:.3} down_s={:.3} \
         msgs_s={:.0} server_cpu_us_per_msg={:.3} pings={} pongs={}",
        up.as_secs_f64(),
        down.as_secs_f64(),
        total as f64 / took,
        (cpu1 - cpu0) as f64 / 1e3 / total as f64,
        counts.pings.load(Relaxed),
        counts.pongs.load(Relaxed),
    );
    drop(peers);
    std::process::exit(0);
}

/// CPU time of the server runtime's threads (named `ws-split-server`, shown as
/// `ws-split-serv`: a thread name is cut at 15 bytes).
fn server_cpu_ns() -> u64 {
    sluice_benches::procfs::threads_cpu_ns("self", "ws-split-serv")
}

/// A masked client frame with `opcode` and a `len`-byte payload (header by sluice-ws's encoder).
fn client_frame(opcode: OpCode, len: usize) -> Vec<u8> {
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask: Some(KEY),
        payload_len: len as u64,
    };
    let mut h = [0; MAX_HEADER_LEN];
    let n = header.encode(&mut h);
    let mut f = h[..n].to_vec();
    f.extend((0..len).map(|i| (i as u8) ^ KEY[i % 4]));
    f
}

/// One peer connection: a writer thread and a reader thread.
fn peer(
    addr: SocketAddr,
    size: usize,
    msgs: u64,
    counts: &Arc<Counts>,
    ready: &Arc<std::sync::Barrier>,
) -> [std::thread::JoinHandle<()>; 2] {
    let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    tcp.write_all(REQUEST).expect("request");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut b).expect("101");
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "no 101");
    let mut image = Vec::new();
    for _ in 0..PING_EVERY {
        image.extend_from_slice(&client_frame(OpCode::BINARY, size));
    }
    image.extend_from_slice(&client_frame(OpCode::PING, 4));
    let mut wr = tcp.try_clone().expect("clone");
    let mut rd = tcp;
    let c = counts.clone();
    let go = ready.clone();
    let writer = std::thread::spawn(move || {
        go.wait();
        for _ in 0..msgs / PING_EVERY as u64 {
            if wr.write_all(&image).is_err() {
                return;
            }
            c.pings.fetch_add(1, Relaxed);
        }
    });
    let c = counts.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 << 10];
        let (mut start, mut end) = (0usize, 0usize);
        loop {
            if end == buf.len() {
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
                if end == buf.len() {
                    buf.resize(buf.len() * 2, 0);
                }
            }
            match rd.read(&mut buf[end..]) {
                Ok(0) | Err(_) => return,
                Ok(n) => end += n,
            }
            // Whole frames: a server's are unmasked.
            loop {
                let f = &buf[start..end];
                if f.len() < 2 {
                    break;
                }
                let (len, hl) = match f[1] & 0x7f {
                    126 if f.len() >= 4 => (usize::from(u16::from_be_bytes([f[2], f[3]])), 4),
                    127 if f.len() >= 10 => {
                        let mut l = [0u8; 8];
                        l.copy_from_slice(&f[2..10]);
                        (u64::from_be_bytes(l) as usize, 10)
                    }
                    126 | 127 => break,
                    n => (usize::from(n), 2),
                };
                if f.len() < hl + len {
                    break;
                }
                match f[0] & 0x0f {
                    0x2 => c.client_rx.fetch_add(1, Relaxed),
                    0xA => c.pongs.fetch_add(1, Relaxed),
                    _ => 0,
                };
                start += hl + len;
            }
            if start == end {
                start = 0;
                end = 0;
            }
        }
    });
    [writer, reader]
}

/// Starts the reader and writer tasks of one connection.
fn serve(imp: &str, tcp: TcpStream, size: usize, msgs: u64, counts: Arc<Counts>) {
    let payload = Bytes::from(vec![0x5a; size]);
    match imp {
        "sluice" | "sluice-locked" => {
            use sluice_tokio::ws::{Message, WebSocket, WsConfig};
            let ws = WebSocket::from_raw(
                tcp,
                sluice_ws::Role::Server,
                bytes::BytesMut::new(),
                WsConfig::default(),
            );
            // The two splits have different types and the same use.
            macro_rules! run {
                ($rx:ident, $tx:ident) => {{
                    let c = counts.clone();
                    tokio::spawn(async move {
                        while let Some(Ok(_)) = $rx.recv().await {
                            c.server_rx.fetch_add(1, Relaxed);
                        }
                    });
                    tokio::spawn(async move {
                        for _ in 0..msgs {
                            if $tx.send(Message::Binary(payload.clone())).await.is_err() {
                                return;
                            }
                        }
                    });
                }};
            }
            if imp == "sluice" {
                let (mut rx, mut tx) = ws.split_with(TcpStream::into_split);
                run!(rx, tx);
            } else {
                let (mut rx, mut tx) = ws.split();
                run!(rx, tx);
            }
        }
        "tungstenite" => {
            use tokio_tungstenite::tungstenite::{Message, protocol::Role};
            tokio::spawn(async move {
                let ws =
                    tokio_tungstenite::WebSocketStream::from_raw_socket(tcp, Role::Server, None)
                        .await;
                let (tx, rx) = ws.split();
                stream_sink(
                    rx,
                    tx,
                    Message::is_binary,
                    move || Message::Binary(payload.clone()),
                    msgs,
                    counts,
                );
            });
        }
        "fastwebsockets" => {
            use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket};
            let ws = WebSocket::after_handshake(tcp, Role::Server);
            let (rx, tx) = ws.split(TcpStream::into_split);
            let tx = Arc::new(tokio::sync::Mutex::new(tx));
            let tx2 = tx.clone();
            let c = counts.clone();
            tokio::spawn(async move {
                let mut rx = fastwebsockets::FragmentCollectorRead::new(rx);
                loop {
                    let frame = rx
                        .read_frame(&mut |f| {
                            let tx = tx2.clone();
                            async move { tx.lock().await.write_frame(f).await }
                        })
                        .await;
                    match frame {
                        Ok(f) if f.opcode == OpCode::Binary => {
                            c.server_rx.fetch_add(1, Relaxed);
                        }
                        Ok(f) if f.opcode == OpCode::Close => return,
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            });
            tokio::spawn(async move {
                for _ in 0..msgs {
                    let f = Frame::binary(Payload::Borrowed(&payload));
                    if tx.lock().await.write_frame(f).await.is_err() {
                        return;
                    }
                }
            });
        }
        "sockudo" => {
            use sockudo_ws::{Config, Message, WebSocketStream};
            let cfg = Config::builder()
                .max_message_size(64 << 20)
                .max_frame_size(64 << 20)
                .auto_ping(false)
                .idle_timeout(0)
                .build();
            let (mut rx, mut tx) = WebSocketStream::server(tcp, cfg).split();
            let c = counts.clone();
            tokio::spawn(async move {
                while let Some(Ok(m)) = rx.next().await {
                    if matches!(m, Message::Binary(_)) {
                        c.server_rx.fetch_add(1, Relaxed);
                    }
                }
            });
            tokio::spawn(async move {
                for _ in 0..msgs {
                    if tx.send(Message::Binary(payload.clone())).await.is_err() {
                        return;
                    }
                }
            });
        }
        "tokio-websockets" => {
            use tokio_websockets::{Limits, Message, ServerBuilder};
            let ws = ServerBuilder::new()
                .limits(Limits::default().max_payload_len(Some(64 << 20)))
                .serve(tcp);
            let (tx, rx) = ws.split();
            stream_sink(
                rx,
                tx,
                Message::is_binary,
                move || Message::binary(payload.clone()),
                msgs,
                counts,
            );
        }
        other => {
            eprintln!("unknown --impl {other}");
            std::process::exit(2);
        }
    }
}

/// The reader and writer tasks for a crate whose halves are a `Stream` and a `Sink` of its
/// messages: the reader counts binary messages, the writer sends `msgs` of `message()`.
fn stream_sink<M, E, R, W>(
    mut rx: R,
    mut tx: W,
    is_binary: fn(&M) -> bool,
    message: impl Fn() -> M + Send + 'static,
    msgs: u64,
    counts: Arc<Counts>,
) where
    M: Send + 'static,
    E: Send + 'static,
    R: futures_util::Stream<Item = Result<M, E>> + Unpin + Send + 'static,
    W: futures_util::Sink<M> + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(Ok(m)) = rx.next().await {
            if is_binary(&m) {
                counts.server_rx.fetch_add(1, Relaxed);
            }
        }
    });
    tokio::spawn(async move {
        for _ in 0..msgs {
            if tx.send(message()).await.is_err() {
                return;
            }
        }
    });
}
