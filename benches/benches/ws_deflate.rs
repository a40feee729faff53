//! permessage-deflate (RFC 7692) in sluice-ws: per-message cost with and without deflate,
//! compression ratio, and memory per connection.
//!
//! ```text
//! cargo bench -p sluice-benches --bench ws_deflate
//! ```
//!
//! Before the criterion groups it prints, for each workload, the wire bytes with deflate
//! (levels 1 and 6) against without, and the heap held per connection (a counting global
//! allocator) after one compressed message each way, for several parameter sets.
//!
//! Groups (one message = server `send` + `poll_transmit` + client `handle_input`, in memory):
//! - `ws_deflate/chat`: 1,000 distinct JSON chat messages (~110 bytes), per message;
//! - `ws_deflate/text64k`: one 64 KiB English-like text message.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::alloc::System;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_ws::deflate::{DeflateConfig, PerMessageDeflate};
use sluice_ws::handshake::Extension;
use sluice_ws::{Config, Connection, Event, Message, Role};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes currently held on the heap (allocated minus freed, reallocations included).
fn held() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated
}

fn chat(i: usize) -> String {
    const USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
    const WORDS: [&str; 12] = [
        "hello", "deploy", "is", "done", "lunch", "?", "the", "build", "looks", "green", "ok",
        "thanks",
    ];
    let text: Vec<&str> = (0..(3 + i % 6))
        .map(|k| WORDS[(i * 7 + k * 3) % 12])
        .collect();
    format!(
        r#"{{"type":"message","room":"general","id":{},"user":"{}","text":"{}","ts":{}}}"#,
        100_000 + i,
        USERS[i % 5],
        text.join(" "),
        1_700_000_000_000u64 + i as u64 * 1_337
    )
}

fn text64k() -> String {
    const WORDS: [&str; 24] = [
        "the",
        "of",
        "stream",
        "socket",
        "message",
        "and",
        "a",
        "to",
        "server",
        "client",
        "frame",
        "is",
        "in",
        "that",
        "compression",
        "window",
        "with",
        "for",
        "data",
        "on",
        "protocol",
        "buffer",
        "as",
        "by",
    ];
    let mut x: u32 = 12345;
    let mut s = String::new();
    while s.len() < 64 << 10 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        s.push_str(WORDS[(x >> 16) as usize % WORDS.len()]);
        s.push(if (x >> 8).is_multiple_of(13) {
            '\n'
        } else {
            ' '
        });
    }
    s.truncate(64 << 10);
    s
}

fn pair(deflate: Option<&DeflateConfig>) -> (Connection, Connection) {
    let mut server = Connection::new(Role::Server, Config::default());
    let mut client =
        Connection::new(Role::Client, Config::default()).with_mask_source(|| [1, 2, 3, 4]);
    if let Some(cfg) = deflate {
        let offer = Extension::parse_list(cfg.offer().to_string().as_bytes()).unwrap();
        let agreed = cfg.accept_offers(&offer).unwrap();
        let answer = [agreed.to_extension()];
        let client_agreed = cfg.accept_response(&answer).unwrap().unwrap();
        server = server.with_deflate(PerMessageDeflate::new(Role::Server, &agreed, cfg));
        client = client.with_deflate(PerMessageDeflate::new(Role::Client, &client_agreed, cfg));
    }
    (server, client)
}

/// Server sends, client receives; returns wire bytes.
fn one(
    server: &mut Connection,
    client: &mut Connection,
    buf: &mut BytesMut,
    msg: Message,
) -> usize {
    server.send(msg).unwrap();
    let mut n = 0;
    while let Some(t) = server.poll_transmit() {
        n += t.len();
        t.write_to(buf);
    }
    client.handle_input(buf).unwrap();
    match client.poll_event() {
        Some(Event::Message(_)) => {}
        other => panic!("{other:?}"),
    }
    n
}

fn configs() -> Vec<(&'static str, Option<DeflateConfig>)> {
    vec![
        ("plain", None),
        ("deflate-l1", Some(DeflateConfig::default().with_level(1))),
        ("deflate-l6", Some(DeflateConfig::default())),
    ]
}

fn report() {
    let chats: Vec<String> = (0..1000).map(chat).collect();
    let big = text64k();
    println!("ws_deflate: wire bytes (server -> client, frames included)");
    for (name, cfg) in configs() {
        let (mut s, mut c) = pair(cfg.as_ref());
        let mut buf = BytesMut::new();
        let chat_bytes: usize = chats
            .iter()
            .map(|m| one(&mut s, &mut c, &mut buf, Message::text(m.clone())))
            .sum();
        let (mut s, mut c) = pair(cfg.as_ref());
        let big_bytes = one(&mut s, &mut c, &mut buf, Message::text(big.clone()));
        println!(
            "  {name:<11} chat: {chat_bytes:>7} bytes for 1000 messages ({:.1} per message)   text64k: {big_bytes:>6} bytes",
            chat_bytes as f64 / 1000.0
        );
    }
    println!(
        "ws_deflate: heap per connection pair side (server + client state), after one 110-byte message each way"
    );
    let sets: Vec<(&str, Option<DeflateConfig>)> = vec![
        ("no deflate", None),
        (
            "default (takeover, 15 bits)",
            Some(DeflateConfig::default()),
        ),
        (
            "no context takeover",
            Some(
                DeflateConfig::default()
                    .with_server_no_context_takeover(true)
                    .with_client_no_context_takeover(true),
            ),
        ),
        (
            "window bits 10",
            Some(
                DeflateConfig::default()
                    .with_server_max_window_bits(10)
                    .with_client_max_window_bits(10),
            ),
        ),
    ];
    for (name, cfg) in sets {
        const N: usize = 200;
        let before = held();
        let mut keep = Vec::with_capacity(N);
        let mut buf = BytesMut::new();
        for i in 0..N {
            let (mut s, mut c) = pair(cfg.as_ref());
            one(&mut s, &mut c, &mut buf, Message::text(chat(i)));
            c.send(Message::text(chat(i + 1))).unwrap();
            while let Some(t) = c.poll_transmit() {
                t.write_to(&mut buf);
            }
            s.handle_input(&mut buf).unwrap();
            while s.poll_event().is_some() {}
            keep.push((s, c));
        }
        let held = (held() - before) as f64 / N as f64;
        println!(
            "  {name:<28} {:>8.1} KiB per connection (one endpoint)",
            held / 2.0 / 1024.0
        );
        drop(keep);
    }
}

fn bench(c: &mut Criterion) {
    report();
    let chats: Vec<Message> = (0..1000).map(|i| Message::text(chat(i))).collect();
    let mut g = c.benchmark_group("ws_deflate/chat");
    g.throughput(Throughput::Elements(1));
    for (name, cfg) in configs() {
        let (mut s, mut cl) = pair(cfg.as_ref());
        let mut buf = BytesMut::new();
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % chats.len();
                one(&mut s, &mut cl, &mut buf, chats[i].clone())
            })
        });
    }
    g.finish();
    let big = Message::text(text64k());
    let mut g = c.benchmark_group("ws_deflate/text64k");
    g.throughput(Throughput::Bytes(64 << 10));
    for (name, cfg) in configs() {
        let (mut s, mut cl) = pair(cfg.as_ref());
        let mut buf = BytesMut::new();
        g.bench_function(name, |b| {
            b.iter(|| one(&mut s, &mut cl, &mut buf, big.clone()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
