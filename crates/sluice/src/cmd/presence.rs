//! `sluice presence URL`: who is subscribed to a hub topic (`GET /presence/{topic}`).

use super::publish::{HubUrl, describe_status};

/// Arguments of `sluice presence`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Prints one JSON object per present client: {\"client\",\"sub\",\"transport\",\"since\"} (since: Unix
ms). The URL names the topic with any hub route (/presence/TOPIC, /ws/TOPIC, /sse/TOPIC,
/poll/TOPIC). With a shared store (Redis, NATS) the list covers every node. Exit status 0, 1
when the hub refuses (401, 403) or cannot be reached.

Examples:
  sluice presence http://127.0.0.1:8080/presence/chat
  sluice presence http://127.0.0.1:8080/ws/chat --token \"$TOKEN\"")]
pub(crate) struct PresenceArgs {
    /// A hub URL naming the topic, e.g. http://127.0.0.1:8080/presence/chat
    url: String,
    /// A JWT with subscribe permission (default: the SLUICE_TOKEN environment variable).
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

pub(crate) fn run(a: PresenceArgs) -> i32 {
    let url = a.url.replacen("/presence/", "/poll/", 1);
    let hub = match HubUrl::parse(&url) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("sluice presence: bad URL {:?}: {e}", a.url);
            return 2;
        }
    };
    let connector = match a.tls.connector() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice presence: {e}");
            return 2;
        }
    };
    let client = match hub.client(connector, a.token.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice presence: bad URL {:?}: {e}", a.url);
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice presence: cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(client.presence(&hub.topic)) {
        Ok(members) => {
            for m in members {
                println!(
                    "{}",
                    serde_json::json!({
                        "client": m.client,
                        "sub": m.sub,
                        "transport": m.transport,
                        "since": m.since,
                    })
                );
            }
            0
        }
        Err(sluice_client::PublishError::Refused { status, body }) => {
            let what = format!("{} refused", hub.authority);
            eprintln!(
                "sluice presence: {}",
                describe_status(status, body.as_bytes(), &what)
            );
            1
        }
        Err(e) => {
            eprintln!("sluice presence: cannot reach {}: {e}", hub.authority);
            1
        }
    }
}
