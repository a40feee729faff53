//! `HubService` specifics (the hub's own e2e tests run nested in `nested_hub.rs`): the
//! DNS-rebinding guard when the hub has no auth secret (it cannot know where the app listens),
//! `allow_hosts`, and the `/rt` → `/rt/` redirect.
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use sluice_axum::HubServiceExt;
use sluice_hub::{Hub, HubConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start(cfg: HubConfig) -> SocketAddr {
    let hub = Hub::new(cfg);
    let app = Router::new().nest_service("/rt", hub.service());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

/// The status line and fields of the answer to `GET path` with `Host: host`.
async fn get(addr: SocketAddr, path: &str, host: &str) -> String {
    let mut c = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    c.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).to_ascii_lowercase()
}

#[tokio::test]
async fn without_auth_only_loopback_names_are_answered() {
    let addr = start(HubConfig::default()).await;
    for host in ["127.0.0.1", "localhost:3000", "[::1]"] {
        let r = get(addr, "/rt/healthz", host).await;
        assert!(r.starts_with("http/1.1 200"), "{host}: {r}");
    }
    // A rebound name: the attack the guard exists for.
    let r = get(addr, "/rt/healthz", "evil.example:3000").await;
    assert!(r.starts_with("http/1.1 403"), "{r}");
    assert!(r.contains("host_not_allowed"), "{r}");
}

#[tokio::test]
async fn allow_hosts_opens_the_app_names() {
    let mut cfg = HubConfig::default();
    cfg.allow_hosts = vec!["app.example".into()];
    let addr = start(cfg).await;
    assert!(
        get(addr, "/rt/healthz", "app.example")
            .await
            .starts_with("http/1.1 200")
    );
    assert!(
        get(addr, "/rt/healthz", "other.example")
            .await
            .starts_with("http/1.1 403")
    );
}

#[tokio::test]
async fn with_an_auth_secret_names_are_not_restricted() {
    let mut cfg = HubConfig::default();
    cfg.auth_secret = Some(b"s3cret-s3cret-s3cret-s3cret-0123".to_vec());
    let addr = start(cfg).await;
    assert!(
        get(addr, "/rt/healthz", "app.example")
            .await
            .starts_with("http/1.1 200")
    );
}

#[tokio::test]
async fn the_prefix_without_slash_redirects_to_the_page() {
    let addr = start(HubConfig::default()).await;
    let r = get(addr, "/rt?topic=lobby", "127.0.0.1").await;
    assert!(r.starts_with("http/1.1 308"), "{r}");
    assert!(r.contains("location: /rt/?topic=lobby"), "{r}");
    let r = get(addr, "/rt/", "127.0.0.1").await;
    assert!(
        r.starts_with("http/1.1 200") && r.contains("text/html"),
        "{r}"
    );
}
