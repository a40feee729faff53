//! `sluice relay SRC_URL DEST_PUBLISH_URL [-X METHOD] [-H 'K: V']... [-d BODY|@FILE]`: reads an
//! upstream event stream (an LLM API answering a POST, any SSE endpoint) and publishes every
//! event to a hub topic, then ends the topic ([`sluice_client::relay()`]).

use sluice_client::{RelayError, relay};
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
whoever is watching. Interrupted (SIGINT, SIGTERM), the relay publishes an `error` event of type
`aborted` and ends the topic, so that followers do not wait for an end that never comes.

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
    let interrupted = rt.block_on(async {
        tokio::select! {
            r = relay(upstream, &client, &topic) => Ok(r),
            signal = super::serve::wait_for_signal() => Err(signal),
        }
    });
    let outcome = match interrupted {
        Ok(r) => r,
        // Followers must not wait for an end that never comes: say why the stream stops,
        // then end the topic (each within the sink's own retries).
        Err(signal) => {
            let data = serde_json::json!({"error": {
                "type": "aborted",
                "message": format!("the relay was interrupted ({signal})"),
            }})
            .to_string();
            let ended = rt.block_on(async {
                client.publish(&topic, "error", data).await.is_ok()
                    && client.close(&topic).await.is_ok()
            });
            let what = if ended {
                "topic ended with an error event"
            } else {
                "topic NOT ended"
            };
            eprintln!("sluice relay: interrupted by {signal} ({what})");
            return 130;
        }
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
        Err(e @ RelayError::Upstream { ended, .. }) => {
            let what = if ended {
                "topic ended with an error event"
            } else {
                "topic NOT ended"
            };
            eprintln!("sluice relay: {e} ({what})");
            1
        }
        Err(e) => {
            eprintln!("sluice relay: {e}");
            1
        }
    }
}
