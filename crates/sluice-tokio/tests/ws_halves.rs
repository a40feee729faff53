//! `WebSocket::split_with`: halves that own their side of the transport and run in
//! parallel (a reader task and a writer task on a 2-thread runtime), the reader still
//! answering Pings and the peer's Close by itself, and never a frame after a Close
//! (RFC 6455 §5.5.1) whichever half sent it. Loopback TCP; the raw-wire tests read the
//! server's bytes themselves to count the frames.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sluice_tokio::ws::{self, CloseCode, Event, Message, WsConfig};
use sluice_ws::frame::decode_header;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A masked client frame (key 0 leaves the payload as is, RFC 6455 §5.3).
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut f = vec![first, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}

/// A server that accepts one connection with `cfg` and hands the socket to `serve`.
async fn serve_socket<F, Fut>(
    cfg: WsConfig,
    serve: F,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<Fut::Output>)
where
    F: FnOnce(ws::WebSocket<TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        serve(ws::accept(tcp, cfg).await.unwrap()).await
    });
    (addr, task)
}

/// The socket's parallel halves.
fn halves(
    socket: ws::WebSocket<TcpStream>,
) -> (
    ws::WsReadHalf<tokio::net::tcp::OwnedReadHalf>,
    ws::WsWriteHalf<tokio::net::tcp::OwnedWriteHalf>,
) {
    let (rx, tx) = socket.split_with(TcpStream::into_split);
    assert!(tx.is_pair_of(&rx));
    (rx, tx)
}

/// A server that accepts one connection and hands its parallel halves to `serve`.
async fn server<F, Fut>(serve: F) -> (std::net::SocketAddr, tokio::task::JoinHandle<Fut::Output>)
where
    F: FnOnce(
            ws::WsReadHalf<tokio::net::tcp::OwnedReadHalf>,
            ws::WsWriteHalf<tokio::net::tcp::OwnedWriteHalf>,
        ) -> Fut
        + Send
        + 'static,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    serve_socket(WsConfig::default(), |socket| {
        let (rx, tx) = halves(socket);
        serve(rx, tx)
    })
    .await
}

/// A raw client past the 101.
async fn raw_client(addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(KEY_REQUEST).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    tcp
}

/// Sends a Close (1000) and expects exactly its reply, then the end of the connection.
async fn close_1000_and_expect_the_reply(tcp: &mut TcpStream) {
    tcp.write_all(&client_frame(0x88, &[0x03, 0xe8]))
        .await
        .unwrap();
    assert_eq!(frames_until_eof(tcp).await, vec![(0x8, vec![0x03, 0xe8])]);
}

/// Every frame the server sends until it closes the connection: (opcode, payload).
async fn frames_until_eof(tcp: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut wire = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut wire))
        .await
        .expect("the server closes the connection")
        .unwrap();
    let mut out = Vec::new();
    let mut rest = &wire[..];
    while !rest.is_empty() {
        let (h, n) = decode_header(rest).unwrap().expect("whole frames only");
        let len = h.payload_len as usize;
        assert!(h.mask.is_none(), "a server never masks");
        out.push((h.opcode.get(), rest[n..n + len].to_vec()));
        rest = &rest[n + len..];
    }
    out
}

/// A reader task and a writer task on two threads echo 2,000 messages of varied sizes
/// while the client pings; every echo arrives in order and every Ping gets its Pong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halves_echo_from_two_tasks_and_answer_every_ping() {
    let (addr, srv) = server(|mut rx, mut tx| async move {
        let (to_writer, mut from_reader) = tokio::sync::mpsc::channel::<Message>(64);
        let writer = tokio::spawn(async move {
            let mut n = 0u32;
            while let Some(m) = from_reader.recv().await {
                tx.send(m).await.unwrap();
                n += 1;
            }
            n
        });
        while let Some(Ok(m)) = rx.recv().await {
            to_writer.send(m).await.unwrap();
        }
        drop(to_writer);
        (writer.await.unwrap(), rx.close_info().cloned())
    })
    .await;
    let (client, _) = ws::connect(&format!("ws://{addr}/x"), WsConfig::default())
        .await
        .unwrap();
    let (mut cr, mut cw) = client.split();
    const N: u32 = 2_000;
    let sender = tokio::spawn(async move {
        let mut pings = 0;
        for i in 0..N {
            let size = [3usize, 200, 5_000, 70_000][i as usize % 4];
            let body = vec![(i % 251) as u8; size];
            cw.send(Message::binary(body)).await.unwrap();
            if i.is_multiple_of(40) {
                cw.ping(Bytes::from(i.to_be_bytes().to_vec()))
                    .await
                    .unwrap();
                pings += 1;
            }
        }
        (cw, pings)
    });
    let (mut got, mut pongs) = (0u32, 0u32);
    while got < N {
        match cr.next_event().await.unwrap().unwrap() {
            Event::Message(m) => {
                let size = [3usize, 200, 5_000, 70_000][got as usize % 4];
                assert_eq!(
                    m,
                    Message::binary(vec![(got % 251) as u8; size]),
                    "echo {got}"
                );
                got += 1;
            }
            Event::Pong(_) => pongs += 1,
            _ => {}
        }
    }
    let (mut cw, pings) = sender.await.unwrap();
    cw.close(CloseCode::NORMAL, "").await.unwrap();
    while let Some(ev) = cr.next_event().await {
        if let Ok(Event::Pong(_)) = ev {
            pongs += 1;
        }
    }
    assert_eq!(pongs, pings, "every Ping answered by the reading half");
    let (echoed, info) = srv.await.unwrap();
    assert_eq!(echoed, N);
    assert_eq!(info.unwrap().code, CloseCode::NORMAL);
}

/// The writing half is never used: the reading half answers the Ping and the Close on
/// its own, then closes the TCP connection (the server closes first, RFC 6455 §7.1.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_answers_while_the_writer_is_idle() {
    let (addr, srv) = server(|mut rx, tx| async move {
        let mut events = Vec::new();
        while let Some(ev) = rx.next_event().await {
            events.push(ev.unwrap());
        }
        drop(tx);
        events
    })
    .await;
    let mut tcp = raw_client(addr).await;
    tcp.write_all(&client_frame(0x89, b"are you there"))
        .await
        .unwrap();
    tcp.write_all(&client_frame(0x88, &[0x0f, 0xa0, b'o', b'k']))
        .await
        .unwrap();
    let frames = frames_until_eof(&mut tcp).await;
    assert_eq!(
        frames,
        vec![(0xA, b"are you there".to_vec()), (0x8, vec![0x0f, 0xa0])]
    );
    let events = srv.await.unwrap();
    assert!(matches!(events.last(), Some(Event::Closed { code, .. }) if code.0 == 4000));
}

/// The peer closes while the writer streams: one Close reply, after which the writer's
/// sends fail and nothing more is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_close_stops_the_writer_after_one_reply() {
    let (addr, srv) = server(|mut rx, mut tx| async move {
        let writer = tokio::spawn(async move {
            let mut sent = 0u32;
            loop {
                if tx.send(Message::text(format!("m{sent}"))).await.is_err() {
                    return sent;
                }
                sent += 1;
                if sent.is_multiple_of(16) {
                    tokio::task::yield_now().await;
                }
            }
        });
        while rx.next_event().await.is_some() {}
        let sent = tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the writer stops once the Close went out")
            .unwrap();
        (sent, rx.close_info().cloned())
    })
    .await;
    let mut tcp = raw_client(addr).await;
    let mut first = [0u8; 64];
    let _ = tcp.peek(&mut first).await.unwrap();
    tcp.write_all(&client_frame(0x88, &[0x0f, 0xa1]))
        .await
        .unwrap();
    let mut frames = frames_until_eof(&mut tcp).await;
    let (last_op, last_payload) = frames.pop().unwrap();
    assert_eq!(
        (last_op, last_payload),
        (0x8, vec![0x0f, 0xa1]),
        "the reply echoes 4001"
    );
    assert!(
        frames.iter().all(|(op, _)| *op == 0x1),
        "only data before the Close, never a second Close"
    );
    let (sent, info) = srv.await.unwrap();
    assert!(sent > 0);
    assert_eq!(info.unwrap().code.0, 4001);
}

/// The writer closes: the reader sees the peer's reply, Pings that arrive in between get
/// no Pong (nothing follows our Close), and the Close is sent exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writers_close_is_completed_by_the_reader() {
    let (addr, srv) = server(|mut rx, mut tx| async move {
        tx.send(Message::text("before")).await.unwrap();
        tx.close(CloseCode(4002), "done").await.unwrap();
        assert!(tx.send(Message::text("after")).await.is_err());
        assert!(tx.close(CloseCode::NORMAL, "").await.is_err());
        let mut events = Vec::new();
        while let Some(ev) = rx.next_event().await {
            events.push(ev.unwrap());
        }
        events
    })
    .await;
    let mut tcp = raw_client(addr).await;
    let mut wire = BytesMut::new();
    while !wire.windows(6).any(|w| w == b"\x88\x06\x0f\xa2do") {
        let mut b = [0u8; 64];
        let n = tcp.read(&mut b).await.unwrap();
        assert!(n > 0);
        wire.extend_from_slice(&b[..n]);
    }
    tcp.write_all(&client_frame(0x89, b"late ping"))
        .await
        .unwrap();
    tcp.write_all(&client_frame(0x81, b"late text"))
        .await
        .unwrap();
    tcp.write_all(&client_frame(0x88, &[0x0f, 0xa2]))
        .await
        .unwrap();
    let after = frames_until_eof(&mut tcp).await;
    assert!(after.is_empty(), "nothing after our Close: {after:?}");
    let events = srv.await.unwrap();
    assert!(events.contains(&Event::Message(Message::text("late text"))));
    assert!(matches!(events.last(), Some(Event::Closed { code, .. }) if code.0 == 4002));
}

/// Our Close gets no reply: the reader gives up after the close timeout and closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writers_close_times_out_without_a_reply() {
    let (addr, srv) = serve_socket(
        WsConfig::default().close_timeout(Duration::from_millis(300)),
        |socket| async move {
            let (mut rx, mut tx) = halves(socket);
            let reader = tokio::spawn(async move {
                while rx.next_event().await.is_some() {}
                rx.close_info().cloned()
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            let t0 = tokio::time::Instant::now();
            tx.close(CloseCode::NORMAL, "").await.unwrap();
            (reader.await.unwrap(), t0.elapsed())
        },
    )
    .await;
    let mut tcp = raw_client(addr).await;
    let frames = frames_until_eof(&mut tcp).await;
    assert_eq!(frames, vec![(0x8, vec![0x03, 0xe8])]);
    let (info, took) = srv.await.unwrap();
    assert_eq!(info.unwrap().code, CloseCode::ABNORMAL);
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

/// A client's halves over a stream that cannot be split natively (`tokio::io::split`):
/// its Pongs are masked with keys of its own, and its messages arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_halves_mask_their_frames() {
    let (addr, srv) = serve_socket(WsConfig::default(), |mut socket| async move {
        socket.ping(Bytes::from_static(b"hi")).await.unwrap();
        let mut seen = Vec::new();
        while let Some(ev) = socket.next_event().await {
            seen.push(ev.unwrap());
        }
        seen
    })
    .await;
    let (client, _) = ws::connect(&format!("ws://{addr}/x"), WsConfig::default())
        .await
        .unwrap();
    let (mut cr, mut cw) = client.split_with(tokio::io::split);
    let reader = tokio::spawn(async move { while cr.next_event().await.is_some() {} });
    cw.send(Message::text("one")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    cw.close(CloseCode::NORMAL, "").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .unwrap()
        .unwrap();
    let seen = srv.await.unwrap();
    assert!(
        seen.contains(&Event::Pong(Bytes::from_static(b"hi"))),
        "{seen:?}"
    );
    assert!(seen.contains(&Event::Message(Message::text("one"))));
}

/// Reads one whole server frame: (opcode, payload length).
async fn next_frame(tcp: &mut TcpStream, buf: &mut BytesMut) -> (u8, usize) {
    loop {
        if let Some((h, n)) = decode_header(buf).unwrap() {
            let len = h.payload_len as usize;
            if buf.len() >= n + len {
                let _ = buf.split_to(n + len);
                return (h.opcode.get(), len);
            }
        }
        let got = tcp.read_buf(buf).await.unwrap();
        assert!(got > 0, "the server closed early");
    }
}

/// The writer is stuck on a full socket (the peer does not read) when a Ping arrives: the
/// reader does not wait for it; the Pong goes out behind the frames already queued, once the
/// peer reads again, and every data frame arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pong_waits_behind_a_blocked_writer() {
    const MSGS: usize = 48;
    let (addr, srv) = server(|mut rx, mut tx| async move {
        let writer = tokio::spawn(async move {
            for i in 0..MSGS {
                tx.send(Message::binary(vec![i as u8; 256 << 10]))
                    .await
                    .unwrap();
            }
        });
        let mut pings = 0;
        while let Some(ev) = rx.next_event().await {
            if let Ok(Event::Ping(_)) = ev {
                pings += 1;
            }
        }
        writer.await.unwrap();
        pings
    })
    .await;
    let mut tcp = raw_client(addr).await;
    // Let the writer fill the socket buffers, then ping while it is blocked.
    tokio::time::sleep(Duration::from_millis(300)).await;
    tcp.write_all(&client_frame(0x89, b"still there?"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut buf = BytesMut::new();
    let (mut data, mut pong_after) = (0, None);
    while data < MSGS || pong_after.is_none() {
        match tokio::time::timeout(Duration::from_secs(10), next_frame(&mut tcp, &mut buf))
            .await
            .expect("frames keep coming")
        {
            (0x2, len) => {
                assert_eq!(len, 256 << 10);
                data += 1;
            }
            (0xA, 12) => {
                assert!(pong_after.is_none(), "one Pong");
                pong_after = Some(data);
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
    assert!(
        pong_after.unwrap() > 0,
        "the Pong came after the data queued before it"
    );
    close_1000_and_expect_the_reply(&mut tcp).await;
    assert_eq!(srv.await.unwrap(), 1);
}

/// permessage-deflate on split halves: the writer took the compressor, the reader kept the
/// decompressor; compressible messages go both ways (with context takeover, so each side's
/// window carries over from message to message) and arrive intact, each side's messages
/// counted by its own half.
#[cfg(feature = "deflate")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deflate_works_on_split_halves() {
    let text = |i: u32| format!("{i}: {}", "compressible text, ".repeat(40));
    let (addr, srv) = serve_socket(WsConfig::default(), move |socket| async move {
        assert!(socket.connection().deflate().is_some());
        let (mut rx, mut tx) = halves(socket);
        let writer = tokio::spawn(async move {
            for i in 0..200 {
                tx.send(Message::text(text(i))).await.unwrap();
            }
            tx
        });
        let mut got = 0;
        while let Some(m) = rx.recv().await {
            assert_eq!(m.unwrap(), Message::text(text(got)));
            got += 1;
        }
        drop(writer.await.unwrap());
        got
    })
    .await;
    let (client, _) = ws::connect(&format!("ws://{addr}/x"), WsConfig::default())
        .await
        .unwrap();
    assert!(client.connection().deflate().is_some());
    let (mut cr, mut cw) = client.split_with(tokio::io::split);
    let sender = tokio::spawn(async move {
        for i in 0..200 {
            cw.send(Message::text(text(i))).await.unwrap();
        }
        cw
    });
    for i in 0..200 {
        assert_eq!(cr.recv().await.unwrap().unwrap(), Message::text(text(i)));
    }
    let mut cw = sender.await.unwrap();
    cw.close(CloseCode::NORMAL, "").await.unwrap();
    while cr.recv().await.is_some() {}
    assert_eq!(srv.await.unwrap(), 200);
}

/// A Pong queued but not yet flushed when the socket is split (the caller split right after
/// `next_event` handed out the Ping) goes out although the writer never writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pong_queued_before_the_split_is_flushed_by_the_reader() {
    let (addr, srv) = serve_socket(WsConfig::default(), |mut socket| async move {
        assert!(matches!(
            socket.next_event().await,
            Some(Ok(Event::Ping(_)))
        ));
        let (mut rx, tx) = halves(socket);
        while rx.next_event().await.is_some() {}
        drop(tx);
    })
    .await;
    let mut tcp = raw_client(addr).await;
    tcp.write_all(&client_frame(0x89, b"before")).await.unwrap();
    let mut buf = BytesMut::new();
    let pong = tokio::time::timeout(Duration::from_secs(5), next_frame(&mut tcp, &mut buf))
        .await
        .expect("the Pong arrives");
    assert_eq!(pong, (0xA, 6));
    close_1000_and_expect_the_reply(&mut tcp).await;
    srv.await.unwrap();
}

/// Ping then Close while the writer sends as fast as it can, many times over: the Pong and
/// the Close reply always go out, the Close last (a frame the reader hands over while the
/// writer is moving earlier ones must not be forgotten).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_close_reply_is_never_lost_under_a_busy_writer() {
    for round in 0..40 {
        let (addr, srv) = server(|mut rx, mut tx| async move {
            let writer =
                tokio::spawn(async move { while tx.send(Message::text("busy")).await.is_ok() {} });
            while rx.next_event().await.is_some() {}
            writer.await.unwrap();
        })
        .await;
        let mut tcp = raw_client(addr).await;
        let mut first = [0u8; 8];
        let _ = tcp.peek(&mut first).await.unwrap();
        let mut both = client_frame(0x89, b"p");
        both.extend_from_slice(&client_frame(0x88, &[0x0f, 0xa3]));
        tcp.write_all(&both).await.unwrap();
        let frames = frames_until_eof(&mut tcp).await;
        let (last_op, last_payload) = frames.last().cloned().unwrap();
        assert_eq!(
            (last_op, last_payload),
            (0x8, vec![0x0f, 0xa3]),
            "round {round}"
        );
        assert_eq!(
            frames.iter().filter(|(op, _)| *op == 0xA).count(),
            1,
            "round {round}"
        );
        assert_eq!(
            frames.iter().filter(|(op, _)| *op == 0x8).count(),
            1,
            "round {round}"
        );
        srv.await.unwrap();
    }
}

/// The peer stops reading and goes quiet: the reader ends on its idle timeout, and the
/// writer, waiting for a full socket, is woken and fails instead of waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waiting_on_a_full_socket_ends_with_the_reader() {
    let (addr, srv) = serve_socket(
        WsConfig::default().idle_timeout(Some(Duration::from_millis(300))),
        |socket| async move {
            let (mut rx, mut tx) = halves(socket);
            let writer = tokio::spawn(async move {
                let mut sent = 0u32;
                while tx.send(Message::binary(vec![7u8; 256 << 10])).await.is_ok() {
                    sent += 1;
                }
                sent
            });
            let t0 = tokio::time::Instant::now();
            while rx.next_event().await.is_some() {}
            let sent = tokio::time::timeout(Duration::from_secs(5), writer)
                .await
                .expect("the writer is woken when the reader ends")
                .unwrap();
            (sent, t0.elapsed())
        },
    )
    .await;
    let tcp = raw_client(addr).await;
    let (sent, took) = srv.await.unwrap();
    assert!(sent < 1_000, "the socket filled up: {sent}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    drop(tcp);
}
