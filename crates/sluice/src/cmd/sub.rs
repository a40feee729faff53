//! `sluice sub URL`: subscribe to a hub topic and print its events as JSON lines. The
//! transport comes from the URL path: `/ws/{topic}`, `/sse/{topic}` or `/poll/{topic}`.
//!
//! Every transport resumes from the last event id after a dropped connection or a hub
//! restart (reconnecting with exponential backoff and jitter), so the output is the same
//! whatever the transport: each event once, in order, with explicit gap and reset lines.

use std::io::Write;

use sluice_client::{Event, Item, Status, SubscribeError, Transport, TransportMode};
use sluice_tokio::longpoll::Start;

use super::publish::{Endpoint, HubUrl, describe_status};

/// Arguments of `sluice sub`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The transport is picked from the URL path: /ws/TOPIC (WebSocket), /sse/TOPIC (Server-Sent
Events) or /poll/TOPIC (long-poll); with --fallback the client starts on WebSocket and falls
back to SSE when the upgrade is refused or blocked, then to long-poll when the SSE body does not
arrive (a buffering proxy), and tries the better transports again later. Output, one JSON
object per line, the same on every transport:
  {\"id\":\"<cursor>\",\"event\":\"<type>\",\"data\":\"<text>\"}   an event
  {\"gap\":{\"missed\":N}}                                 N events were lost (out of retention)
  {\"reset\":true}                                       the hub lost its history (restart)
  {\"ephemeral\":{\"event\":..,\"data\":..}}                live only, never replayed
  {\"join\":{..}} / {\"leave\":{..}}                        with --presence
Diagnostics go to stderr (one line per reconnect and per transport switch). After a dropped
connection the client reconnects with exponential backoff and full jitter and resumes after the
last id printed: every event once, in order, across reconnects and transport switches. Exit
status 0 on Ctrl-C or after --count events, 1 when the hub refuses (401, 403, 404, ...) or
cannot be reached at first.

Examples:
  sluice sub http://127.0.0.1:8080/sse/news
  sluice sub ws://127.0.0.1:8080/ws/chat --from earliest
  sluice sub --fallback 'ws://127.0.0.1:8080/ws/chat?cursor=1.9f3a2c4b1d0e7f55.42'
  sluice sub http://127.0.0.1:8080/poll/news --from 1.9f3a2c4b1d0e7f55.42 --count 10
  sluice sub http://127.0.0.1:8080/sse/news --token \"$(sluice token --secret S --subscribe news)\"")]
pub(crate) struct SubArgs {
    /// The subscribe URL, e.g. http://127.0.0.1:8080/sse/news
    url: String,
    /// Start on WebSocket and fall back to SSE, then long-poll, when a transport is blocked
    /// (the URL's /ws/, /sse/ or /poll/ only names the topic then).
    #[arg(long)]
    fallback: bool,
    /// Where to start: `now` (only new events), `earliest` (the oldest retained event), or an
    /// event id printed earlier (resume right after it). A `?cursor=` in the URL wins.
    #[arg(long, default_value = "now", value_parser = super::poll::parse_from)]
    from: Start,
    /// Exit after printing this many events.
    #[arg(long)]
    count: Option<u64>,
    /// Also print who joins and leaves the topic ({"join":{…}} / {"leave":{…}} lines;
    /// WebSocket and SSE).
    #[arg(long)]
    presence: bool,
    /// The client id to present (default: a random one, kept across reconnects).
    #[arg(long)]
    client: Option<String>,
    /// A JWT for a hub with --auth-secret (default: the SLUICE_TOKEN environment variable, or
    /// `?token=` in the URL). Sent as `Authorization: Bearer`, or as `?token=` for long-poll.
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// The JSON line of an item (members in the protocol's order); `None` for an item kind this
/// version does not print.
pub(crate) fn line(item: &Item) -> Option<String> {
    let js = |s: &str| serde_json::Value::from(s).to_string();
    Some(match item {
        Item::Event { id, event, data } => format!(
            r#"{{"id":{},"event":{},"data":{}}}"#,
            js(id),
            js(event),
            js(data)
        ),
        Item::Gap { missed } => format!(r#"{{"gap":{{"missed":{missed}}}}}"#),
        Item::Reset => r#"{"reset":true}"#.to_owned(),
        Item::End => r#"{"end":true}"#.to_owned(),
        Item::Join(m) => format!(r#"{{"join":{}}}"#, member_json(m)),
        Item::Leave(m) => format!(r#"{{"leave":{}}}"#, member_json(m)),
        Item::Ephemeral { event, data } => format!(
            r#"{{"ephemeral":{{"event":{},"data":{}}}}}"#,
            js(event),
            js(data)
        ),
        _ => return None,
    })
}

/// `{"client":…,"sub":…,"transport":…}`.
fn member_json(m: &sluice_client::PresenceMember) -> String {
    serde_json::json!({"client": m.client, "sub": m.sub, "transport": m.transport}).to_string()
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
        let Some(text) = line(item) else {
            return true;
        };
        if matches!(item, Item::Event { .. }) {
            self.printed += 1;
        }
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            return false;
        }
        !self.done()
    }
}

/// The value of `key` in a raw query string (`a=1&b=2`), not decoded (cursors and tokens need
/// no decoding).
fn query_value<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
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
    let start = match query_value(&hub.query, "cursor") {
        Some(c) => match super::poll::parse_from(c) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("sluice sub: bad cursor in the URL: {e}");
                return 2;
            }
        },
        None => a.from,
    };
    let token = a
        .token
        .clone()
        .or_else(|| query_value(&hub.query, "token").map(str::to_owned));
    let connector = match a.tls.connector() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice sub: {e}");
            return 2;
        }
    };
    let client = match hub.client(connector, token) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice sub: bad URL {:?}: {e}", a.url);
            return 2;
        }
    };
    let mode = match (a.fallback, hub.endpoint) {
        (true, _) => TransportMode::Auto,
        (false, Endpoint::Ws) => TransportMode::Only(Transport::Ws),
        (false, Endpoint::Sse) => TransportMode::Only(Transport::Sse),
        (false, Endpoint::Poll | Endpoint::Publish) => TransportMode::Only(Transport::Poll),
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
    let mut sub = client
        .subscribe(&hub.topic, start, mode)
        .with_presence(a.presence);
    if let Some(id) = &a.client {
        sub = sub.with_client_id(id.clone());
    }
    let authority = hub.authority.clone();
    let work = async {
        let mut ever_open = false;
        loop {
            match sub.next().await {
                Ok(Event::Item(item)) => {
                    if !out.print(&item) {
                        return Ok(());
                    }
                }
                Ok(Event::Status(Status::Open { .. })) => ever_open = true,
                Ok(Event::Status(Status::Reconnecting {
                    transport,
                    attempt,
                    delay,
                    reason,
                    ..
                })) => {
                    if !ever_open {
                        return Err(format!("cannot reach {authority}: {reason}"));
                    }
                    eprintln!(
                        "sluice sub: {reason}; reconnecting over {} in {} ms (attempt {attempt})",
                        name(transport),
                        delay.as_millis()
                    );
                }
                Ok(Event::Status(Status::Switched {
                    from, to, reason, ..
                })) => eprintln!("sluice sub: {} -> {}: {reason}", name(from), name(to)),
                Ok(_) => {}
                Err(SubscribeError::Refused { status, transport }) => {
                    let what = format!("{authority} refused the {}", name(transport));
                    return Err(describe_status(status, b"", &what));
                }
                // The topic ended: a normal finish (`{"end":true}` was printed).
                Err(SubscribeError::Ended) => return Ok(()),
                Err(e) => return Err(format!("{authority}: {e}")),
            }
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

/// A transport's name in messages.
fn name(t: Transport) -> &'static str {
    match t {
        Transport::Ws => "WebSocket",
        Transport::Sse => "SSE",
        Transport::Poll => "long-poll",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let e = Item::Event {
            id: "1.a.1".into(),
            event: "m".into(),
            data: "\"q\"".into(),
        };
        assert_eq!(
            line(&e).unwrap(),
            r#"{"id":"1.a.1","event":"m","data":"\"q\""}"#
        );
        assert_eq!(
            line(&Item::Gap { missed: 2 }).unwrap(),
            r#"{"gap":{"missed":2}}"#
        );
        assert_eq!(line(&Item::Reset).unwrap(), r#"{"reset":true}"#);
    }

    #[test]
    fn query_values() {
        assert_eq!(query_value("cursor=1.a.2&token=t", "token"), Some("t"));
        assert_eq!(query_value("cursor=1.a.2", "cursor"), Some("1.a.2"));
        assert_eq!(query_value("", "cursor"), None);
    }
}
