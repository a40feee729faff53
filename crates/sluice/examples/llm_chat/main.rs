//! LLM token streaming end to end, in one process: a fake OpenAI-compatible upstream that
//! streams Chat Completions chunks at token pace, a Sluice hub, and a chat page. A prompt
//! starts a generation: the server relays the upstream stream into a hub topic
//! ([`sluice_client::relay()`], with the in-process hub as the sink), and pages follow the topic
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
use sluice_tokio::sse::{SseClient, SseClientConfig};
use tokio::net::{TcpListener, TcpStream};

#[path = "../../tests/support/llm_upstream.rs"]
mod llm_upstream;
use llm_upstream::{
    DEFAULT_TOKENS, MAX_TOKENS, answer, completions, json_body, json_response, usize_field,
};

const PAGE: &str = include_str!("index.html");

/// Most generations relayed at once: `/chat` answers 503 beyond it.
const MAX_RUNNING: usize = 64;

struct App {
    hub: Hub,
    addr: SocketAddr,
    token_pace: Duration,
    /// Generations being relayed now.
    running: Arc<std::sync::atomic::AtomicUsize>,
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

fn bad(msg: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": msg}))
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
                if !self.start_generation(&topic, prompt, tokens.min(MAX_TOKENS)) {
                    let busy =
                        json!({"error": "busy", "message": "too many generations; retry later"});
                    return req.respond(
                        json_response(StatusCode::SERVICE_UNAVAILABLE, &busy)
                            .header("retry-after", "1"),
                    );
                }
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
            ("POST", "/v1/chat/completions") => completions(req, self.token_pace).await,
            _ => self.hub.route(req).await,
        }
    }

    /// Relays a generation from the upstream into `topic`, in its own task: it runs to the
    /// end whoever watches. `false` when [`MAX_RUNNING`] are running.
    fn start_generation(&self, topic: &str, prompt: &str, tokens: usize) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        if self.running.fetch_add(1, SeqCst) >= MAX_RUNNING {
            self.running.fetch_sub(1, SeqCst);
            return false;
        }
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
                self.running.fetch_sub(1, SeqCst);
                eprintln!("llm_chat: {e}");
                return false;
            }
        };
        let config = SseClientConfig::default()
            .with_dialect(Some(Dialect::Auto))
            .with_idle_timeout(Some(Duration::from_secs(30)));
        let upstream = SseClient::new(req, config);
        let sink = InProcess(self.hub.clone());
        let topic = topic.to_owned();
        let running = Arc::clone(&self.running);
        tokio::spawn(async move {
            match relay(upstream, &sink, &topic).await {
                Ok(s) => eprintln!("llm_chat: {topic}: {} events, ended", s.events),
                Err(e) => eprintln!("llm_chat: {topic}: {e}"),
            }
            running.fetch_sub(1, SeqCst);
        });
        true
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
        running: Arc::default(),
    });
    println!("llm_chat on http://{addr}");
    let handler = move |req: Request<TcpStream>| Arc::clone(&app).handle(req);
    if let Err(e) = http::serve(listener, http::ServerConfig::default(), handler).await {
        eprintln!("llm_chat: {e}");
        std::process::exit(1);
    }
}
