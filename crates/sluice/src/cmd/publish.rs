//! `sluice pub URL DATA [--event T] [--token T]`: publish one event with `POST /publish/{topic}`
//! and print its id (the cursor).
//!
//! URL forms accepted: the publish endpoint itself (`http://host:port/publish/news`), or any
//! endpoint URL of the same topic (`/ws/news`, `/sse/news`, `/poll/news`, with `http`, `ws`
//! or their TLS forms), so the URL given to `sluice sub` can be reused as is. The query (e.g.
//! `?token=`) is kept; `?event=` is set from `--event`.
//!
//! This module also holds what the client subcommands share: the hub URL forms and the
//! one-line wording of HTTP failures.

use std::io::Read;
use std::time::Duration;

use sluice_http::{self as http, ClientError, ClientRequest, Url, percent_encode};

/// Arguments of `sluice pub`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
URL: the hub's publish endpoint http://HOST:PORT/publish/TOPIC; a subscribe URL of the same
topic (/ws/TOPIC, /sse/TOPIC, /poll/TOPIC) is accepted too. Prints the event's id (a cursor:
`sluice sub URL --from ID` resumes right after it). Exit status 0 on success, 1 when the hub
refuses or cannot be reached, 2 for bad arguments.

Examples:
  sluice pub http://127.0.0.1:8080/publish/news 'hello world'
  sluice pub http://127.0.0.1:8080/publish/chat.lobby '{\"text\":\"hi\"}' --event chat
  sluice pub http://127.0.0.1:8080/publish/chat.lobby 'alice is typing' --event typing --ephemeral
  date | sluice pub http://127.0.0.1:8080/publish/clock -
  sluice pub http://127.0.0.1:8080/publish/news hi --token \"$(sluice token --secret S --publish news)\"")]
pub(crate) struct PubArgs {
    /// The publish endpoint, e.g. http://127.0.0.1:8080/publish/news
    url: String,
    /// The event data (UTF-8 text); `-` reads it from stdin (one final line break dropped).
    data: String,
    /// The event type (default: the hub's, `message`).
    #[arg(long)]
    event: Option<String>,
    /// A JWT for a hub with --auth-secret, sent as `Authorization: Bearer` (default: the
    /// SLUICE_TOKEN environment variable).
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Seconds to wait for the hub's answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// An ephemeral event: to live subscribers only, never stored, no id (prints how many
    /// live subscribers of this hub got it).
    #[arg(long)]
    ephemeral: bool,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// The transport endpoints of a hub topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Publish,
    Ws,
    Sse,
    Poll,
}

impl Endpoint {
    fn prefix(self) -> &'static str {
        match self {
            Endpoint::Publish => "/publish/",
            Endpoint::Ws => "/ws/",
            Endpoint::Sse => "/sse/",
            Endpoint::Poll => "/poll/",
        }
    }
}

/// A parsed hub URL: scheme, authority, endpoint, topic and the query pairs kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HubUrl {
    /// `http`, `https`, `ws` or `wss`.
    pub(crate) scheme: String,
    /// `host:port` as written (after checking by [`Url::parse`]).
    pub(crate) authority: String,
    /// The path before the endpoint: `""` for a hub on its own port, `"/rt"` for one nested
    /// under a prefix of another app (sluice-axum's `HubService`).
    pub(crate) base: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) topic: String,
    /// The query without the leading `?` (may be empty).
    pub(crate) query: String,
}

impl HubUrl {
    /// Parses `http(s)://` or `ws(s)://HOST:PORT[/PREFIX]/{publish,ws,sse,poll}/TOPIC[?query]`.
    pub(crate) fn parse(s: &str) -> Result<HubUrl, String> {
        let url = Url::parse(s).map_err(|e| e.to_string())?;
        let pq = url.path_and_query();
        let (path, query) = pq.split_once('?').unwrap_or((pq, ""));
        let (endpoint, base, topic) = path
            .rsplit_once('/')
            .and_then(|(head, topic)| {
                [
                    Endpoint::Publish,
                    Endpoint::Ws,
                    Endpoint::Sse,
                    Endpoint::Poll,
                ]
                .into_iter()
                .find_map(|e| {
                    let base = head.strip_suffix(e.prefix().trim_end_matches('/'))?;
                    Some((e, base, topic))
                })
            })
            .ok_or_else(|| {
                format!(
                    "the path must be [/PREFIX]/publish/TOPIC, /ws/TOPIC, /sse/TOPIC or \
                     /poll/TOPIC, not {path:?}"
                )
            })?;
        if topic.is_empty()
            || topic.len() > 128
            || !topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(format!(
                "{topic:?} is not a topic name ([A-Za-z0-9._-], 1 to 128 characters)"
            ));
        }
        Ok(HubUrl {
            scheme: url.scheme().to_owned(),
            authority: url.authority(),
            base: base.to_owned(),
            endpoint,
            topic: topic.to_owned(),
            query: query.to_owned(),
        })
    }

    /// A `HubClient` for this hub (scheme, authority and prefix), over `connector`, with
    /// `token` sent as `Authorization: Bearer`.
    pub(crate) fn client(
        &self,
        connector: sluice_http::DefaultConnector,
        token: Option<String>,
    ) -> Result<sluice_client::HubClient, sluice_http::UrlError> {
        let base = format!("{}://{}{}", self.scheme, self.authority, self.base);
        Ok(sluice_client::HubClient::new(&base)?
            .with_connector(connector)
            .with_token(token))
    }

    /// The URL of `endpoint` for the same topic, with the scheme that endpoint needs, the
    /// query pairs kept except those named in `drop`, then `extra` pairs appended.
    pub(crate) fn to(&self, endpoint: Endpoint, drop: &[&str], extra: &[(&str, &str)]) -> String {
        let tls = matches!(self.scheme.as_str(), "https" | "wss");
        let scheme = match (endpoint, tls) {
            (Endpoint::Ws, false) => "ws",
            (Endpoint::Ws, true) => "wss",
            (_, false) => "http",
            (_, true) => "https",
        };
        let mut pairs: Vec<String> = self
            .query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| !drop.contains(&p.split('=').next().unwrap_or("")))
            .map(str::to_owned)
            .collect();
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| format!("{k}={}", percent_encode(v))),
        );
        let mut out = format!(
            "{scheme}://{}{}{}{}",
            self.authority,
            self.base,
            endpoint.prefix(),
            self.topic
        );
        if !pairs.is_empty() {
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        out
    }
}

/// One line for a failed request to `what` (`host:port`): refused, timed out, unreachable.
pub(crate) fn describe_client_error(e: &ClientError, what: &str) -> String {
    match e {
        ClientError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("cannot connect to {what}: connection refused (is `sluice serve` running?)")
        }
        ClientError::Io(io) => format!("cannot reach {what}: {io}"),
        ClientError::Timeout => format!("{what} did not answer in time"),
        ClientError::Connect { source, .. }
            if source.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            format!("cannot connect to {what}: connection refused (is `sluice serve` running?)")
        }
        ClientError::Connect { source, .. } => format!("cannot reach {what}: {source}"),
        ClientError::UnsupportedScheme(s) => format!("{s}:// is not supported"),
        ClientError::Certificate { .. } => e.to_string(),
        e => format!("{what}: {e}"),
    }
}

/// One line for an error status from the hub, with the `message` of a JSON error body if any.
pub(crate) fn describe_status(status: u16, body: &[u8], what: &str) -> String {
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("error"))
                .and_then(|m| m.as_str().map(str::to_owned))
        })
        .or_else(|| {
            let t = String::from_utf8_lossy(body);
            let t = t.trim();
            (!t.is_empty() && t.len() <= 200 && !t.contains('\n')).then(|| t.to_owned())
        });
    let hint = match status {
        401 => "unauthorized: a valid token is needed (--token, or ?token= in the URL)",
        403 => "forbidden: the token does not allow this topic",
        404 => "not found: is this a sluice hub URL?",
        410 => "gone: the topic does not exist",
        413 => "payload too large",
        400 => "bad request",
        503 => "the hub is busy (connection limit)",
        _ => "",
    };
    let mut s = format!("{what}: HTTP {status}");
    if !hint.is_empty() {
        s.push(' ');
        s.push_str(hint);
    }
    if let Some(d) = detail {
        s.push_str(" (");
        s.push_str(&d);
        s.push(')');
    }
    s
}

pub(crate) fn run(a: PubArgs) -> i32 {
    let hub = match HubUrl::parse(&a.url) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("sluice pub: bad URL {:?}: {e}", a.url);
            return 2;
        }
    };
    if let Some(ev) = &a.event
        && (ev.is_empty() || ev.contains(['\r', '\n', '\0']))
    {
        eprintln!("sluice pub: --event must be non-empty and on one line");
        return 2;
    }
    let data = if a.data == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("sluice pub: cannot read the data from stdin (UTF-8 text expected): {e}");
            return 2;
        }
        // As the shell's `$(...)`: one final line break is not part of the data.
        if s.ends_with('\n') {
            s.pop();
            if s.ends_with('\r') {
                s.pop();
            }
        }
        s
    } else {
        a.data
    };
    let mut extra: Vec<(&str, &str)> = a.event.iter().map(|e| ("event", e.as_str())).collect();
    if a.ephemeral {
        extra.push(("ephemeral", "1"));
    }
    let url = hub.to(Endpoint::Publish, &["event", "cursor", "ephemeral"], &extra);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice pub: cannot start the runtime: {e}");
            return 1;
        }
    };
    let timeout = Duration::from_secs(a.timeout.max(1));
    let connector = match a.tls.connector() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice pub: {e}");
            return 2;
        }
    };
    match rt.block_on(publish(&connector, &url, data, a.token.as_deref(), timeout)) {
        Ok(id) => {
            println!("{id}");
            0
        }
        Err(e) => {
            eprintln!("sluice pub: {e}");
            1
        }
    }
}

/// Publishes and returns the event's id.
async fn publish(
    connector: &sluice_http::DefaultConnector,
    url: &str,
    data: String,
    token: Option<&str>,
    timeout: Duration,
) -> Result<String, String> {
    let mut req = ClientRequest::post(url, data).map_err(|e| format!("bad URL {url:?}: {e}"))?;
    let what = req.url().authority();
    req = req.header("content-type", "text/plain; charset=utf-8");
    if let Some(t) = token {
        req = req
            .try_header("authorization", format!("Bearer {t}"))
            .map_err(|_| "the token contains characters not allowed in a header".to_owned())?;
    }
    let mut config = http::ClientConfig::default();
    config.connect_timeout = timeout;
    config.response_timeout = timeout;
    config.read_timeout = Some(timeout);
    let mut resp = http::fetch_with(connector, req, &config)
        .await
        .map_err(|e| describe_client_error(&e, &what))?;
    let status = resp.status().as_u16();
    let body = resp
        .bytes(64 * 1024)
        .await
        .map_err(|e| describe_client_error(&e, &what))?;
    if status != 200 {
        return Err(describe_status(status, &body, &format!("{what} refused")));
    }
    serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("id")
                .and_then(|i| i.as_str().map(str::to_owned))
                .or_else(|| {
                    // An ephemeral publish: no id, the number of live receivers.
                    let n = v.get("receivers")?.as_u64()?;
                    (v.get("ephemeral")? == true).then(|| format!("ephemeral: {n} receivers"))
                })
        })
        .ok_or_else(|| {
            format!(
                "{what} answered 200 without an id: {}",
                String::from_utf8_lossy(&body)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        let h = HubUrl::parse("http://127.0.0.1:8080/publish/news").unwrap();
        assert_eq!(h.endpoint, Endpoint::Publish);
        assert_eq!(h.topic, "news");
        assert_eq!(
            h.to(Endpoint::Publish, &[], &[("event", "a b")]),
            "http://127.0.0.1:8080/publish/news?event=a%20b"
        );
        let h = HubUrl::parse("ws://localhost:9/ws/chat.lobby?token=abc&cursor=1.5.3").unwrap();
        assert_eq!(h.endpoint, Endpoint::Ws);
        assert_eq!(
            h.to(Endpoint::Publish, &["cursor"], &[]),
            "http://localhost:9/publish/chat.lobby?token=abc"
        );
        assert_eq!(
            h.to(Endpoint::Ws, &["cursor"], &[("cursor", "1.5.4")]),
            "ws://localhost:9/ws/chat.lobby?token=abc&cursor=1.5.4"
        );
        let h = HubUrl::parse("https://example.org/sse/x").unwrap();
        assert_eq!(
            h.to(Endpoint::Ws, &[], &[]),
            "wss://example.org/sse/x".replace("/sse/", "/ws/")
        );
        // A hub nested under a prefix of another app (sluice-axum's HubService at /rt).
        let h = HubUrl::parse("http://127.0.0.1:3000/rt/ws/room?token=t").unwrap();
        assert_eq!(
            (h.endpoint, h.base.as_str(), h.topic.as_str()),
            (Endpoint::Ws, "/rt", "room")
        );
        assert_eq!(
            h.to(Endpoint::Publish, &[], &[]),
            "http://127.0.0.1:3000/rt/publish/room?token=t"
        );
        let h = HubUrl::parse("http://h/a/b/publish/x").unwrap();
        assert_eq!(h.base, "/a/b");
    }

    #[test]
    fn bad_urls() {
        assert!(HubUrl::parse("127.0.0.1:8080/publish/news").is_err());
        assert!(HubUrl::parse("ftp://h/publish/news").is_err());
        assert!(HubUrl::parse("http://h/news").is_err());
        assert!(HubUrl::parse("http://h/publish/").is_err());
        assert!(HubUrl::parse("http://h/publish/a/b").is_err());
        assert!(HubUrl::parse("http://h:99999/publish/a").is_err());
    }

    #[test]
    fn status_lines() {
        let s = describe_status(
            403,
            br#"{"error":"forbidden","message":"not allowed: news"}"#,
            "h:1",
        );
        assert!(
            s.contains("HTTP 403") && s.contains("forbidden") && s.contains("not allowed: news")
        );
        assert_eq!(describe_status(401, b"", "h:1").lines().count(), 1);
        let refused = ClientError::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(describe_client_error(&refused, "h:1").contains("connection refused"));
    }
}
