//! `sluice sse ...`: decode an event stream to JSON lines, encode JSON lines to an event
//! stream, and connect to a server as an `EventSource` does.

use std::io::{self, BufRead, Read, Write};
use std::time::Duration;

use serde_json::Value;
use sluice_http::{ClientRequest, Url};
use sluice_sse::llm::Dialect;
use sluice_sse::{Config, Event, Item, MessageEvent, Parser};
use sluice_tokio::sse::{SseClient, SseClientConfig, SseEvent};

/// `sluice sse` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum SseCommand {
    /// Read an event stream on stdin, print one JSON line per dispatched event and a final
    /// `{"eof":true,...}` line.
    #[command(after_help = "\
Output: one JSON object per line:
  {\"type\":\"<event type, message when empty>\",\"data\":\"...\",\"id\":\"<last event ID>\"}
  {\"comment\":\"...\"}                                   with --comments
  {\"eof\":true,\"retry\":<ms or null>,\"last_event_id\":\"...\"}   at the end of input

Example:
  printf 'id: 1\\ndata: hi\\n\\n' | sluice sse decode")]
    Decode(DecodeArgs),
    /// Read JSON lines on stdin, write the event stream on stdout (the reverse of `decode`).
    #[command(after_help = "\
Input: one JSON object per line (blank lines skipped), members all optional:
  {\"type\" or \"event\":\"...\",\"data\":\"...\",\"id\":\"...\",\"retry\":<ms>,\"comment\":\"...\"}
  {\"eof\":true,\"retry\":<ms or null>,\"last_event_id\":\"...\"}   (decode's last line)
An `id` equal to the current last event ID is not repeated, and type \"message\" is the
default, so `sluice sse decode | sluice sse encode | sluice sse decode` prints what the
first decode printed.

Example:
  echo '{\"type\":\"greet\",\"data\":\"a\\nb\",\"id\":\"7\"}' | sluice sse encode")]
    Encode,
    /// Connect to an event-stream URL and print events as JSON lines, reconnecting per the
    /// `EventSource` rules (`retry`, `Last-Event-ID`, 204 stops).
    #[command(after_help = "\
Output: the JSON lines of `sluice sse decode` (events, and comments with --comments).
Connection changes and errors go to stderr. Exit 0 after the stream's terminal event (see
--dialect: `data: [DONE]`, `message_stop`, `response.completed`, `sluice-end`…), a 204, or
--count events; 1 when the stream reports an error, ends before its terminal event (a POST
is not re-sent without --resend), or gets a fatal answer; 2 on bad arguments.

Examples:
  sluice sse connect http://127.0.0.1:8080/sse/news
  sluice sse connect http://127.0.0.1:8000/v1/chat -X POST -H 'Authorization: Bearer KEY' \\
      -H 'Content-Type: application/json' -d @request.json --idle-timeout 30")]
    Connect(ConnectArgs),
    /// `sluice sse URL [OPTIONS]` is short for `sluice sse connect URL [OPTIONS]`.
    #[command(external_subcommand)]
    Url(Vec<String>),
}

/// Parses the shorthand `sluice sse URL [OPTIONS]` as `connect`'s arguments.
#[derive(Debug, clap::Parser)]
#[command(name = "sluice sse")]
struct UrlShorthand {
    #[command(flatten)]
    args: ConnectArgs,
}

/// Arguments of `sluice sse decode`.
#[derive(Debug, clap::Args)]
pub(crate) struct DecodeArgs {
    /// Feed the parser this many bytes at a time (default: whatever each read returns).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    chunk_size: Option<u64>,
    /// Also print comment lines as `{"comment":"..."}`.
    #[arg(long)]
    comments: bool,
    /// Longest line accepted, in bytes.
    #[arg(long, default_value_t = Config::DEFAULT_MAX_LINE_LENGTH)]
    max_line_length: usize,
    /// Largest event data accepted, in bytes.
    #[arg(long, default_value_t = Config::DEFAULT_MAX_EVENT_SIZE)]
    max_event_size: usize,
}

/// The request to an event-stream URL (`sluice sse connect`, `sluice relay`).
#[derive(Debug, clap::Args)]
pub(crate) struct RequestArgs {
    /// The event-stream URL (http:// or https://).
    pub(crate) url: String,
    /// Request method (default GET, or POST with -d).
    #[arg(short = 'X', long = "request")]
    method: Option<String>,
    /// A request header field, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Request body; `@FILE` reads it from FILE (`@-`: stdin). A POST is sent once: it is
    /// re-sent on reconnection only with --resend.
    #[arg(short = 'd', long = "data")]
    body: Option<String>,
    /// Which events end the stream: auto (OpenAI Chat Completions `[DONE]`, Responses
    /// `response.completed`, Anthropic `message_stop`, Vercel AI SDK `finish`, Sluice
    /// `sluice-end`; their error events), one of openai, openai-responses, anthropic,
    /// vercel, sluice, or none (a plain EventSource: only 204 stops it).
    #[arg(long, default_value = "auto", value_parser = parse_dialect)]
    pub(crate) dialect: DialectArg,
    /// Re-send a request that is not idempotent (POST with its body) when reconnecting.
    #[arg(long)]
    resend: bool,
    /// Seconds without an event (keep-alive comments and ping events aside) before the
    /// stream counts as stalled (0: never).
    #[arg(long, default_value_t = 0)]
    idle_timeout: u64,
    /// Seconds without any byte (events or heartbeats) before the connection counts as dead
    /// and is replaced (0: never).
    #[arg(long, default_value_t = 60)]
    read_timeout: u64,
}

/// `--dialect`: a dialect, or `none`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DialectArg(Option<Dialect>);

fn parse_dialect(s: &str) -> Result<DialectArg, String> {
    if s == "none" {
        return Ok(DialectArg(None));
    }
    Dialect::from_name(s)
        .map(|d| DialectArg(Some(d)))
        .ok_or_else(|| {
            "one of auto, openai, openai-responses, anthropic, vercel, sluice, none".to_owned()
        })
}

impl RequestArgs {
    /// The request and the client configuration these arguments describe.
    pub(crate) fn build(&self) -> Result<(ClientRequest, SseClientConfig), String> {
        let url = Url::parse(&self.url).map_err(|e| format!("bad URL {:?}: {e}", self.url))?;
        let method = self
            .method
            .clone()
            .unwrap_or_else(|| if self.body.is_some() { "POST" } else { "GET" }.to_owned());
        let mut req = ClientRequest::new(method, url);
        for h in &self.headers {
            let Some((name, value)) = h.split_once(':') else {
                return Err(format!("header {h:?} is not `Name: value`"));
            };
            req = req
                .try_header(name.trim().to_owned(), value.trim().to_owned())
                .map_err(|e| format!("header {h:?}: {e}"))?;
        }
        match self.body.as_deref() {
            Some("@-") => {
                let mut b = Vec::new();
                io::stdin()
                    .read_to_end(&mut b)
                    .map_err(|e| format!("cannot read the body from stdin: {e}"))?;
                req = req.body(b);
            }
            Some(b) if b.starts_with('@') => {
                let b = std::fs::read(&b[1..]).map_err(|e| format!("cannot read {b}: {e}"))?;
                req = req.body(b);
            }
            Some(b) => req = req.body(b.to_owned()),
            None => {}
        }
        let secs = |n: u64| (n > 0).then(|| Duration::from_secs(n));
        let config = SseClientConfig::default()
            .with_read_timeout(secs(self.read_timeout))
            .with_idle_timeout(secs(self.idle_timeout))
            .with_dialect(self.dialect.0)
            .with_resend(self.resend);
        Ok((req, config))
    }
}

/// Arguments of `sluice sse connect`.
#[derive(Debug, clap::Args)]
pub(crate) struct ConnectArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Start from this last event ID (sent as `Last-Event-ID`).
    #[arg(long)]
    last_event_id: Option<String>,
    /// Stop at the end of the first stream instead of reconnecting.
    #[arg(long)]
    no_reconnect: bool,
    /// Exit after printing this many events.
    #[arg(long)]
    count: Option<u64>,
    /// Also print comment lines (heartbeats are empty comments).
    #[arg(long)]
    comments: bool,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

pub(crate) fn run(c: SseCommand) -> i32 {
    match c {
        SseCommand::Decode(a) => decode(&a),
        SseCommand::Encode => encode(),
        SseCommand::Connect(a) => connect(a),
        SseCommand::Url(argv) => {
            use clap::Parser;
            match UrlShorthand::try_parse_from(
                std::iter::once("sluice sse".to_string()).chain(argv),
            ) {
                Ok(u) => connect(u.args),
                Err(e) => {
                    let _ = e.print();
                    if e.use_stderr() { 2 } else { 0 }
                }
            }
        }
    }
}

fn js(s: &str) -> String {
    Value::from(s).to_string()
}

/// The JSON line of a dispatched event (members in the documented order).
fn event_line(e: &MessageEvent) -> String {
    format!(
        r#"{{"type":{},"data":{},"id":{}}}"#,
        js(e.event_type()),
        js(&e.data),
        js(e.last_event_id())
    )
}

fn comment_line(c: &str) -> String {
    format!(r#"{{"comment":{}}}"#, js(c))
}

fn eof_line(retry: Option<u64>, last_event_id: &str) -> String {
    let retry = retry.map_or_else(|| "null".to_owned(), |r| r.to_string());
    format!(
        r#"{{"eof":true,"retry":{retry},"last_event_id":{}}}"#,
        js(last_event_id)
    )
}

fn decode(a: &DecodeArgs) -> i32 {
    let config = Config::default()
        .with_max_line_length(a.max_line_length)
        .with_max_event_size(a.max_event_size)
        .with_emit_comments(a.comments);
    let mut parser = Parser::with_config(config);
    let mut out = io::BufWriter::new(io::stdout().lock());
    match decode_stream(&mut parser, &mut io::stdin().lock(), &mut out, a.chunk_size) {
        Ok(()) => 0,
        Err(DecodeError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            let _ = out.flush();
            eprintln!("sluice sse decode: {e}");
            1
        }
    }
}

#[derive(Debug)]
enum DecodeError {
    Io(io::Error),
    Parse(sluice_sse::ParseError),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Io(e) => write!(f, "{e}"),
            DecodeError::Parse(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for DecodeError {
    fn from(e: io::Error) -> Self {
        DecodeError::Io(e)
    }
}

impl From<sluice_sse::ParseError> for DecodeError {
    fn from(e: sluice_sse::ParseError) -> Self {
        DecodeError::Parse(e)
    }
}

/// Feeds `input` to the parser (`chunk` bytes at a time when given), printing as it goes.
fn decode_stream(
    parser: &mut Parser,
    input: &mut impl Read,
    out: &mut impl Write,
    chunk: Option<u64>,
) -> Result<(), DecodeError> {
    let step = chunk.map(|n| usize::try_from(n).unwrap_or(usize::MAX).max(1));
    let mut buf = vec![0u8; 64 * 1024];
    // With a chunk size: bytes read but not yet fed (fewer than one chunk).
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match input.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        match step {
            None => {
                parser.handle_input(&buf[..n])?;
                drain(parser, out)?;
            }
            Some(step) => {
                carry.extend_from_slice(&buf[..n]);
                let mut fed = 0;
                while carry.len() - fed >= step || (n == 0 && fed < carry.len()) {
                    let end = (fed + step).min(carry.len());
                    parser.handle_input(&carry[fed..end])?;
                    drain(parser, out)?;
                    fed = end;
                }
                carry.drain(..fed);
            }
        }
        if n == 0 {
            parser.handle_eof();
            drain(parser, out)?;
            writeln!(out, "{}", eof_line(parser.retry(), parser.last_event_id()))?;
            out.flush()?;
            return Ok(());
        }
        out.flush()?;
    }
}

fn drain(parser: &mut Parser, out: &mut impl Write) -> io::Result<()> {
    while let Some(item) = parser.poll_item() {
        match item {
            Item::Event(e) => writeln!(out, "{}", event_line(&e))?,
            Item::Comment(c) => writeln!(out, "{}", comment_line(&c))?,
            _ => {}
        }
    }
    Ok(())
}

/// Turns JSON lines into event-stream bytes, remembering the last event ID written.
#[derive(Debug, Default)]
struct Encoder {
    last_event_id: String,
}

impl Encoder {
    /// Encodes one JSON line into `buf`.
    fn line(&mut self, text: &str, buf: &mut Vec<u8>) -> Result<(), String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let Value::Object(m) = v else {
            return Err("expected a JSON object".into());
        };
        let string = |key: &str| -> Result<Option<&str>, String> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(format!("\"{key}\" must be a string, not {other}")),
            }
        };
        let retry = match m.get("retry") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| format!("\"retry\" must be a whole number of ms, not {v}"))?,
            ),
        };
        if m.get("eof").is_some_and(|e| e != &Value::Bool(false)) {
            for k in m.keys() {
                if !matches!(k.as_str(), "eof" | "retry" | "last_event_id") {
                    return Err(format!("unknown member \"{k}\" in an eof line"));
                }
            }
            let mut ev = Event::new();
            let mut any = false;
            if let Some(ms) = retry {
                ev = ev.retry(Duration::from_millis(ms));
                any = true;
            }
            if let Some(id) = string("last_event_id")?
                && id != self.last_event_id
            {
                ev = ev.id(id);
                any = true;
            }
            if any {
                buf.extend_from_slice(&ev.to_bytes().map_err(|e| e.to_string())?);
                self.remember(string("last_event_id")?);
            }
            return Ok(());
        }
        for k in m.keys() {
            if !matches!(
                k.as_str(),
                "type" | "event" | "data" | "id" | "retry" | "comment"
            ) {
                return Err(format!("unknown member \"{k}\""));
            }
        }
        if m.contains_key("type") && m.contains_key("event") {
            return Err("give \"type\" or \"event\", not both".into());
        }
        let mut ev = Event::new();
        if let Some(c) = string("comment")? {
            ev = ev.comment(c);
        }
        match string("type")?.or(string("event")?) {
            None | Some("message") => {}
            Some(t) => ev = ev.event(t),
        }
        let id = string("id")?;
        if let Some(id) = id
            && id != self.last_event_id
        {
            ev = ev.id(id);
        }
        if let Some(ms) = retry {
            ev = ev.retry(Duration::from_millis(ms));
        }
        let data = string("data")?;
        if let Some(d) = data {
            ev = ev.data(d);
        }
        let encoded = ev.to_bytes().map_err(|e| e.to_string())?;
        let comment_only = data.is_none() && id.is_none() && retry.is_none() && m.len() == 1;
        if comment_only {
            // A comment alone: its lines without the blank line that would end an event.
            buf.extend_from_slice(&encoded[..encoded.len() - 1]);
            return Ok(());
        }
        buf.extend_from_slice(&encoded);
        self.remember(id);
        Ok(())
    }

    fn remember(&mut self, id: Option<&str>) {
        if let Some(id) = id {
            id.clone_into(&mut self.last_event_id);
        }
    }
}

fn encode() -> i32 {
    let mut enc = Encoder::default();
    let mut out = io::stdout().lock();
    let mut buf = Vec::new();
    for (n, line) in io::stdin().lock().lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("sluice sse encode: reading stdin: {e}");
                return 1;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        buf.clear();
        if let Err(e) = enc.line(&line, &mut buf) {
            eprintln!("sluice sse encode: line {}: {e}", n + 1);
            return 1;
        }
        if out.write_all(&buf).and_then(|()| out.flush()).is_err() {
            return 0; // stdout closed
        }
    }
    0
}

fn connect(a: ConnectArgs) -> i32 {
    let (req, config) = match a.request.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sluice sse connect: {e}");
            return 2;
        }
    };
    let mut config = config.with_reconnect(!a.no_reconnect);
    config.sse.parser.emit_comments = a.comments;
    let connector = match a.tls.connector() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice sse connect: {e}");
            return 2;
        }
    };
    let mut client = SseClient::with_connector(connector, req, config);
    if let Some(id) = &a.last_event_id {
        client = client.with_last_event_id(id);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice sse connect: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(stream(client, &a))
}

async fn stream(mut client: SseClient, a: &ConnectArgs) -> i32 {
    let mut printed = 0u64;
    let stdout = io::stdout();
    loop {
        if a.count.is_some_and(|n| printed >= n) {
            return 0;
        }
        let item = tokio::select! {
            r = client.next() => r,
            _ = tokio::signal::ctrl_c() => {
                if !client.last_event_id().is_empty() {
                    eprintln!("sluice sse: stopped; resume with --last-event-id {:?}", client.last_event_id());
                }
                return 0;
            }
        };
        let line = match item {
            Ok(Some(SseEvent::Event(e))) => {
                printed += 1;
                event_line(&e)
            }
            Ok(Some(SseEvent::Comment(c))) => comment_line(&c),
            Ok(Some(SseEvent::Open { url, .. })) => {
                eprintln!("sluice sse: connected to {url}");
                continue;
            }
            Ok(Some(SseEvent::Retry(ms))) => {
                eprintln!("sluice sse: reconnection time {ms} ms");
                continue;
            }
            Ok(Some(SseEvent::Reconnecting { delay, cause })) => {
                eprintln!(
                    "sluice sse: {cause}; reconnecting in {} ms",
                    delay.as_millis()
                );
                continue;
            }
            Ok(Some(_)) => continue,
            Ok(None) if client.is_done() => {
                let d = client.dialect().map_or("the", |d| d.name());
                eprintln!("sluice sse: done ({d} stream's terminal event)");
                return 0;
            }
            Ok(None) => {
                eprintln!("sluice sse: stream finished");
                return 0;
            }
            Err(e) => {
                eprintln!("sluice sse: {}: {e}", a.request.url);
                return 1;
            }
        };
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return 0; // stdout closed (e.g. `| head`)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(lines: &[&str]) -> Result<String, String> {
        let mut e = Encoder::default();
        let mut buf = Vec::new();
        for l in lines {
            e.line(l, &mut buf)?;
        }
        Ok(String::from_utf8(buf).unwrap())
    }

    #[test]
    fn encodes_json_lines() {
        assert_eq!(
            enc(&[
                r#"{"type":"message","data":"a\nb","id":"1"}"#,
                r#"{"event":"x","data":"c","id":"1"}"#,
                r#"{"comment":"hb"}"#,
                r#"{"eof":true,"retry":1500,"last_event_id":"2"}"#,
            ])
            .unwrap(),
            "id: 1\ndata: a\ndata: b\n\nevent: x\ndata: c\n\n: hb\nid: 2\nretry: 1500\n\n"
        );
        assert_eq!(
            enc(&[r#"{"eof":true,"retry":null,"last_event_id":""}"#]).unwrap(),
            ""
        );
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(enc(&["not json"]).unwrap_err().contains("invalid JSON"));
        assert!(enc(&["[1]"]).is_err());
        assert!(enc(&[r#"{"data":1}"#]).unwrap_err().contains("string"));
        assert!(enc(&[r#"{"retry":-1}"#]).is_err());
        assert!(
            enc(&[r#"{"colour":"red"}"#])
                .unwrap_err()
                .contains("unknown")
        );
        assert!(
            enc(&[r#"{"id":"a\nb","data":"x"}"#])
                .unwrap_err()
                .contains("line break")
        );
        assert!(enc(&[r#"{"type":"a","event":"b"}"#]).is_err());
    }

    #[test]
    fn json_lines_out() {
        let e = MessageEvent::new("", "a\"b\n", "7");
        assert_eq!(
            event_line(&e),
            r#"{"type":"message","data":"a\"b\n","id":"7"}"#
        );
        assert_eq!(
            eof_line(None, ""),
            r#"{"eof":true,"retry":null,"last_event_id":""}"#
        );
    }
}
