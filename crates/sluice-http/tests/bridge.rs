//! `sluice_http::bridge`: a handler written for our servers, fed requests another server parsed
//! (`http::request::Parts` + a piece stream + an upgrade future), with our limits.
#![allow(missing_docs)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use sluice_http::bridge::{Incoming, dispatch};
use sluice_http::{Body, Reply, Request, Response, ServerConfig, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

type S = DuplexStream;
const T: Duration = Duration::from_secs(10);

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// A body arriving in the given pieces.
struct Pieces(Vec<io::Result<Bytes>>);

impl Stream for Pieces {
    type Item = io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready((!self.0.is_empty()).then(|| self.0.remove(0)))
    }
}

async fn collect(body: Body) -> Result<Vec<u8>, io::Error> {
    match body {
        Body::Empty => Ok(Vec::new()),
        Body::Full(b) => Ok(b.to_vec()),
        Body::Stream(mut s) => {
            let mut out = Vec::new();
            while let Some(piece) = std::future::poll_fn(|cx| s.as_mut().poll_next(cx)).await {
                out.extend_from_slice(&piece?);
            }
            Ok(out)
        }
    }
}

async fn echo_body(mut req: Request<S>) -> Reply<S> {
    match req.body().await {
        Ok(b) => req.respond(Response::text(StatusCode::OK, b)),
        Err(e) => req.respond(Response::from_status(e.status())),
    }
}

#[tokio::test]
async fn body_pieces_reach_the_handler_and_the_answer_comes_back() {
    let cfg = ServerConfig::default();
    let inc = Incoming::<S>::from_parts(&parts("POST", "/x", &[("host", "h")]), None, false, &cfg)
        .unwrap()
        .body(Box::pin(Pieces(vec![
            Ok(Bytes::from("hel")),
            Ok(Bytes::from("lo")),
        ])));
    let resp = tokio::time::timeout(T, dispatch(echo_body, inc, &cfg))
        .await
        .unwrap()
        .expect("an answer");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-length"], "5");
    assert_eq!(collect(resp.into_body()).await.unwrap(), b"hello");
}

#[tokio::test]
async fn the_body_limit_applies_413() {
    let mut cfg = ServerConfig::default();
    cfg.max_body_size = 4;
    // Announced too large: refused before a read.
    let inc = Incoming::<S>::from_parts(
        &parts("POST", "/x", &[("host", "h"), ("content-length", "10")]),
        None,
        false,
        &cfg,
    )
    .unwrap()
    .body(Box::pin(Pieces(vec![Ok(Bytes::from("0123456789"))])));
    let resp = dispatch(echo_body, inc, &cfg).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Unannounced (chunked): refused once the pieces pass the limit.
    let inc = Incoming::<S>::from_parts(&parts("POST", "/x", &[("host", "h")]), None, false, &cfg)
        .unwrap()
        .body(Box::pin(Pieces(vec![
            Ok(Bytes::from("012")),
            Ok(Bytes::from("345")),
        ])));
    let resp = dispatch(echo_body, inc, &cfg).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn bad_heads_are_refused_with_their_status() {
    let cfg = ServerConfig::default();
    let bad_host =
        Incoming::<S>::from_parts(&parts("GET", "/", &[("host", "a b")]), None, true, &cfg);
    assert_eq!(bad_host.unwrap_err().status(), StatusCode::BAD_REQUEST);
    let mut few = ServerConfig::default();
    few.max_headers = 2;
    let many = (0..5)
        .map(|i| (format!("x-{i}"), "v".to_owned()))
        .collect::<Vec<_>>();
    let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let r = Incoming::<S>::from_parts(&parts("GET", "/", &many), None, true, &few);
    assert_eq!(
        r.unwrap_err().status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[tokio::test]
async fn a_writer_dropped_without_finish_ends_the_body_in_an_error() {
    let cfg = ServerConfig::default();
    let finished = |req: Request<S>| async move {
        let mut w = req
            .respond_streaming(Response::new(StatusCode::OK))
            .await
            .unwrap();
        w.send(Bytes::from("a")).await.unwrap();
        w.finish().await
    };
    let abandoned = |req: Request<S>| async move {
        let mut w = req
            .respond_streaming(Response::new(StatusCode::OK))
            .await
            .unwrap();
        w.send(Bytes::from("a")).await.unwrap();
        drop(w);
        Reply::closed()
    };
    let inc = || {
        Incoming::<S>::from_parts(&parts("GET", "/", &[("host", "h")]), None, true, &cfg).unwrap()
    };
    let ok = dispatch(finished, inc(), &cfg).await.unwrap();
    assert_eq!(collect(ok.into_body()).await.unwrap(), b"a");
    let cut = dispatch(abandoned, inc(), &cfg).await.unwrap();
    assert!(
        collect(cut.into_body()).await.is_err(),
        "a truncated body must not look complete"
    );
}

#[tokio::test]
async fn head_answers_keep_their_length_and_send_no_body() {
    let cfg = ServerConfig::default();
    let h = |req: Request<S>| async move { req.respond(Response::text(StatusCode::OK, "twelve bytes")) };
    let inc =
        Incoming::<S>::from_parts(&parts("HEAD", "/", &[("host", "h")]), None, true, &cfg).unwrap();
    let resp = dispatch(h, inc, &cfg).await.unwrap();
    assert_eq!(resp.headers()["content-length"], "12");
    assert_eq!(collect(resp.into_body()).await.unwrap(), b"");
}

#[tokio::test]
async fn a_client_gone_before_the_answer_wakes_closed() {
    let cfg = ServerConfig::default();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let waits = move |mut req: Request<S>| {
        let tx = std::sync::Arc::clone(&tx);
        async move {
            req.closed().await;
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            Reply::closed()
        }
    };
    let inc =
        Incoming::<S>::from_parts(&parts("GET", "/", &[("host", "h")]), None, true, &cfg).unwrap();
    let pending = dispatch(waits, inc, &cfg);
    drop(pending); // what hyper does when the connection goes away
    tokio::time::timeout(T, rx).await.unwrap().unwrap();
}

#[tokio::test]
async fn upgrades_hand_over_the_stream_after_the_answer() {
    let cfg = ServerConfig::default();
    let (ours, theirs) = tokio::io::duplex(1024);
    let up = |req: Request<S>| async move {
        let resp = Response::new(StatusCode::SWITCHING_PROTOCOLS).header("upgrade", "echo/1");
        if let Ok(mut u) = req.upgrade(resp).await {
            let mut buf = [0u8; 5];
            u.io.read_exact(&mut buf).await.unwrap();
            u.io.write_all(&buf).await.unwrap();
        }
        Reply::closed()
    };
    let inc = Incoming::<S>::from_parts(
        &parts(
            "GET",
            "/",
            &[
                ("host", "h"),
                ("upgrade", "echo/1"),
                ("connection", "upgrade"),
            ],
        ),
        None,
        true,
        &cfg,
    )
    .unwrap()
    .upgrade(Box::pin(async move { Ok(ours) }));
    let resp = dispatch(up, inc, &cfg).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(resp.headers()["upgrade"], "echo/1");
    let mut theirs = theirs;
    theirs.write_all(b"hello").await.unwrap();
    let mut back = [0u8; 5];
    tokio::time::timeout(T, theirs.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"hello");
    // Without an upgrade future the handler's upgrade fails (and it answers nothing).
    let inc =
        Incoming::<S>::from_parts(&parts("GET", "/", &[("host", "h")]), None, true, &cfg).unwrap();
    assert!(dispatch(up, inc, &cfg).await.is_none());
}

/// The write timeout bounds a streaming answer whose body nobody reads: the writer queues a few
/// pieces (bounded memory), then its send fails in time instead of waiting forever.
#[tokio::test]
async fn a_body_nobody_reads_times_the_writer_out() {
    let mut cfg = ServerConfig::default();
    cfg.write_timeout = Duration::from_millis(200);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let pushes = move |req: Request<S>| {
        let tx = std::sync::Arc::clone(&tx);
        async move {
            let mut w = req
                .respond_streaming(Response::new(StatusCode::OK))
                .await
                .unwrap();
            let started = std::time::Instant::now();
            let mut sent = 0;
            let err = loop {
                match w.send(Bytes::from_static(b"piece")).await {
                    Ok(()) => sent += 1,
                    Err(e) => break e,
                }
            };
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send((sent, err.kind(), started.elapsed(), w.is_closed()));
            }
            Reply::closed()
        }
    };
    let inc =
        Incoming::<S>::from_parts(&parts("GET", "/", &[("host", "h")]), None, true, &cfg).unwrap();
    let resp = dispatch(pushes, inc, &cfg).await.unwrap(); // held, never read
    let (sent, kind, took, closed) = tokio::time::timeout(T, rx).await.unwrap().unwrap();
    assert!(sent <= 8, "the queue is bounded: {sent} pieces accepted");
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(closed);
    drop(resp);
}
