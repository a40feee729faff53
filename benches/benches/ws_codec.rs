#![allow(missing_docs)] // criterion_main! generates an undocumented `main`.
//! sluice-ws codec benchmarks, side by side with tungstenite, fastwebsockets, sockudo-ws 3.1 and
//! tokio-websockets 0.13 (the last two: their streams over the same in-memory replay; neither
//! exposes a sans-IO decoder for this, so they pay their stream layer, as fastwebsockets does).
//!
//! - `ws_header_parse`: decoding a frame header (sluice `decode_header` vs tungstenite
//!   `FrameHeader::parse`).
//! - `ws_unmask/<size>`: masking in place vs a plain `copy_from_slice` of the same size, and
//!   fastwebsockets' `unmask`.
//! - `ws_decode/<message>`: receiving one masked client message on a server: read into the
//!   codec's buffer, parse, unmask, validate UTF-8 for text, hand out the message. Every codec
//!   reads from the same in-memory stream, which replays a wire image of identical frames in
//!   reads of at most 64 KiB (like a socket read) and discards writes. sluice's driver loop is
//!   what sluice-tokio's driver does: reserve one read (or the rest of the frame that is
//!   arriving, `Connection::input_hint`), copy the read into the `BytesMut`, then
//!   `poll_input` (the next event, decoded one at a time from the buffer).
//!   `sluice-batch`: the same with `handle_input` (every whole frame of a read at once, the
//!   events queued) and `poll_event`, the other way the core can be driven.
//!   tungstenite runs its blocking `WebSocket::read`; fastwebsockets runs
//!   `FragmentCollector::read_frame` on a current-thread tokio runtime, entered once per batch of
//!   iterations (`iter_custom`) so the runtime's cost is not counted per message.

use std::hint::black_box;
use std::io::{self, Cursor, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_ws::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, decode_header};
use sluice_ws::mask::apply_mask;
use sluice_ws::{Config, Connection, Event, Role};

const READ_SIZE: usize = 64 * 1024;
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Encodes one masked client frame.
fn client_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let h = FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask: Some(KEY),
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = h.encode(&mut head);
    let mut out = head[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], KEY);
    out
}

/// An endless in-memory stream replaying `wire` (whole frames) in reads of at most 64 KiB.
struct Replay {
    wire: Bytes,
    pos: usize,
}

impl Replay {
    fn new(frame: &[u8]) -> Self {
        // At least 256 KiB of frames so wrap-around is rare relative to the work.
        let copies = (256 * 1024 / frame.len()).max(1);
        Replay {
            wire: Bytes::from(frame.repeat(copies)),
            pos: 0,
        }
    }

    fn next_read(&mut self, max: usize) -> &[u8] {
        if self.pos == self.wire.len() {
            self.pos = 0;
        }
        let n = max.min(READ_SIZE).min(self.wire.len() - self.pos);
        let start = self.pos;
        self.pos += n;
        &self.wire[start..start + n]
    }
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let src = self.next_read(buf.len());
        buf[..src.len()].copy_from_slice(src);
        Ok(src.len())
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tokio::io::AsyncRead for Replay {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let src = this.next_read(buf.remaining());
        buf.put_slice(src);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Replay {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// sluice-ws as sluice-tokio's driver uses it (`core.rs`, `next_input`): the next event
/// decoded from the buffer (`poll_input`), else one more read.
struct SluiceReader {
    conn: Connection,
    buf: BytesMut,
    replay: Replay,
    /// `handle_input` and `poll_event` instead: every whole frame of a read at once, its events
    /// queued (the other way the core can be driven; `sluice-batch` in the results).
    batch: bool,
}

impl SluiceReader {
    fn next_message(&mut self) -> Event {
        loop {
            if self.batch {
                if let Some(ev) = self.conn.poll_event() {
                    return ev;
                }
            } else if let Some(ev) = self.conn.poll_input(&mut self.buf).expect("valid input") {
                return ev;
            }
            // As sluice-tokio's driver does: room for the rest of the frame that is arriving
            // (its length is known from its header), so a large frame is not copied into
            // ever larger buffers as it arrives.
            sluice_ws::input::reserve(&mut self.buf, READ_SIZE.max(self.conn.input_hint()));
            let src = self.replay.next_read(READ_SIZE);
            self.buf.extend_from_slice(src);
            if self.batch {
                self.conn.handle_input(&mut self.buf).expect("valid input");
            }
        }
    }
}

fn header_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_header_parse");
    let cases: [(&str, Vec<u8>); 3] = [
        (
            "7bit_masked",
            client_frame(OpCode::TEXT, &[b'a'; 20])[..6].to_vec(),
        ),
        (
            "16bit_masked",
            client_frame(OpCode::BINARY, &[0; 16 * 1024])[..8].to_vec(),
        ),
        (
            "64bit_masked",
            client_frame(OpCode::BINARY, &[0; 1 << 20])[..14].to_vec(),
        ),
    ];
    for (name, header) in &cases {
        g.bench_with_input(BenchmarkId::new("sluice", name), header, |b, h| {
            b.iter(|| decode_header(black_box(h)).unwrap().unwrap())
        });
        g.bench_with_input(BenchmarkId::new("tungstenite", name), header, |b, h| {
            b.iter(|| {
                let mut cur = Cursor::new(black_box(h.as_slice()));
                tungstenite::protocol::frame::FrameHeader::parse(&mut cur)
                    .unwrap()
                    .unwrap()
            })
        });
    }
    g.finish();
}

fn unmask(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_unmask");
    for size in [1024usize, 64 * 1024, 1 << 20] {
        let src: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut dst = vec![0u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("sluice_apply_mask", size), |b| {
            b.iter(|| apply_mask(black_box(&mut dst), black_box(KEY)))
        });
        g.bench_function(BenchmarkId::new("copy_from_slice", size), |b| {
            b.iter(|| black_box(&mut dst).copy_from_slice(black_box(&src)))
        });
        g.bench_function(BenchmarkId::new("fastwebsockets_unmask", size), |b| {
            b.iter(|| fastwebsockets::unmask(black_box(&mut dst), black_box(KEY)))
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_decode");
    let text20 = client_frame(OpCode::TEXT, "twenty bytes of text".as_bytes());
    let bin16k = client_frame(OpCode::BINARY, &vec![0xa5; 16 * 1024]);
    let bin1m = client_frame(OpCode::BINARY, &vec![0x5a; 1 << 20]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rt_time = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    sockudo_ws::init_clock();
    for (name, frame, payload) in [
        ("text_20B", &text20, 20u64),
        ("binary_16KiB", &bin16k, 16 * 1024),
        ("binary_1MiB", &bin1m, 1 << 20),
    ] {
        g.throughput(Throughput::Bytes(payload));
        if payload >= 1 << 20 {
            g.sample_size(20);
        } else {
            g.sample_size(100);
        }

        for (label, batch) in [("sluice", false), ("sluice-batch", true)] {
            let mut sluice = SluiceReader {
                conn: Connection::new(
                    Role::Server,
                    Config::default().with_max_message_size(usize::MAX),
                ),
                buf: BytesMut::with_capacity(READ_SIZE),
                replay: Replay::new(frame),
                batch,
            };
            g.bench_function(BenchmarkId::new(label, name), |b| {
                b.iter(|| match sluice.next_message() {
                    Event::Message(m) => black_box(m),
                    other => panic!("unexpected {other:?}"),
                })
            });
        }

        let mut tung = tungstenite::WebSocket::from_raw_socket(
            Replay::new(frame),
            tungstenite::protocol::Role::Server,
            None,
        );
        g.bench_function(BenchmarkId::new("tungstenite", name), |b| {
            b.iter(|| black_box(tung.read().unwrap()))
        });

        let mut fws =
            fastwebsockets::FragmentCollector::new(fastwebsockets::WebSocket::after_handshake(
                Replay::new(frame),
                fastwebsockets::Role::Server,
            ));
        g.bench_function(BenchmarkId::new("fastwebsockets", name), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let f = fws.read_frame().await.unwrap();
                        black_box(f.payload.len());
                    }
                    start.elapsed()
                })
            })
        });

        // sockudo-ws 3.1: its stream over the same replay (keep-alive ping off, as in the echo
        // server; its timers need the runtime's clock).
        let sockudo_cfg = sockudo_ws::Config::builder()
            .max_message_size(usize::MAX)
            .max_frame_size(usize::MAX)
            .auto_ping(false)
            .idle_timeout(0)
            .build();
        let mut sockudo = rt_time.block_on(async {
            sockudo_ws::WebSocketStream::server(Replay::new(frame), sockudo_cfg)
        });
        g.bench_function(BenchmarkId::new("sockudo-ws", name), |b| {
            b.iter_custom(|iters| {
                rt_time.block_on(async {
                    use futures_util::StreamExt as _;
                    let start = Instant::now();
                    for _ in 0..iters {
                        let m = sockudo.next().await.unwrap().unwrap();
                        black_box(m);
                    }
                    start.elapsed()
                })
            })
        });

        // tokio-websockets 0.13: no public sans-IO codec; its server stream over the replay.
        let mut tws = tokio_websockets::ServerBuilder::new()
            .limits(tokio_websockets::Limits::unlimited())
            .serve(Replay::new(frame));
        g.bench_function(BenchmarkId::new("tokio-websockets", name), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    use futures_util::StreamExt as _;
                    let start = Instant::now();
                    for _ in 0..iters {
                        let m = tws.next().await.unwrap().unwrap();
                        black_box(m.as_payload().len());
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = header_parse, unmask, decode
}
criterion_main!(benches);
