//! The WebSocket driver over real byte streams (`tokio::io::duplex` and loopback
//! TCP): handshake, echo, fragmentation, cancel safety, backpressure, keepalive,
//! the closing handshake in both orders, and protocol errors on the wire.

use std::time::Duration;

use bytes::Bytes;
use sluice_tokio::ws::{self, CloseCode, Error, Message, WsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};

const KEY_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A client frame (masked with key 0, which leaves the payload as is: RFC 6455 §5.3).
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Reads the 101 answer off a raw client stream.
async fn read_101(io: &mut DuplexStream) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        io.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert!(
        String::from_utf8_lossy(&head).contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "RFC 6455 §1.3 accept key"
    );
}

async fn tcp_pair(
    server_cfg: WsConfig,
    client_cfg: WsConfig,
) -> (
    ws::WebSocket<TcpStream>,
    ws::WebSocket<sluice_http::ClientStream>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        ws::accept(tcp, server_cfg).await.unwrap()
    });
    let (client, _) = ws::connect(&format!("ws://{addr}/x"), client_cfg)
        .await
        .unwrap();
    (server.await.unwrap(), client)
}

#[tokio::test]
async fn echo_text_binary_and_fragments_over_tcp() {
    let (mut server, mut client) = tcp_pair(WsConfig::default(), WsConfig::default()).await;
    let echo = tokio::spawn(async move {
        while let Some(Ok(m)) = server.recv().await {
            server.send(m).await.unwrap();
        }
        server.close_info().cloned()
    });
    client.send(Message::text("héllo")).await.unwrap();
    assert_eq!(
        client.recv().await.unwrap().unwrap(),
        Message::text("héllo")
    );
    let big: Bytes = (0..300_000u32).map(|i| i as u8).collect::<Vec<_>>().into();
    client.send(Message::Binary(big.clone())).await.unwrap();
    assert_eq!(client.recv().await.unwrap().unwrap(), Message::Binary(big));
    client
        .send_fragment(Message::text("a"), false)
        .await
        .unwrap();
    client.ping(Bytes::from_static(b"between")).await.unwrap();
    client
        .send_fragment(Message::text("b"), true)
        .await
        .unwrap();
    assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("ab"));
    client.close(CloseCode::NORMAL, "done").await.unwrap();
    assert!(client.recv().await.is_none());
    assert_eq!(client.close_info().unwrap().code, CloseCode::NORMAL);
    let info = echo.await.unwrap().unwrap();
    assert_eq!(info.code, CloseCode::NORMAL);
    assert_eq!(info.reason, "done");
}

#[tokio::test]
async fn server_initiated_close_reaches_the_client_with_code_and_reason() {
    let (mut server, mut client) = tcp_pair(WsConfig::default(), WsConfig::default()).await;
    server.close(CloseCode(4001), "bye").await.unwrap();
    let s = tokio::spawn(async move {
        while server.recv().await.is_some() {}
        server.close_info().cloned().unwrap()
    });
    assert!(client.recv().await.is_none());
    let info = client.close_info().unwrap();
    assert_eq!((info.code, info.reason.as_str()), (CloseCode(4001), "bye"));
    assert_eq!(s.await.unwrap().code, CloseCode(4001));
}

/// RFC 6455 §5.1: a server must fail the connection on an unmasked client frame
/// (close code 1002 on the wire), and the caller gets a typed protocol error.
#[tokio::test]
async fn unmasked_client_frame_gets_1002_on_the_wire() {
    let (mut raw, io) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut s = ws::accept(io, WsConfig::default()).await.unwrap();
        let r = s.recv().await;
        (
            r.map(|r| r.map_err(|e| e.to_string())),
            s.recv().await.is_none(),
        )
    });
    raw.write_all(KEY_REQUEST).await.unwrap();
    read_101(&mut raw).await;
    raw.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest).await.unwrap();
    assert_eq!(
        &rest[..4],
        &[0x88, 0x02, 0x03, 0xEA],
        "Close 1002 then EOF: {rest:?}"
    );
    let (first, then_none) = server.await.unwrap();
    assert!(matches!(first, Some(Err(_))), "{first:?}");
    assert!(then_none);
}

/// Invalid UTF-8 in a text message: close 1007 (RFC 6455 §8.1).
#[tokio::test]
async fn invalid_utf8_gets_1007_on_the_wire() {
    let (mut raw, io) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let mut s = ws::accept(io, WsConfig::default()).await.unwrap();
        while s.recv().await.is_some() {}
    });
    raw.write_all(KEY_REQUEST).await.unwrap();
    read_101(&mut raw).await;
    raw.write_all(&client_frame(0x81, &[0xce, 0xba, 0xff]))
        .await
        .unwrap();
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest).await.unwrap();
    assert_eq!(&rest[..4], &[0x88, 0x02, 0x03, 0xEF]);
}

/// `recv` dropped in `select!` again and again while a message trickles in,
/// byte by byte and frame by frame: nothing is lost, nothing is duplicated.
#[tokio::test]
async fn recv_is_cancel_safe() {
    let (mut raw, io) = tokio::io::duplex(1 << 16);
    let feeder = tokio::spawn(async move {
        raw.write_all(KEY_REQUEST).await.unwrap();
        read_101(&mut raw).await;
        let mut wire = Vec::new();
        for i in 0..20u32 {
            let text = format!("message {i} {}", "x".repeat(i as usize * 37));
            let (a, b) = text.as_bytes().split_at(text.len() / 2);
            wire.extend(client_frame(0x01, a)); // text, not FIN
            wire.extend(client_frame(0x89, b"p")); // a ping in between
            wire.extend(client_frame(0x80, b)); // continuation, FIN
        }
        for chunk in wire.chunks(7) {
            raw.write_all(chunk).await.unwrap();
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        raw
    });
    let mut s = ws::accept(io, WsConfig::default()).await.unwrap();
    let mut got = Vec::new();
    let mut cancelled = 0;
    while got.len() < 20 {
        tokio::select! {
            m = s.recv() => got.push(m.unwrap().unwrap()),
            _ = tokio::time::sleep(Duration::from_micros(50)) => cancelled += 1,
        }
    }
    for (i, m) in got.iter().enumerate() {
        let want = format!("message {i} {}", "x".repeat(i * 37));
        assert_eq!(m, &Message::text(want));
    }
    assert!(
        cancelled > 10,
        "the test must actually cancel recv ({cancelled})"
    );
    drop(feeder);
}

/// A peer that never reads: `send` stops making progress once the write buffer
/// is over its high-water mark, instead of growing memory without bound.
#[tokio::test]
async fn slow_reader_applies_backpressure() {
    let (mut raw, io) = tokio::io::duplex(4096);
    let cfg = WsConfig::default().write_buffer_high_water(64 << 10);
    let server = tokio::spawn(async move { ws::accept(io, cfg).await.unwrap() });
    raw.write_all(KEY_REQUEST).await.unwrap();
    read_101(&mut raw).await;
    let mut s = server.await.unwrap();
    let msg = Message::Binary(Bytes::from(vec![7u8; 1000]));
    let mut sent = 0usize;
    let res = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            s.feed(msg.clone()).await.unwrap();
            sent += 1;
            assert!(
                s.buffered_amount() < (64 << 10) + 2000,
                "{}",
                s.buffered_amount()
            );
        }
    })
    .await;
    assert!(res.is_err(), "feed must block");
    assert!(
        (60..100).contains(&sent),
        "sent {sent} messages before blocking"
    );
    // Once the reader drains, the queue empties.
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        while total < sent * 1004 {
            total += raw.read(&mut buf).await.unwrap();
        }
        total
    });
    s.flush().await.unwrap();
    assert_eq!(s.buffered_amount(), 0);
    assert!(drain.await.unwrap() >= sent * 1004);
}

/// Messages that arrived while the application was not reading are not silence: after a
/// pause longer than the idle timeout, they are all read, and the connection is not failed.
#[tokio::test]
async fn input_waiting_through_a_pause_is_not_an_idle_timeout() {
    let cfg = WsConfig::default()
        .ping_interval(Some(Duration::from_millis(40)))
        .idle_timeout(Some(Duration::from_millis(150)));
    let (mut server, mut client) = tcp_pair(WsConfig::default(), cfg).await;
    for i in 0..10 {
        server.send(Message::text(format!("m{i}"))).await.unwrap();
    }
    // The application reads nothing for 4 idle timeouts; the messages wait for it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for i in 0..10 {
        let m = tokio::time::timeout(Duration::from_secs(5), client.recv())
            .await
            .unwrap()
            .expect("open")
            .expect("not failed by the idle timeout");
        assert_eq!(m, Message::text(format!("m{i}")));
    }
    drop(server);
}

/// A peer that completes the handshake and then goes silent is detected by the
/// idle timeout; with a ping interval, a live peer (answering Pings) is not.
#[tokio::test]
async fn idle_timeout_detects_a_dead_peer_and_pings_keep_a_live_one() {
    let cfg = WsConfig::default()
        .ping_interval(Some(Duration::from_millis(40)))
        .idle_timeout(Some(Duration::from_millis(150)));
    // Live peer: our client answers Pings automatically while it waits in recv.
    let (mut server, mut client) = tcp_pair(cfg.clone(), WsConfig::default()).await;
    let c = tokio::spawn(async move { client.recv().await.map(|r| r.map_err(|e| e.to_string())) });
    let r = tokio::time::timeout(Duration::from_millis(500), server.recv()).await;
    assert!(r.is_err(), "a live peer must not time out: {r:?}");
    server.close(CloseCode::NORMAL, "").await.unwrap();
    // The server completes the handshake and closes TCP first (§7.1.1).
    while server.recv().await.is_some() {}
    let t0 = std::time::Instant::now();
    assert!(c.await.unwrap().is_none());
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "the client saw the FIN at once"
    );

    // Dead peer: raw stream that never answers.
    let (mut raw, io) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut s = ws::accept(io, cfg).await.unwrap();
        let t0 = std::time::Instant::now();
        let r = s.recv().await;
        (matches!(r, Some(Err(Error::Timeout))), t0.elapsed())
    });
    raw.write_all(KEY_REQUEST).await.unwrap();
    read_101(&mut raw).await;
    let (timed_out, after) = server.await.unwrap();
    assert!(timed_out);
    assert!(
        after >= Duration::from_millis(140) && after < Duration::from_secs(2),
        "{after:?}"
    );
}

/// Split halves in two tasks: the writer streams while the reader reads, and
/// the reader's automatic Pongs go out even though the writer is busy.
#[tokio::test]
async fn split_halves_work_from_two_tasks() {
    let (server, client) = tcp_pair(WsConfig::default(), WsConfig::default()).await;
    let (mut sr, mut sw) = server.split();
    let echo = tokio::spawn(async move {
        let mut n = 0;
        while let Some(Ok(m)) = sr.recv().await {
            sw.send(m).await.unwrap();
            n += 1;
        }
        n
    });
    let (mut cr, mut cw) = client.split();
    let writer = tokio::spawn(async move {
        for i in 0..500u32 {
            cw.send(Message::text(format!("{i}"))).await.unwrap();
            if i % 50 == 0 {
                cw.ping(Bytes::from_static(b"k")).await.unwrap();
            }
        }
        cw
    });
    for i in 0..500u32 {
        assert_eq!(
            cr.recv().await.unwrap().unwrap(),
            Message::text(format!("{i}"))
        );
    }
    let mut cw = writer.await.unwrap();
    cw.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(cr.recv().await.is_none());
    assert_eq!(echo.await.unwrap(), 500);
}

/// A handshake request the server must refuse gets its HTTP answer.
#[tokio::test]
async fn bad_handshake_gets_an_http_error() {
    let (mut raw, io) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move { ws::accept(io, WsConfig::default()).await.map(|_| ()) });
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    raw.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("sec-websocket-version: 13")
    );
    assert!(matches!(server.await.unwrap(), Err(Error::Handshake(_))));
}

/// `events()`: Pings, Pongs and the peer's Close are visible, in wire order, beside messages;
/// the Pong is still sent automatically (the client sees it).
#[tokio::test]
async fn event_stream_shows_control_frames_in_order() {
    use futures_util::StreamExt;
    use sluice_tokio::ws::Event;
    let (mut server, mut client) = tcp_pair(WsConfig::default(), WsConfig::default()).await;
    client
        .ping(Bytes::from_static(b"are you there"))
        .await
        .unwrap();
    client.send(Message::text("hello")).await.unwrap();
    client.close(CloseCode::GOING_AWAY, "bye").await.unwrap();
    let mut seen = Vec::new();
    {
        let mut events = server.events();
        while let Some(e) = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap()
        {
            seen.push(e.unwrap());
        }
    }
    assert!(
        matches!(&seen[0], Event::Ping(p) if &p[..] == b"are you there"),
        "{seen:?}"
    );
    assert!(
        matches!(&seen[1], Event::Message(m) if *m == Message::text("hello")),
        "{seen:?}"
    );
    assert!(
        matches!(
            &seen[2],
            Event::CloseReceived {
                code: Some(CloseCode::GOING_AWAY),
                ..
            }
        ),
        "{seen:?}"
    );
    assert!(
        matches!(seen.last(), Some(Event::Closed { .. })),
        "{seen:?}"
    );
    // The automatic Pong reached the client before its Close completed.
    let mut client_events = client.events();
    let mut pong = false;
    while let Some(Ok(e)) = client_events.next().await {
        pong |= matches!(e, Event::Pong(ref p) if &p[..] == b"are you there");
    }
    assert!(pong);
}

/// A refusal by `decide` is the HTTP layer's `Response` (as for `accept_http`), written with
/// its length and `Connection: close`, then the connection ends.
#[tokio::test]
async fn a_decided_refusal_is_a_response_then_close() {
    let (mut raw, io) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        ws::accept_with(io, WsConfig::default(), |req| {
            assert_eq!(req.origin(), Some("https://evil.example"));
            ws::Decision::Reject(ws::Response::text(
                ws::StatusCode::FORBIDDEN,
                "origin not allowed\n",
            ))
        })
        .await
        .map(|_| ())
    });
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    raw.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 403"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("content-length: 19"), "{answer}");
    assert!(answer.ends_with("origin not allowed\n"), "{answer}");
    assert!(matches!(server.await.unwrap(), Err(Error::Rejected)));
}

/// The hub's path: the HTTP layer routes a request, `accept_http` upgrades it.
#[tokio::test]
async fn upgrade_through_the_http_layer() {
    use sluice_http::{self as http, Reply, Request, Response, ServerConfig, StatusCode};
    async fn route(req: Request<TcpStream>) -> Reply<TcpStream> {
        match req.path() {
            "/ws" => {
                let res = ws::accept_http(req, WsConfig::default(), |r| {
                    if r.origin() == Some("http://evil.example") {
                        Err(Response::text(
                            StatusCode::FORBIDDEN,
                            "origin not allowed\n",
                        ))
                    } else {
                        Ok(ws::Accept::new())
                    }
                })
                .await;
                match res {
                    Ok((mut socket, _)) => {
                        tokio::spawn(async move {
                            while let Some(Ok(m)) = socket.recv().await {
                                if socket.send(m).await.is_err() {
                                    break;
                                }
                            }
                        });
                        Reply::closed()
                    }
                    Err(reply) => reply,
                }
            }
            _ => req.respond(Response::from_status(StatusCode::NOT_FOUND)),
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(http::serve(listener, ServerConfig::default(), route));

    let (mut c, _) = ws::connect(&format!("ws://{addr}/ws"), WsConfig::default())
        .await
        .unwrap();
    c.send(Message::text("via http")).await.unwrap();
    assert_eq!(c.recv().await.unwrap().unwrap(), Message::text("via http"));
    c.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(c.recv().await.is_none());

    // Wrong version → 426 with the supported version; bad Origin → 403. Either way the
    // connection closes after the answer, so a request pipelined behind the refused upgrade
    // is never served (a proxy that does not check for the 101 would forward it: WebSocket
    // smuggling).
    for (extra, want) in [
        ("Sec-WebSocket-Version: 8\r\n", "HTTP/1.1 426"),
        (
            "Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n",
            "HTTP/1.1 403",
        ),
    ] {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n\
             GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer))
            .await
            .expect("the connection is closed after the refusal")
            .ok();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(want), "{answer}");
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
    }
}

/// Peers that send a burst of Pings and reset the connection at once: the server's Pong
/// replies fail to write, and `recv` must end. It used to spin forever inside `poll_event`
/// (the error of a failed write was asked for again and again), holding a runtime thread at
/// 100 % — found by the hub's soak test. The server runs on its own thread so that a spinning
/// task fails this test instead of hanging it.
#[test]
fn a_failed_reply_write_ends_the_session_instead_of_spinning() {
    const PEERS: usize = 20;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            for _ in 0..PEERS {
                let (tcp, _) = listener.accept().await.unwrap();
                if let Ok(mut socket) = ws::accept(tcp, WsConfig::default()).await {
                    while let Some(r) = socket.recv().await {
                        if r.is_err() {
                            break;
                        }
                    }
                }
                let _ = done_tx.send(());
            }
        });
    });
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let peers = async {
        for _ in 0..PEERS {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(KEY_REQUEST).await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut b = [0u8; 1];
                c.read_exact(&mut b).await.unwrap();
                head.push(b[0]);
            }
            c.write_all(&client_frame(0x89, b"x").repeat(200))
                .await
                .unwrap();
            c.set_zero_linger().unwrap();
            drop(c);
        }
    };
    let clients =
        client.block_on(async { tokio::time::timeout(Duration::from_secs(10), peers).await });
    assert!(
        clients.is_ok(),
        "the server stopped answering handshakes: it is stuck"
    );
    for i in 0..PEERS {
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("session {i} never ended: the server is stuck"));
    }
}

/// A peer that keeps sending Pings and never reads: the automatic Pongs stop being queued
/// once the write queue is over its high-water mark (the connection keeps at most
/// `max_pending_pongs` of them), so memory stays bounded however long it goes on. Small
/// socket buffers, so the kernel does not absorb the Pongs first.
#[tokio::test]
async fn pings_from_a_peer_that_does_not_read_stay_bounded() {
    let listener = tokio::net::TcpSocket::new_v4().unwrap();
    listener.set_send_buffer_size(4096).unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = listener.listen(16).unwrap();
    let addr = listener.local_addr().unwrap();
    const PINGS: usize = 30_000;
    const HIGH_WATER: usize = 64 << 10;
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let cfg = WsConfig::default().write_buffer_high_water(HIGH_WATER);
        let mut socket = ws::accept(tcp, cfg).await.unwrap();
        let (mut pings, mut most) = (0, 0);
        while pings < PINGS {
            match socket.next_event().await {
                Some(Ok(sluice_tokio::ws::Event::Ping(_))) => pings += 1,
                other => panic!("{other:?}"),
            }
            most = most.max(socket.buffered_amount());
        }
        most
    });
    let client = tokio::net::TcpSocket::new_v4().unwrap();
    client.set_recv_buffer_size(4096).unwrap();
    let mut tcp = client.connect(addr).await.unwrap();
    tcp.write_all(KEY_REQUEST).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    // One Ping per write: the server sees them a few at a time and answers each.
    let ping = client_frame(0x89, &[b'p'; 125]);
    for _ in 0..PINGS {
        tcp.write_all(&ping).await.unwrap();
        tokio::task::yield_now().await;
    }
    let most = srv.await.unwrap();
    // Over the mark by at most the Pongs of one drain (max_pending_pongs = 16 of 127 bytes).
    assert!(
        most <= HIGH_WATER + 16 * 127,
        "write queue reached {most} bytes"
    );
    drop(tcp);
}

/// Reads one unmasked server frame with a payload under 126 bytes: (first byte, payload).
async fn small_server_frame(raw: &mut DuplexStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    raw.read_exact(&mut h).await.unwrap();
    assert!(h[1] < 126, "a small unmasked frame: {h:?}");
    let mut payload = vec![0u8; usize::from(h[1])];
    raw.read_exact(&mut payload).await.unwrap();
    (h[0], payload)
}

/// A Ping that arrives in one read with messages behind it is answered before the next of
/// those messages is handed out: an application that takes its time over a message (here: it
/// does not ask for the next one until the Pong has arrived) does not hold the Pong back.
#[tokio::test]
async fn a_pong_goes_out_before_the_next_buffered_message_is_handed_out() {
    let (mut raw, io) = tokio::io::duplex(1 << 16);
    let (pong_seen_tx, pong_seen) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut s = ws::accept(io, WsConfig::default()).await.unwrap();
        let first = s.recv().await.unwrap().unwrap();
        // Busy with the first message until the peer has its Pong (or 10 s).
        let answered = tokio::time::timeout(Duration::from_secs(10), pong_seen)
            .await
            .is_ok();
        let mut rest = Vec::new();
        while let Some(Ok(m)) = s.recv().await {
            rest.push(m);
        }
        (first, answered, rest)
    });
    raw.write_all(KEY_REQUEST).await.unwrap();
    read_101(&mut raw).await;
    let mut burst = client_frame(0x89, b"p");
    for m in ["m0", "m1", "m2"] {
        burst.extend_from_slice(&client_frame(0x81, m.as_bytes()));
    }
    raw.write_all(&burst).await.unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(5), small_server_frame(&mut raw))
        .await
        .expect("the Pong is written while the application holds the first message");
    assert_eq!(pong, (0x8A, b"p".to_vec()));
    pong_seen_tx.send(()).unwrap();
    raw.write_all(&client_frame(0x88, &[0x03, 0xE8]))
        .await
        .unwrap();
    let (first, answered, rest) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server ends after the Close")
        .unwrap();
    assert_eq!(first, Message::text("m0"));
    assert!(answered);
    assert_eq!(rest, vec![Message::text("m1"), Message::text("m2")]);
}

/// A message and a protocol violation in one read: the application's answer to the message
/// reaches the wire before the Close 1002 (Autobahn|Testsuite's "strict" order), and the
/// caller then gets the typed error, then the end.
#[tokio::test]
async fn a_message_before_a_violation_is_answered_before_the_close() {
    let (mut raw, io) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut s = ws::accept(io, WsConfig::default()).await.unwrap();
        let m = s.recv().await.unwrap().unwrap();
        s.send(m).await.unwrap();
        let err = s.recv().await;
        (
            matches!(err, Some(Err(Error::Protocol(_)))),
            s.recv().await.is_none(),
        )
    });
    raw.write_all(KEY_REQUEST).await.unwrap();
    read_101(&mut raw).await;
    let mut burst = client_frame(0x81, b"hi");
    burst.extend_from_slice(&[0x81, 0x02, b'h', b'i']); // unmasked: RFC 6455 §5.1
    raw.write_all(&burst).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut rest))
        .await
        .expect("the server closes after its Close")
        .unwrap();
    assert_eq!(
        rest,
        [0x81, 0x02, b'h', b'i', 0x88, 0x02, 0x03, 0xEA],
        "the echo, then Close 1002, then EOF"
    );
    let (protocol_error, then_none) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server ends")
        .unwrap();
    assert!(protocol_error, "a typed protocol error");
    assert!(then_none);
}
