//! The test fault proxy (`tests/support/fault_proxy.rs`) as a process, for tests in other
//! languages (`scripts/interop/chromium_client.mjs`).
//!
//! ```text
//! fault_proxy --upstream 127.0.0.1:8080 [--listen 127.0.0.1:0]
//! ```
//!
//! Prints `listening on ADDR`, then reads commands on stdin, one per line, each answered with
//! `ok <command>` (or `error <why>`): `pass`, `cut`, `cut-every MIN_MS MAX_MS`,
//! `refuse-upgrade on|off`, `withhold-sse on|off`, `offline on|off`, `split on|off`,
//! `delay MS`, `stall on|off`. Exits at the end of stdin. Loopback addresses only.

#[path = "../tests/support/fault_proxy.rs"]
mod fault_proxy;

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn loopback(s: &str) -> Result<SocketAddr, String> {
    let a: SocketAddr = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if !a.ip().is_loopback() {
        return Err(format!("{s}: loopback addresses only"));
    }
    Ok(a)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut upstream = None;
    let mut listen = "127.0.0.1:0".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--upstream" => upstream = args.next(),
            "--listen" => listen = args.next().unwrap_or_default(),
            _ => {
                eprintln!("usage: fault_proxy --upstream HOST:PORT [--listen HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let (Some(up), Ok(listen)) = (upstream.as_deref().map(loopback), loopback(&listen)) else {
        eprintln!("usage: fault_proxy --upstream HOST:PORT [--listen HOST:PORT]");
        std::process::exit(2);
    };
    let up = up.unwrap_or_else(|e| {
        eprintln!("fault_proxy: {e}");
        std::process::exit(2)
    });
    let proxy = fault_proxy::FaultProxy::start(listen, up)
        .await
        .unwrap_or_else(|e| {
            eprintln!("fault_proxy: cannot listen on {listen}: {e}");
            std::process::exit(1)
        });
    let mut out = tokio::io::stdout();
    let _ = out
        .write_all(format!("listening on {}\n", proxy.addr()).as_bytes())
        .await;
    let _ = out.flush().await;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let answer = match proxy.command(line) {
            Ok(()) => format!("ok {line}\n"),
            Err(e) => format!("error {e}\n"),
        };
        let _ = out.write_all(answer.as_bytes()).await;
        let _ = out.flush().await;
    }
}
