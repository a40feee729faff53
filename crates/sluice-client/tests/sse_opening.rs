//! `HubClient` over SSE against a raw loopback server that sends what a chunk-merging proxy
//! would: the hub's `retry:` and opening id-only dispatch (the head) in the same read as the
//! first event. The event after the head is delivered, not dropped as a replay.

use std::time::Duration;

use sluice_client::{Event, HubClient, Item, Start, Transport, TransportMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

const HEAD: &str = "1.ebf423398d92a867.40";
const FIRST: &str = "1.ebf423398d92a867.41";

#[tokio::test]
async fn an_event_merged_with_the_opening_head_is_delivered() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut tcp, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "the request ended early");
            got.extend_from_slice(&buf[..n]);
        }
        let body = format!("retry: 3000\n\nid: {HEAD}\n\nid: {FIRST}\nevent: message\ndata: a\n\n");
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\n\r\n{body}"
        );
        tcp.write_all(resp.as_bytes()).await.unwrap();
        // Stay open: the subscription reads on.
        let _ = tcp.read(&mut buf).await;
    });
    let client = HubClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let mut sub = client.subscribe("t", Start::Now, TransportMode::Only(Transport::Sse));
    let got = timeout(Duration::from_secs(5), async {
        loop {
            match sub.next().await.unwrap() {
                Event::Item(Item::Event { id, data, .. }) => return (id, data),
                Event::Item(other) => panic!("unexpected {other:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("the event after the opening head was not delivered");
    assert_eq!(got, (FIRST.to_owned(), "a".to_owned()));
    assert_eq!(sub.cursor().as_deref(), Some(FIRST));
}
