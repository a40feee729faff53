//! LLM token streaming end to end, in one process: a fake OpenAI-compatible upstream that
//! streams Chat Completions chunks at token pace, a Sluice hub, and a chat page. A prompt
//! starts a generation: the server relays the upstream stream into a hub topic
//! ([`sluice_client::relay`], with the in-process hub as the sink), and pages follow the topic
//! with `sluice.js` — so the generation runs to completion whoever watches, a reload resumes
//! from its cursor without a lost or doubled token, any number of tabs show the same
//! generation, and a tab opened after the end gets the whole answer.
//!
//! ```text
//! cargo run -p sluice --example llm_chat -- [--addr 127.0.0.1:8090] [--token-ms 40]
//! ```
//!
//! Routes: `GET /` the page (`?gen=TOPIC` follows a generation), `POST /chat`
//! `{"prompt","tokens"?}` → `{"topic"}`, `POST /v1/chat/completions` the fake upstream
//! (`{"messages":[…],"stream":true,"max_tokens"?,"cut_after"?,"fail_after"?}`),
//! `GET /v1/answer?prompt=P&tokens=N` the whole answer the upstream streams (for tests), and
//! everything else the hub's routes (`/sse/…`, `/ws/…`, `/poll/…`, `/sluice.js`…).
//! Loopback addresses only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_client::{RelaySink, relay};
use sluice_http::{self as http, ClientRequest, Reply, Request, Response, StatusCode};
use sluice_hub::{Hub, HubConfig};
use sluice_sse::llm::Dialect;
use sluice_tokio::sse::{Event, SseClient, SseClientConfig, SseWriter, SseWriterConfig};
use tokio::net::{TcpListener, TcpStream};

const PAGE: &str = include_str!("index.html");

/// Tokens of a generation when the request does not say.
const DEFAULT_TOKENS: usize = 40;
/// Most tokens one generation may ask for.
const MAX_TOKENS: usize = 2000;

/// The answer the fake model gives: `{prompt}:` then ` t1` … ` tN` (distinct tokens, so a
/// lost or doubled one shows).
fn answer(prompt: &str, n: usize) -> Vec<String> {
    let head: String = prompt
        .chars()
        .filter(|c| !c.is_control())
        .take(60)
        .collect();
    std::iter::once(format!("{head}:"))
        .chain((1..=n).map(|i| format!(" t{i}")))
        .collect()
}

struct App {
    hub: Hub,
    addr: SocketAddr,
    token_pace: Duration,
}

/// The hub in this process as the relay's sink.
struct InProcess(Hub);

impl RelaySink for InProcess {
    async fn publish(&self, topic: &str, event: &str, data: String) -> Result<(), String> {
        self.0
            .publish(topic, event, data)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn close(&self, topic: &str) -> Result<String, String> {
        self.0
            .close(topic)
            .await
            .map(|c| c.to_string())
            .map_err(|e| e.to_string())
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    Response::new(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(v.to_string())
}

fn bad(msg: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": msg}))
}

async fn json_body(req: &mut Request<TcpStream>) -> Option<Value> {
    req.set_body_limit(64 * 1024);
    let body = req.body().await.ok()?;
    serde_json::from_slice(&body).ok()
}

fn usize_field(v: &Value, k: &str) -> Option<usize> {
    v.get(k)?.as_u64().and_then(|n| usize::try_from(n).ok())
}

impl App {
    async fn handle(self: Arc<Self>, mut req: Request<TcpStream>) -> Reply<TcpStream> {
        match (req.method(), req.path()) {
            ("GET", "/") => req.respond(
                Response::new(StatusCode::OK)
                    .header("content-type", "text/html; charset=utf-8")
                    .header("cache-control", "no-cache")
                    .body(PAGE),
            ),
            ("POST", "/chat") => {
                let Some(v) = json_body(&mut req).await else {
                    return req.respond(bad("a JSON body {\"prompt\": …}"));
                };
                let prompt = v.get("prompt").and_then(Value::as_str).unwrap_or("");
                let tokens = usize_field(&v, "tokens").unwrap_or(DEFAULT_TOKENS);
                let topic = format!("gen-{:016x}", getrandom_u64());
                self.start_generation(&topic, prompt, tokens.min(MAX_TOKENS));
                req.respond(json_response(StatusCode::OK, &json!({ "topic": topic })))
            }
            ("GET", "/v1/answer") => {
                let prompt = req
                    .query_param("prompt")
                    .and_then(decode)
                    .unwrap_or_default();
                let n = req
                    .query_param("tokens")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(DEFAULT_TOKENS);
                let text: String = answer(&prompt, n.min(MAX_TOKENS)).concat();
                req.respond(json_response(StatusCode::OK, &json!({ "text": text })))
            }
            ("POST", "/v1/chat/completions") => self.upstream(req).await,
            _ => self.hub.route(req).await,
        }
    }

    /// Relays a generation from the upstream into `topic`, in its own task: it runs to the
    /// end whoever watches.
    fn start_generation(&self, topic: &str, prompt: &str, tokens: usize) {
        let body = json!({
            "model": "fake-1",
            "stream": true,
            "max_tokens": tokens,
            "messages": [{"role": "user", "content": prompt}],
        });
        let url = format!("http://{}/v1/chat/completions", self.addr);
        let req = match ClientRequest::post(&url, body.to_string()) {
            Ok(r) => r.header("content-type", "application/json"),
            Err(e) => {
                eprintln!("llm_chat: {e}");
                return;
            }
        };
        let config = SseClientConfig::default()
            .with_dialect(Some(Dialect::Auto))
            .with_idle_timeout(Some(Duration::from_secs(30)));
        let upstream = SseClient::new(req, config);
        let sink = InProcess(self.hub.clone());
        let topic = topic.to_owned();
        tokio::spawn(async move {
            match relay(upstream, &sink, &topic).await {
                Ok(s) => eprintln!("llm_chat: {topic}: {} events, ended", s.events),
                Err(e) => eprintln!("llm_chat: {topic}: {e}"),
            }
        });
    }

    /// The fake OpenAI Chat Completions endpoint (`stream: true`): one chunk per token at
    /// token pace, a final chunk with `finish_reason`, then `data: [DONE]`.
    async fn upstream(&self, mut req: Request<TcpStream>) -> Reply<TcpStream> {
        let Some(v) = json_body(&mut req).await else {
            return req.respond(bad("a JSON body"));
        };
        let prompt = v
            .pointer("/messages/0/content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let n = usize_field(&v, "max_tokens")
            .unwrap_or(DEFAULT_TOKENS)
            .min(MAX_TOKENS);
        let cut_after = usize_field(&v, "cut_after");
        let fail_after = usize_field(&v, "fail_after");
        let Ok(mut sse) = SseWriter::start(req, SseWriterConfig::default()).await else {
            return Reply::closed();
        };
        let id = format!("chatcmpl-{:012x}", getrandom_u64() >> 16);
        let chunk = |delta: Value, finish: Value| {
            json!({
                "id": id, "object": "chat.completion.chunk", "created": 1_767_874_658,
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
            tokio::time::sleep(self.token_pace).await;
            if sse
                .send(&Event::new().data(chunk(json!({"content": tok}), Value::Null)))
                .await
                .is_err()
            {
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
}

/// Percent-decoding of a query value (`+` is a space).
fn decode(v: &str) -> Option<String> {
    let v = v.replace('+', " ");
    let mut out = Vec::with_capacity(v.len());
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn getrandom_u64() -> u64 {
    let mut b = [0u8; 8];
    // A process without OS randomness still gets distinct names from the clock.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return u64::try_from(t.as_nanos() & u128::from(u64::MAX)).unwrap_or_default();
    }
    u64::from_le_bytes(b)
}

#[tokio::main]
async fn main() {
    let mut addr = "127.0.0.1:8090".to_owned();
    let mut token_ms = 40u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().unwrap_or_default(),
            "--token-ms" => token_ms = args.next().and_then(|v| v.parse().ok()).unwrap_or(40),
            _ => {
                eprintln!("usage: llm_chat [--addr 127.0.0.1:PORT] [--token-ms MS]");
                std::process::exit(2);
            }
        }
    }
    let addr: SocketAddr = match addr.parse() {
        Ok(a) if SocketAddr::ip(&a).is_loopback() => a,
        _ => {
            eprintln!("llm_chat: --addr must be a loopback address");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("llm_chat: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(addr);
    let app = Arc::new(App {
        hub: Hub::new(HubConfig::default()),
        addr,
        token_pace: Duration::from_millis(token_ms),
    });
    println!("llm_chat on http://{addr}");
    let handler = move |req: Request<TcpStream>| Arc::clone(&app).handle(req);
    if let Err(e) = http::serve(listener, http::ServerConfig::default(), handler).await {
        eprintln!("llm_chat: {e}");
        std::process::exit(1);
    }
}
