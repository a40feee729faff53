//! A fake OpenAI-compatible Chat Completions endpoint (`stream: true`) for tests and the
//! `llm_chat` example (which includes this file): one chunk per token at token pace, a final
//! chunk with `finish_reason`, then `data: [DONE]`. Body: `{"messages":[{"content":P}],
//! "max_tokens"?,"cut_after"?,"fail_after"?}` — `cut_after: K` drops the connection after K
//! tokens, `fail_after: K` sends a Chat Completions error chunk instead of token K+1.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_http::{self as http, Reply, Request, Response, StatusCode};
use sluice_tokio::sse::{Event, SseWriter, SseWriterConfig};
use tokio::net::{TcpListener, TcpStream};

/// Tokens of a generation when the request does not say.
pub const DEFAULT_TOKENS: usize = 40;
/// Most tokens one generation may ask for.
pub const MAX_TOKENS: usize = 2000;

/// The answer the fake model gives: `{prompt}:` then ` t1` … ` tN` (distinct tokens, so a
/// lost or doubled one shows).
pub fn answer(prompt: &str, n: usize) -> Vec<String> {
    let head: String = prompt
        .chars()
        .filter(|c| !c.is_control())
        .take(60)
        .collect();
    std::iter::once(format!("{head}:"))
        .chain((1..=n.min(MAX_TOKENS)).map(|i| format!(" t{i}")))
        .collect()
}

/// A JSON response.
pub fn json_response(status: StatusCode, v: &Value) -> Response {
    Response::new(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(v.to_string())
}

/// The request's JSON body (at most 64 KiB).
pub async fn json_body(req: &mut Request<TcpStream>) -> Option<Value> {
    req.set_body_limit(64 * 1024);
    let body = req.body().await.ok()?;
    serde_json::from_slice(&body).ok()
}

/// A non-negative integer member.
pub fn usize_field(v: &Value, k: &str) -> Option<usize> {
    v.get(k)?.as_u64().and_then(|n| usize::try_from(n).ok())
}

/// Answers one `POST /v1/chat/completions`.
pub async fn completions(mut req: Request<TcpStream>, pace: Duration) -> Reply<TcpStream> {
    let Some(v) = json_body(&mut req).await else {
        return req.respond(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "a JSON body"}),
        ));
    };
    let prompt = v
        .pointer("/messages/0/content")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let n = usize_field(&v, "max_tokens").unwrap_or(DEFAULT_TOKENS);
    let cut_after = usize_field(&v, "cut_after");
    let fail_after = usize_field(&v, "fail_after");
    let Ok(mut sse) = SseWriter::start(req, SseWriterConfig::default()).await else {
        return Reply::closed();
    };
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_767_874_658,
            "model": "fake-1",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
        .to_string()
    };
    let first = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    if sse.send(&Event::new().data(first)).await.is_err() {
        return Reply::closed();
    }
    for (i, tok) in answer(&prompt, n).into_iter().enumerate() {
        if cut_after == Some(i) {
            return Reply::closed(); // the connection drops mid-generation
        }
        if fail_after == Some(i) {
            let err = json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}});
            let _ = sse.send(&Event::new().data(err.to_string())).await;
            return sse.finish().await;
        }
        tokio::time::sleep(pace).await;
        let ev = Event::new().data(chunk(json!({"content": tok}), Value::Null));
        if sse.send(&ev).await.is_err() {
            return Reply::closed();
        }
    }
    let last = chunk(json!({}), json!("stop"));
    if sse.send(&Event::new().data(last)).await.is_err()
        || sse.send(&Event::new().data("[DONE]")).await.is_err()
    {
        return Reply::closed();
    }
    sse.finish().await
}

/// The endpoint alone on a loopback port, in the current runtime; counts the requests.
pub async fn start(pace: Duration) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    tokio::spawn(http::serve(
        l,
        http::ServerConfig::default(),
        move |req: Request<TcpStream>| {
            c.fetch_add(1, Ordering::SeqCst);
            completions(req, pace)
        },
    ));
    (addr, count)
}
