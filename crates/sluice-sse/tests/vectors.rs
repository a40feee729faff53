//! The conformance vector suite (`tests/vectors.json`): each vector's input, fed whole, byte by
//! byte, in 2-byte reads, split at every single position, and in pseudo-random reads, must give
//! exactly the expected events, comments, final reconnection time and final last event ID.
//!
//! The vectors are written from WHATWG HTML §9.2.5–9.2.6 and the web-platform-tests
//! `eventsource/format-*` cases (whose server, `resources/message.py`, appends `"\n\n"` unless
//! `newline=none`, and then `"\n"`).

use base64::Engine as _;
use serde_json::Value;
use sluice_sse::{Item, Parser};

#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<(String, String, String)>,
    comments: Vec<String>,
    retry: Option<u64>,
    last_event_id: String,
}

fn run(input: &[u8], splits: impl IntoIterator<Item = usize>) -> Outcome {
    let mut p = Parser::new();
    let mut out = Outcome {
        events: vec![],
        comments: vec![],
        retry: None,
        last_event_id: String::new(),
    };
    let mut last_retry_item = None;
    let mut drain = |p: &mut Parser, out: &mut Outcome| {
        while let Some(item) = p.poll_item() {
            match item {
                Item::Event(e) => {
                    let (ty, id) = (e.event_type().to_owned(), e.last_event_id().to_owned());
                    out.events.push((ty, e.data, id));
                }
                Item::Comment(c) => out.comments.push(c),
                Item::Retry(ms) => last_retry_item = Some(ms),
                other => panic!("unexpected item {other:?}"),
            }
        }
    };
    let mut rest = input;
    for n in splits {
        let n = n.min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        p.handle_input(chunk).unwrap();
        drain(&mut p, &mut out);
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }
    p.handle_input(rest).unwrap();
    drain(&mut p, &mut out);
    p.handle_eof();
    drain(&mut p, &mut out);
    out.retry = p.retry();
    assert_eq!(last_retry_item, out.retry, "Retry items agree with retry()");
    out.last_event_id = p.last_event_id().to_owned();
    out
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn load() -> Vec<Value> {
    let text = include_str!("vectors.json");
    let Value::Array(v) = serde_json::from_str(text).unwrap() else {
        panic!("vectors.json is not an array")
    };
    v
}

fn input_of(v: &Value) -> Vec<u8> {
    if let Some(s) = v.get("input").and_then(Value::as_str) {
        s.as_bytes().to_vec()
    } else {
        let b64 = v["input_b64"].as_str().expect("input or input_b64");
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }
}

fn expected_of(v: &Value, got: &Outcome) -> Outcome {
    let s = |x: &Value| x.as_str().unwrap().to_owned();
    Outcome {
        events: v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (s(&e["type"]), s(&e["data"]), s(&e["id"])))
            .collect(),
        comments: match v.get("comments") {
            Some(c) => c.as_array().unwrap().iter().map(s).collect(),
            None => got.comments.clone(), // not asserted by this vector
        },
        retry: v["retry"].as_u64(),
        last_event_id: s(&v["last_event_id"]),
    }
}

#[test]
fn vectors() {
    let vectors = load();
    assert!(vectors.len() >= 100, "suite has {} vectors", vectors.len());
    let mut runs = 0usize;
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let input = input_of(v);
        let whole = run(&input, []);
        assert_eq!(whole, expected_of(v, &whole), "{name}: whole");

        let mut check = |label: &str, got: Outcome| {
            runs += 1;
            assert_eq!(got, whole, "{name}: {label}");
        };
        check("byte by byte", run(&input, std::iter::repeat(1)));
        check("2-byte reads", run(&input, std::iter::repeat(2)));
        for at in 0..=input.len() {
            check(&format!("split at {at}"), run(&input, [at]));
        }
        for seed in 1..=16u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ input.len() as u64);
            let sizes: Vec<usize> = (0..input.len() + 1)
                .map(|_| (rng.next() % 9) as usize)
                .collect();
            check(&format!("random reads seed {seed}"), run(&input, sizes));
        }
    }
    eprintln!("{} vectors, {} split runs", vectors.len(), runs);
}

/// One huge line, whole and in 1460-byte reads (a TCP segment's payload).
fn huge_line(mib: usize) {
    let payload: String = "0123456789abcdef".repeat(mib * 1024 * 1024 / 16);
    let input = format!("id: big\ndata: {payload}\n\n");
    for read in [input.len(), 1460, 65536] {
        let mut p = Parser::new();
        for chunk in input.as_bytes().chunks(read) {
            p.handle_input(chunk).unwrap();
        }
        match p.poll_item() {
            Some(Item::Event(e)) => {
                assert_eq!(e.data.len(), payload.len());
                assert!(e.data == payload);
                assert_eq!(e.last_event_id(), "big");
            }
            other => panic!("expected the event, got {other:?}"),
        }
        assert_eq!(p.poll_item(), None);
        assert!(p.buffered_len() <= 3, "buffers released after dispatch");
    }
}

#[test]
fn five_mib_line() {
    huge_line(5);
}

#[test]
fn ten_mib_line() {
    huge_line(10);
}
