//! permessage-deflate through the driver: negotiation by accept/connect_with over
//! `tokio::io::duplex`, compressed echo, opting out, and a bad answer failing the client.
#![cfg(feature = "deflate")]

use sluice_tokio::ws::{self, DeflateConfig, Message, WsConfig};
use sluice_ws::handshake::ClientHandshake;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn chat(i: usize) -> String {
    format!(
        r#"{{"type":"message","room":"general","user":"u{}","text":"hello {i}"}}"#,
        i % 5
    )
}

#[tokio::test]
async fn negotiated_by_default_and_messages_compressed() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut s = ws::accept(b, WsConfig::default()).await.unwrap();
        assert!(s.connection().deflate().is_some());
        while let Some(Ok(m)) = s.recv().await {
            s.send(m).await.unwrap();
        }
        s.connection().deflate().unwrap().stats()
    });
    let req = ClientHandshake::new("localhost", "/", ws::random_nonce()).unwrap();
    let (mut c, resp) = ws::connect_with(a, &req, WsConfig::default())
        .await
        .unwrap();
    assert_eq!(resp.extensions()[0].name(), "permessage-deflate");
    for i in 0..50 {
        c.send(Message::text(chat(i))).await.unwrap();
        assert_eq!(c.recv().await.unwrap().unwrap(), Message::text(chat(i)));
    }
    let big = "x".repeat(1 << 20);
    c.send(Message::text(big.clone())).await.unwrap();
    assert_eq!(c.recv().await.unwrap().unwrap(), Message::text(big));
    c.close(ws::CloseCode::NORMAL, "").await.unwrap();
    while c.recv().await.is_some() {}
    let cs = c.connection().deflate().unwrap().stats();
    assert_eq!(cs.messages_compressed, 51);
    assert_eq!(cs.messages_inflated, 51);
    assert!(cs.compress_out * 3 < cs.compress_in, "{cs:?}");
    let ss = server.await.unwrap();
    assert_eq!(ss.messages_inflated, 51);
}

#[tokio::test]
async fn opting_out_on_either_side() {
    for (client_on, server_on) in [(false, true), (true, false)] {
        let (a, b) = tokio::io::duplex(1 << 16);
        let scfg = WsConfig::default().deflate(server_on.then(DeflateConfig::default));
        let server = tokio::spawn(async move {
            let mut s = ws::accept(b, scfg).await.unwrap();
            let on = s.connection().deflate().is_some();
            while let Some(Ok(m)) = s.recv().await {
                s.send(m).await.unwrap();
            }
            on
        });
        let ccfg = WsConfig::default().deflate(client_on.then(DeflateConfig::default));
        let req = ClientHandshake::new("localhost", "/", ws::random_nonce()).unwrap();
        let (mut c, resp) = ws::connect_with(a, &req, ccfg).await.unwrap();
        assert!(resp.extensions().is_empty());
        assert!(c.connection().deflate().is_none());
        c.send(Message::text(chat(1))).await.unwrap();
        assert_eq!(c.recv().await.unwrap().unwrap(), Message::text(chat(1)));
        c.close(ws::CloseCode::NORMAL, "").await.unwrap();
        while c.recv().await.is_some() {}
        assert!(!server.await.unwrap());
    }
}

/// RFC 7692 §7.1: an answer with a parameter the client did not offer fails the client.
#[tokio::test]
async fn answer_not_matching_the_offer_fails_the_client() {
    let cfg = DeflateConfig::default().with_server_no_context_takeover(true);
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let fake_server = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let n = b.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(head.contains("server_no_context_takeover"), "{head}");
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .trim()
            .to_owned();
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            sluice_ws::handshake::accept_key(key.as_bytes())
        );
        b.write_all(answer.as_bytes()).await.unwrap();
        b
    });
    let req = ClientHandshake::new("localhost", "/", ws::random_nonce()).unwrap();
    let err = ws::connect_with(a, &req, WsConfig::default().deflate(Some(cfg)))
        .await
        .unwrap_err();
    assert!(matches!(err, ws::Error::Deflate(_)), "{err:?}");
    drop(fake_server.await.unwrap());
}
