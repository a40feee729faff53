//! The hub over TLS and HTTP/2, with our own clients on the other side: https SSE and
//! long-poll, wss WebSocket over HTTP/1.1, RFC 8441 WebSocket over h2 (TLS and h2c), certificate
//! errors, and certificate reload. Certificates are made here (rcgen), per run.

mod common;
use common::standalone as serve_under_test;
#[allow(unused_imports)] // used by `common`; unused where sluice-axum includes this file
use std::time::Duration;

use common::T;
use sluice_http::{ClientError, ClientRequest, ClientTls, DefaultConnector, ServerTls};
use sluice_hub::{Hub, HubConfig};
use sluice_longpoll::Start;
use sluice_tokio::longpoll::{LongPollClient, LongPollClientConfig};
use sluice_tokio::sse::{SseClient, SseClientConfig, SseEvent};
use sluice_tokio::ws::{self, Message, WsConfig};
use tokio::net::TcpListener;

#[path = "../../sluice-http/tests/support/pki.rs"]
mod pki;
use pki::{Pki, pki};

struct TlsHub {
    hub: Hub,
    tls: ServerTls,
    port: u16,
}

async fn start(tls: Option<ServerTls>) -> (Hub, u16) {
    let mut cfg = HubConfig::default();
    // Off by default in the hub; on here to show it negotiates on an h2 stream too.
    cfg.ws_deflate = Some(ws::DeflateConfig::default());
    start_with(cfg, tls).await
}

async fn start_with(cfg: HubConfig, tls: Option<ServerTls>) -> (Hub, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hub = Hub::new(cfg);
    let h = hub.clone();
    tokio::spawn(async move { h.serve_tls(l, tls).await });
    (hub, port)
}

async fn tls_hub(p: &Pki) -> TlsHub {
    let tls = ServerTls::from_pem(p.cert_pem.as_bytes(), p.key_pem.as_bytes()).unwrap();
    let (hub, port) = start(Some(tls.clone())).await;
    TlsHub { hub, tls, port }
}

fn trusting(p: &Pki) -> DefaultConnector {
    DefaultConnector::new(ClientTls::empty().add_ca_pem(p.ca_pem.as_bytes()).unwrap())
}

/// An SSE client on `url` through `c`, past its `Open`.
async fn open_sse(c: &DefaultConnector, url: &str) -> SseClient {
    let req = ClientRequest::get(url).unwrap();
    let mut sse = SseClient::with_connector(c.clone(), req, SseClientConfig::default());
    match tokio::time::timeout(T, sse.next()).await.unwrap().unwrap() {
        Some(SseEvent::Open { .. }) => {}
        other => panic!("expected open, got {other:?}"),
    }
    sse
}

async fn publish(c: &DefaultConnector, base: &str, topic: &str, data: &str) {
    let req = ClientRequest::post(&format!("{base}/publish/{topic}"), data.to_owned()).unwrap();
    let resp = tokio::time::timeout(T, sluice_http::fetch_with(c, req, &Default::default()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

async fn next_text(
    socket: &mut ws::WebSocket<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send>,
) -> String {
    loop {
        match tokio::time::timeout(T, socket.recv()).await.unwrap() {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(_)) => {}
            other => panic!("no text frame: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_sse_and_longpoll_and_wss_with_a_custom_ca() {
    let p = pki();
    let s = tls_hub(&p).await;
    let base = format!("https://127.0.0.1:{}", s.port);
    let c = trusting(&p);

    // SSE over https: open, then publish; the event arrives exactly once.
    let mut sse = open_sse(&c, &format!("{base}/sse/t")).await;
    publish(&c, &base, "t", "over-tls").await;
    let got = loop {
        match tokio::time::timeout(T, sse.next()).await.unwrap().unwrap() {
            Some(SseEvent::Event(e)) => break e.data.to_string(),
            Some(_) => {}
            None => panic!("stream ended"),
        }
    };
    assert!(got.contains("over-tls"), "{got}");

    // Long-poll over https from the earliest event.
    let mut lp = LongPollClient::with_connector(
        c.clone(),
        &format!("{base}/poll/t"),
        Start::Earliest,
        LongPollClientConfig::default(),
    )
    .unwrap();
    let ev = tokio::time::timeout(T, lp.next()).await.unwrap().unwrap();
    assert!(format!("{ev:?}").contains("over-tls"), "{ev:?}");

    // WebSocket over wss (HTTP/1.1 upgrade inside TLS).
    let req = ClientRequest::get(&format!("wss://127.0.0.1:{}/ws/w", s.port)).unwrap();
    let (mut socket, _) = ws::connect_request(&c, &req, WsConfig::default())
        .await
        .unwrap();
    assert!(next_text(&mut socket).await.starts_with("{\"cursor\":"));
    publish(&c, &base, "w", "to-wss").await;
    assert!(next_text(&mut socket).await.contains("to-wss"));
    assert_eq!(s.hub.metrics().ws_h2, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8441_websocket_over_h2_tls_and_h2c_with_deflate() {
    let p = pki();
    let s = tls_hub(&p).await;
    let c = trusting(&p);
    let base = format!("https://127.0.0.1:{}", s.port);
    let req = ClientRequest::get(&format!("wss://127.0.0.1:{}/ws/h2", s.port)).unwrap();
    let (mut socket, resp) = ws::connect_h2(&c, &req, WsConfig::default()).await.unwrap();
    // permessage-deflate is negotiated on the h2 stream too.
    assert!(
        resp.extensions()
            .iter()
            .any(|e| e.name() == "permessage-deflate"),
        "{resp:?}"
    );
    assert!(next_text(&mut socket).await.starts_with("{\"cursor\":"));
    publish(&c, &base, "h2", "one").await;
    assert!(next_text(&mut socket).await.contains("\"one\""));
    // A client text frame is published to the topic and comes back.
    socket.send(Message::text("from-h2-client")).await.unwrap();
    assert!(next_text(&mut socket).await.contains("from-h2-client"));
    assert_eq!(s.hub.metrics().ws_h2, 1);
    assert!(s.hub.metrics().requests_h2 >= 1);
    socket.close(ws::CloseCode::NORMAL, "").await.unwrap();

    // h2c with prior knowledge on a plain port.
    let (hub, port) = start(None).await;
    let req = ClientRequest::get(&format!("ws://127.0.0.1:{port}/ws/c")).unwrap();
    let (mut socket, _) = ws::connect_h2(&DefaultConnector::default(), &req, WsConfig::default())
        .await
        .unwrap();
    assert!(next_text(&mut socket).await.starts_with("{\"cursor\":"));
    hub.publish("c", "message", "cleartext").await.unwrap();
    assert!(next_text(&mut socket).await.contains("cleartext"));
    assert_eq!(hub.metrics().ws_h2, 1);
}

/// A refused RFC 8441 WebSocket upgrade ends only its stream: the next CONNECT on the same
/// HTTP/2 connection is served (`Connection: close`, the HTTP/1.1 smuggling guard, would be a
/// GOAWAY here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_h2_websocket_leaves_the_connection_open() {
    let (_hub, port) = start(None).await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut send = sluice_http::h2::h2_connect(tcp, &sluice_http::ClientConfig::default())
        .await
        .unwrap();
    let fields = [("sec-websocket-version".to_owned(), b"13".to_vec())];
    // Refused by the handshake's decision (the Origin check): 403.
    let evil = [
        ("sec-websocket-version".to_owned(), b"13".to_vec()),
        ("origin".to_owned(), b"http://evil.example".to_vec()),
    ];
    let tunnel =
        |path: &str| sluice_http::Url::parse(&format!("http://127.0.0.1:{port}{path}")).unwrap();
    let (status, _, _) =
        sluice_http::h2::h2_tunnel(&mut send, &tunnel("/ws/t"), "websocket", &evil, T)
            .await
            .unwrap();
    assert_eq!(status.as_u16(), 403);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _, _) =
        sluice_http::h2::h2_tunnel(&mut send, &tunnel("/ws/t"), "websocket", &fields, T)
            .await
            .expect("the connection was closed after the refusal");
    assert_eq!(status.as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificates_are_certificate_errors_and_reload_swaps_the_certificate() {
    let p = pki();
    let s = tls_hub(&p).await;
    let base = format!("https://127.0.0.1:{}", s.port);
    // The default trust anchors (webpki-roots) do not know our test CA.
    let req = ClientRequest::get(&format!("{base}/healthz")).unwrap();
    let e = sluice_http::fetch(req, &Default::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Certificate { .. }), "{e:?}");
    assert!(e.to_string().contains("certificate"), "{e}");
    // wss likewise.
    let e = ws::connect(
        &format!("wss://127.0.0.1:{}/ws/x", s.port),
        WsConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, ws::Error::Connect(ClientError::Certificate { .. })),
        "{e:?}"
    );

    // Reload: a certificate from another CA; new connections see it, a client trusting only
    // the old CA now fails and one trusting the new CA succeeds.
    let old = trusting(&p);
    let q = pki();
    s.tls
        .set_certificate_pem(q.cert_pem.as_bytes(), q.key_pem.as_bytes())
        .unwrap();
    let get = || ClientRequest::get(&format!("{base}/healthz")).unwrap();
    let e = sluice_http::fetch_with(&old, get(), &Default::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Certificate { .. }), "{e:?}");
    let r = sluice_http::fetch_with(&trusting(&q), get(), &Default::default())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A mismatched key is refused and the certificate in use is kept.
    assert!(
        s.tls
            .set_certificate_pem(p.cert_pem.as_bytes(), q.key_pem.as_bytes())
            .is_err()
    );
    let r = sluice_http::fetch_with(&trusting(&q), get(), &Default::default())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(s.hub.metrics().tls_failures >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_clients_negotiate_h2_and_share_one_connection() {
    let p = pki();
    let s = tls_hub(&p).await;
    let base = format!("https://127.0.0.1:{}", s.port);
    let c = trusting(&p);
    // 12 EventSource-style clients, one connector: over HTTP/1.1 that is 12 connections (and a
    // browser would stall the 7th); over h2 it is one.
    let mut clients = Vec::new();
    for i in 0..12 {
        clients.push(open_sse(&c, &format!("{base}/sse/s{i}")).await);
    }
    assert_eq!(c.pool().len(), 1);
    assert_eq!(s.hub.metrics().connections, 1, "{:?}", s.hub.metrics());
    // A stream is counted once its session joined the topic, after its head went out.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.hub.metrics().sse != 12 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            s.hub.metrics()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Publishing goes over the same pooled connection, as HTTP/2.
    let req = ClientRequest::post(&format!("{base}/publish/s0"), "x").unwrap();
    let resp = sluice_http::fetch_with(&c, req, &Default::default())
        .await
        .unwrap();
    assert_eq!(resp.version(), sluice_http::Version::Http2);
    for i in 0..12 {
        publish(&c, &base, &format!("s{i}"), &format!("to-{i}")).await;
    }
    assert_eq!(s.hub.metrics().connections, 1);
    for (i, sse) in clients.iter_mut().enumerate() {
        let mut got = Vec::new();
        while got.len() < if i == 0 { 2 } else { 1 } {
            match tokio::time::timeout(T, sse.next()).await.unwrap().unwrap() {
                Some(SseEvent::Event(e)) => got.push(e.data.to_string()),
                Some(_) => {}
                None => panic!("stream {i} ended"),
            }
        }
        assert!(
            got.last().unwrap().contains(&format!("to-{i}")),
            "{i}: {got:?}"
        );
    }
    assert!(s.hub.metrics().requests_h2 >= 25);
}

/// An SSE stream over HTTP/2 stays a request in progress of its connection: the connection's
/// idle timer does not send GOAWAY under it, and later requests share the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_stream_keeps_its_connection_busy() {
    let p = pki();
    let tls = ServerTls::from_pem(p.cert_pem.as_bytes(), p.key_pem.as_bytes()).unwrap();
    let mut cfg = HubConfig::default();
    cfg.http.keep_alive_timeout = Duration::from_millis(300);
    let (hub, port) = start_with(cfg, Some(tls)).await;
    let base = format!("https://127.0.0.1:{port}");
    let c = trusting(&p);
    let mut sse = open_sse(&c, &format!("{base}/sse/busy")).await;
    // Three idle timeouts with only the stream open.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    publish(&c, &base, "busy", "still here").await;
    loop {
        match tokio::time::timeout(T, sse.next()).await.unwrap().unwrap() {
            Some(SseEvent::Event(e)) => {
                assert!(e.data.contains("still here"), "{e:?}");
                break;
            }
            Some(SseEvent::Reconnecting { cause, .. }) => panic!("stream cut: {cause}"),
            Some(_) => {}
            None => panic!("stream ended"),
        }
    }
    assert_eq!(
        hub.metrics().connections,
        1,
        "the publish needed a new connection: {:?}",
        hub.metrics()
    );
}
