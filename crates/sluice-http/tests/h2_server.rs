//! HTTP/2 through the same router as HTTP/1.1: `serve_stream` on loopback TCP, h2c with
//! prior knowledge detected however the preface is split, HTTP/1.1 requests split anywhere
//! still served as HTTP/1.1, and the `Request` vocabulary (body, body limit 413, streaming
//! answers, HEAD) over h2 streams.

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use sluice_http::{self as http, Reply, Request, Response, ServerConfig, ServerStream, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(10);

async fn route(mut req: Request<ServerStream>) -> Reply<ServerStream> {
    match req.path() {
        "/echo" => match req.body().await {
            Ok(b) => req.respond(Response::text(StatusCode::OK, b)),
            Err(e) => req.respond(Response::from_status(e.status())),
        },
        "/stream" => {
            let parts = futures_util::stream::iter(
                ["a", "b", "c"].map(|s| Ok::<_, std::io::Error>(Bytes::from(s))),
            );
            req.respond(Response::new(StatusCode::OK).stream(parts))
        }
        "/close" => {
            req.respond(Response::text(StatusCode::OK, "bye").header("connection", "close"))
        }
        "/big-head" => {
            req.respond(Response::text(StatusCode::OK, "x").header("x-big", "b".repeat(100 * 1024)))
        }
        p => {
            let text = format!("{} {p} {}", req.method(), req.version().as_str());
            req.respond(Response::text(StatusCode::OK, text))
        }
    }
}

async fn server(config: ServerConfig) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let config = config.clone();
            tokio::spawn(async move {
                let _ = http::serve_stream(tcp.into(), &config, &route).await;
            });
        }
    });
    port
}

async fn h2_request(
    port: u16,
    method: &str,
    path: &str,
    body: &'static [u8],
) -> (StatusCode, Vec<u8>) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut send = http::h2::h2_connect(tcp, &http::ClientConfig::default())
        .await
        .unwrap();
    let req = ::http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .body(())
        .unwrap();
    let (resp, mut stream) = send.send_request(req, body.is_empty()).unwrap();
    if !body.is_empty() {
        stream.send_data(Bytes::from_static(body), true).unwrap();
    }
    let resp = tokio::time::timeout(T, resp).await.unwrap().unwrap();
    let status = resp.status();
    let mut recv = resp.into_body();
    let mut out = Vec::new();
    while let Some(d) = tokio::time::timeout(T, recv.data()).await.unwrap() {
        let d = d.unwrap();
        let _ = recv.flow_control().release_capacity(d.len());
        out.extend_from_slice(&d);
    }
    (status, out)
}

#[tokio::test]
async fn the_router_answers_h2c_streams() {
    let mut cfg = ServerConfig::default();
    cfg.max_body_size = 16;
    let port = server(cfg).await;
    assert_eq!(
        h2_request(port, "GET", "/x", b"").await,
        (StatusCode::OK, b"GET /x HTTP/2".to_vec())
    );
    assert_eq!(
        h2_request(port, "POST", "/echo", b"hello").await,
        (StatusCode::OK, b"hello".to_vec())
    );
    assert_eq!(
        h2_request(port, "POST", "/echo", b"far more than sixteen bytes")
            .await
            .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        h2_request(port, "GET", "/stream", b"").await,
        (StatusCode::OK, b"abc".to_vec())
    );
    assert_eq!(
        h2_request(port, "HEAD", "/x", b"").await,
        (StatusCode::OK, Vec::new())
    );
}

/// Writes `bytes` to the server in the given piece sizes, with a pause between pieces.
async fn write_split(tcp: &mut TcpStream, bytes: &[u8], pieces: &[usize]) {
    let mut at = 0;
    for &n in pieces {
        let end = (at + n.max(1)).min(bytes.len());
        tcp.write_all(&bytes[at..end]).await.unwrap();
        tcp.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        at = end;
        if at == bytes.len() {
            break;
        }
    }
    tcp.write_all(&bytes[at..]).await.unwrap();
}

async fn read_some(tcp: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < want {
        let Ok(r) = tokio::time::timeout(T, tcp.read(&mut buf)).await else {
            panic!("timed out after {:?}", String::from_utf8_lossy(&out));
        };
        match r.unwrap() {
            0 => break,
            n => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame (RFC 9113 §6.5): length 0, type 4, flags 0, stream 0.
const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// RFC 9113 §3.4: the preface, however it is split, switches the connection to HTTP/2:
    /// the server's first frame is its SETTINGS.
    #[test]
    fn h2c_preface_in_any_split(pieces in proptest::collection::vec(1usize..8, 1..12)) {
        let rt = runtime();
        rt.block_on(async {
            let port = server(ServerConfig::default()).await;
            let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let mut hello = PREFACE.to_vec();
            hello.extend_from_slice(SETTINGS);
            write_split(&mut tcp, &hello, &pieces).await;
            let got = read_some(&mut tcp, 9).await;
            prop_assert!(got.len() >= 9, "{got:?}");
            prop_assert_eq!(got[3], 4, "first frame type is SETTINGS: {:?}", got);
            Ok(())
        })?;
    }

    /// An HTTP/1.1 request split anywhere is still HTTP/1.1 on the h2c-sniffing port.
    #[test]
    fn http11_in_any_split(pieces in proptest::collection::vec(1usize..8, 1..12)) {
        let rt = runtime();
        rt.block_on(async {
            let port = server(ServerConfig::default()).await;
            let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let req = b"GET /split HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
            write_split(&mut tcp, req, &pieces).await;
            let got = String::from_utf8(read_some(&mut tcp, usize::MAX).await).unwrap();
            prop_assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
            prop_assert!(got.ends_with("GET /split HTTP/1.1"), "{got}");
            Ok(())
        })?;
    }
}

/// Bytes that start like the preface and then differ are HTTP/1.1 (here a valid, if odd,
/// `PRI *` request that the router answers).
#[tokio::test]
async fn a_near_preface_is_answered_as_http11() {
    let port = server(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(b"PRI * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let got = String::from_utf8(read_some(&mut tcp, usize::MAX).await).unwrap();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.ends_with("PRI * HTTP/1.1"), "{got}");
}

/// `keep_alive_timeout` bounds an idle HTTP/2 connection too: no open stream for that long
/// and the server sends GOAWAY and closes, so the client's next request fails.
#[tokio::test]
async fn an_idle_h2_connection_is_closed_after_keep_alive_timeout() {
    let mut cfg = ServerConfig::default();
    cfg.keep_alive_timeout = Duration::from_millis(200);
    let port = server(cfg).await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let send = http::h2::h2_connect(tcp, &http::ClientConfig::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let closed = tokio::time::timeout(T, send.ready()).await.unwrap();
    assert!(closed.is_err(), "the idle connection is still open");
}

/// A handler's `Connection: close` over HTTP/2: the answer arrives (without the field, which
/// HTTP/2 forbids) and the connection gets GOAWAY, then closes.
#[tokio::test]
async fn connection_close_over_h2_is_a_goaway() {
    let port = server(ServerConfig::default()).await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let send = http::h2::h2_connect(tcp, &http::ClientConfig::default())
        .await
        .unwrap();
    let req = ::http::Request::builder()
        .uri(format!("http://127.0.0.1:{port}/close"))
        .body(())
        .unwrap();
    let (resp, _) = send.clone().send_request(req, true).unwrap();
    let resp = tokio::time::timeout(T, resp).await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("connection").is_none());
    let mut body = resp.into_body();
    let mut got = Vec::new();
    while let Some(d) = tokio::time::timeout(T, body.data()).await.unwrap() {
        got.extend_from_slice(&d.unwrap());
    }
    assert_eq!(got, b"bye");
    // No new stream is served: the connection ends.
    let closed = tokio::time::timeout(T, async {
        loop {
            if send.clone().ready().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection stayed open after Connection: close"
    );
}

/// The client's `max_head_size` bounds an HTTP/2 answer's header block too
/// (`SETTINGS_MAX_HEADER_LIST_SIZE`): a 100 KiB field is refused under the 64 KiB default and
/// read under a 1 MiB limit.
#[tokio::test]
async fn the_h2_client_limits_header_blocks() {
    let port = server(ServerConfig::default()).await;
    let fetch = |max_head_size: usize| async move {
        let mut cfg = http::ClientConfig::default();
        cfg.max_head_size = max_head_size;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut send = http::h2::h2_connect(tcp, &cfg).await.unwrap();
        let req = ::http::Request::builder()
            .uri(format!("http://127.0.0.1:{port}/big-head"))
            .body(())
            .unwrap();
        let (resp, _) = send.send_request(req, true).unwrap();
        tokio::time::timeout(T, resp).await.unwrap()
    };
    assert!(
        fetch(64 * 1024).await.is_err(),
        "a 100 KiB header under 64 KiB"
    );
    let ok = fetch(1 << 20).await.unwrap();
    assert_eq!(ok.headers()["x-big"].len(), 100 * 1024);
}

/// The h2c preface sniff has one deadline: a byte every 100 ms (each within the 300 ms
/// header-read timeout) does not stretch it to the 2.4 s the 24 bytes would take.
#[tokio::test]
async fn a_trickled_preface_hits_the_header_read_timeout() {
    let mut cfg = ServerConfig::default();
    cfg.header_read_timeout = Duration::from_millis(300);
    let port = server(cfg).await;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let started = std::time::Instant::now();
    let mut closed_after = None;
    for b in b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" {
        if tcp.write_all(&[*b]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf)).await {
            assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let took = closed_after.expect("the trickled preface was read to its end");
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

/// A client that goes silent after the preface and never answers the idle GOAWAY's PING does
/// not keep the connection: it is dropped `write_timeout` after the GOAWAY.
#[tokio::test]
async fn a_silent_h2_client_is_dropped_after_the_idle_goaway() {
    let mut cfg = ServerConfig::default();
    cfg.keep_alive_timeout = Duration::from_millis(200);
    cfg.write_timeout = Duration::from_millis(300);
    let port = server(cfg).await;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // An empty SETTINGS frame (RFC 9113 §3.4: the preface's second part), then silence.
    tcp.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(T, async {
        let mut buf = [0u8; 1024];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "still open after {T:?}");
    // It went by the GOAWAY's deadline (200 ms idle + 300 ms), not at once.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(450), "{took:?}");
    // A GOAWAY frame (type 7) was among what the server sent.
    assert!(
        frames(&seen).contains(&7),
        "no GOAWAY in {:?}",
        frames(&seen)
    );
}

/// The frame types in a run of HTTP/2 frames (RFC 9113 §4.1: 24-bit length, type, …).
fn frames(mut b: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while b.len() >= 9 {
        let len = usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]);
        types.push(b[3]);
        b = &b[(9 + len).min(b.len())..];
    }
    types
}

/// `body_total_timeout` bounds a whole request body over HTTP/2 too: DATA frames of one byte
/// every 50 ms pass the per-read timeout but the stream gets its 408 at the total deadline.
#[tokio::test]
async fn a_trickled_h2_body_hits_the_total_body_timeout() {
    let mut cfg = ServerConfig::default();
    cfg.body_read_timeout = Duration::from_secs(5);
    cfg.body_total_timeout = Duration::from_millis(400);
    let port = server(cfg).await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut send = http::h2::h2_connect(tcp, &http::ClientConfig::default())
        .await
        .unwrap();
    let req = ::http::Request::builder()
        .method("POST")
        .uri(format!("http://127.0.0.1:{port}/echo"))
        .body(())
        .unwrap();
    let (resp, mut stream) = send.send_request(req, false).unwrap();
    let started = std::time::Instant::now();
    let drip = async {
        for _ in 0..60 {
            if stream.send_data(Bytes::from_static(b"x"), false).is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let resp = tokio::select! {
        r = resp => r.unwrap(),
        () = drip => panic!("no answer while the body trickled for 3 s"),
    };
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
