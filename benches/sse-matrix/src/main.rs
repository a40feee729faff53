//! Runs every SSE parser on the conformance vectors (`crates/sluice-sse/tests/vectors.json`,
//! from WHATWG HTML §9.2.5–9.2.6 and the web-platform-tests `eventsource/format-*` cases) and
//! prints, per parser, the vectors it passes — fed whole and fed byte by byte — and the names
//! of the failures, as JSON.
//!
//! A vector passes when the dispatched events (type, data, last event ID at dispatch) are
//! exactly the expected ones. For parsers that return raw blocks (sse-stream), the harness
//! does what the standard asks of the consumer and nothing more: a block without data is not
//! dispatched, the last event ID persists from block to block, and an empty type is
//! `message`. eventsource-client's parser is private: it reads each vector from a loopback
//! HTTP server (whole, then in 1-byte writes), reconnecting off.
//!
//! Usage: `sse-matrix VECTORS.json`

use std::convert::Infallible;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use serde_json::{Value, json};

type Ev = (String, String, String);

fn input_of(v: &Value) -> Vec<u8> {
    match v.get("input").and_then(Value::as_str) {
        Some(s) => s.as_bytes().to_vec(),
        None => base64::engine::general_purpose::STANDARD
            .decode(v["input_b64"].as_str().expect("input or input_b64"))
            .expect("base64"),
    }
}

fn expected(v: &Value) -> Vec<Ev> {
    let s = |x: &Value| x.as_str().unwrap_or_default().to_owned();
    v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (s(&e["type"]), s(&e["data"]), s(&e["id"])))
        .collect()
}

fn pieces(input: &[u8], bytewise: bool) -> Vec<Bytes> {
    if bytewise {
        input.iter().map(|b| Bytes::copy_from_slice(&[*b])).collect()
    } else {
        vec![Bytes::copy_from_slice(input)]
    }
}

/// Polls a stream that is always ready (in-memory input) to its end.
fn drain<S: Stream>(s: S) -> Vec<S::Item> {
    let mut s = pin!(s);
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    while let Poll::Ready(Some(x)) = s.as_mut().poll_next(&mut cx) {
        out.push(x);
    }
    out
}

fn byte_stream(p: Vec<Bytes>) -> impl Stream<Item = Result<Bytes, Infallible>> {
    stream::iter(p.into_iter().map(Ok))
}

/// `Err`: the parser stopped with an error (what it produced before is then compared too).
type Run = Result<Vec<Ev>, Vec<Ev>>;

fn sluice(p: Vec<Bytes>) -> Run {
    let mut parser = sluice_sse::Parser::new();
    let mut out = Vec::new();
    for c in p {
        let r = parser.handle_input_with(&c, |item| {
            if let sluice_sse::ItemRef::Event(e) = item {
                out.push((
                    e.event_type().to_owned(),
                    e.data().to_owned(),
                    e.last_event_id().to_owned(),
                ));
            }
        });
        if r.is_err() {
            return Err(out);
        }
    }
    parser.handle_eof();
    Ok(out)
}

fn sse_stream(p: Vec<Bytes>) -> Run {
    let mut out = Vec::new();
    let mut last_id = String::new();
    for item in drain(sse_stream::SseByteStream::new(byte_stream(p))) {
        let Ok(b) = item else { return Err(out) };
        if let Some(id) = b.id {
            last_id = id;
        }
        if let Some(data) = b.data {
            let t = b.event.filter(|t| !t.is_empty()).unwrap_or_else(|| "message".into());
            out.push((t, data, last_id.clone()));
        }
    }
    Ok(out)
}

fn sse_parse(p: Vec<Bytes>) -> Run {
    let mut parser = sse_parse::SseParser::new();
    let mut out = Vec::new();
    let take = |parser: &mut sse_parse::SseParser, out: &mut Vec<Ev>| {
        while let Some(e) = parser.next_event() {
            out.push((e.event, e.data, e.id));
        }
    };
    for c in p {
        parser.feed(&c);
        take(&mut parser, &mut out);
    }
    parser.finish();
    take(&mut parser, &mut out);
    Ok(out)
}

fn eventsource_stream(p: Vec<Bytes>) -> Run {
    use eventsource_stream::Eventsource as _;
    let mut out = Vec::new();
    for item in drain(byte_stream(p).eventsource()) {
        let Ok(e) = item else { return Err(out) };
        let t = if e.event.is_empty() { "message".to_owned() } else { e.event };
        out.push((t, e.data, e.id));
    }
    Ok(out)
}

/// eventsource-client against a loopback server that writes `input` (whole, or a byte per
/// write) and closes.
async fn eventsource_client(input: Vec<u8>, bytewise: bool) -> Run {
    use eventsource_client::{Client as _, ClientBuilder, ReconnectOptions, SSE};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let Ok((mut s, _)) = l.accept().await else { return };
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
        let _ = s.write_all(head.as_bytes()).await;
        if bytewise {
            for b in &input {
                let _ = s.write_all(&[*b]).await;
                let _ = s.flush().await;
            }
        } else {
            let _ = s.write_all(&input).await;
        }
        let _ = s.shutdown().await;
    });
    let Ok(transport) = launchdarkly_sdk_transport::HyperTransport::new() else {
        return Err(Vec::new());
    };
    let client = match ClientBuilder::for_url(&format!("http://{addr}/")) {
        Ok(b) => b
            .reconnect(ReconnectOptions::reconnect(false).build())
            .build_with_transport(transport),
        Err(_) => return Err(Vec::new()),
    };
    let mut s = client.stream();
    let mut out = Vec::new();
    let mut failed = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.next()).await {
            Ok(Some(Ok(SSE::Event(e)))) => {
                out.push((e.event_type, e.data, e.id.unwrap_or_default()));
            }
            Ok(Some(Ok(_))) => {}
            // The end of the body is reported as an error by this client: not a failure.
            Ok(Some(Err(e))) => {
                failed = !format!("{e:?}").contains("Eof");
                break;
            }
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    server.abort();
    if failed { Err(out) } else { Ok(out) }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let path = std::env::args().nth(1).expect("usage: sse-matrix VECTORS.json");
    // A parser that panics on a vector fails it; the report says so (no backtrace noise).
    std::panic::set_hook(Box::new(|_| {}));
    let vectors: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read vectors")).expect("JSON");
    let parsers: [(&str, fn(Vec<Bytes>) -> Run); 4] = [
        ("sluice-sse", sluice),
        ("sse-stream 0.3.0", sse_stream),
        ("sse-parse 0.1.0", sse_parse),
        ("eventsource-stream 0.2.3", eventsource_stream),
    ];
    let mut report = Vec::new();
    let names: Vec<&str> = parsers
        .iter()
        .map(|p| p.0)
        .chain(["eventsource-client 0.18.0"])
        .collect();
    for (i, name) in names.iter().enumerate() {
        let mut whole = 0;
        let mut bytewise = 0;
        let mut failures = Vec::new();
        let mut panics = 0;
        for v in &vectors {
            let want = expected(v);
            let input = input_of(v);
            let mut ok = [false; 2];
            let mut panicked = false;
            for (k, bw) in [false, true].into_iter().enumerate() {
                let got = if i < parsers.len() {
                    let f = parsers[i].1;
                    let p = pieces(&input, bw);
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(p))) {
                        Ok(r) => r,
                        Err(_) => {
                            panicked = true;
                            Err(Vec::new())
                        }
                    }
                } else {
                    eventsource_client(input.clone(), bw).await
                };
                ok[k] = got.as_ref() == Ok(&want);
            }
            if panicked {
                panics += 1;
            }
            whole += usize::from(ok[0]);
            bytewise += usize::from(ok[1]);
            if !(ok[0] && ok[1]) {
                let how = match ok {
                    [false, false] => "both",
                    [false, true] => "whole",
                    _ => "bytewise",
                };
                let how = if panicked { format!("{how} (panicked)") } else { how.to_owned() };
                failures.push(json!({"vector": v["name"], "ref": v["ref"], "fails": how}));
            }
        }
        report.push(json!({
            "parser": name, "vectors": vectors.len(), "whole": whole, "bytewise": bytewise,
            "panics": panics, "failures": failures,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
}
