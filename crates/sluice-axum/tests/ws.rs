//! `WsUpgrade` in a real `axum::serve` app on loopback, against our own client over HTTP/1.1
//! and HTTP/2 (RFC 8441), and raw bytes for the refusals: permessage-deflate by default,
//! subprotocol selection (RFC 6455 §4.1/§4.2.2), the Origin check (§10.2), the status of every
//! refusal (§4.2.1, §4.4), a `WsConfig` limit (close 1009, §7.4.1).
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::any;
use sluice_axum::{CloseCode, Message, WsConfig, WsRejection, WsUpgrade};
use sluice_http::{ClientRequest, DefaultConnector};
use sluice_tokio::ws;
use sluice_ws::handshake::{ClientHandshake, ResponseError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(10);

async fn echo(up: WsUpgrade) -> impl IntoResponse {
    up.on_upgrade(|mut socket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            if socket.send(msg).await.is_err() {
                break;
            }
        }
    })
}

/// Sends the selected subprotocol (or "none") as the first message, then echoes.
async fn proto(up: WsUpgrade) -> impl IntoResponse {
    let up = up.protocols(["chat.v2", "chat.v1"]);
    let selected = up.selected_protocol().unwrap_or("none").to_owned();
    up.on_upgrade(move |mut socket| async move {
        let _ = socket.send(Message::text(selected)).await;
        while let Some(Ok(msg)) = socket.recv().await {
            if socket.send(msg).await.is_err() {
                break;
            }
        }
    })
}

async fn origin(up: WsUpgrade) -> Result<impl IntoResponse, WsRejection> {
    let up = up.check_origin(&["https://app.example"])?;
    Ok(echo(up).await)
}

async fn small(up: WsUpgrade) -> impl IntoResponse {
    let mut config = WsConfig::default();
    config.protocol = config.protocol.with_max_message_size(1024);
    echo(up.config(config)).await
}

async fn start() -> SocketAddr {
    let app = Router::new()
        .route("/echo", any(echo))
        .route("/proto", any(proto))
        .route("/origin", any(origin))
        .route("/small", any(small));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

async fn open(
    addr: SocketAddr,
    path: &str,
    extra: &[(&str, &str)],
    protocols: &[&str],
) -> Result<
    (
        ws::WebSocket<TcpStream>,
        sluice_ws::handshake::HandshakeResponse,
    ),
    ws::Error,
> {
    let tcp = TcpStream::connect(addr).await?;
    let mut req = ClientHandshake::new(&addr.to_string(), path, ws::random_nonce()).unwrap();
    for p in protocols {
        req = req.protocol(p).unwrap();
    }
    for (n, v) in extra {
        req = req.header(n, v.as_bytes()).unwrap();
    }
    tokio::time::timeout(T, ws::connect_with(tcp, &req, WsConfig::default()))
        .await
        .expect("handshake in time")
}

async fn round_trip<S>(socket: &mut ws::WebSocket<S>, msg: Message) -> Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    socket.send(msg).await.unwrap();
    tokio::time::timeout(T, socket.recv())
        .await
        .expect("echo in time")
        .expect("echo")
        .expect("echo ok")
}

#[tokio::test]
async fn http1_upgrade_negotiates_deflate_by_default_and_echoes() {
    let addr = start().await;
    let (mut socket, resp) = open(addr, "/echo", &[], &[]).await.unwrap();
    // RFC 7692 §5: our client offers permessage-deflate; the extractor's default accepts it.
    assert!(
        resp.extensions()
            .iter()
            .any(|e| e.name() == "permessage-deflate"),
        "{:?}",
        resp.extensions()
    );
    assert!(socket.connection().deflate().is_some());
    let text = "compressible ".repeat(1000);
    assert_eq!(
        round_trip(&mut socket, Message::text(text.clone())).await,
        Message::text(text)
    );
    let bin = vec![7u8; 70_000];
    assert_eq!(
        round_trip(&mut socket, Message::binary(bin.clone())).await,
        Message::binary(bin)
    );
    socket.close(CloseCode::NORMAL, "bye").await.unwrap();
    while socket.recv().await.is_some() {}
    assert_eq!(socket.close_info().unwrap().code, CloseCode::NORMAL);
}

#[tokio::test]
async fn http2_extended_connect_reaches_the_same_handler() {
    let addr = start().await;
    // h2c with prior knowledge: axum::serve speaks HTTP/2 on the same port and enables
    // SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3); `any` routes the CONNECT.
    let req = ClientRequest::get(&format!("ws://{addr}/echo")).unwrap();
    let (mut socket, resp) = tokio::time::timeout(
        T,
        ws::connect_h2(&DefaultConnector::default(), &req, WsConfig::default()),
    )
    .await
    .expect("h2 handshake in time")
    .expect("h2 handshake");
    assert!(
        resp.extensions()
            .iter()
            .any(|e| e.name() == "permessage-deflate")
    );
    for i in 0..20 {
        let m = Message::text(format!("over h2 #{i} {}", "x".repeat(i * 100)));
        assert_eq!(round_trip(&mut socket, m.clone()).await, m);
    }
    socket.close(CloseCode::NORMAL, "").await.unwrap();
    while socket.recv().await.is_some() {}
}

#[tokio::test]
async fn subprotocol_is_the_first_offered_one_the_handler_speaks() {
    let addr = start().await;
    let (mut s, resp) = open(addr, "/proto", &[], &["x.other", "chat.v1", "chat.v2"])
        .await
        .unwrap();
    assert_eq!(resp.protocol(), Some("chat.v1"));
    assert_eq!(
        tokio::time::timeout(T, s.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap(),
        Message::text("chat.v1")
    );
    let (mut s, resp) = open(addr, "/proto", &[], &["x.other"]).await.unwrap();
    assert_eq!(resp.protocol(), None);
    assert_eq!(
        tokio::time::timeout(T, s.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap(),
        Message::text("none")
    );
}

fn refused_with(r: Result<impl std::fmt::Debug, ws::Error>) -> u16 {
    match r {
        Err(ws::Error::Response(ResponseError::UnexpectedStatus { status, .. })) => status.as_u16(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn origin_check_refuses_other_sites_with_403() {
    let addr = start().await;
    let evil = open(addr, "/origin", &[("Origin", "https://evil.example")], &[]).await;
    assert_eq!(refused_with(evil), 403);
    // Listed, same-origin, and no Origin at all (not a browser) are let through.
    open(addr, "/origin", &[("Origin", "https://app.example")], &[])
        .await
        .unwrap();
    let same = format!("http://{addr}");
    open(addr, "/origin", &[("Origin", same.as_str())], &[])
        .await
        .unwrap();
    open(addr, "/origin", &[], &[]).await.unwrap();
}

/// Writes `head` raw and returns the status line and the head of the answer.
async fn raw(addr: SocketAddr, head: &str) -> String {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(T, c.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).to_ascii_lowercase()
}

/// An opening handshake head for `/echo` (RFC 6455 §4.1) with the given method, key and
/// version, plus `extra` fields.
fn handshake(method: &str, key: &str, version: &str, extra: &str) -> String {
    format!(
        "{method} /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn refusals_carry_the_rfc_6455_status() {
    let addr = start().await;
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    // §4.2.1: no Upgrade → 400.
    let r = raw(addr, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(r.starts_with("http/1.1 400"), "{r}");
    // §4.2.1 item 6 / §4.4: another version → 426 naming 13.
    let r = raw(addr, &handshake("GET", key, "8", "")).await;
    assert!(r.starts_with("http/1.1 426"), "{r}");
    assert!(r.contains("sec-websocket-version: 13"), "{r}");
    // §4.2.1 item 1: the method must be GET (RFC 9110 §15.5.6: with Allow).
    let r = raw(addr, &handshake("POST", key, "13", "Content-Length: 0\r\n")).await;
    assert!(r.starts_with("http/1.1 405"), "{r}");
    assert!(r.contains("allow: get"), "{r}");
    // A bad key → 400; a good request → 101 with the §1.3 accept value.
    let r = raw(addr, &handshake("GET", "short", "13", "")).await;
    assert!(r.starts_with("http/1.1 400"), "{r}");
    let r = raw(addr, &handshake("GET", key, "13", "")).await;
    assert!(r.starts_with("http/1.1 101"), "{r}");
    assert!(
        r.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{r}"
    );
    // Not offered → not answered.
    assert!(!r.contains("sec-websocket-extensions"), "{r}");
}

#[tokio::test]
async fn ws_config_limits_apply_close_1009() {
    let addr = start().await;
    let (mut socket, _) = open(addr, "/small", &[], &[]).await.unwrap();
    let ok = Message::text("a".repeat(1000));
    assert_eq!(round_trip(&mut socket, ok.clone()).await, ok);
    socket.send(Message::text("b".repeat(2000))).await.unwrap();
    let end = tokio::time::timeout(T, async {
        while let Some(r) = socket.recv().await {
            if r.is_err() {
                break;
            }
        }
        socket.close_info().cloned()
    })
    .await
    .expect("closed in time");
    assert_eq!(end.unwrap().code, CloseCode::MESSAGE_TOO_BIG);
}
