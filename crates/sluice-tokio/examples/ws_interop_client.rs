//! Interop check of our WebSocket client against another implementation's echo
//! server (python `websockets`, node `ws`) that understands the interop commands
//! `close:CODE:REASON` and `fragment:N:PAYLOAD`.
//!
//! ```text
//! cargo run --release -p sluice-tokio --example ws_interop_client -- ws://127.0.0.1:9300/
//! ```
//!
//! Prints the negotiated extensions and one PASS/FAIL line per check; exits 1 if
//! any check failed. With `--expect-deflate`, permessage-deflate must be
//! negotiated and compressed messages must have gone both ways.

use bytes::Bytes;
use sluice_tokio::ws::{self, CloseCode, Message, WsConfig};

fn main() {
    let mut url = "ws://127.0.0.1:9300/".to_string();
    let mut expect_deflate = false;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--expect-deflate" => expect_deflate = true,
            _ => url = a,
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let failed = rt.block_on(run(&url, expect_deflate));
    println!("{} check(s) failed", failed);
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

fn report(name: &str, ok: bool, detail: String) -> usize {
    println!(
        "{} {name}{}",
        if ok { "PASS" } else { "FAIL" },
        if ok {
            String::new()
        } else {
            format!(": {detail}")
        }
    );
    usize::from(!ok)
}

async fn run(url: &str, expect_deflate: bool) -> usize {
    let mut failed = 0;
    let (mut socket, resp) = match ws::connect(url, WsConfig::default()).await {
        Ok(s) => s,
        Err(e) => return report("connect", false, e.to_string()),
    };
    let exts = sluice_ws::handshake::Extension::format_list(resp.extensions());
    println!(
        "connected to {url} (extensions: {})",
        if exts.is_empty() { "none" } else { &exts }
    );
    failed += report("connect", true, String::new());
    if expect_deflate {
        failed += report(
            "permessage-deflate negotiated",
            socket.connection().deflate().is_some(),
            format!("extensions: {exts:?}"),
        );
    }

    // Text echo, with non-ASCII text.
    let text = "hello, wörld — ✓";
    let got = async {
        socket.send(Message::text(text)).await?;
        socket.recv().await.ok_or(ws::Error::Closed)?
    }
    .await;
    failed += report(
        "text echo",
        matches!(&got, Ok(Message::Text(t)) if t.as_str() == text),
        format!("{got:?}"),
    );

    // Binary echo, 1 MiB (several TCP segments, a 64-bit length).
    let blob: Bytes = (0..1 << 20)
        .map(|i| (i * 7 + 3) as u8)
        .collect::<Vec<u8>>()
        .into();
    let got = async {
        socket.send(Message::Binary(blob.clone())).await?;
        socket.recv().await.ok_or(ws::Error::Closed)?
    }
    .await;
    failed += report(
        "binary echo 1 MiB",
        matches!(&got, Ok(Message::Binary(b)) if *b == blob),
        "mismatch".into(),
    );

    // We send a fragmented message; the peer reassembles and echoes it whole.
    let got = async {
        socket.send_fragment(Message::text("frag"), false).await?;
        socket.send_fragment(Message::text("ment"), false).await?;
        socket.send_fragment(Message::text("ed ✓"), true).await?;
        socket.recv().await.ok_or(ws::Error::Closed)?
    }
    .await;
    failed += report(
        "fragmented send",
        matches!(&got, Ok(Message::Text(t)) if t.as_str() == "fragmented ✓"),
        format!("{got:?}"),
    );

    // The peer sends a fragmented message; we reassemble it.
    let got = async {
        socket.send(Message::text("fragment:3:abcdefghi")).await?;
        socket.recv().await.ok_or(ws::Error::Closed)?
    }
    .await;
    failed += report(
        "fragmented receive",
        matches!(&got, Ok(Message::Text(t)) if t.as_str() == "abcdefghi"),
        format!("{got:?}"),
    );

    if expect_deflate {
        let stats = socket.connection().deflate().map(|d| d.stats());
        failed += report(
            "compressed messages both ways",
            stats.is_some_and(|s| s.messages_compressed > 0 && s.messages_inflated > 0),
            format!("{stats:?}"),
        );
        if let Some(s) = stats {
            println!(
                "deflate: sent {} compressed ({} -> {} bytes), received {} compressed ({} -> {} bytes)",
                s.messages_compressed,
                s.compress_in,
                s.compress_out,
                s.messages_inflated,
                s.inflate_in,
                s.inflate_out
            );
        }
    }

    // We close with 1000 and a reason; the peer echoes the code.
    let res = async {
        socket.close(CloseCode::NORMAL, "bye from client").await?;
        while let Some(m) = socket.recv().await {
            m?;
        }
        Ok::<_, ws::Error>(socket.close_info().cloned())
    }
    .await;
    failed += report(
        "client-initiated close 1000",
        matches!(&res, Ok(Some(info)) if info.code == CloseCode::NORMAL),
        format!("{res:?}"),
    );

    // The peer closes with 4001 and a reason.
    let res = async {
        let (mut socket, _) = ws::connect(url, WsConfig::default()).await?;
        socket
            .send(Message::text("close:4001:bye from server"))
            .await?;
        while let Some(m) = socket.recv().await {
            m?;
        }
        Ok::<_, ws::Error>(socket.close_info().cloned())
    }
    .await;
    failed += report(
        "server-initiated close 4001",
        matches!(&res, Ok(Some(info)) if info.code == CloseCode(4001) && info.reason == "bye from server"),
        format!("{res:?}"),
    );
    failed
}
