//! `sluice ws URL`: a WebSocket client for the terminal (a websocat replacement). Each line of
//! stdin is sent as a message; each message received is printed on its own line.
//!
//! Works with any WebSocket server, not only the hub. With the hub (`/ws/{topic}`), received
//! lines are the hub's JSON frames and sent lines are published as `message` events.

use std::io::Write;
use std::time::Duration;

use sluice_http::{ClientError, ClientRequest, ClientStream, DefaultConnector};
use sluice_tokio::ws::{self, CloseCode, Message, WebSocket, WsConfig};
use sluice_ws::handshake::ResponseError;
use tokio::io::{AsyncBufReadExt, BufReader};

use sluice_client::{Backoff, Closed, ConnState, Overflow, ReconnectConfig, ReconnectingWebSocket};

use super::publish::{describe_client_error, describe_status};
use super::tls::TlsArgs;

/// Arguments of `sluice ws`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Stdin lines (without the line break) are sent as text messages (--binary: binary messages);
received messages are written to stdout, one per line (binary ones as raw bytes). At the end
of stdin a Close 1000 is sent and the server's Close awaited, unless --keep-open. Exit status
0 after a normal close (1000, 1001 or no code), 1 on other closes and failures, 2 for bad
arguments. http:// URLs are taken as ws://, https:// as wss://.

Examples:
  sluice ws ws://127.0.0.1:8080/ws/chat                    # chat: type lines, see everyone's
  sluice ws ws://127.0.0.1:8080/ws/news --keep-open < /dev/null   # just listen
  echo hello | sluice ws ws://127.0.0.1:9001/              # an echo server answers hello
  sluice ws --reconnect ws://127.0.0.1:9001/ --max-attempts 10   # survives server restarts
  sluice ws 'ws://127.0.0.1:8080/ws/chat?cursor=1.9f3a2c4b1d0e7f55.42' --token \"$TOKEN\"")]
pub(crate) struct WsArgs {
    /// The WebSocket URL, e.g. ws://127.0.0.1:8080/ws/chat
    url: String,
    /// A JWT sent as `Authorization: Bearer` (default: the SLUICE_TOKEN environment variable).
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Send stdin lines as binary messages instead of text.
    #[arg(long)]
    binary: bool,
    /// After the end of stdin, keep printing messages until the server closes.
    #[arg(long)]
    keep_open: bool,
    /// Offer this subprotocol (repeat for more, in order of preference).
    #[arg(long)]
    protocol: Vec<String>,
    /// Open the WebSocket as a stream of an HTTP/2 connection (RFC 8441 extended CONNECT):
    /// ALPN h2 for wss://, h2c with prior knowledge for ws://.
    #[arg(long)]
    http2: bool,
    /// Reconnect after a lost connection (backoff with full jitter; dead peers found by a ping
    /// deadline). Stdin lines typed while disconnected are queued and sent on reconnection.
    #[arg(long, conflicts_with = "http2")]
    reconnect: bool,
    /// With --reconnect: give up after this many failed attempts in a row (default: never).
    #[arg(long, requires = "reconnect")]
    max_attempts: Option<u32>,
    /// With --reconnect: stdin lines held while disconnected; more are refused (reported on
    /// stderr).
    #[arg(long, default_value_t = 1024, requires = "reconnect")]
    queue: usize,
    #[command(flatten)]
    tls: TlsArgs,
}

/// Opens a WebSocket to `url` (`ws://`/`wss://`, or `http(s)://` taken as the same) with an
/// optional Bearer token and subprotocols. Errors are one line, ready to print.
async fn connect(
    connector: &DefaultConnector,
    url: &str,
    token: Option<&str>,
    protocols: &[String],
    config: WsConfig,
) -> Result<WebSocket<ClientStream>, ConnectError> {
    let mut req = ClientRequest::get(url)
        .map_err(|e| ConnectError::BadUrl(format!("bad URL {url:?}: {e}")))?;
    if !matches!(req.url().scheme(), "ws" | "wss" | "http" | "https") || req.url().host().is_empty()
    {
        return Err(ConnectError::BadUrl(format!(
            "bad URL {url:?}: not a WebSocket URL"
        )));
    }
    let what = req.url().authority();
    req = with_fields(req, token, protocols).map_err(ConnectError::BadUrl)?;
    let mut config = config;
    config.handshake_timeout = Duration::from_secs(10);
    ws::connect_request(connector, &req, config)
        .await
        .map(|(socket, _)| socket)
        .map_err(|e| describe_ws_error(e, url, &what))
}

/// `req` with the token (`Authorization: Bearer`) and subprotocols. An error never quotes the
/// token: a token read from a file with CRLF line ends keeps its CR, which no header may hold.
fn with_fields(
    mut req: ClientRequest,
    token: Option<&str>,
    protocols: &[String],
) -> Result<ClientRequest, String> {
    if let Some(t) = token {
        req = req
            .try_header("authorization", format!("Bearer {t}"))
            .map_err(|_| {
                "the token contains characters not allowed in a header (a CR or control byte?)"
                    .to_owned()
            })?;
    }
    if !protocols.is_empty() {
        req = req
            .try_header("sec-websocket-protocol", protocols.join(", "))
            .map_err(|_| "a --protocol contains characters not allowed in a header".to_owned())?;
    }
    Ok(req)
}

/// Why [`connect`] failed.
#[derive(Debug)]
enum ConnectError {
    /// The URL or an argument is unusable (exit 2; retrying cannot help).
    BadUrl(String),
    /// The server answered the handshake with a status other than 101.
    Refused(String),
    /// Connecting or the handshake failed (refused, reset, timed out).
    Transport(String),
    /// The server's TLS certificate is not trusted (exit 1; retrying cannot help).
    Certificate(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::BadUrl(s) | ConnectError::Transport(s) | ConnectError::Certificate(s) => {
                f.write_str(s)
            }
            ConnectError::Refused(line) => f.write_str(line),
        }
    }
}

pub(crate) fn run(a: WsArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice ws: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(session(a))
}

async fn session(a: WsArgs) -> i32 {
    let connector = match a.tls.connector() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice ws: {e}");
            return 2;
        }
    };
    let fail = |e: ConnectError| {
        eprintln!("sluice ws: {e}");
        if matches!(e, ConnectError::BadUrl(_)) {
            2
        } else {
            1
        }
    };
    if a.reconnect {
        return reconnecting(&a, connector).await;
    }
    if a.http2 {
        return match connect_h2(&connector, &a.url, a.token.as_deref(), &a.protocol).await {
            Ok(s) => talk(s, &a).await,
            Err(e) => fail(e),
        };
    }
    match connect(
        &connector,
        &a.url,
        a.token.as_deref(),
        &a.protocol,
        WsConfig::default(),
    )
    .await
    {
        Ok(s) => talk(s, &a).await,
        Err(e) => fail(e),
    }
}

/// [`connect`] over HTTP/2 (RFC 8441).
async fn connect_h2(
    connector: &DefaultConnector,
    url: &str,
    token: Option<&str>,
    protocols: &[String],
) -> Result<WebSocket<sluice_http::H2Stream>, ConnectError> {
    let mut req = ClientRequest::get(url)
        .map_err(|e| ConnectError::BadUrl(format!("bad URL {url:?}: {e}")))?;
    let what = req.url().authority();
    req = with_fields(req, token, protocols).map_err(ConnectError::BadUrl)?;
    let mut config = WsConfig::default();
    config.handshake_timeout = Duration::from_secs(10);
    ws::connect_h2(connector, &req, config)
        .await
        .map(|(socket, _)| socket)
        .map_err(|e| describe_ws_error(e, url, &what))
}

/// One line for a failed WebSocket opening, and whether retrying can help.
fn describe_ws_error(e: ws::Error, url: &str, what: &str) -> ConnectError {
    match e {
        ws::Error::Response(ResponseError::UnexpectedStatus { status, .. }) => {
            let code = status.as_u16();
            ConnectError::Refused(describe_status(
                code,
                b"",
                &format!("{what} refused the WebSocket"),
            ))
        }
        ws::Error::Build(e) => ConnectError::BadUrl(format!("bad argument: {e}")),
        ws::Error::Url(e) => ConnectError::BadUrl(format!("bad URL {url:?}: {e}")),
        ws::Error::Connect(e) => match e {
            ClientError::Certificate { .. } => ConnectError::Certificate(e.to_string()),
            e => ConnectError::Transport(describe_client_error(&e, what)),
        },
        ws::Error::Timeout => {
            ConnectError::Transport(format!("WebSocket handshake with {what} timed out"))
        }
        e => ConnectError::Transport(format!("WebSocket handshake with {what} failed: {e}")),
    }
}

/// `--reconnect`: a [`ReconnectingWebSocket`]; state changes on stderr, one line each.
async fn reconnecting(a: &WsArgs, connector: DefaultConnector) -> i32 {
    let mut req = match ClientRequest::get(&a.url) {
        Ok(r) if matches!(r.url().scheme(), "ws" | "wss" | "http" | "https") => r,
        Ok(_) => {
            eprintln!("sluice ws: bad URL {:?}: not a WebSocket URL", a.url);
            return 2;
        }
        Err(e) => {
            eprintln!("sluice ws: bad URL {:?}: {e}", a.url);
            return 2;
        }
    };
    let what = req.url().authority();
    req = match with_fields(req, a.token.as_deref(), &a.protocol) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sluice ws: {e}");
            return 2;
        }
    };
    let config = ReconnectConfig::default()
        .with_backoff(Backoff::default().with_max_attempts(a.max_attempts))
        .with_queue(a.queue, Overflow::Error);
    let mut ws = ReconnectingWebSocket::builder(req)
        .connector(connector)
        .config(config)
        .connect();
    let Some(mut states) = ws.states() else {
        return 1;
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut close_when_sent = false;
    let mut code = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            msg = ws.recv() => {
                let Some(msg) = msg else { break };
                let mut out = std::io::stdout().lock();
                let ok = out
                    .write_all(msg.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .and_then(|()| out.flush());
                if ok.is_err() {
                    ws.close();
                }
            }
            st = states.next() => match st {
                Some(ConnState::Open { opens }) if opens > 1 => {
                    eprintln!("sluice ws: reconnected to {what} (connection {opens})");
                }
                Some(ConnState::Reconnecting { attempt, delay, reason, .. }) => eprintln!(
                    "sluice ws: {reason}; reconnecting in {} ms (attempt {attempt})",
                    delay.as_millis()
                ),
                Some(ConnState::Closed { reason }) => {
                    code = match reason {
                        Closed::ByCaller => 0,
                        Closed::Refused { status } => {
                            let what = format!("{what} refused the WebSocket");
                            eprintln!("sluice ws: {}", describe_status(status, b"", &what));
                            1
                        }
                        other => {
                            eprintln!("sluice ws: {other}");
                            1
                        }
                    };
                }
                Some(_) => {}
                None => {}
            },
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(l)) => {
                    let msg = if a.binary { Message::binary(l.into_bytes()) } else { Message::text(l) };
                    if let Err(e) = ws.send(msg) {
                        eprintln!("sluice ws: line not sent: {e}");
                    }
                }
                Ok(None) => {
                    stdin_open = false;
                    close_when_sent = !a.keep_open;
                }
                Err(e) => {
                    eprintln!("sluice ws: cannot read stdin: {e}");
                    stdin_open = false;
                    close_when_sent = true;
                }
            },
            _ = tick.tick(), if close_when_sent => {
                if ws.queued() == 0 {
                    close_when_sent = false;
                    ws.close();
                }
            }
            _ = tokio::signal::ctrl_c() => ws.close(),
        }
    }
    ws.closed().await;
    code
}

/// Stdin lines to messages and messages to stdout, until the connection ends.
async fn talk<S>(socket: WebSocket<S>, a: &WsArgs) -> i32
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = socket.split();

    // Received messages to stdout; ends when the connection does.
    let printer = async move {
        let stdout = std::io::stdout();
        while let Some(msg) = reader.recv().await {
            let msg = match msg {
                Ok(m) => m,
                Err(e) => return Err(format!("connection failed: {e}")),
            };
            let mut out = stdout.lock();
            let ok = out
                .write_all(msg.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush());
            if ok.is_err() {
                return Ok(None); // stdout closed (e.g. `| head`)
            }
        }
        Ok(reader.close_info())
    };
    tokio::pin!(printer);

    // Stdin lines to messages, concurrently with printing.
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let outcome = loop {
        tokio::select! {
            r = &mut printer => break r,
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(l)) => {
                    let msg = if a.binary { Message::binary(l.into_bytes()) } else { Message::text(l) };
                    if let Err(e) = writer.send(msg).await {
                        break Err(format!("cannot send: {e}"));
                    }
                }
                Ok(None) => {
                    stdin_open = false;
                    if !a.keep_open {
                        let _ = writer.close(CloseCode::NORMAL, "").await;
                    }
                }
                Err(e) => break Err(format!("cannot read stdin: {e}")),
            },
            _ = tokio::signal::ctrl_c() => {
                let _ = writer.close(CloseCode::NORMAL, "").await;
                stdin_open = false;
            }
        }
    };
    match outcome {
        Ok(None) => 0,
        Ok(Some(info)) => match info.code {
            CloseCode::NORMAL | CloseCode::GOING_AWAY | CloseCode::NO_STATUS => 0,
            code => {
                eprintln!(
                    "sluice ws: connection closed with code {}{}",
                    code.0,
                    if info.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", info.reason)
                    }
                );
                1
            }
        },
        Err(e) => {
            eprintln!("sluice ws: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_are_not_retried() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let c = DefaultConnector::default();
        for u in ["ftp://h/", "ws://", "nonsense"] {
            let e = rt
                .block_on(connect(&c, u, None, &[], WsConfig::default()))
                .unwrap_err();
            assert!(matches!(e, ConnectError::BadUrl(_)), "{u}: {e}");
        }
    }
}
