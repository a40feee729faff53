//! SSE parsing throughput: sluice-sse against sse-stream 0.3, sse-parse 0.1 and
//! eventsource-stream 0.2, on the same bytes, in the same criterion groups.
//!
//! Workloads (16 MiB of input per iteration, fed in 1,460-byte reads — one TCP segment — and
//! 16 KiB reads):
//! - `llm`: LLM token events `data: {"choices":[{"delta":{"content":"tok"}}]}\n\n`
//! - `event64k`: events of one 64 KiB `data` line
//! - `lines64x1k`: events of 64 `data` lines of 1 KiB
//!
//! and `line_1460`: one huge line in 1460-byte reads (8 MiB; eventsource-stream, which is
//! quadratic there, only at 1 MiB).
//!
//! Every parser is driven to completion and every event's data is consumed. sluice-sse runs
//! twice: `sluice-sse` is its zero-allocation path (`handle_input_with`, events borrowed),
//! `sluice-sse/owned` its `poll_item` path (an owned `MessageEvent` per event, like the peers'
//! events). sse-parse is sans-IO (`feed`/`next_event`); the other peers are `Stream`s over a
//! ready in-memory stream of `Bytes`, polled with a no-op waker (no runtime).
//!
//! Run: `scripts/bench/sse_compare.sh` (ratios), or
//! `cargo bench -p sluice-benches --bench sse_parse -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{Stream, stream};

const TOTAL: usize = 16 * 1024 * 1024;

fn llm() -> Vec<u8> {
    let ev = br#"data: {"choices":[{"delta":{"content":"tok"}}]}"#;
    let mut out = Vec::with_capacity(TOTAL + 64);
    while out.len() < TOTAL {
        out.extend_from_slice(ev);
        out.extend_from_slice(b"\n\n");
    }
    out
}

fn event64k() -> Vec<u8> {
    let payload = "x".repeat(64 * 1024);
    let ev = format!("data: {payload}\n\n");
    ev.repeat(TOTAL / ev.len()).into_bytes()
}

fn lines64x1k() -> Vec<u8> {
    let line = format!("data: {}\n", "y".repeat(1024));
    let ev = format!("{}\n", line.repeat(64));
    ev.repeat(TOTAL / ev.len()).into_bytes()
}

fn huge_line(mib: usize) -> Vec<u8> {
    format!("data: {}\n\n", "z".repeat(mib * 1024 * 1024)).into_bytes()
}

fn chunks(input: &[u8], size: usize) -> Vec<Bytes> {
    let all = Bytes::copy_from_slice(input);
    (0..input.len())
        .step_by(size)
        .map(|i| all.slice(i..(i + size).min(input.len())))
        .collect()
}

fn sluice(chunks: &[Bytes]) -> usize {
    let mut p = sluice_sse::Parser::new();
    let mut n = 0;
    for c in chunks {
        p.handle_input_with(c, |item| {
            if let sluice_sse::ItemRef::Event(e) = item {
                n += black_box(e).data().len();
            }
        })
        .unwrap();
    }
    p.handle_eof();
    n
}

fn sluice_owned(chunks: &[Bytes]) -> usize {
    let mut p = sluice_sse::Parser::new();
    let mut n = 0;
    for c in chunks {
        p.handle_input(c).unwrap();
        while let Some(item) = p.poll_item() {
            if let sluice_sse::Item::Event(e) = item {
                n += black_box(e).data.len();
            }
        }
    }
    p.handle_eof();
    n
}

/// Polls a stream that never returns `Pending` (it is over ready in-memory chunks).
fn drain<S: Stream>(s: S, mut f: impl FnMut(S::Item)) {
    let mut s = pin!(s);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match s.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(item)) => f(item),
            Poll::Ready(None) => break,
            Poll::Pending => unreachable!("in-memory stream is always ready"),
        }
    }
}

fn byte_stream(chunks: &[Bytes]) -> impl Stream<Item = Result<Bytes, Infallible>> + '_ {
    stream::iter(chunks.iter().cloned().map(Ok))
}

fn sse_stream(chunks: &[Bytes]) -> usize {
    let mut n = 0;
    drain(sse_stream::SseByteStream::new(byte_stream(chunks)), |sse| {
        let sse = sse.expect("sse-stream parses the workload");
        n += black_box(sse).data.map_or(0, |d| d.len());
    });
    n
}

fn sse_parse(chunks: &[Bytes]) -> usize {
    let mut p = sse_parse::SseParser::new();
    let mut n = 0;
    for c in chunks {
        p.feed(c);
        while let Some(ev) = p.next_event() {
            n += black_box(ev).data.len();
        }
    }
    p.finish();
    while let Some(ev) = p.next_event() {
        n += black_box(ev).data.len();
    }
    n
}

fn eventsource_stream(chunks: &[Bytes]) -> usize {
    use eventsource_stream::Eventsource as _;
    let mut n = 0;
    drain(byte_stream(chunks).eventsource(), |ev| {
        let ev = ev.expect("eventsource-stream parses the workload");
        n += black_box(ev).data.len();
    });
    n
}

/// A parser run over pre-split reads: the total data length it saw.
type Run = fn(&[Bytes]) -> usize;

/// Each parser under its name.
const PARSERS: [(&str, Run); 5] = [
    ("sluice-sse", sluice),
    ("sluice-sse/owned", sluice_owned),
    ("sse-stream", sse_stream),
    ("sse-parse", sse_parse),
    ("eventsource-stream", eventsource_stream),
];

fn workloads(c: &mut Criterion) {
    for (name, input) in [
        ("llm", llm()),
        ("event64k", event64k()),
        ("lines64x1k", lines64x1k()),
    ] {
        let mut g = c.benchmark_group(format!("sse_parse/{name}"));
        g.sample_size(10);
        g.throughput(Throughput::Bytes(input.len() as u64));
        for read in [1460, 16 * 1024] {
            let ch = chunks(&input, read);
            let expect = sluice(&ch);
            for (parser, f) in PARSERS {
                assert_eq!(f(&ch), expect, "same data from {parser}");
                g.bench_with_input(BenchmarkId::new(parser, read), &ch, |b, ch| {
                    b.iter(|| f(ch))
                });
            }
        }
        g.finish();
    }
}

fn huge_lines(c: &mut Criterion) {
    let mut g = c.benchmark_group("sse_parse/line_1460");
    g.sample_size(10);
    for mib in [1usize, 8] {
        let input = huge_line(mib);
        let ch = chunks(&input, 1460);
        g.throughput(Throughput::Bytes(input.len() as u64));
        for (parser, f) in PARSERS {
            // eventsource-stream is quadratic on one long line: 1 MiB only.
            if parser == "eventsource-stream" && mib > 1 {
                continue;
            }
            let id = BenchmarkId::new(parser, format!("{mib}MiB"));
            g.bench_with_input(id, &ch, |b, ch| b.iter(|| f(ch)));
        }
    }
    g.finish();
}

criterion_group!(benches, workloads, huge_lines);
criterion_main!(benches);
