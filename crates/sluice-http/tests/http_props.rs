//! Property tests of the HTTP/1.1 layer: whatever bytes a client sends, in whatever splits,
//! the server never panics, answers only with well-formed status lines, and always ends the
//! connection; a valid pipelined stream gets the same answers however it is split.

use std::time::Duration;

use proptest::prelude::*;
use sluice_http::{Reply, Request, Response, ServerConfig, StatusCode, serve_connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

async fn echo(mut req: Request<DuplexStream>) -> Reply<DuplexStream> {
    match req.body().await {
        Ok(b) => {
            let text = format!("{} {} {}", req.method(), req.target(), b.len());
            req.respond(Response::text(StatusCode::OK, text))
        }
        Err(e) => req.respond(Response::from_status(e.status())),
    }
}

fn config() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.max_head_size = 512;
    c.max_headers = 8;
    c.max_body_size = 256;
    c.header_read_timeout = Duration::from_millis(50);
    c.keep_alive_timeout = Duration::from_millis(50);
    c.body_read_timeout = Duration::from_millis(50);
    c.linger_timeout = Duration::from_millis(20);
    c
}

/// Feeds `input` in pieces of the given sizes, then reads the whole answer.
fn run(input: &[u8], splits: &[usize]) -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(async move {
            let _ = serve_connection(server, &config(), &echo).await;
        });
        let mut pos = 0;
        for &s in splits.iter().cycle().take(input.len() + 1) {
            if pos >= input.len() {
                break;
            }
            let end = (pos + s.max(1)).min(input.len());
            if client.write_all(&input[pos..end]).await.is_err() {
                break;
            }
            pos = end;
            tokio::task::yield_now().await;
        }
        let mut out = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "server never closed");
        task.await.expect("server task panicked");
        out
    })
}

fn statuses(out: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(out);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

const VALID: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\
POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n1;e=1\r\nz\r\n0\r\n\r\n\
GET /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn same_answers_whatever_the_split(splits in proptest::collection::vec(1usize..40, 1..8)) {
        let whole = run(VALID, &[VALID.len()]);
        let split = run(VALID, &splits);
        prop_assert_eq!(statuses(&whole), vec![200, 200, 200, 200]);
        prop_assert_eq!(&whole, &split);
    }

    #[test]
    fn arbitrary_bytes_never_break_the_server(
        prefix in proptest::sample::select(vec![&b""[..], b"GET / HTTP/1.1\r\nHost: h\r\n", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"]),
        noise in proptest::collection::vec(any::<u8>(), 0..600),
        splits in proptest::collection::vec(1usize..64, 1..4),
    ) {
        let input = [prefix, &noise[..]].concat();
        let out = run(&input, &splits);
        // Every answer has a valid status line; the connection always ends (checked in `run`).
        let text = String::from_utf8_lossy(&out);
        for s in statuses(&out) {
            prop_assert!([200, 400, 408, 413, 414, 417, 431, 501, 505].contains(&s), "{s} in {text:?}");
        }
    }
}
