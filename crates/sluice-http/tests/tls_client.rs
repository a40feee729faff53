//! The client side of TLS against a rustls server built here: SNI, ALPN, a custom CA, and a
//! client certificate (mutual TLS) presented and verified — or refused when missing.

#[path = "support/pki.rs"]
mod pki;

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sluice_http::{ClientConfig, ClientTls, Connector, DefaultConnector, Url};
use tokio::net::TcpListener;

/// A server that requires a client certificate signed by `client_ca`; it reports the SNI it
/// saw, the ALPN it agreed and how many client certificates were presented.
async fn mtls_server(
    server: &pki::Pki,
    client_ca: &str,
) -> (
    u16,
    tokio::task::JoinHandle<Result<(Option<String>, Option<Vec<u8>>, usize), String>>,
) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(client_ca.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .unwrap();
    let chain = vec![CertificateDer::from_pem_slice(server.cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap();
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.map_err(|e| e.to_string())?;
        let tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let conn = tls.get_ref().1;
        Ok((
            conn.server_name().map(str::to_owned),
            conn.alpn_protocol().map(<[u8]>::to_vec),
            conn.peer_certificates().map_or(0, <[_]>::len),
        ))
    });
    (port, task)
}

#[tokio::test]
async fn client_certificate_sni_and_alpn() {
    let server = pki::pki();
    let client = pki::pki();
    let (port, seen) = mtls_server(&server, &client.ca_pem).await;
    let tls = ClientTls::empty()
        .add_ca_pem(server.ca_pem.as_bytes())
        .unwrap()
        .client_auth_pem(client.cert_pem.as_bytes(), client.key_pem.as_bytes())
        .unwrap();
    let url = Url::parse(&format!("https://localhost:{port}/")).unwrap();
    let stream = DefaultConnector::new(tls)
        .connect(&url, &ClientConfig::default())
        .await
        .unwrap();
    assert!(stream.is_tls());
    assert_eq!(stream.alpn_protocol(), Some(&b"h2"[..]));
    let (sni, alpn, certs) = seen.await.unwrap().unwrap();
    assert_eq!(sni.as_deref(), Some("localhost"));
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(certs, 1, "the client certificate was presented");
}

#[tokio::test]
async fn a_server_that_wants_a_client_certificate_refuses_a_client_without_one() {
    let server = pki::pki();
    let client = pki::pki();
    let (port, seen) = mtls_server(&server, &client.ca_pem).await;
    let tls = ClientTls::empty()
        .add_ca_pem(server.ca_pem.as_bytes())
        .unwrap();
    let url = Url::parse(&format!("https://127.0.0.1:{port}/")).unwrap();
    let mut cfg = ClientConfig::default();
    cfg.alpn = vec![b"http/1.1".to_vec()];
    // TLS 1.3: the client learns of the refusal on its first read, not in connect().
    let r = sluice_http::fetch_with(
        &DefaultConnector::new(tls),
        sluice_http::ClientRequest::get(url.to_string().as_str()).unwrap(),
        &cfg,
    )
    .await;
    assert!(r.is_err(), "no client certificate, yet {r:?}");
    assert!(
        seen.await.unwrap().is_err(),
        "the server must refuse the handshake"
    );
}

#[test]
fn a_client_key_that_does_not_match_its_certificate_is_refused_at_once() {
    let a = pki::pki();
    let b = pki::pki();
    let e = ClientTls::default()
        .client_auth_pem(a.cert_pem.as_bytes(), b.key_pem.as_bytes())
        .unwrap_err();
    assert!(e.to_string().contains("TLS configuration refused"), "{e}");
    assert!(matches!(
        ClientTls::default().add_ca_pem(b"not pem"),
        Err(sluice_http::TlsError::NoCertificate { .. })
    ));
}

/// A TLS port on loopback (each connection's handshake within `limit`); its address.
async fn tls_port(limit: std::time::Duration) -> std::net::SocketAddr {
    let server = pki::pki();
    let tls =
        sluice_http::ServerTls::from_pem(server.cert_pem.as_bytes(), server.key_pem.as_bytes())
            .unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                let _ = tls.accept(tcp, limit).await;
            });
        }
    });
    addr
}

/// Plain HTTP on a TLS port gets a 400 and a clean close: the request the server only peeked at
/// is read before closing, so the close is not a reset that could destroy the answer.
#[tokio::test]
async fn plain_http_on_a_tls_port_gets_400_and_a_clean_close() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = tls_port(std::time::Duration::from_secs(5)).await;
    for _ in 0..5 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"G").await.unwrap();
        // The rest of the request arrives after the server peeked at its first byte.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        c.write_all(b"ET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut out = Vec::new();
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut out))
            .await
            .unwrap();
        assert!(r.is_ok(), "{r:?} after {:?}", String::from_utf8_lossy(&out));
        assert!(
            out.starts_with(b"HTTP/1.1 400 "),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
    }
}

/// The drain after that 400 is bounded: a plain-HTTP client that keeps sending is dropped about
/// a second after its answer (its writes then fail), not read forever.
#[tokio::test]
async fn plain_http_on_a_tls_port_is_not_drained_forever() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = tls_port(std::time::Duration::from_secs(30)).await;
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.unwrap();
    assert!(out.starts_with(b"HTTP/1.1 400 "));
    let started = std::time::Instant::now();
    let dropped = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while c.write_all(&[b'x'; 100]).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(dropped.is_ok(), "still drained after 10 s");
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(4), "{took:?}");
}
