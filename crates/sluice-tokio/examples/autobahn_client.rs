//! Autobahn|Testsuite client testee: runs every case of a `wstest -m fuzzingserver`
//! against our client, echoing each message, then asks the server to write its
//! reports. Offers permessage-deflate (sections 12/13) unless `--no-deflate`.
//!
//! ```text
//! cargo run --release -p sluice-tokio --example autobahn_client -- --url ws://127.0.0.1:9001 --agent sluice
//! ```

use sluice_tokio::ws::{self, WsConfig};

fn main() {
    let mut url = "ws://127.0.0.1:9001".to_string();
    let mut agent = "sluice".to_string();
    let mut deflate = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--url" => url = args.next().expect("--url needs a value"),
            "--agent" => agent = args.next().expect("--agent needs a value"),
            "--no-deflate" => deflate = false,
            other => {
                eprintln!(
                    "usage: autobahn_client [--url ws://HOST:PORT] [--agent NAME] [--no-deflate] (got {other:?})"
                );
                std::process::exit(2);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = rt.block_on(run(&url, &agent, deflate)) {
        eprintln!("autobahn_client: {e}");
        std::process::exit(1);
    }
}

fn config(deflate: bool) -> WsConfig {
    let mut config = WsConfig::default();
    config.protocol = config
        .protocol
        .with_max_frame_size(64 << 20)
        .with_max_message_size(64 << 20);
    if !deflate {
        config = config.deflate(None);
    }
    config
}

async fn run(base: &str, agent: &str, deflate: bool) -> Result<(), ws::Error> {
    let config = || config(deflate);
    let (mut socket, _) = ws::connect(&format!("{base}/getCaseCount"), config()).await?;
    let count: u32 = match socket.recv().await {
        Some(Ok(m)) => std::str::from_utf8(m.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0),
        _ => 0,
    };
    while socket.recv().await.is_some() {}
    if count == 0 {
        return Err(ws::Error::Url(
            "the fuzzing server reported no cases".into(),
        ));
    }
    println!("{count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        match ws::connect(&url, config()).await {
            Ok((mut socket, _)) => {
                while let Some(Ok(msg)) = socket.recv().await {
                    if socket.send(msg).await.is_err() {
                        break;
                    }
                }
                while socket.recv().await.is_some() {}
            }
            Err(e) => eprintln!("case {case}: connect failed: {e}"),
        }
    }
    let (mut socket, _) =
        ws::connect(&format!("{base}/updateReports?agent={agent}"), config()).await?;
    while socket.recv().await.is_some() {}
    println!("reports updated");
    Ok(())
}
