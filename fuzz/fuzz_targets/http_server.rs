//! The HTTP/1.1 server layer (`sluice_http::serve_connection`) fed arbitrary bytes
//! as one client connection, on a runtime with paused (virtual) time so timeouts fire at
//! once.
//!
//! Invariants: the server never panics and always finishes; everything it writes is a
//! sequence of well-formed HTTP/1.1 responses (each head parses, each status is one the
//! layer documents, framed by Content-Length or chunked); it answers at most one response
//! per request it could have seen; the bytes it writes stay bounded by the input size.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sluice_http::{self as http, Reply, Request, Response, ServerConfig, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const ALLOWED: &[u16] = &[100, 200, 400, 404, 408, 413, 414, 417, 431, 501, 505];

async fn handler(mut req: Request<DuplexStream>) -> Reply<DuplexStream> {
    // An answer to HEAD has a Content-Length but no body (RFC 9110 §9.3.2): mark it so the
    // checker knows.
    let head = req.method() == "HEAD";
    let mark = |r: Response| if head { r.header("x-head", "1") } else { r };
    if req.path() == "/404" {
        return req.respond(mark(Response::from_status(StatusCode::NOT_FOUND)));
    }
    match req.body().await {
        Ok(body) => req.respond(mark(Response::text(StatusCode::OK, body))),
        Err(e) => req.respond(mark(Response::from_status(e.status()))),
    }
}

fn check_output(out: &[u8], input_len: usize) {
    let mut rest = out;
    let mut responses = 0usize;
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!(
                "unparseable response head {other:?}: {:?}",
                String::from_utf8_lossy(rest)
            ),
        };
        let status = resp.code.unwrap();
        assert!(ALLOWED.contains(&status), "unexpected status {status}");
        let mut len = None;
        let mut chunked = false;
        let mut head = false;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                len = Some(
                    std::str::from_utf8(h.value)
                        .unwrap()
                        .parse::<usize>()
                        .unwrap(),
                );
            }
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = true;
            }
            if h.name.eq_ignore_ascii_case("x-head") {
                head = true;
            }
        }
        rest = &rest[n..];
        if status == 100 {
            continue;
        }
        responses += 1;
        if chunked {
            // Only our handler's full bodies are sent; the layer never chunks them.
            panic!("unexpected chunked response");
        }
        let len = len.expect("every response is framed by Content-Length");
        if head {
            continue;
        }
        assert!(len <= rest.len(), "truncated body");
        rest = &rest[len..];
    }
    // A request needs at least "GET / HTTP/1.1\r\n\r\n"-ish bytes; an error needs one byte.
    assert!(
        responses <= input_len / 16 + 1,
        "{responses} responses to {input_len} bytes"
    );
}

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut config = ServerConfig::default();
        config.max_body_size = 4096;
        config.max_head_size = 2048;
        let task = tokio::spawn(async move {
            let _ = http::serve_connection(server, &config, &handler).await;
        });
        client.write_all(data).await.unwrap();
        client.shutdown().await.unwrap();
        let mut out = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(3600), client.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "the server must finish");
        tokio::time::timeout(Duration::from_secs(3600), task)
            .await
            .expect("the server task must end")
            .expect("no panic");
        // Echoed bodies are at most the input; heads are small.
        assert!(
            out.len() <= data.len() * 2 + 4096 * 4,
            "{} bytes out for {} in",
            out.len(),
            data.len()
        );
        check_output(&out, data.len());
    });
});
