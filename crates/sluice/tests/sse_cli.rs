//! `sluice sse` end to end: the binary's `decode` over the committed vector suite
//! (`crates/sluice-sse/tests/vectors.json`) fed whole and in 1-, 2- and 7-byte pieces,
//! `encode` -> `decode` round trips (of chosen events and of every vector's decoded output),
//! error exits, and `connect` against an in-process SSE server on loopback.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    std::str::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// Standard base64 (the vectors' `input_b64`; base64 is not a dependency of this crate).
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => u32::from(c - b'A'),
        b'a'..=b'z' => u32::from(c - b'a') + 26,
        b'0'..=b'9' => u32::from(c - b'0') + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 byte {c}"),
    };
    let mut out = Vec::new();
    for quad in s.trim_end_matches('=').as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in quad.iter().enumerate() {
            acc |= val(c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..quad.len()]);
    }
    out
}

#[test]
fn base64_decoder_is_right() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGVsbG8h"), b"hello!");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode("/+8A"), [0xff, 0xef, 0x00]);
}

fn vectors() -> Vec<Value> {
    let text = include_str!("../../sluice-sse/tests/vectors.json");
    serde_json::from_str::<Vec<Value>>(text).unwrap()
}

fn input_of(v: &Value) -> Vec<u8> {
    match v.get("input").and_then(Value::as_str) {
        Some(s) => s.as_bytes().to_vec(),
        None => base64_decode(v["input_b64"].as_str().unwrap()),
    }
}

/// The lines `sluice sse decode` must print for a vector.
fn expected_lines(v: &Value) -> Vec<Value> {
    let mut lines: Vec<Value> = v["events"].as_array().unwrap().clone();
    lines.push(json!({"eof": true, "retry": v["retry"], "last_event_id": v["last_event_id"]}));
    lines
}

#[test]
fn decode_matches_the_vector_suite_at_every_chunk_size() {
    let vectors = vectors();
    assert!(vectors.len() >= 100);
    let mut runs = 0;
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let input = input_of(v);
        let want = expected_lines(v);
        for chunk in [None, Some("1"), Some("2"), Some("7")] {
            let mut args = vec!["sse", "decode"];
            if let Some(c) = chunk {
                args.extend(["--chunk-size", c]);
            }
            let out = run(&args, &input);
            assert!(out.status.success(), "{name} {chunk:?}: {out:?}");
            assert_eq!(
                json_lines(&out.stdout),
                want,
                "{name}, chunk size {chunk:?}"
            );
            runs += 1;
        }
    }
    eprintln!("{} vectors, {runs} decode runs", vectors.len());
}

#[test]
fn decode_then_encode_then_decode_is_stable_for_every_vector() {
    for v in &vectors() {
        let name = v["name"].as_str().unwrap();
        let first = run(&["sse", "decode"], &input_of(v));
        assert!(first.status.success(), "{name}");
        let encoded = run(&["sse", "encode"], &first.stdout);
        assert!(encoded.status.success(), "{name}: {encoded:?}");
        let second = run(&["sse", "decode", "--chunk-size", "3"], &encoded.stdout);
        assert!(second.status.success(), "{name}");
        assert_eq!(
            json_lines(&second.stdout),
            json_lines(&first.stdout),
            "{name}: re-encoded as {:?}",
            String::from_utf8_lossy(&encoded.stdout)
        );
    }
}

#[test]
fn encode_decode_round_trip() {
    let events = [
        json!({"data": "plain"}),
        json!({"type": "greet", "data": "multi\nline\r\nwith CRLF\rand CR", "id": "1"}),
        json!({"event": "u", "data": "h\u{e9}llo \u{1F600} \u{4e16}\u{754c}", "id": "\u{e9}t\u{e9}"}),
        json!({"data": "", "id": ""}),
        json!({"data": " leading space\n\ntrailing blank\n"}),
        json!({"data": "retry and comment", "retry": 2500, "comment": "note\nsecond line"}),
        json!({"comment": "heartbeat"}),
        json!({"data": "data: not a field\n: not a comment\nid: 9"}),
        json!({"eof": true, "retry": 2500, "last_event_id": "final"}),
    ];
    let input: String = events.iter().map(|e| format!("{e}\n")).collect();
    let encoded = run(&["sse", "encode"], input.as_bytes());
    assert!(encoded.status.success(), "{encoded:?}");
    let wire = String::from_utf8(encoded.stdout.clone()).unwrap();
    assert!(wire.contains(": heartbeat\n"), "{wire}");
    for chunk in ["1", "2", "7", "1000"] {
        let out = run(&["sse", "decode", "--chunk-size", chunk], &encoded.stdout);
        assert!(out.status.success());
        assert_eq!(
            json_lines(&out.stdout),
            vec![
                json!({"type": "message", "data": "plain", "id": ""}),
                json!({"type": "greet", "data": "multi\nline\nwith CRLF\nand CR", "id": "1"}),
                json!({"type": "u", "data": "h\u{e9}llo \u{1F600} \u{4e16}\u{754c}", "id": "\u{e9}t\u{e9}"}),
                json!({"type": "message", "data": "", "id": ""}),
                json!({"type": "message", "data": " leading space\n\ntrailing blank\n", "id": ""}),
                json!({"type": "message", "data": "retry and comment", "id": ""}),
                json!({"type": "message", "data": "data: not a field\n: not a comment\nid: 9", "id": ""}),
                json!({"eof": true, "retry": 2500, "last_event_id": "final"}),
            ],
            "chunk size {chunk}, wire {wire:?}"
        );
    }
}

#[test]
fn errors_exit_non_zero_with_a_message() {
    let out = run(&["sse", "encode"], b"{\"id\":\"a\\nb\",\"data\":\"x\"}\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
    let out = run(&["sse", "encode"], b"{\"data\":\"ok\"}\nnot json\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stdout, b"data: ok\n\n",
        "lines before the bad one are written"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
    let long = format!("data: {}\n\n", "x".repeat(100));
    let out = run(
        &["sse", "decode", "--max-line-length", "50"],
        long.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exceeds the limit of 50"));
    let out = run(&["sse", "decode", "--chunk-size", "0"], b"");
    assert_eq!(out.status.code(), Some(2));
}

/// `sluice sse connect` against an in-process server: POST with body and headers, events as
/// JSON lines, a reconnection with `Last-Event-ID` (`--resend`: the POST may be repeated), then
/// 204 stops it with exit 0.
#[test]
fn connect_prints_events_and_stops_on_204() {
    use sluice_http::{self as http, Reply, Request, Response, StatusCode};
    use sluice_tokio::sse::{Event, SseWriter, SseWriterConfig};
    use tokio::net::{TcpListener, TcpStream};

    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(http::serve(
            l,
            http::ServerConfig::default(),
            |mut req: Request<TcpStream>| async move {
                if req.method() != "POST" || req.header("x-token") != Some("t0k") {
                    return req.respond(Response::from_status(StatusCode::FORBIDDEN));
                }
                let body = req.body().await.unwrap();
                let last = req.header("last-event-id").map(str::to_owned);
                if last.as_deref() == Some("2") {
                    return req.respond(Response::new(StatusCode::NO_CONTENT));
                }
                let config = SseWriterConfig::default()
                    .with_retry(Some(std::time::Duration::from_millis(100)));
                let Ok(mut sse) = SseWriter::start(req, config).await else {
                    return Reply::closed();
                };
                let body = String::from_utf8_lossy(&body).into_owned();
                let id = if last.is_some() { "2" } else { "1" };
                let data = format!("{body} (last id {last:?})");
                let _ = sse
                    .send(&Event::new().event("echo").id(id).data(data))
                    .await;
                sse.finish().await
            },
        ));
        addr
    });
    let url = format!("http://{addr}/stream");
    let out = Command::new(BIN)
        .args([
            "sse",
            "connect",
            &url,
            "-X",
            "POST",
            "-H",
            "X-Token: t0k",
            "-d",
            "hi",
            // A POST is re-sent on reconnection only when asked to.
            "--resend",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        json_lines(&out.stdout),
        vec![
            json!({"type": "echo", "data": "hi (last id None)", "id": "1"}),
            json!({"type": "echo", "data": "hi (last id Some(\"1\"))", "id": "2"}),
        ]
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reconnecting in 100 ms"), "{err}");

    // Without the header: 403 is fatal, exit 1.
    let out = Command::new(BIN)
        .args(["sse", "connect", &url, "-d", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
}
