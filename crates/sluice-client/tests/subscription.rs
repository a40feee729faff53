//! `Subscription` against raw loopback servers: over SSE, what a chunk-merging proxy would send
//! (the hub's `retry:` and opening id-only dispatch — the head — in the same read as the first
//! event): the event after the head is delivered, not dropped as a replay; and a subscription
//! that gave up stays over.

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

/// A subscription that gave up is over: every later `next()` answers the same error at once
/// (it does not connect again).
#[tokio::test]
async fn a_subscription_that_gave_up_stays_over() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let config = sluice_client::HubClientConfig::default().with_backoff(
        sluice_client::Backoff::default()
            .with_min(Duration::from_millis(10))
            .with_max_attempts(Some(2)),
    );
    let client = HubClient::new(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .with_config(config);
    let mut sub = client.subscribe("t", Start::Now, TransportMode::Only(Transport::Poll));
    let first = timeout(Duration::from_secs(10), async {
        loop {
            if let Err(e) = sub.next().await {
                return e;
            }
        }
    })
    .await
    .expect("gave up in time");
    assert!(
        matches!(first, sluice_client::SubscribeError::GaveUp { .. }),
        "{first:?}"
    );
    // Something listens there now: a subscription that were not over would get through.
    let l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let again = timeout(Duration::from_millis(200), sub.next())
        .await
        .expect("answered at once");
    assert_eq!(again.unwrap_err(), first);
    drop(l);
}
