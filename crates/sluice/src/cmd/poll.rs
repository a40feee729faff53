//! `sluice poll URL [--from earliest|now|CURSOR]`: a long-poll client that prints events as
//! JSON lines and resumes from its cursor across reconnects and server restarts.

use std::io::Write;
use std::time::Duration;

use sluice_tokio::longpoll::{ClientEvent, Cursor, LongPollClient, LongPollClientConfig, Start};

/// Arguments of `sluice poll`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Output: one JSON object per line:
  {\"id\":\"<cursor>\",\"event\":\"<type>\",\"data\":\"<text>\"}   an event
  {\"gap\":{\"missed\":N}}                                 N events were lost (out of retention)
  {\"reset\":true}                                       the server lost its history (new epoch)
  {\"end\":true}                                         the topic ended: nothing follows (exit 0)
Diagnostics go to stderr. An event's id is a cursor: resume later with --from <id>.

Examples:
  sluice poll http://127.0.0.1:8080/poll/news
  sluice poll http://127.0.0.1:8080/poll/news --from earliest --count 10
  sluice poll 'http://127.0.0.1:8080/poll/news?token=JWT' --from 1.9f3a2c4b1d0e7f55.42")]
pub(crate) struct PollArgs {
    /// The long-poll endpoint, e.g. http://127.0.0.1:8080/poll/news
    url: String,
    /// Where to start: `now` (only new events), `earliest` (the oldest retained event), or a
    /// cursor (an event id printed earlier: resume right after it).
    #[arg(long, default_value = "now", value_parser = parse_from)]
    from: Start,
    /// Seconds each request may wait for an event (the server caps it; 0 = plain polling).
    #[arg(long, default_value_t = 25)]
    timeout: u64,
    /// Most events per response (the server caps it).
    #[arg(long)]
    max: Option<u32>,
    /// Exit after printing this many events.
    #[arg(long)]
    count: Option<u64>,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// `--from`: `now`, `earliest` or a cursor (an event id printed earlier). Shared with `sub`.
pub(crate) fn parse_from(s: &str) -> Result<Start, String> {
    match s {
        "now" => Ok(Start::Now),
        "earliest" => Ok(Start::Earliest),
        c => Cursor::parse(c)
            .map(Start::At)
            .map_err(|e| format!("not `now`, `earliest` or an event id ({e})")),
    }
}

/// The JSON line for one surfaced item: the same lines `sluice sub` prints on every transport.
fn line(ev: &ClientEvent) -> String {
    let item = match ev {
        ClientEvent::Event(e) => sluice_client::Item::Event {
            id: e.id.to_string(),
            event: e.event.clone(),
            data: e.data.clone(),
        },
        ClientEvent::Gap { missed } => sluice_client::Item::Gap { missed: *missed },
        ClientEvent::Reset => sluice_client::Item::Reset,
        ClientEvent::End => sluice_client::Item::End,
    };
    super::sub::line(&item).unwrap_or_default()
}

pub(crate) fn run(a: PollArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice poll: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(poll(a))
}

async fn poll(a: PollArgs) -> i32 {
    let mut config = LongPollClientConfig::default();
    config.poll.timeout = Some(Duration::from_secs(a.timeout));
    config.poll.max = a.max;
    let connector = match a.tls.connector() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice poll: {e}");
            return 2;
        }
    };
    let mut client = match LongPollClient::with_connector(connector, &a.url, a.from, config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice poll: bad URL {:?}: {e}", a.url);
            return 2;
        }
    };
    let mut printed = 0u64;
    let stdout = std::io::stdout();
    loop {
        if a.count.is_some_and(|n| printed >= n) {
            return 0;
        }
        let item = tokio::select! {
            r = client.next() => r,
            _ = tokio::signal::ctrl_c() => {
                if let Some(c) = client.cursor() {
                    eprintln!("sluice poll: stopped; resume with --from {c}");
                }
                return 0;
            }
        };
        match item {
            Ok(ev) => {
                if matches!(ev, ClientEvent::Event(_)) {
                    printed += 1;
                }
                let mut out = stdout.lock();
                if writeln!(out, "{}", line(&ev))
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return 0; // stdout closed (e.g. `| head`)
                }
                if client.is_ended() {
                    return 0;
                }
            }
            Err(e) if e.is_terminal() => {
                eprintln!("sluice poll: {} : {e}", a.url);
                return 1;
            }
            Err(e) if !client.answered() => {
                eprintln!("sluice poll: cannot reach {}: {e}", a.url);
                return 1;
            }
            Err(e) => eprintln!("sluice poll: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_values() {
        assert_eq!(parse_from("now"), Ok(Start::Now));
        assert_eq!(parse_from("earliest"), Ok(Start::Earliest));
        assert_eq!(
            parse_from("1.5eed.3"),
            Ok(Start::At(Cursor::parse("1.5eed.3").unwrap()))
        );
        assert!(parse_from("1.5EED.3").is_err());
        assert!(parse_from("later").is_err());
    }

    #[test]
    fn json_lines() {
        assert_eq!(
            line(&ClientEvent::Gap { missed: 4 }),
            r#"{"gap":{"missed":4}}"#
        );
        assert_eq!(line(&ClientEvent::Reset), r#"{"reset":true}"#);
        let e = sluice_tokio::longpoll::ReceivedEvent {
            id: Cursor::parse("1.5eed.3").unwrap(),
            event: "m".into(),
            data: "a\"b\n".into(),
        };
        assert_eq!(
            line(&ClientEvent::Event(e)),
            r#"{"id":"1.5eed.3","event":"m","data":"a\"b\n"}"#
        );
    }
}
