//! Client side of the HTTP/1.1 layer: framing of response bodies, limits, redirects,
//! upgrade, against our own server on loopback, raw peers over `tokio::io::duplex`, and
//! python's http.server when installed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sluice_http::{
    ClientConfig, ClientError, ClientRequest, Reply, Request, Response, ServerConfig, StatusCode,
    Url, fetch, send, serve,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::time::timeout;

type Gate = Arc<Notify>;

async fn route(
    mut req: Request<TcpStream>,
    gate: Gate,
    other: Arc<Mutex<String>>,
) -> Reply<TcpStream> {
    let path = req.path().to_string();
    match path.as_str() {
        "/gated" => {
            // The second piece is only sent once the client saw the first: proves flush per piece.
            let Ok(mut w) = req.respond_streaming(Response::new(StatusCode::OK)).await else {
                return Reply::closed();
            };
            if w.send(Bytes::from_static(b"first")).await.is_err() {
                return Reply::closed();
            }
            gate.notified().await;
            let _ = w.send(Bytes::from_static(b"second")).await;
            w.finish().await
        }
        "/big" => req.respond(Response::new(StatusCode::OK).body(vec![7u8; 300_000])),
        "/whoami" => {
            let auth = req.header("authorization").unwrap_or("-").to_string();
            let body = req.body().await.unwrap_or_default();
            let text = format!(
                "{} {} {}",
                req.method(),
                auth,
                String::from_utf8_lossy(&body)
            );
            req.respond(Response::text(StatusCode::OK, text))
        }
        p if p.starts_with("/r/") => {
            let n: u32 = p[3..].parse().unwrap_or(0);
            let code = req
                .query_param("code")
                .and_then(|c| c.parse().ok())
                .unwrap_or(302);
            let loc = if n == 0 {
                if req.query_param("cross").is_some() {
                    format!("{}/whoami", other.lock().unwrap())
                } else {
                    "/whoami".to_string()
                }
            } else {
                format!("{}?{}", n - 1, req.query().unwrap_or(""))
            };
            req.respond(Response::new(StatusCode::from_u16(code).unwrap()).header("location", loc))
        }
        _ => req.respond(Response::from_status(StatusCode::NOT_FOUND)),
    }
}

async fn start() -> (String, Gate, Arc<Mutex<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let gate = Gate::default();
    let other = Arc::new(Mutex::new(String::new()));
    let (g, o) = (gate.clone(), other.clone());
    tokio::spawn(serve(listener, ServerConfig::default(), move |req| {
        route(req, g.clone(), o.clone())
    }));
    (base, gate, other)
}

/// A raw peer on a duplex pipe: reads one request head, answers `response`, closes.
fn raw_peer(response: &'static [u8]) -> (DuplexStream, mpsc::Receiver<Vec<u8>>) {
    let (client, mut server) = tokio::io::duplex(1 << 20);
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match server.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tx.send(got).await;
        let _ = server.write_all(response).await;
    });
    (client, rx)
}

fn req(url: &str) -> ClientRequest {
    ClientRequest::get(url).unwrap()
}

async fn body_of<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    r: &mut sluice_http::ClientResponse<S>,
) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(c) = timeout(Duration::from_secs(5), r.chunk())
        .await
        .unwrap()
        .unwrap()
    {
        out.extend_from_slice(&c);
    }
    out
}

#[tokio::test]
async fn chunked_streaming_response_arrives_piece_by_piece() {
    let (base, gate, _) = start().await;
    let mut r = fetch(req(&format!("{base}/gated")), &ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let first = timeout(Duration::from_secs(5), r.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first");
    gate.notify_one();
    assert_eq!(body_of(&mut r).await, b"second");
    assert!(r.is_body_done());
}

#[tokio::test]
async fn content_length_body_and_limit() {
    let (base, _, _) = start().await;
    let mut r = fetch(req(&format!("{base}/big")), &ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(r.header("content-length"), Some("300000"));
    let b = r.bytes(1 << 20).await.unwrap();
    assert_eq!(b.len(), 300_000);
    assert!(b.iter().all(|&x| x == 7));
    let mut r = fetch(req(&format!("{base}/big")), &ClientConfig::default())
        .await
        .unwrap();
    assert!(matches!(
        r.bytes(1000).await,
        Err(ClientError::BodyTooLarge {
            size: 300_000,
            max: 1000
        })
    ));
}

#[tokio::test]
async fn close_delimited_and_interim_and_caller_stream() {
    let (io, mut seen) =
        raw_peer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nuntil the end");
    let request = ClientRequest::post("http://example.test:81/p?q=1", "data")
        .unwrap()
        .header("authorization", "Bearer t");
    let mut r = send(io, &request, &ClientConfig::default()).await.unwrap();
    let head = String::from_utf8(seen.recv().await.unwrap()).unwrap();
    assert!(
        head.starts_with("POST /p?q=1 HTTP/1.1\r\nhost: example.test:81\r\n"),
        "{head}"
    );
    assert!(
        head.contains("authorization: Bearer t\r\ncontent-length: 4\r\n\r\n"),
        "{head}"
    );
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.header("x-a"), Some("1"));
    assert_eq!(body_of(&mut r).await, b"until the end");
}

#[tokio::test]
async fn malformed_and_oversized_responses() {
    let cfg = {
        let mut c = ClientConfig::default();
        c.max_head_size = 256;
        c.max_headers = 4;
        c
    };
    type Check = fn(&ClientError) -> bool;
    let cases: Vec<(&'static [u8], Check)> = vec![
        (b"HTTP/1.1 200 OK\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
            |e| matches!(e, ClientError::HeadTooLarge { .. })),
        (b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n", |e| matches!(e, ClientError::TooManyHeaders { max: 4 })),
        (b"HTTP/2 200 OK\r\n\r\n", |e| matches!(e, ClientError::InvalidResponse(_))),
        (b"garbage\r\n\r\n", |e| matches!(e, ClientError::InvalidResponse(_))),
        (b"HTTP/1.1 200 OK\r\nContent-Le", |e| matches!(e, ClientError::InvalidResponse(_))),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", |e| matches!(e, ClientError::InvalidResponse(_))),
    ];
    for (resp, check) in cases {
        let (io, _seen) = raw_peer(resp);
        let err = send(io, &req("http://h/"), &cfg).await.unwrap_err();
        assert!(check(&err), "{:?}: {err:?}", String::from_utf8_lossy(resp));
    }
    // Body framing faults surface from chunk().
    for resp in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        let (io, _seen) = raw_peer(resp);
        let mut r = send(io, &req("http://h/"), &cfg).await.unwrap();
        let mut res = Ok(Some(Bytes::new()));
        while matches!(res, Ok(Some(_))) {
            res = r.chunk().await;
        }
        assert!(matches!(res, Err(ClientError::Framing(_))), "{res:?}");
    }
}

#[tokio::test]
async fn head_and_no_body_statuses() {
    let (io, _seen) = raw_peer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
    let mut r = send(
        io,
        &ClientRequest::new("HEAD", Url::parse("http://h/").unwrap()),
        &ClientConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.chunk().await.unwrap(), None);
    let (io, _seen) = raw_peer(b"HTTP/1.1 204 No Content\r\n\r\nNEXT");
    let mut r = send(io, &req("http://h/"), &ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(r.chunk().await.unwrap(), None);
}

#[tokio::test]
async fn upgrade_keeps_leftover() {
    let (io, _seen) = raw_peer(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n\x81\x02hi",
    );
    let r = send(io, &req("http://h/"), &ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SWITCHING_PROTOCOLS);
    let up = r.into_upgraded().unwrap();
    // The leftover may be all or part of what followed the head, never the head itself.
    assert!(b"\x81\x02hi".starts_with(&up.read_buf), "{:?}", up.read_buf);
}

#[tokio::test]
async fn redirects_followed_up_to_limit() {
    let (base, _, other) = start().await;
    let (base2, _, _) = start().await;
    *other.lock().unwrap() = base2.clone();
    let mut cfg = ClientConfig::default();
    // Not followed unless asked.
    let r = fetch(req(&format!("{base}/r/2")), &cfg).await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.header("location"), Some("1?"));

    cfg.follow_redirects = true;
    cfg.max_redirects = 3;
    let mut r = fetch(req(&format!("{base}/r/2")), &cfg).await.unwrap();
    assert_eq!((r.status(), r.redirects()), (StatusCode::OK, 3));
    assert_eq!(r.url().path(), "/whoami");
    assert_eq!(body_of(&mut r).await, b"GET - ");
    let err = fetch(req(&format!("{base}/r/3")), &cfg).await.unwrap_err();
    assert!(
        matches!(err, ClientError::TooManyRedirects { max: 3 }),
        "{err:?}"
    );

    // 307 and 308 repeat method and body; 303 and 302-after-POST become GET without body.
    for (code, expect) in [
        (307, "POST Bearer t payload"),
        (308, "POST Bearer t payload"),
        (303, "GET Bearer t "),
        (302, "GET Bearer t "),
    ] {
        let post = ClientRequest::post(&format!("{base}/r/1?code={code}"), "payload")
            .unwrap()
            .header("authorization", "Bearer t");
        let mut r = fetch(post, &cfg).await.unwrap();
        assert_eq!(
            String::from_utf8(body_of(&mut r).await).unwrap(),
            expect,
            "{code}"
        );
    }
    // Crossing to another origin drops the credentials.
    let get = req(&format!("{base}/r/0?cross=1")).header("authorization", "Bearer t");
    let mut r = fetch(get, &cfg).await.unwrap();
    assert!(r.url().to_string().starts_with(&base2));
    assert_eq!(body_of(&mut r).await, b"GET - ");
}

#[tokio::test]
async fn connect_errors() {
    let err = sluice_http::fetch_with(
        &sluice_http::TcpConnector,
        req("https://127.0.0.1:1/"),
        &ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::UnsupportedScheme(_)), "{err:?}");
    // A port nobody listens on.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let err = fetch(
        req(&format!("http://127.0.0.1:{port}/")),
        &ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    let err = send(
        tokio::io::duplex(64).0,
        &ClientRequest::new("BAD METHOD", Url::parse("http://h/").unwrap()),
        &ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::InvalidMethod(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_server_peer() {
    let probe = std::process::Command::new("python3")
        .arg("--version")
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("python3 not installed: skipped");
        return;
    }
    let script = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/old":
            self.send_response(301); self.send_header("Location", "/chunks"); self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(200); self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
        for part in [b"alpha", b"beta", b"gamma"]:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part)); self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.handle_request(); s.handle_request()
"#;
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    {
        use std::io::BufRead;
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
    }
    let port: u16 = line.trim().parse().unwrap();
    let mut cfg = ClientConfig::default();
    cfg.follow_redirects = true;
    let mut r = fetch(req(&format!("http://127.0.0.1:{port}/old")), &cfg)
        .await
        .unwrap();
    assert_eq!((r.status(), r.redirects()), (StatusCode::OK, 1));
    assert_eq!(body_of(&mut r).await, b"alphabetagamma");
    drop(r);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
}
