//! `sluice relay SRC_URL DEST_PUBLISH_URL [-X METHOD] [-H 'K: V']... [-d BODY|@FILE]`: reads an
//! upstream event stream (an LLM API answering a POST, any SSE endpoint) and publishes every
//! event to a hub topic, then ends the topic ([`sluice_client::relay()`]).

use sluice_client::{RelayError, relay_until};
use sluice_tokio::sse::SseClient;

use super::publish::{Endpoint, HubUrl};
use super::sse::RequestArgs;

/// Arguments of `sluice relay`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Every upstream event is published to the topic of DEST_PUBLISH_URL with its type and data (one
Idempotency-Key per event across retries: appended once). When the upstream's terminal event
arrives (see --dialect) the topic is ended (POST /close/TOPIC): followers get every event, then
the end, on any transport, and a reload resumes from its cursor. When the upstream fails (an
error event, a cut before the terminal event, a refusal) an `error` event with the reason is
published, the topic is ended, and the exit status is 1. The generation runs to completion
whoever is watching. Interrupted (SIGINT, SIGTERM), the relay stops between two events,
publishes an `error` event of type `aborted` and ends the topic, so that followers do not wait
for an end that never comes (a second signal meanwhile exits at once).

Exit status: 0 relayed to the end, 1 upstream or hub failure, 2 bad arguments, 130
interrupted.

Examples:
  sluice relay https://api.openai.com/v1/chat/completions http://127.0.0.1:8080/publish/gen-42 \\
      -H \"Authorization: Bearer $OPENAI_API_KEY\" -H 'Content-Type: application/json' \\
      -d '{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'
  sluice relay http://127.0.0.1:9000/stream http://127.0.0.1:8080/publish/gen-43 -d @prompt.json --token \"$JWT\"")]
pub(crate) struct RelayArgs {
    #[command(flatten)]
    upstream: RequestArgs,
    /// The hub topic to publish to: http(s)://HOST:PORT[/PREFIX]/publish/TOPIC
    dest: String,
    /// A JWT for a hub with --auth-secret (publish permission on the topic; default: the
    /// SLUICE_TOKEN environment variable).
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

pub(crate) fn run(a: RelayArgs) -> i32 {
    let hub = match HubUrl::parse(&a.dest) {
        Ok(h) if h.endpoint == Endpoint::Publish => h,
        Ok(_) => {
            eprintln!(
                "sluice relay: {:?}: give the topic's /publish/TOPIC URL",
                a.dest
            );
            return 2;
        }
        Err(e) => {
            eprintln!("sluice relay: bad URL {:?}: {e}", a.dest);
            return 2;
        }
    };
    let (req, config) = match a.upstream.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sluice relay: {e}");
            return 2;
        }
    };
    let connector = match a.tls.connector() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice relay: {e}");
            return 2;
        }
    };
    let client = match hub.client(connector.clone(), a.token.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice relay: bad URL {:?}: {e}", a.dest);
            return 2;
        }
    };
    let upstream = SseClient::with_connector(connector, req, config);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice relay: cannot start the runtime: {e}");
            return 1;
        }
    };
    let topic = hub.topic.clone();
    // A signal stops the relay between two events (followers get an `aborted` error event and
    // the end); a second one exits at once, whatever the relay is waiting for. Signals are
    // watched here, not inside the relay, so that they are seen while it publishes.
    let (stopped, stop) = tokio::sync::oneshot::channel::<String>();
    let outcome = rt.block_on(async {
        let stop = async move { stop.await.unwrap_or_default() };
        let signals = async move {
            let s = super::serve::wait_for_signal().await;
            let _ = stopped.send(format!("the relay was interrupted ({s})"));
            super::serve::wait_for_signal().await
        };
        tokio::select! {
            r = relay_until(upstream, &client, &topic, stop) => Some(r),
            _ = signals => None,
        }
    });
    let Some(outcome) = outcome else {
        eprintln!("sluice relay: interrupted twice: exiting (topic NOT ended)");
        return 130;
    };
    match outcome {
        Ok(s) => {
            let d = s.dialect.map_or("", |d| d.name());
            eprintln!(
                "sluice relay: {} events relayed to {topic} ({d}), topic ended at {}",
                s.events, s.end
            );
            0
        }
        Err(e) => {
            // 130: stopped by a signal (as a shell reports an interrupted command).
            let (ended, code) = match &e {
                RelayError::Aborted { ended, .. } => (Some(*ended), 130),
                RelayError::Upstream { ended, .. } => (Some(*ended), 1),
                _ => (None, 1),
            };
            match ended {
                Some(true) => eprintln!("sluice relay: {e} (topic ended with an error event)"),
                Some(false) => eprintln!("sluice relay: {e} (topic NOT ended)"),
                None => eprintln!("sluice relay: {e}"),
            }
            code
        }
    }
}
