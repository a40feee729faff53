//! `GET /sse/{topic}` with `Last-Event-ID` or `?cursor=C`: a Server-Sent Events stream on a
//! cursor, written with [`SseWriter`] (head at once, heartbeats when idle, disconnect
//! detection) and `sluice-sse`'s encoder (each event encoded once per topic, see
//! [`crate::frames`]).
//!
//! The stream opens with `retry:` (the reconnection hint) and, for a stream that starts "from
//! now", an `id:` line with the head cursor (an empty event: browsers set `lastEventId`
//! without firing anything), so a reconnect before the first event loses nothing. Then per
//! event `id: <cursor>`, `event: <type>` (omitted for `message`), `data:` lines; a gap is
//! `event: sluice-gap` / `data: {"missed":n}`, a reset `event: sluice-reset` /
//! `data: {"reset":true}`, each followed by an `id:` when no event carries the new position.
//! Live items, without `id:` (never in the log): `event: sluice-ephemeral` with
//! `{"event","data"}` to every subscriber, and with `?presence=1` `sluice-join` /
//! `sluice-leave` with `{"client","sub","transport"}`.
//! An ended topic ends the stream after its events with `id: <end>` / `event: sluice-end` /
//! `data:`, and answers a reconnect from the end (`Last-Event-ID`) with 204: browsers stop.
//! A comment (`:`) is sent after [`HubConfig::sse_heartbeat`](crate::HubConfig::sse_heartbeat)
//! of silence; a peer that stops reading is dropped by the write timeout and one that closes
//! is noticed at once. At shutdown a final `retry:` is sent and the stream ends.

use std::sync::atomic::Ordering::Relaxed;

use bytes::{Bytes, BytesMut};
use sluice_http::{Reply, Request, Response, StatusCode};
use sluice_longpoll::Start;
use sluice_tokio::longpoll::{ReadBatch, ReadError};
use sluice_tokio::sse::{Idle, SseWriter, SseWriterConfig};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::auth::{Action, session_deadline, until};
use crate::hub::{
    Hub, PublishError, TopicState, client_param, error, flag, publish_error, use_get, with_cors,
};
use crate::metrics::Transport;
use crate::presence::{LiveRx, Member, new_client_id};
use crate::server::{ConnSlot, SessionSlot};
use crate::topic::is_valid_topic;

pub(crate) async fn route<S>(
    hub: &Hub,
    req: Request<S>,
    topic: String,
    conn: Option<ConnSlot>,
) -> Reply<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let topic = topic.as_str();
    let cors = hub.cors_origin(&req);
    let cors = cors.as_deref();
    if !is_valid_topic(topic) {
        return req.respond(publish_error(&PublishError::BadTopic, cors));
    }
    if !matches!(req.method(), "GET" | "HEAD") {
        return req.respond(use_get(cors));
    }
    let claims = match hub.authorize(&req, topic, Action::Subscribe, cors) {
        Ok(c) => c,
        Err(r) => return req.respond(*r),
    };
    // A browser's reconnect repeats the URL (with its original ?cursor=) and sends the newer
    // Last-Event-ID: the header wins.
    let raw = req
        .header("last-event-id")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or_else(|| req.query_param("cursor"));
    let start = match Hub::parse_start(raw, cors) {
        Ok(s) => s,
        Err(r) => return req.respond(*r),
    };
    let client = match client_param(&req, cors) {
        Ok(c) => c.unwrap_or_else(new_client_id),
        Err(r) => return req.respond(*r),
    };
    let notices = flag(req.query_param("presence"));
    // `start_with` adds the event-stream content type, `Cache-Control: no-cache,
    // no-transform` and `X-Accel-Buffering: no` (no proxy buffers, compresses or caches it).
    let mut resp = with_cors(Response::new(StatusCode::OK), cors);
    let h2 = req.version() == sluice_http::Version::Http2;
    if req.method() == "GET" && Hub::detaches(conn.as_ref(), h2) {
        // The stream runs detached from the connection's HTTP task (see below), which then
        // takes no further request: say so.
        resp = resp.header("connection", "close");
    }
    let cfg = &hub.inner.cfg;
    let sse_cfg = SseWriterConfig::default()
        .with_heartbeat_interval(Some(cfg.sse_heartbeat))
        .with_retry(Some(cfg.sse_retry));
    if req.method() == "HEAD" {
        // The head a GET would get, without creating the topic: a HEAD waits for nothing.
        let Ok(w) = Box::pin(SseWriter::start_with(req, resp, sse_cfg)).await else {
            return Reply::closed();
        };
        return w.finish().await;
    }
    let state = match hub.ready_topic(topic, start, cors).await {
        Ok(s) => s,
        Err(r) => return req.respond(*r),
    };
    let Some(mut head) = hub.inner.lp.subscribe(&state.name) else {
        return req.respond(error(StatusCode::GONE, "gone", "topic removed", cors));
    };
    head.borrow_and_update();
    let start = hub.start_for(&state, start);
    let first = match hub.first_read(&state, start, cors) {
        Ok(b) => b,
        Err(r) => return req.respond(*r),
    };
    if first.ended && first.events.is_empty() && !first.reset && first.gap.is_none() {
        // A reconnect after the end: 204 tells an EventSource to stop reconnecting.
        return req.respond(with_cors(Response::new(StatusCode::NO_CONTENT), cors));
    }
    let Ok(w) = Box::pin(SseWriter::start_with(req, resp, sse_cfg)).await else {
        return Reply::closed();
    };
    let session = Session {
        state,
        head,
        first,
        opening: start == Start::Now,
        member: Member::new(
            client,
            claims.as_ref().and_then(|c| c.sub.clone()),
            Transport::Sse,
        ),
        notices,
        deadline: session_deadline(claims.as_ref()),
    };
    // On the hub's own HTTP/1.1 connections the stream outlives this request's task: it runs
    // in one of its own, which holds only what a subscriber needs (the HTTP connection's state
    // and this route's are freed), and the connection is not reused after the stream ends (it
    // rarely does: an end, an expired token, shutdown). Inline otherwise (`Hub::run_session`),
    // and the connection goes on as the body's end says.
    hub.run_session(conn, h2, |slot| run(slot, w, session))
        .await
        .unwrap_or_else(Reply::closed)
}

/// What an SSE subscriber's stream holds once its head is sent.
struct Session {
    state: std::sync::Arc<TopicState>,
    head: tokio::sync::watch::Receiver<sluice_longpoll::Cursor>,
    first: ReadBatch,
    /// Starts live: send the head cursor first.
    opening: bool,
    member: Member,
    notices: bool,
    /// When the token expires.
    deadline: Option<tokio::time::Instant>,
}

/// A subscriber's stream, until the client goes, the topic ends, the token expires or the hub
/// shuts down; then the body's end (the connection closes after it).
///
/// An `async` block over its captures, not an `async fn`: an `async fn` moves each argument
/// into a local and keeps both slots in its state (the writer alone is 456 bytes).
#[allow(clippy::manual_async_fn)] // on purpose: see above (the session's size)
fn run<S>(slot: SessionSlot, mut w: SseWriter<S>, mut s: Session) -> impl Future<Output = Reply<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    async move {
        let hub = slot.hub();
        let (live, _entered) = slot.enter(&s.state.name, s.member, Transport::Sse, s.notices);
        if s.opening {
            // An empty event with the head's id: sets the client's Last-Event-ID, fires
            // nothing.
            let opening = format!("id: {}\n\n", s.first.next);
            if w.send_bytes(Bytes::from(opening)).await.is_err() {
                return Reply::closed();
            }
        }
        let ending = stream(
            hub,
            &s.state,
            &mut w,
            &mut s.head,
            s.first,
            s.deadline,
            live,
        )
        .await;
        match ending {
            Ending::Expired => {
                // The token's `exp`: the stream ends with a notice. An EventSource
                // reconnecting with the same (expired) token gets 401 and stops; the page gets
                // a new token and resumes from its last id (`?cursor=`), losing nothing.
                let notice =
                    Bytes::from_static(b"event: sluice-expired\ndata: {\"expired\":true}\n\n");
                if w.send_bytes(notice).await.is_err() {
                    return Reply::closed();
                }
                finish(w).await
            }
            Ending::Ended => finish(w).await,
            Ending::Finish => {
                // Encoded before the write: an `Event` held across it (112 bytes) would push
                // the session's state, and so every stream's task, one 128-byte step up.
                let last = sluice_sse::Event::new()
                    .retry(hub.inner.cfg.sse_retry)
                    .to_bytes();
                if w.send_bytes(last.unwrap_or_default()).await.is_err() {
                    return Reply::closed();
                }
                finish(w).await
            }
            Ending::Gone => Reply::closed(),
        }
    }
}

/// Ends the body. Boxed: the writer's `finish` keeps the writer (by value) at each of its
/// layers, state that every stream would otherwise reserve for its one last write.
async fn finish<S>(w: SseWriter<S>) -> Reply<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    Box::pin(w.finish()).await
}

enum Ending {
    /// End the body properly (shutdown, topic removed).
    Finish,
    /// The topic ended and its end was sent: end the body.
    Ended,
    /// The token expired: say so, then end the body.
    Expired,
    /// The client went away or stopped reading.
    Gone,
}

async fn stream<S>(
    hub: &Hub,
    state: &TopicState,
    w: &mut SseWriter<S>,
    head: &mut tokio::sync::watch::Receiver<sluice_longpoll::Cursor>,
    first: ReadBatch,
    deadline: Option<tokio::time::Instant>,
    mut live: LiveRx,
) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let lp = &hub.inner.lp;
    let limits = hub.read_limits();
    // One shutdown watch for the whole stream (not one per wait).
    let shutdown = hub.shutdown_signal();
    tokio::pin!(shutdown);
    let expiry = until(deadline);
    tokio::pin!(expiry);
    let mut batch = first;
    loop {
        // Checked between batches too, so a busy stream ends on time.
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return Ending::Expired;
        }
        if let Some(out) = encode_batch(state, &batch) {
            if w.send_bytes(out).await.is_err() {
                return Ending::Gone;
            }
            hub.inner
                .counters
                .delivered_sse
                .fetch_add(batch.events.len() as u64, Relaxed);
        }
        if batch.ended {
            return Ending::Ended;
        }
        let from = Start::At(batch.next);
        if !batch.more {
            loop {
                tokio::select! {
                    r = head.changed() => {
                        if r.is_err() {
                            return Ending::Finish; // topic removed
                        }
                        break;
                    }
                    idle = w.idle() => match idle {
                        Idle::HeartbeatDue => {
                            if w.heartbeat().await.is_err() {
                                return Ending::Gone;
                            }
                        }
                        _ => return Ending::Gone,
                    },
                    () = &mut shutdown => return Ending::Finish,
                    () = &mut expiry => return Ending::Expired,
                    l = live.recv() => {
                        if w.send_bytes(l.sse_bytes()).await.is_err() {
                            return Ending::Gone;
                        }
                    }
                }
            }
        }
        head.borrow_and_update();
        batch = match lp.read(&state.name, from, limits) {
            Ok(b) => b,
            Err(ReadError::NoTopic) => return Ending::Finish,
            Err(_) => return Ending::Gone,
        };
    }
}

/// The bytes for one batch: notices, then the events' cached frames. A single event is sent
/// as its shared `Bytes` (no copy); several are gathered into one write.
fn encode_batch(state: &TopicState, batch: &ReadBatch) -> Option<Bytes> {
    let notices = batch.reset || batch.gap.is_some();
    if !notices && batch.events.len() == 1 && (!batch.ended || batch.events[0].is_end()) {
        let ev = &batch.events[0];
        return Some(state.frames.get(ev).sse(ev));
    }
    if !notices && batch.events.is_empty() && !batch.ended {
        return None;
    }
    let mut out = BytesMut::new();
    if batch.reset {
        out.extend_from_slice(b"event: sluice-reset\ndata: {\"reset\":true}\n\n");
    }
    if let Some(missed) = batch.gap {
        out.extend_from_slice(
            format!("event: sluice-gap\ndata: {{\"missed\":{missed}}}\n\n").as_bytes(),
        );
    }
    if notices && batch.events.is_empty() && !batch.ended {
        // Move the client's Last-Event-ID past what it can no longer get.
        out.extend_from_slice(format!("id: {}\n\n", batch.next).as_bytes());
    }
    for ev in &batch.events {
        out.extend_from_slice(&state.frames.get(ev).sse(ev));
    }
    if batch.ended && !batch.events.last().is_some_and(|e| e.is_end()) {
        // The end is no longer retained (or was before a gap notice): say it anyway.
        out.extend_from_slice(&crate::frames::end_sse(&batch.next.to_string()));
    }
    Some(out.freeze())
}
