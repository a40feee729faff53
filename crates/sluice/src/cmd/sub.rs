//! `sluice sub URL`: subscribe to a hub topic and print its events as JSON lines. The
//! transport comes from the URL path: `/ws/{topic}`, `/sse/{topic}` or `/poll/{topic}`.
//!
//! Every transport resumes from the last event id after a dropped connection or a hub
//! restart (reconnecting with exponential backoff and jitter), so the output is the same
//! whatever the transport: each event once, in order, with explicit gap and reset lines.

use std::io::Write;
use std::time::Duration;

use sluice_http::ClientRequest;
use sluice_sse::ResponseError;
use sluice_tokio::longpoll::{
    ClientError as LpError, ClientEvent, LongPollClient, LongPollClientConfig, PollError, Start,
};
use sluice_tokio::sse::{Disconnect, SseClient, SseClientConfig, SseError, SseEvent};
use sluice_tokio::ws::{Message, WsConfig};

use super::publish::{Endpoint, HubUrl, describe_client_error, describe_status};
use super::ws::{ConnectError, connect};

/// Arguments of `sluice sub`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The transport is picked from the URL path: /ws/TOPIC (WebSocket), /sse/TOPIC (Server-Sent
Events) or /poll/TOPIC (long-poll). Output, one JSON object per line, the same on every
transport:
  {\"id\":\"<cursor>\",\"event\":\"<type>\",\"data\":\"<text>\"}   an event
  {\"gap\":{\"missed\":N}}                                 N events were lost (out of retention)
  {\"reset\":true}                                       the hub lost its history (restart)
Diagnostics go to stderr. After a dropped connection the client reconnects with exponential
backoff and jitter and resumes after the last id printed. Exit status 0 on Ctrl-C or after
--count events, 1 when the hub refuses (401, 403, 404, ...) or cannot be reached at first.

Examples:
  sluice sub http://127.0.0.1:8080/sse/news
  sluice sub ws://127.0.0.1:8080/ws/chat --from earliest
  sluice sub http://127.0.0.1:8080/poll/news --from 1.9f3a2c4b1d0e7f55.42 --count 10
  sluice sub http://127.0.0.1:8080/sse/news --token \"$(sluice token --secret S --subscribe news)\"")]
pub(crate) struct SubArgs {
    /// The subscribe URL, e.g. http://127.0.0.1:8080/sse/news
    url: String,
    /// Where to start: `now` (only new events), `earliest` (the oldest retained event), or an
    /// event id printed earlier (resume right after it).
    #[arg(long, default_value = "now", value_parser = super::poll::parse_from)]
    from: Start,
    /// Exit after printing this many events.
    #[arg(long)]
    count: Option<u64>,
    /// A JWT for a hub with --auth-secret (default: the SLUICE_TOKEN environment variable).
    /// Sent as `Authorization: Bearer`, or as `?token=` for long-poll.
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// One item of the stream, whatever the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    Event {
        id: String,
        event: String,
        data: String,
    },
    Gap(u64),
    Reset,
}

impl Item {
    /// The JSON line (members in the protocol's order).
    pub(crate) fn line(&self) -> String {
        let js = |s: &str| serde_json::Value::from(s).to_string();
        match self {
            Item::Event { id, event, data } => format!(
                r#"{{"id":{},"event":{},"data":{}}}"#,
                js(id),
                js(event),
                js(data)
            ),
            Item::Gap(n) => format!(r#"{{"gap":{{"missed":{n}}}}}"#),
            Item::Reset => r#"{"reset":true}"#.to_owned(),
        }
    }

    /// A hub WebSocket frame: `{"id","event","data"}`, `{"gap":{"missed":n}}` or
    /// `{"reset":true}`.
    fn from_ws(text: &str) -> Option<Item> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        if let Some(n) = v.get("gap") {
            return n.get("missed")?.as_u64().map(Item::Gap);
        }
        if v.get("reset").and_then(serde_json::Value::as_bool) == Some(true) {
            return Some(Item::Reset);
        }
        Some(Item::Event {
            id: v.get("id")?.as_str()?.to_owned(),
            event: v
                .get("event")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("message")
                .to_owned(),
            data: v.get("data")?.as_str()?.to_owned(),
        })
    }
}

/// Prints items and counts events; `false` once done (enough events, or stdout closed).
struct Printer {
    printed: u64,
    count: Option<u64>,
}

impl Printer {
    fn done(&self) -> bool {
        self.count.is_some_and(|n| self.printed >= n)
    }

    fn print(&mut self, item: &Item) -> bool {
        if self.done() {
            return false;
        }
        if matches!(item, Item::Event { .. }) {
            self.printed += 1;
        }
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{}", item.line())
            .and_then(|()| out.flush())
            .is_err()
        {
            return false;
        }
        !self.done()
    }
}

/// Reconnection delays: exponential from 250 ms to 10 s, each spread over `[d/2, d]`.
struct Backoff {
    attempt: u32,
}

impl Backoff {
    const BASE: Duration = Duration::from_millis(250);
    const CAP: Duration = Duration::from_secs(10);

    fn next(&mut self) -> Duration {
        let full = Self::BASE
            .saturating_mul(1 << self.attempt.min(10))
            .min(Self::CAP);
        self.attempt = self.attempt.saturating_add(1);
        let half = full / 2;
        half + half.mul_f64(unit_random())
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A uniform value in `[0, 1)` for jitter (std's per-process random hash keys and the clock;
/// not for secrets).
fn unit_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

pub(crate) fn run(a: SubArgs) -> i32 {
    let hub = match HubUrl::parse(&a.url) {
        Ok(h) if h.endpoint != Endpoint::Publish => h,
        Ok(_) => {
            eprintln!(
                "sluice sub: bad URL {:?}: subscribe with /ws/TOPIC, /sse/TOPIC or /poll/TOPIC (not /publish/)",
                a.url
            );
            return 2;
        }
        Err(e) => {
            eprintln!("sluice sub: bad URL {:?}: {e}", a.url);
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice sub: cannot start the runtime: {e}");
            return 1;
        }
    };
    let mut out = Printer {
        printed: 0,
        count: a.count,
    };
    let c = match a.tls.connector() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice sub: {e}");
            return 2;
        }
    };
    let work = async {
        match hub.endpoint {
            Endpoint::Ws => sub_ws(&c, &hub, &a, &mut out).await,
            Endpoint::Sse => sub_sse(&c, &hub, &a, &mut out).await,
            Endpoint::Poll | Endpoint::Publish => sub_poll(&c, &hub, &a, &mut out).await,
        }
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sluice sub: {e}");
            1
        }
    }
}

/// The `cursor` query value for a start position (`None` = from now).
fn start_param(s: &Start) -> Option<String> {
    match s {
        Start::Now => None,
        Start::Earliest => Some("earliest".into()),
        Start::At(c) => Some(c.to_string()),
    }
}

/// WebSocket: frames are the hub's JSON; reconnect with `?cursor=` the last id.
async fn sub_ws(
    c: &sluice_http::DefaultConnector,
    hub: &HubUrl,
    a: &SubArgs,
    out: &mut Printer,
) -> Result<(), String> {
    let mut cursor = start_param(&a.from);
    let mut backoff = Backoff { attempt: 0 };
    let mut ever_connected = false;
    loop {
        let extra: Vec<(&str, &str)> = cursor.iter().map(|c| ("cursor", c.as_str())).collect();
        let url = hub.to(Endpoint::Ws, &["cursor"], &extra);
        let why = match connect(c, &url, a.token.as_deref(), &[], WsConfig::default()).await {
            Ok(mut socket) => {
                ever_connected = true;
                backoff.reset();
                loop {
                    match socket.recv().await {
                        Some(Ok(Message::Text(t))) => match Item::from_ws(t.as_str()) {
                            Some(item) => {
                                if let Item::Event { id, .. } = &item {
                                    cursor = Some(id.clone());
                                }
                                if !out.print(&item) {
                                    let _ =
                                        socket.close(sluice_tokio::ws::CloseCode::NORMAL, "").await;
                                    return Ok(());
                                }
                            }
                            None => eprintln!("sluice sub: ignoring an unexpected frame: {t}"),
                        },
                        Some(Ok(Message::Binary(_))) => {
                            eprintln!("sluice sub: ignoring a binary frame")
                        }
                        Some(Err(e)) => break format!("connection lost: {e}"),
                        None => {
                            break match socket.close_info() {
                                Some(i) => format!("closed by the hub ({} {})", i.code.0, i.reason),
                                None => "connection closed".into(),
                            };
                        }
                    }
                }
            }
            Err(ConnectError::Refused { line, status }) if (400..500).contains(&status) => {
                return Err(line);
            }
            Err(ConnectError::BadUrl(e)) => return Err(e),
            Err(e) if !ever_connected => return Err(e.to_string()),
            Err(e) => e.to_string(),
        };
        let d = backoff.next();
        eprintln!(
            "sluice sub: {why}; reconnecting in {} ms (attempt {})",
            d.as_millis(),
            backoff.attempt
        );
        tokio::time::sleep(d).await;
    }
}

/// Long-poll: [`LongPollClient`] does the resuming and deduplication.
async fn sub_poll(
    c: &sluice_http::DefaultConnector,
    hub: &HubUrl,
    a: &SubArgs,
    out: &mut Printer,
) -> Result<(), String> {
    let extra: Vec<(&str, &str)> = a.token.iter().map(|t| ("token", t.as_str())).collect();
    let drop: &[&str] = if a.token.is_some() {
        &["cursor", "token"]
    } else {
        &["cursor"]
    };
    let url = hub.to(Endpoint::Poll, drop, &extra);
    let mut client =
        LongPollClient::with_connector(c.clone(), &url, a.from, LongPollClientConfig::default())
            .map_err(|e| format!("bad URL {url:?}: {e}"))?;
    loop {
        match client.next().await {
            Ok(ev) => {
                let item = match ev {
                    ClientEvent::Event(e) => Item::Event {
                        id: e.id.to_string(),
                        event: e.event.to_string(),
                        data: e.data.to_string(),
                    },
                    ClientEvent::Gap { missed } => Item::Gap(missed),
                    ClientEvent::Reset => Item::Reset,
                };
                if !out.print(&item) {
                    return Ok(());
                }
            }
            Err(e) if e.is_terminal() => {
                let status = match &e {
                    PollError::Protocol(LpError::Refused { status }) => Some(*status),
                    PollError::Protocol(LpError::BadRequest) => Some(400),
                    PollError::Protocol(LpError::Gone) => Some(410),
                    _ => None,
                };
                let what = format!("{} refused the long-poll", hub.authority);
                return Err(match status {
                    Some(s) => describe_status(s, b"", &what),
                    None => format!("{what}: {e}"),
                });
            }
            Err(e) if !client.answered() => {
                return Err(format!("cannot reach {}: {e}", hub.authority));
            }
            Err(e) => eprintln!("sluice sub: {e}"),
        }
    }
}

/// Server-Sent Events: [`SseClient`] (an `EventSource`: reconnects with `Last-Event-ID`, which
/// the hub prefers over the URL's `?cursor=`); `sluice-gap` / `sluice-reset` events become gap
/// and reset lines.
async fn sub_sse(
    c: &sluice_http::DefaultConnector,
    hub: &HubUrl,
    a: &SubArgs,
    out: &mut Printer,
) -> Result<(), String> {
    let url = match start_param(&a.from) {
        Some(c) => hub.to(Endpoint::Sse, &["cursor"], &[("cursor", c.as_str())]),
        None => hub.to(Endpoint::Sse, &["cursor"], &[]),
    };
    let mut req = ClientRequest::get(&url).map_err(|e| format!("bad URL {url:?}: {e}"))?;
    if let Some(t) = &a.token {
        req = req
            .try_header("authorization", format!("Bearer {t}"))
            .map_err(|_| "the token contains characters not allowed in a header")?;
    }
    let sse = sluice_sse::ClientConfig::default()
        .with_initial_retry(Duration::from_millis(250))
        .with_max_backoff(Duration::from_secs(10));
    let mut client =
        SseClient::with_connector(c.clone(), req, SseClientConfig::default().with_sse(sse));
    let mut ever_connected = false;
    let mut attempt = 0u32;
    loop {
        let ev = match client.next().await {
            Ok(Some(ev)) => ev,
            Ok(None) => return Ok(()), // 204: the hub says stop
            Err(SseError::Response(ResponseError::Status(status))) => {
                return Err(describe_status(
                    status,
                    b"",
                    &format!("{} refused the event stream", hub.authority),
                ));
            }
            Err(SseError::Request(e)) => return Err(describe_client_error(&e, &hub.authority)),
            Err(e) => return Err(format!("{}: {e}", hub.authority)),
        };
        let item = match ev {
            SseEvent::Open { .. } => {
                ever_connected = true;
                attempt = 0;
                continue;
            }
            SseEvent::Reconnecting { delay, cause } => {
                let why = match &cause {
                    Disconnect::Http(e) => describe_client_error(e, &hub.authority),
                    other => other.to_string(),
                };
                if !ever_connected {
                    return Err(why);
                }
                attempt += 1;
                eprintln!(
                    "sluice sub: {why}; reconnecting in {} ms (attempt {attempt})",
                    delay.as_millis()
                );
                continue;
            }
            SseEvent::Event(ev) => match ev.event_type() {
                "sluice-reset" => Item::Reset,
                "sluice-gap" => match gap_count(&ev.data) {
                    Some(n) => Item::Gap(n),
                    None => {
                        eprintln!("sluice sub: ignoring a malformed gap notice: {}", ev.data);
                        continue;
                    }
                },
                t => Item::Event {
                    id: ev.last_event_id().to_owned(),
                    event: t.to_owned(),
                    data: ev.data.clone(),
                },
            },
            _ => continue,
        };
        if !out.print(&item) {
            return Ok(());
        }
    }
}

/// The `missed` count of a `sluice-gap` event's data: `{"missed": n}` (or a bare number).
fn gap_count(data: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(data).ok()?;
    v.get("missed")
        .and_then(serde_json::Value::as_u64)
        .or_else(|| v.get("gap")?.get("missed")?.as_u64())
        .or_else(|| v.as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_frames() {
        assert_eq!(
            Item::from_ws(r#"{"id":"1.a.1","event":"m","data":"x\ny"}"#),
            Some(Item::Event {
                id: "1.a.1".into(),
                event: "m".into(),
                data: "x\ny".into()
            })
        );
        assert_eq!(Item::from_ws(r#"{"gap":{"missed":3}}"#), Some(Item::Gap(3)));
        assert_eq!(Item::from_ws(r#"{"reset":true}"#), Some(Item::Reset));
        assert_eq!(Item::from_ws("nope"), None);
        assert_eq!(Item::from_ws(r#"{"data":"no id"}"#), None);
    }

    #[test]
    fn lines() {
        let e = Item::Event {
            id: "1.a.1".into(),
            event: "m".into(),
            data: "\"q\"".into(),
        };
        assert_eq!(e.line(), r#"{"id":"1.a.1","event":"m","data":"\"q\""}"#);
        assert_eq!(Item::Gap(2).line(), r#"{"gap":{"missed":2}}"#);
        assert_eq!(Item::Reset.line(), r#"{"reset":true}"#);
    }

    #[test]
    fn gap_data_forms() {
        assert_eq!(gap_count(r#"{"missed":4}"#), Some(4));
        assert_eq!(gap_count(r#"{"gap":{"missed":5}}"#), Some(5));
        assert_eq!(gap_count("6"), Some(6));
        assert_eq!(gap_count("x"), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff { attempt: 0 };
        let d0 = b.next();
        assert!(d0 >= Duration::from_millis(125) && d0 <= Duration::from_millis(250));
        for _ in 0..20 {
            let d = b.next();
            assert!(d <= Backoff::CAP && d >= Backoff::CAP / 2 || b.attempt < 7);
        }
        b.reset();
        assert!(b.next() <= Duration::from_millis(250));
    }
}
