//! Loopback test harness: a hub on 127.0.0.1:0 and small clients for each transport.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use sluice_http::{self as http, ClientConfig, ClientRequest, ClientResponse, StatusCode};
use sluice_hub::{Hub, HubConfig};
use sluice_tokio::ws::{self, Message, WebSocket, WsConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Every wait in these tests is bounded by this.
pub const T: Duration = Duration::from_secs(10);

pub struct Server {
    pub hub: Hub,
    pub addr: SocketAddr,
    pub task: JoinHandle<std::io::Result<()>>,
    /// Where the hub's routes are: `""` on its own port, `"/rt"` nested in an axum app.
    pub prefix: &'static str,
}

/// How a test crate serves the hub under test: each test root names one as
/// `serve_under_test` — this one (`Hub::serve` on its own port) in sluice-hub's tests,
/// sluice-axum's `tests/nested_hub.rs` its own (the same tests, the hub nested under `/rt` of
/// an axum app). Returns the serving task and the prefix of the hub's routes.
pub fn standalone(l: TcpListener, hub: Hub) -> (JoinHandle<std::io::Result<()>>, &'static str) {
    (tokio::spawn(async move { hub.serve(l).await }), "")
}

impl Server {
    pub async fn start(cfg: HubConfig) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let hub = Hub::new(cfg);
        let (task, prefix) = crate::serve_under_test(l, hub.clone());
        Server {
            hub,
            addr,
            task,
            prefix,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}{}", self.addr, self.prefix, path)
    }

    /// `POST /publish/{topic}` → (status, body).
    pub async fn publish(&self, topic: &str, data: &str) -> (StatusCode, String) {
        self.request(
            ClientRequest::post(&self.url(&format!("/publish/{topic}")), data.to_owned()).unwrap(),
        )
        .await
    }

    /// Publishes and returns the event id.
    pub async fn publish_ok(&self, topic: &str, data: &str) -> String {
        publish_at(&self.url(""), topic, data).await
    }

    /// Sends `req` and reads the whole (bounded) body.
    pub async fn request(&self, req: ClientRequest) -> (StatusCode, String) {
        let (s, _, b) = self.request_full(req).await;
        (s, b)
    }

    pub async fn request_full(
        &self,
        req: ClientRequest,
    ) -> (StatusCode, Vec<(String, String)>, String) {
        let mut resp = tokio::time::timeout(T, http::fetch(req, &ClientConfig::default()))
            .await
            .expect("response in time")
            .expect("response");
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).to_ascii_lowercase(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        let status = resp.status();
        let body = tokio::time::timeout(T, resp.bytes(1 << 20))
            .await
            .expect("body in time")
            .unwrap_or_default();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    /// `GET /poll/{topic}?{query}` → (status, JSON body).
    pub async fn poll(&self, topic: &str, query: &str) -> (StatusCode, Value) {
        let (s, b) = self
            .request(ClientRequest::get(&self.url(&format!("/poll/{topic}?{query}"))).unwrap())
            .await;
        (s, serde_json::from_str(&b).unwrap_or(Value::Null))
    }

    /// Opens a WebSocket to `path` with extra header fields.
    pub async fn ws(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<WebSocket<TcpStream>, ws::Error> {
        let tcp = TcpStream::connect(self.addr).await?;
        let mut req = sluice_ws::handshake::ClientHandshake::new(
            &self.addr.to_string(),
            &format!("{}{path}", self.prefix),
            ws::random_nonce(),
        )
        .unwrap();
        for (n, v) in headers {
            req = req.header(n, v.as_bytes()).unwrap();
        }
        let (socket, _) = ws::connect_with(tcp, &req, WsConfig::default()).await?;
        Ok(socket)
    }

    /// Opens an SSE stream (status checked by the caller).
    pub async fn sse(&self, path: &str, headers: &[(&str, &str)]) -> Sse {
        let mut req = ClientRequest::get(&self.url(path)).unwrap();
        for (n, v) in headers {
            req = req.header(n.to_string(), v.to_string());
        }
        let resp = tokio::time::timeout(T, http::fetch(req, &ClientConfig::default()))
            .await
            .expect("SSE head in time")
            .expect("SSE head");
        Sse {
            resp,
            parser: sluice_sse::Parser::with_config(
                sluice_sse::Config::default().with_emit_comments(true),
            ),
            ended: false,
        }
    }
}

/// `POST {base}/publish/{topic}` expecting 200 (`base`: [`Server::url`] of `""`); returns the
/// event id.
pub async fn publish_at(base: &str, topic: &str, data: &str) -> String {
    let req = ClientRequest::post(&format!("{base}/publish/{topic}"), data.to_owned()).unwrap();
    let mut resp = tokio::time::timeout(T, http::fetch(req, &ClientConfig::default()))
        .await
        .expect("publish answered in time")
        .expect("publish answered");
    let st = resp.status();
    let body = resp.bytes(1 << 20).await.unwrap();
    assert_eq!(st, StatusCode::OK, "{body:?}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// An item a subscriber saw, transport-independent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Event {
        id: String,
        event: String,
        data: String,
    },
    Gap(u64),
    Reset,
    /// `{"cursor":"…"}`: the first frame of a WebSocket subscription that starts live.
    Cursor(String),
    /// The topic ended (`{"end":true,"id":…}`, SSE `sluice-end`): with the end's id.
    End(String),
}

impl Seen {
    pub fn data(&self) -> Option<&str> {
        match self {
            Seen::Event { data, .. } => Some(data),
            _ => None,
        }
    }
    pub fn id(&self) -> Option<&str> {
        match self {
            Seen::Event { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// Parses a hub WebSocket text frame.
pub fn ws_item(text: &str) -> Seen {
    let v: Value = serde_json::from_str(text).unwrap();
    if let Some(g) = v.get("gap") {
        return Seen::Gap(g["missed"].as_u64().unwrap());
    }
    if v.get("reset").is_some() {
        return Seen::Reset;
    }
    if let Some(c) = v.get("cursor") {
        return Seen::Cursor(c.as_str().unwrap().to_owned());
    }
    if v.get("end").is_some() {
        return Seen::End(v["id"].as_str().unwrap().to_owned());
    }
    Seen::Event {
        id: v["id"].as_str().unwrap().to_owned(),
        event: v["event"].as_str().unwrap().to_owned(),
        data: v["data"].as_str().unwrap().to_owned(),
    }
}

/// The next item from a hub WebSocket (`None`: closed).
pub async fn ws_next(socket: &mut WebSocket<TcpStream>) -> Option<Seen> {
    let m = tokio::time::timeout(T, socket.recv())
        .await
        .expect("WS frame in time")?;
    match m.ok()? {
        Message::Text(t) => Some(ws_item(&t)),
        Message::Binary(_) => panic!("binary frame from the hub"),
    }
}

pub struct Sse {
    pub resp: ClientResponse<sluice_http::ClientStream>,
    pub parser: sluice_sse::Parser,
    pub ended: bool,
}

/// What an SSE stream produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    Seen(Seen),
    Retry(u64),
    Comment,
    /// The body ended.
    End,
}

impl Sse {
    pub fn status(&self) -> StatusCode {
        self.resp.status()
    }

    pub fn last_event_id(&self) -> String {
        self.parser.last_event_id().to_owned()
    }

    /// The next item (events, gap/reset notices, retry, comments, end of body).
    pub async fn next_item(&mut self) -> SseItem {
        loop {
            if let Some(item) = self.parser.poll_item() {
                return match item {
                    sluice_sse::Item::Event(e) => SseItem::Seen(match e.event_type() {
                        "sluice-gap" => {
                            let v: Value = serde_json::from_str(&e.data).unwrap();
                            Seen::Gap(v["missed"].as_u64().unwrap())
                        }
                        "sluice-reset" => Seen::Reset,
                        "sluice-end" => Seen::End(e.last_event_id().to_owned()),
                        t => Seen::Event {
                            id: e.last_event_id().to_owned(),
                            event: t.to_owned(),
                            data: e.data.clone(),
                        },
                    }),
                    sluice_sse::Item::Retry(ms) => SseItem::Retry(ms),
                    sluice_sse::Item::Comment(_) => SseItem::Comment,
                    _ => continue,
                };
            }
            if self.ended {
                return SseItem::End;
            }
            let chunk = tokio::time::timeout(T, self.resp.chunk())
                .await
                .expect("SSE bytes in time");
            match chunk {
                Ok(Some(b)) => self.parser.handle_input(&b).unwrap(),
                Ok(None) | Err(_) => {
                    self.parser.handle_eof();
                    self.ended = true;
                }
            }
        }
    }

    /// Reads until the opening `id:` line of a live stream set Last-Event-ID (it fires no
    /// event), and returns that id. The hub sends it after the subscriber joined the topic's
    /// live set, so an ephemeral publish after this reaches the stream.
    pub async fn opening_id(&mut self) -> String {
        while self.last_event_id().is_empty() {
            let chunk = tokio::time::timeout(T, self.resp.chunk()).await;
            let b = chunk.expect("opening id in time").unwrap().unwrap();
            self.parser.handle_input(&b).unwrap();
        }
        self.last_event_id()
    }

    /// The next event or notice, skipping retry/comments; `None` at the end of the body.
    pub async fn next(&mut self) -> Option<Seen> {
        loop {
            match self.next_item().await {
                SseItem::Seen(s) => return Some(s),
                SseItem::End => return None,
                _ => {}
            }
        }
    }
}

/// Reads `n` events with a long-poll loop from `cursor`, collecting notices too; returns the
/// items and the final cursor.
pub async fn poll_n(s: &Server, topic: &str, mut cursor: String, n: usize) -> (Vec<Seen>, String) {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + T;
    while out
        .iter()
        .filter(|x| matches!(x, Seen::Event { .. }))
        .count()
        < n
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "poll loop timed out"
        );
        let (st, v) = s
            .poll(topic, &format!("cursor={cursor}&timeout=5&max=7"))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        if v["reset"].as_bool() == Some(true) {
            out.push(Seen::Reset);
        }
        if let Some(m) = v["gap"]["missed"].as_u64() {
            out.push(Seen::Gap(m));
        }
        for e in v["events"].as_array().unwrap() {
            out.push(Seen::Event {
                id: e["id"].as_str().unwrap().to_owned(),
                event: e["event"].as_str().unwrap().to_owned(),
                data: e["data"].as_str().unwrap().to_owned(),
            });
        }
        cursor = v["cursor"].as_str().unwrap().to_owned();
    }
    (out, cursor)
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}
