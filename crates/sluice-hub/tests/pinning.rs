//! Issue 16 item 1, byte for byte: a 1-byte event must not keep the 64 KiB read buffer it
//! arrived in alive. Each publish rides behind a 64 KiB body on a fresh connection (so the
//! event's bytes sit in a big buffer); 400 such events retained would pin ~26 MB if event
//! data were a slice of that buffer. Alone in its test binary: it reads the process's RSS.

mod common;
#[allow(unused_imports)] // used by `common`; unused where sluice-axum includes this file
use common::standalone as serve_under_test;

use common::{Server, T};
use sluice_hub::HubConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const EVENTS: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_events_do_not_pin_read_buffers() {
    let s = Server::start(HubConfig::default()).await;
    let mut one =
        b"GET /healthz HTTP/1.1\r\nhost: localhost\r\ncontent-length: 65536\r\n\r\n".to_vec();
    one.resize(one.len() + 65_536, b'z');
    one.extend_from_slice(
        b"POST /publish/pin HTTP/1.1\r\nhost: localhost\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx",
    );
    let round = || async {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(&one).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(T, c.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out).matches(" 200 OK").count(), 2);
    };
    // Warm up allocator and runtime, then measure.
    for _ in 0..50 {
        round().await;
    }
    let before = s.hub.metrics().rss_bytes;
    for _ in 0..EVENTS {
        round().await;
    }
    let after = s.hub.metrics().rss_bytes;
    let head = s.hub.longpoll().head("pin").unwrap();
    assert_eq!(head.seq(), (EVENTS + 50) as u64, "every event retained");
    if before == 0 {
        return; // no /proc: nothing to measure
    }
    let grown = after.saturating_sub(before);
    // Pinned, 400 × 64 KiB ≈ 26 MB; copied out, a few hundred KB.
    assert!(
        grown < 8 << 20,
        "RSS grew by {grown} bytes for {EVENTS} one-byte events"
    );
}
