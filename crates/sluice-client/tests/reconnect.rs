//! `ReconnectingWebSocket` against in-process loopback servers: reconnection with the hook and
//! the state stream, the offline queue and its overflow policies, dead-peer detection, giving
//! up, and a refused handshake. Every wait bounded.

use std::time::Duration;

use sluice_client::{
    Backoff, Closed, ConnState, Message, Overflow, ReconnectConfig, ReconnectingWebSocket,
    SendError,
};
use sluice_http::ClientRequest;
use sluice_tokio::ws::{self, WsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn fast() -> ReconnectConfig {
    ReconnectConfig::default().with_backoff(
        Backoff::default()
            .with_min(Duration::from_millis(20))
            .with_max(Duration::from_millis(100)),
    )
}

fn request(port: u16) -> ClientRequest {
    ClientRequest::get(&format!("ws://127.0.0.1:{port}/")).unwrap()
}

/// A port nothing listens on (bound, then released).
async fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// An echo server that drops each connection after `per_conn` messages.
async fn echo_server(listener: TcpListener, per_conn: usize) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let Ok(mut s) = ws::accept(tcp, WsConfig::default()).await else {
                return;
            };
            for _ in 0..per_conn {
                match s.recv().await {
                    Some(Ok(m)) => {
                        if s.send(m).await.is_err() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
            // Dropped without a close handshake: a lost connection.
        });
    }
}

async fn text(ws: &mut ReconnectingWebSocket) -> String {
    let m = timeout(WAIT, ws.recv()).await.expect("a message in time");
    match m.expect("open") {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn reconnects_runs_the_hook_on_every_open_and_reports_states() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(echo_server(l, 2));
    let mut ws = ReconnectingWebSocket::builder(request(port))
        .config(fast())
        .on_open(|n| vec![Message::text(format!("hello {n}"))])
        .connect();
    let mut states = ws.states().unwrap();
    // Connection 1: the hook's message, then one of ours; the server then drops it.
    assert_eq!(text(&mut ws).await, "hello 1");
    ws.send(Message::text("a")).unwrap();
    assert_eq!(text(&mut ws).await, "a");
    // Connection 2, by itself.
    assert_eq!(text(&mut ws).await, "hello 2");
    ws.send(Message::text("b")).unwrap();
    assert_eq!(text(&mut ws).await, "b");
    assert_eq!(text(&mut ws).await, "hello 3");
    ws.close();
    ws.closed().await;
    let mut seen = Vec::new();
    while let Ok(Some(s)) = timeout(WAIT, states.next()).await {
        seen.push(s);
    }
    assert_eq!(seen.first(), Some(&ConnState::Open { opens: 1 }));
    assert!(matches!(
        seen.get(1),
        Some(ConnState::Reconnecting { attempt: 1, .. })
    ));
    assert!(seen.contains(&ConnState::Open { opens: 3 }), "{seen:?}");
    assert_eq!(
        seen.last(),
        Some(&ConnState::Closed {
            reason: Closed::ByCaller
        })
    );
    assert!(ws.recv().await.is_none());
    assert_eq!(ws.send(Message::text("late")), Err(SendError::Closed));
}

#[tokio::test]
async fn the_offline_queue_is_bounded_by_its_policy_and_drains_in_order() {
    // Nothing listens yet: messages queue.
    let port = dead_port().await;
    let strict = ReconnectingWebSocket::builder(request(port))
        .config(fast().with_queue(2, Overflow::Error))
        .connect();
    strict.send(Message::text("1")).unwrap();
    strict.send(Message::text("2")).unwrap();
    assert_eq!(
        strict.send(Message::text("3")),
        Err(SendError::QueueFull { size: 2, max: 2 })
    );
    drop(strict);

    let mut ws = ReconnectingWebSocket::builder(request(port))
        .config(fast().with_queue(2, Overflow::DropOldest))
        .connect();
    for m in ["1", "2", "3"] {
        ws.send(Message::text(m)).unwrap();
    }
    assert_eq!(ws.queued(), 2);
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The server appears on that port: the two newest arrive, in order, once.
    let l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(echo_server(l, 100));
    assert_eq!(text(&mut ws).await, "2");
    assert_eq!(text(&mut ws).await, "3");
    assert!(
        timeout(Duration::from_millis(300), ws.recv())
            .await
            .is_err()
    );
    assert_eq!(ws.queued(), 0);
}

#[tokio::test]
async fn a_silent_peer_is_found_dead_by_the_ping_deadline() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    // Completes the handshake, then never reads again (no Pong ever comes back).
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut tcp, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            let n = tcp.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let key = req
                .lines()
                .find_map(|l| {
                    l.strip_prefix("sec-websocket-key: ")
                        .or_else(|| l.strip_prefix("Sec-WebSocket-Key: "))
                })
                .unwrap_or("")
                .trim()
                .to_owned();
            let accept = sluice_ws::handshake::accept_key(key.as_bytes());
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
            );
            let _ = tcp.write_all(resp.as_bytes()).await;
            held.push(tcp);
        }
    });
    let cfg = fast().with_ping(Some(Duration::from_millis(200)), Duration::from_millis(300));
    let mut ws = ReconnectingWebSocket::builder(request(port))
        .config(cfg)
        .connect();
    let mut states = ws.states().unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(
        timeout(WAIT, states.next()).await.unwrap(),
        Some(ConnState::Open { opens: 1 })
    );
    let next = timeout(WAIT, states.next()).await.unwrap();
    assert!(
        matches!(next, Some(ConnState::Reconnecting { attempt: 1, .. })),
        "{next:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    ws.close();
}

#[tokio::test]
async fn it_gives_up_after_max_attempts() {
    let port = dead_port().await;
    let cfg = fast().with_backoff(
        Backoff::default()
            .with_min(Duration::from_millis(10))
            .with_max_attempts(Some(3)),
    );
    let mut ws = ReconnectingWebSocket::builder(request(port))
        .config(cfg)
        .connect();
    assert!(timeout(WAIT, ws.recv()).await.unwrap().is_none());
    match ws.state() {
        ConnState::Closed {
            reason: Closed::GaveUp { attempts: 3, .. },
        } => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_refusal_is_final() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(
                    b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
        }
    });
    let mut ws = ReconnectingWebSocket::builder(request(port))
        .config(fast())
        .connect();
    assert!(timeout(WAIT, ws.recv()).await.unwrap().is_none());
    assert_eq!(
        ws.state(),
        ConnState::Closed {
            reason: Closed::Refused { status: 403 }
        }
    );
}
