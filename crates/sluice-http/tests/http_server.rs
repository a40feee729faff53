//! Server side of the HTTP/1.1 layer, over `tokio::io::duplex` and loopback TCP, with raw
//! bytes (every malformed case answered with its status, then closed), and against curl and
//! python's http.client when installed.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use sluice_http::{Reply, Request, Response, ServerConfig, StatusCode, serve, serve_connection};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::timeout;

/// A `futures_core::Stream` over an mpsc receiver.
struct Rx(mpsc::Receiver<io::Result<Bytes>>);
impl futures_core::Stream for Rx {
    type Item = io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[derive(Default)]
struct State {
    /// Streams whose producer saw the client go.
    dropped: AtomicUsize,
}

async fn route<S>(mut req: Request<S>, st: Arc<State>) -> Reply<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match req.path() {
        "/hello" => req.respond(Response::text(StatusCode::OK, "hello")),
        "/echo" => match req.body().await {
            Ok(b) => req.respond(Response::new(StatusCode::OK).body(b)),
            Err(e) => req.respond(Response::from_status(e.status())),
        },
        "/small-limit" => {
            req.set_body_limit(4);
            match req.body().await {
                Ok(b) => req.respond(Response::new(StatusCode::OK).body(b)),
                Err(e) => req.respond(Response::from_status(e.status())),
            }
        }
        "/pieces" => {
            req.set_body_limit(8 << 20);
            let (mut n, mut total) = (0, 0);
            loop {
                match req.body_chunk().await {
                    Ok(Some(c)) => {
                        n += 1;
                        total += c.len();
                    }
                    Ok(None) => break,
                    Err(e) => return req.respond(Response::from_status(e.status())),
                }
            }
            req.respond(Response::text(StatusCode::OK, format!("{n} {total}")))
        }
        "/big-close" => req.respond(
            Response::new(StatusCode::OK)
                .header("connection", "close")
                .body(Bytes::from(vec![b'x'; 4 << 20])),
        ),
        "/auth" => req.respond(Response::from_status(StatusCode::UNAUTHORIZED)),
        "/close" => {
            req.respond(Response::text(StatusCode::OK, "bye").header("connection", "close"))
        }
        "/stream" => {
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(async move {
                for i in 0..3 {
                    if tx.send(Ok(Bytes::from(format!("part{i};")))).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
            req.respond(Response::new(StatusCode::OK).stream(Rx(rx)))
        }
        "/stream-forever" => {
            let (tx, rx) = mpsc::channel(1);
            let st = st.clone();
            tokio::spawn(async move {
                loop {
                    if tx.send(Ok(Bytes::from_static(b"tick\n"))).await.is_err() {
                        st.dropped.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
            req.respond(Response::new(StatusCode::OK).stream(Rx(rx)))
        }
        "/push" | "/push-forever" => {
            let finite = req.path() == "/push";
            let Ok(mut w) = req.respond_streaming(Response::new(StatusCode::OK)).await else {
                return Reply::closed();
            };
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            let mut n = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if w.send(Bytes::from(format!("event {n}\n"))).await.is_err() { break; }
                        n += 1;
                        if n == 3 && finite { return w.finish().await; }
                    }
                    () = w.closed() => break,
                }
            }
            st.dropped.fetch_add(1, Ordering::SeqCst);
            Reply::closed()
        }
        "/upgrade" => {
            let resp = Response::new(StatusCode::SWITCHING_PROTOCOLS)
                .header("upgrade", "echo")
                .header("connection", "upgrade");
            let Ok(mut up) = req.upgrade(resp).await else {
                return Reply::closed();
            };
            // Echo the leftover bytes, then everything else, upper-cased.
            let first = up.read_buf.to_ascii_uppercase();
            let _ = up.io.write_all(&first).await;
            let mut buf = [0u8; 256];
            while let Ok(n) = up.io.read(&mut buf).await {
                if n == 0
                    || up
                        .io
                        .write_all(&buf[..n].to_ascii_uppercase())
                        .await
                        .is_err()
                {
                    break;
                }
            }
            Reply::closed()
        }
        p if p.starts_with("/redirect/") => {
            let n: u32 = p["/redirect/".len()..].parse().unwrap_or(0);
            if n == 0 {
                let method = req.method().to_string();
                let body = req.body().await.unwrap_or_default();
                let text = format!("landed {method} {}", String::from_utf8_lossy(&body));
                return req.respond(Response::text(StatusCode::OK, text));
            }
            let code = req
                .query_param("code")
                .and_then(|c| c.parse().ok())
                .unwrap_or(302);
            let status = StatusCode::from_u16(code).unwrap();
            let q = req.query().map(|q| format!("?{q}")).unwrap_or_default();
            let loc = format!("{}{q}", n - 1);
            req.respond(Response::new(status).header("location", loc))
        }
        _ => req.respond(Response::from_status(StatusCode::NOT_FOUND)),
    }
}

fn test_config() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.header_read_timeout = Duration::from_millis(200);
    c.max_head_size = 1024;
    c.max_headers = 16;
    c.max_body_size = 64;
    c.linger_timeout = Duration::from_millis(50);
    c
}

/// Starts a server on one end of a duplex pipe; returns the client end and the state.
fn duplex_server(config: ServerConfig) -> (DuplexStream, Arc<State>, tokio::task::JoinHandle<()>) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let st = Arc::new(State::default());
    let st2 = st.clone();
    let task = tokio::spawn(async move {
        let handler = move |req| route(req, st2.clone());
        let _ = serve_connection(server, &config, &handler).await;
    });
    (client, st, task)
}

/// Sends raw bytes, then reads until the server closes (bounded by a timeout).
async fn exchange(config: ServerConfig, input: &[u8]) -> String {
    let (mut c, _st, task) = duplex_server(config);
    c.write_all(input).await.unwrap();
    let mut out = Vec::new();
    timeout(Duration::from_secs(5), c.read_to_end(&mut out))
        .await
        .expect("server must close the connection")
        .unwrap();
    timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(resp: &str) -> u16 {
    resp.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {resp:?}"))
}

/// A `Content-Length` body up to 256 KiB is handed out in one piece; a larger one in pieces as
/// it arrives (a route streaming a large upload does not hold it whole).
#[tokio::test]
async fn large_content_length_bodies_come_in_pieces_small_ones_whole() {
    for (len, whole) in [(10 * 1024, true), (256 * 1024, true), (3 << 20, false)] {
        let (c, _st, _task) = duplex_server(ServerConfig::default());
        let (mut rd, mut wr) = tokio::io::split(c);
        let head = format!(
            "POST /pieces HTTP/1.1\r\nHost: h\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        );
        let writer = tokio::spawn(async move {
            wr.write_all(head.as_bytes()).await.unwrap();
            wr.write_all(&vec![b'a'; len]).await.unwrap();
            wr
        });
        let mut out = Vec::new();
        timeout(Duration::from_secs(5), rd.read_to_end(&mut out))
            .await
            .expect("answered and closed")
            .unwrap();
        drop(writer.await.unwrap());
        let text = String::from_utf8_lossy(&out);
        assert_eq!(status_of(&text), 200, "{text}");
        let body = text.rsplit("\r\n\r\n").next().unwrap();
        let (n, total) = body.split_once(' ').unwrap();
        let n: usize = n.parse().unwrap();
        assert_eq!(total, len.to_string(), "{text}");
        if whole {
            assert_eq!(n, 1, "{len} bytes");
        } else {
            assert!(n > 1, "{len} bytes in one piece");
        }
    }
}

#[tokio::test]
async fn malformed_requests_get_status_and_close() {
    let big_field = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
        "a".repeat(2000)
    );
    let many: String = (0..17).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n");
    let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(2000));
    let cases: Vec<(&str, &[u8], u16)> = vec![
        ("bad request line", b"GARBAGE\r\n\r\n", 400),
        ("bad method char", b"G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("missing host", b"GET / HTTP/1.1\r\n\r\n", 400),
        ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        // RFC 9112 §3.2: an invalid Host value is a 400.
        ("empty host", b"GET / HTTP/1.1\r\nHost: \r\n\r\n", 400),
        ("host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        ("unclosed IPv6 host", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
        ("host port out of range", b"GET / HTTP/1.1\r\nHost: h:99999\r\n\r\n", 400),
        ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400),
        ("header too large", big_field.as_bytes(), 431),
        ("too many headers", many.as_bytes(), 431),
        ("request line too long", long_line.as_bytes(), 414),
        ("bad content-length", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", 400),
        ("differing content-lengths", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        ("CL and TE", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("unsupported coding", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("TE in HTTP/1.0", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        ("h2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ("bad expectation", b"POST /echo HTTP/1.1\r\nHost: h\r\nExpect: tea\r\nContent-Length: 1\r\n\r\na", 417),
        ("body too large", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n", 413),
        ("bad chunk", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("chunk without CRLF", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400),
    ];
    for (name, input, status) in cases {
        let resp = exchange(test_config(), input).await;
        assert_eq!(status_of(&resp), status, "{name}: {resp:?}");
        assert!(
            resp.to_ascii_lowercase().contains("connection: close"),
            "{name}: {resp:?}"
        );
        // Exactly one response.
        assert_eq!(resp.matches("HTTP/1.1 ").count(), 1, "{name}: {resp:?}");
    }
}

#[tokio::test]
async fn chunked_body_over_limit_is_413() {
    let mut input =
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        input.extend_from_slice(b"10\r\n0123456789abcdef\r\n");
    }
    input.extend_from_slice(b"0\r\n\r\n");
    let resp = exchange(test_config(), &input).await;
    assert_eq!(status_of(&resp), 413, "{resp}");
}

/// A chunk announcing more than the body limit is refused on its size line (413 at once), not
/// after the body read timeout.
#[tokio::test]
async fn oversized_chunk_size_is_refused_at_once() {
    let started = std::time::Instant::now();
    let mut cfg = test_config();
    cfg.body_read_timeout = Duration::from_secs(30);
    let resp = exchange(
        cfg,
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nab",
    )
    .await;
    assert_eq!(status_of(&resp), 413, "{resp}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Chunk extensions count against the body limit: 1-byte chunks each carrying a 1,000-byte
/// extension are refused once the extensions pass the (64-byte) limit.
#[tokio::test]
async fn chunk_extensions_count_against_the_body_limit() {
    let mut input =
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..50 {
        input.extend_from_slice(format!("1;{}\r\na\r\n", "x".repeat(1000)).as_bytes());
    }
    input.extend_from_slice(b"0\r\n\r\n");
    let resp = exchange(test_config(), &input).await;
    assert_eq!(status_of(&resp), 413, "{resp}");
}

/// A body trickled a byte at a time passes every per-read timeout but not the whole-body one.
#[tokio::test]
async fn trickled_body_hits_the_total_body_timeout() {
    let mut cfg = test_config();
    cfg.body_read_timeout = Duration::from_millis(500);
    cfg.body_total_timeout = Duration::from_millis(400);
    let head = b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\n\r\n";
    let resp = trickle(
        cfg,
        head,
        40,
        Duration::from_millis(50),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(status_of(&resp), 408, "{resp}");
}

/// Sends `head`, then up to `bytes` single bytes one `every` apart for at most `for_at_most`,
/// then reads until the server closes; asserts that took under 3 s.
async fn trickle(
    cfg: ServerConfig,
    head: &[u8],
    bytes: usize,
    every: Duration,
    for_at_most: Duration,
) -> String {
    let (mut c, _st, task) = duplex_server(cfg);
    c.write_all(head).await.unwrap();
    let started = std::time::Instant::now();
    let drip = async {
        for _ in 0..bytes {
            if c.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(every).await;
        }
    };
    let _ = timeout(for_at_most, drip).await;
    let mut out = Vec::new();
    timeout(Duration::from_secs(5), c.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    task.await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Empty lines before a request line are skipped (RFC 9112 §2.2) but do not restart the idle
/// timer: `\r\n` every 40 ms cannot hold a connection with a 200 ms keep-alive timeout.
#[tokio::test]
async fn empty_lines_do_not_reset_the_idle_timer() {
    let mut cfg = test_config();
    cfg.keep_alive_timeout = Duration::from_millis(200);
    let (mut c, _st, task) = duplex_server(cfg);
    let started = std::time::Instant::now();
    let mut closed_at = None;
    for _ in 0..50 {
        if c.write_all(b"\r\n").await.is_err() {
            closed_at = Some(started.elapsed());
            break;
        }
        let mut b = [0u8; 16];
        match timeout(Duration::from_millis(40), c.read(&mut b)).await {
            Ok(Ok(0) | Err(_)) => {
                closed_at = Some(started.elapsed());
                break;
            }
            Ok(Ok(n)) => panic!("unexpected answer {:?}", &b[..n]),
            Err(_) => {}
        }
    }
    let closed_at = closed_at.expect("the idle connection must be closed");
    assert!(closed_at < Duration::from_millis(1000), "{closed_at:?}");
    task.await.unwrap();
}

#[tokio::test]
async fn slowloris_gets_408() {
    // One byte at a time, never finishing the head.
    let head = b"GET / HTTP/1.1\r\nHost: h\r\n";
    let resp = trickle(
        test_config(),
        head,
        100,
        Duration::from_millis(20),
        Duration::from_millis(400),
    )
    .await;
    assert_eq!(status_of(&resp), 408, "{resp}");
}

#[tokio::test]
async fn idle_connection_closes_silently() {
    let mut cfg = test_config();
    cfg.keep_alive_timeout = Duration::from_millis(50);
    let (mut c, _st, task) = duplex_server(cfg);
    let mut out = Vec::new();
    timeout(Duration::from_secs(5), c.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(out.is_empty());
    task.await.unwrap();
}

#[tokio::test]
async fn keep_alive_and_pipelining() {
    let input = b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n\
        POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde\
        POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nfoo\r\n3\r\nbar\r\n0\r\nT: 1\r\n\r\n\
        GET /auth HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz\
        HEAD /hello HTTP/1.1\r\nHost: h\r\n\r\n\
        GET /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n\
        GET /hello HTTP/1.1\r\nHost: h\r\n\r\n";
    let resp = exchange(test_config(), input).await;
    let parts: Vec<&str> = resp.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(parts.len(), 6, "{resp}");
    assert!(
        parts[0].starts_with("200") && parts[0].ends_with("\r\n\r\nhello"),
        "{}",
        parts[0]
    );
    assert!(parts[1].contains("content-length: 5\r\n") && parts[1].ends_with("abcde"));
    assert!(parts[2].ends_with("\r\n\r\nfoobar"), "{}", parts[2]);
    // 401 without reading the body: the small body is drained and the connection kept.
    assert!(
        parts[3].starts_with("401") && !parts[3].contains("connection: close"),
        "{}",
        parts[3]
    );
    // HEAD: the length a GET would get, and no body.
    assert!(
        parts[4].contains("content-length: 5\r\n") && parts[4].ends_with("\r\n\r\n"),
        "{}",
        parts[4]
    );
    assert!(parts[5].contains("connection: close") && parts[5].ends_with("hello"));
}

#[tokio::test]
async fn http10_keep_alive_semantics() {
    // HTTP/1.0 without keep-alive: one response, then close.
    let resp = exchange(
        test_config(),
        b"GET /hello HTTP/1.0\r\n\r\nGET /hello HTTP/1.0\r\n\r\n",
    )
    .await;
    assert_eq!(resp.matches("HTTP/1.1 200").count(), 1, "{resp}");
    // With keep-alive: both answered, the first says keep-alive.
    let resp = exchange(
        test_config(),
        b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello HTTP/1.0\r\n\r\n",
    )
    .await;
    assert_eq!(resp.matches("HTTP/1.1 200").count(), 2, "{resp}");
    assert!(resp.contains("connection: keep-alive"), "{resp}");
    // A stream to an HTTP/1.0 client is close-delimited, not chunked.
    let resp = exchange(
        test_config(),
        b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    )
    .await;
    assert!(
        !resp.contains("chunked") && resp.ends_with("part0;part1;part2;"),
        "{resp}"
    );
}

#[tokio::test]
async fn response_connection_close_and_unread_large_body() {
    let resp = exchange(
        test_config(),
        b"GET /close HTTP/1.1\r\nHost: h\r\n\r\nGET /hello HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .await;
    assert_eq!(resp.matches("HTTP/1.1 ").count(), 1, "{resp}");
    // 401 before a body too large to drain: answered, then closed (auth before 413).
    let mut cfg = test_config();
    cfg.max_drain = 8;
    let resp = exchange(
        cfg,
        b"POST /auth HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789",
    )
    .await;
    assert_eq!(status_of(&resp), 401, "{resp}");
    assert!(resp.contains("connection: close"));
    // Per-route body limit.
    let resp = exchange(
        test_config(),
        b"POST /small-limit HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde",
    )
    .await;
    assert_eq!(status_of(&resp), 413, "{resp}");
}

#[tokio::test]
async fn expect_continue() {
    let (mut c, _st, _task) = duplex_server(test_config());
    c.write_all(
        b"POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 25];
    timeout(Duration::from_secs(5), c.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"ok").await.unwrap();
    let mut buf = vec![0u8; 256];
    let n = timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let resp = String::from_utf8_lossy(&buf[..n]);
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.ends_with("ok"),
        "{resp}"
    );
}

#[tokio::test]
async fn chunked_streaming_response_and_head() {
    let resp = exchange(
        test_config(),
        b"GET /stream HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.contains("transfer-encoding: chunked"), "{resp}");
    assert!(
        resp.ends_with("\r\n\r\n6\r\npart0;\r\n6\r\npart1;\r\n6\r\npart2;\r\n0\r\n\r\n"),
        "{resp}"
    );
    let resp = exchange(
        test_config(),
        b"HEAD /stream HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        resp.contains("transfer-encoding: chunked") && resp.ends_with("\r\n\r\n"),
        "{resp}"
    );
    // Push-style writer, finished after 3 events, then the next request on the same connection.
    let resp = exchange(
        test_config(),
        b"GET /push HTTP/1.1\r\nHost: h\r\n\r\nGET /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        resp.contains("event 0\n")
            && resp.contains("event 2\n")
            && resp.contains("0\r\n\r\nHTTP/1.1 200"),
        "{resp}"
    );
}

#[tokio::test]
async fn client_disconnect_stops_streams() {
    for path in ["/stream-forever"] {
        let (mut c, st, task) = duplex_server(test_config());
        c.write_all(format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = vec![0u8; 512];
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0);
        drop(c);
        timeout(Duration::from_secs(5), task)
            .await
            .expect("server task ends")
            .unwrap();
        // The producer notices its receiver is gone.
        for _ in 0..100 {
            if st.dropped.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(st.dropped.load(Ordering::SeqCst), 1, "{path}");
    }
}

/// RFC 9112 §9.6: a server that closes after an answer lingers while the client may still be
/// sending (here a pipelined request it will not serve), or the close turns into a reset that
/// destroys the part of the answer still in flight. A client that reads late gets all 4 MiB.
#[tokio::test]
async fn a_closing_answer_survives_a_pipelined_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let st = Arc::new(State::default());
    tokio::spawn(serve(listener, ServerConfig::default(), move |req| {
        route(req, st.clone())
    }));
    for _ in 0..3 {
        // A small receive buffer keeps most of the answer in the server's send queue.
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(16 * 1024).unwrap();
        let mut c = sock.connect(addr).await.unwrap();
        c.write_all(b"GET /big-close HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        // The next request arrives while the answer is being written (it stays unread).
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.write_all(b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut out = Vec::new();
        let r = timeout(Duration::from_secs(10), c.read_to_end(&mut out))
            .await
            .expect("closed in time");
        assert!(r.is_ok(), "{r:?} after {} bytes", out.len());
        assert!(out.len() > 4 << 20, "{} bytes", out.len());
        assert!(!String::from_utf8_lossy(&out).contains("hello"));
    }
}

#[tokio::test]
async fn read_side_eof_detected_while_streaming_over_tcp() {
    // Over TCP a half-closed client is seen by the read side (the writes alone could still
    // succeed for a while), both for the push writer and for stream bodies.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let st = Arc::new(State::default());
    let st2 = st.clone();
    tokio::spawn(serve(listener, ServerConfig::default(), move |req| {
        route(req, st2.clone())
    }));
    for path in ["/push-forever", "/stream-forever"] {
        let before = st.dropped.load(Ordering::SeqCst);
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = vec![0u8; 256];
        let _ = c.read(&mut buf).await.unwrap();
        // Half-close and keep the socket: writes to it would still succeed.
        c.shutdown().await.unwrap();
        let mut ok = false;
        for _ in 0..300 {
            if st.dropped.load(Ordering::SeqCst) > before {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            ok,
            "{path}: stream not dropped after the client's end of stream"
        );
        drop(c);
    }
}

#[tokio::test]
async fn upgrade_hands_over_leftover_bytes() {
    let (mut c, _st, task) = duplex_server(test_config());
    c.write_all(b"GET /upgrade HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly bytes;")
        .await
        .unwrap();
    let mut head = vec![0u8; 512];
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("EARLY BYTES;") {
        let n = timeout(Duration::from_secs(5), c.read(&mut head))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got.extend_from_slice(&head[..n]);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(
        !text.contains("content-length") && !text.contains("transfer-encoding"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\nEARLY BYTES;"), "{text}");
    c.write_all(b"later").await.unwrap();
    let n = c.read(&mut head).await.unwrap();
    assert_eq!(&head[..n], b"LATER");
    drop(c);
    timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn loopback_tcp_keep_alive() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let st = Arc::new(State::default());
    tokio::spawn(serve(listener, test_config(), move |req| {
        route(req, st.clone())
    }));
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    for i in 0..3 {
        c.write_all(b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 256];
        let n = timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let r = String::from_utf8_lossy(&buf[..n]);
        assert!(
            r.starts_with("HTTP/1.1 200") && r.ends_with("hello"),
            "round {i}: {r}"
        );
    }
}

async fn spawn_tcp_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let st = Arc::new(State::default());
    tokio::spawn(serve(listener, test_config(), move |req| {
        route(req, st.clone())
    }));
    addr
}

fn have(cmd: &str) -> bool {
    std::process::Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_peer() {
    if !have("curl") {
        eprintln!("curl not installed: skipped");
        return;
    }
    let addr = spawn_tcp_server().await;
    let run = |args: Vec<String>| async move {
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args(&args)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.success(),
        )
    };
    let base = format!("http://{addr}");
    // Two URLs on one connection (keep-alive), a chunked upload, a streamed response, a 413.
    let (out, ok) = run(vec![
        "-sS".into(),
        format!("{base}/hello"),
        format!("{base}/hello"),
    ])
    .await;
    assert!(ok && out == "hellohello", "{out}");
    let (out, ok) = run(vec![
        "-sS".into(),
        "-H".into(),
        "Transfer-Encoding: chunked".into(),
        "--data-binary".into(),
        "chunked-upload".into(),
        format!("{base}/echo"),
    ])
    .await;
    assert!(ok && out == "chunked-upload", "{out}");
    let (out, ok) = run(vec!["-sS".into(), "-N".into(), format!("{base}/stream")]).await;
    assert!(ok && out == "part0;part1;part2;", "{out}");
    let (out, _) = run(vec![
        "-s".into(),
        "-o".into(),
        "/dev/null".into(),
        "-w".into(),
        "%{http_code}".into(),
        "--data-binary".into(),
        "x".repeat(100),
        format!("{base}/echo"),
    ])
    .await;
    assert_eq!(out, "413");
    let (out, _) = run(vec!["-sI".into(), format!("{base}/hello")]).await;
    assert!(
        out.starts_with("HTTP/1.1 200") && out.contains("content-length: 5"),
        "{out}"
    );
    let (out, _) = run(vec!["-sSL".into(), format!("{base}/redirect/3")]).await;
    assert_eq!(out, "landed GET ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_client_peer() {
    if !have("python3") {
        eprintln!("python3 not installed: skipped");
        return;
    }
    let addr = spawn_tcp_server().await;
    let script = format!(
        r#"
import http.client
c = http.client.HTTPConnection("127.0.0.1", {port}, timeout=5)
c.request("GET", "/hello"); r = c.getresponse(); assert r.status == 200 and r.read() == b"hello"
c.request("POST", "/echo", body=b"xyz"); r = c.getresponse(); assert r.read() == b"xyz"
c.request("POST", "/echo", body=iter([b"ab", b"cd"]), encode_chunked=True, headers={{"Transfer-Encoding": "chunked"}})
r = c.getresponse(); assert r.read() == b"abcd"
c.request("GET", "/stream"); r = c.getresponse(); assert r.getheader("transfer-encoding") == "chunked"; assert r.read() == b"part0;part1;part2;"
c.request("HEAD", "/hello"); r = c.getresponse(); assert r.read() == b"" and r.getheader("content-length") == "5"
c.request("GET", "/nope"); r = c.getresponse(); assert r.status == 404; r.read()
print("ok")
"#,
        port = addr.port()
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
