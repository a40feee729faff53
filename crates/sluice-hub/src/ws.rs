//! `GET /ws/{topic}[?cursor=C]`: a WebSocket subscriber (and publisher) on a cursor.
//!
//! Frames to the client (text): `{"id":…,"event":…,"data":…}` per event (the log's JSON,
//! encoded once per event), `{"gap":{"missed":n}}`, `{"reset":true}`; a subscription without
//! a cursor (live from now) first gets `{"cursor":"<head>"}`, its resume point. Live items
//! (never in the log, no cursor): `{"ephemeral":{"event","data"}}` to every subscriber, and
//! with `?presence=1` `{"join":{…}}` / `{"leave":{…}}`. A client frame
//! `{"ephemeral":{"event":…,"data":…}}` is an ephemeral publish. Text frames from the
//! client are published to the topic as `message` events if its token allows publishing.
//! An ended topic sends `{"end":true,"id":"<end>"}` after its events and closes with 1000.
//!
//! After the handshake the session runs in a task of its own (the HTTP connection's task
//! ends): two loops over the split socket: the reader (client messages,
//! Pongs, the keepalive Ping and idle timeout) and the writer, which reads the log from its
//! cursor whenever the socket has room (the write buffer is bounded by
//! [`HubConfig::ws_write_buffer`](crate::HubConfig::ws_write_buffer)), so a slow subscriber
//! costs no copies and falls into an explicit gap if it drops out of retention.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use sluice_http::{Reply, Request, Response, StatusCode};
use sluice_longpoll::Start;
use sluice_tokio::longpoll::{ReadBatch, ReadError};
use sluice_tokio::ws::{self, Accept, CloseCode, Message, WsConfig, WsReader, WsWriter};
use sluice_ws::Utf8Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::auth::{Action, session_deadline, until};
use crate::hub::{
    Hub, PublishError, RESERVED_PREFIX, TopicState, client_param, error, flag, is_valid_event_type,
    publish_error,
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
    // Every refusal over HTTP/1.1 closes the connection: behind a proxy that does not check
    // for the 101, a connection kept open after a refused upgrade would carry whatever the
    // client sends next as if it were WebSocket data (WebSocket smuggling). Over HTTP/2 the
    // refused CONNECT is one stream of many, and `Connection: close` would be a GOAWAY.
    let refuse = |req: Request<S>, r: Response| {
        if req.version() == sluice_http::Version::Http2 {
            req.respond(r)
        } else {
            req.respond(r.header("connection", "close"))
        }
    };
    if !is_valid_topic(topic) {
        return refuse(req, publish_error(&PublishError::BadTopic, None));
    }
    let claims = match hub.authorize(&req, topic, Action::Subscribe, None) {
        Ok(c) => c,
        Err(r) => return refuse(req, *r),
    };
    let may_publish = !topic.starts_with(RESERVED_PREFIX)
        && claims
            .as_ref()
            .is_none_or(|c| c.allows(Action::Publish, topic));
    let start = match Hub::parse_start(req.query_param("cursor"), None) {
        Ok(s) => s,
        Err(r) => return refuse(req, *r),
    };
    let client = match client_param(&req, None) {
        Ok(c) => c.unwrap_or_else(new_client_id),
        Err(r) => return refuse(req, *r),
    };
    let notices = flag(req.query_param("presence"));
    let cfg = &hub.inner.cfg;
    let mut protocol = sluice_ws::Config::default();
    protocol.max_message_size = cfg.max_message_size;
    protocol.max_frame_size = cfg.max_message_size;
    let ws_cfg = WsConfig::default()
        .protocol(protocol)
        .ping_interval(Some(cfg.ws_ping_interval))
        .idle_timeout(Some(cfg.ws_idle_timeout))
        .close_timeout(Duration::from_secs(2).min(cfg.shutdown_grace))
        .write_buffer_high_water(cfg.ws_write_buffer)
        .deflate(cfg.ws_deflate.clone());
    let host = req.header("host").map(str::to_owned);
    // A stored topic is loaded from the store (async) before the handshake is decided, and
    // only for a handshake that will be accepted (valid, origin allowed): a refused upgrade
    // loads nothing and leaves no topic behind.
    let preloaded = if hub.is_stored(topic)
        && hub.origin_allowed(req.header("origin"), host.as_deref())
        && ws::server_request(&req).is_ok()
    {
        match hub.ready_topic(topic, start, None).await {
            Ok(s) => Some(s),
            Err(r) => return refuse(req, *r),
        }
    } else {
        None
    };
    // The topic is looked up (created on first use) only once the handshake is valid and its
    // Origin allowed: a refused upgrade leaves no topic behind.
    let mut session = None;
    let decide = |r: &ws::ServerRequest| {
        if !hub.origin_allowed(r.origin(), host.as_deref()) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "WebSocket from an origin not in the allow-list",
                None,
            ));
        }
        let state = match &preloaded {
            Some(s) => std::sync::Arc::clone(s),
            None => hub.subscriber_topic(topic, None).map_err(|r| *r)?,
        };
        let Some(mut head) = hub.inner.lp.subscribe(&state.name) else {
            return Err(error(StatusCode::GONE, "gone", "topic removed", None));
        };
        head.borrow_and_update();
        let start = hub.start_for(&state, start);
        let first = hub.first_read(&state, start, None).map_err(|r| *r)?;
        session = Some((state, head, first, start));
        Ok(Accept::new())
    };
    let over_h2 = req.version() == sluice_http::Version::Http2;
    let socket = match ws::accept_http(req, ws_cfg, decide).await {
        Ok((socket, _)) => socket,
        Err(reply) => return reply,
    };
    let Some((state, head, first, start)) = session else {
        return Reply::closed();
    };
    if over_h2 {
        hub.inner.counters.ws_h2.fetch_add(1, Relaxed);
    }
    // A subscription that starts live gets its starting cursor first (as the SSE stream's
    // opening `id:`), so a client cut before its first event resumes without a hole.
    let opening = (start == Start::Now).then(|| format!("{{\"cursor\":\"{}\"}}", first.next));
    let session = Session {
        state,
        head,
        first,
        opening,
        member: Member::new(
            client,
            claims.as_ref().and_then(|c| c.sub.clone()),
            Transport::Ws,
        ),
        notices,
        may_publish,
        deadline: session_deadline(claims.as_ref()),
    };
    // On the hub's own HTTP/1.1 connections the session outlives this request's task: it runs
    // in one of its own, which holds only what a subscriber needs (the HTTP connection's state
    // and this route's are freed). See `Hub::run_session`.
    let (rd, wr) = socket.split();
    hub.run_session(conn, over_h2, |slot| run(slot, rd, wr, session))
        .await;
    Reply::closed()
}

/// What a WebSocket subscriber's session holds once the handshake is done.
struct Session {
    state: std::sync::Arc<TopicState>,
    head: tokio::sync::watch::Receiver<sluice_longpoll::Cursor>,
    first: ReadBatch,
    opening: Option<String>,
    member: Member,
    notices: bool,
    may_publish: bool,
    /// When the token expires (close 1008).
    deadline: Option<tokio::time::Instant>,
}

/// A subscriber's session: the writer (log → client) and the reader (client → topic,
/// keepalive) over the split socket, until either ends, the token expires or the hub shuts
/// down; then the closing handshake.
///
/// An `async` block over its captures, not an `async fn`: an `async fn` moves each argument
/// into a local and keeps both slots in its state.
#[allow(clippy::manual_async_fn)] // on purpose: see above (the session's size)
fn run<S>(
    slot: SessionSlot,
    mut rd: WsReader<S>,
    mut wr: WsWriter<S>,
    mut s: Session,
) -> impl Future<Output = ()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    async move {
        let hub = slot.hub();
        let (live, _entered) = slot.enter(&s.state.name, s.member, Transport::Ws, s.notices);
        // A session ends when its token expires (close 1008): the client reconnects with a
        // fresh token and its cursor, which loses nothing.
        let expiry = until(s.deadline);
        let end = {
            let writer = write_loop(
                hub,
                &s.state,
                &mut wr,
                &mut s.head,
                s.first,
                s.opening,
                live,
            );
            let reader = read_loop(hub, &s.state, &mut rd, s.may_publish);
            tokio::select! {
                e = writer => e,
                e = reader => e,
                () = expiry => End::Close(CloseCode::POLICY_VIOLATION, "token expired"),
                () = hub.shutdown_signal() => End::Close(CloseCode::GOING_AWAY, "server shutting down"),
            }
        };
        // The Close is written within the write timeout too: a peer that stopped reading
        // (its session ending by token expiry, say) must not hold the writer here.
        let stall = hub.inner.cfg.http.write_timeout;
        if let End::Close(code, reason) = end
            && sent(within(stall, wr.close(code, reason)).await)
        {
            // Complete the closing handshake (bounded by the close timeout).
            while let Some(r) = rd.recv().await {
                if r.is_err() {
                    break;
                }
            }
        }
    }
}

/// How a session ends.
enum End {
    /// Send a Close with this code, then finish the handshake.
    Close(CloseCode, &'static str),
    /// The connection is already finished (peer closed, I/O error, protocol error).
    Done,
}

async fn write_loop<S>(
    hub: &Hub,
    state: &TopicState,
    wr: &mut WsWriter<S>,
    head: &mut tokio::sync::watch::Receiver<sluice_longpoll::Cursor>,
    first: ReadBatch,
    opening: Option<String>,
    mut live: LiveRx,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    // A subscriber that stops reading is dropped once a write has waited this long (its
    // writes would otherwise wait forever, holding what it was sent).
    let stall = hub.inner.cfg.http.write_timeout;
    if let Some(o) = opening
        && !sent(within(stall, wr.send(Message::text(o))).await)
    {
        return End::Done;
    }
    let lp = &hub.inner.lp;
    let limits = hub.read_limits();
    let mut batch = first;
    loop {
        let mut wrote = false;
        if batch.reset {
            wrote = true;
            let reset = Message::text(Utf8Bytes::from_static("{\"reset\":true}"));
            if !sent(within(stall, wr.feed(reset)).await) {
                return End::Done;
            }
        }
        if let Some(missed) = batch.gap {
            wrote = true;
            let m = Message::text(format!("{{\"gap\":{{\"missed\":{missed}}}}}"));
            if !sent(within(stall, wr.feed(m)).await) {
                return End::Done;
            }
        }
        for ev in &batch.events {
            let frame = state.frames.get(ev).ws(ev);
            if !sent(within(stall, wr.feed(Message::Text(frame))).await) {
                return End::Done;
            }
        }
        if !batch.events.is_empty() {
            wrote = true;
            hub.inner
                .counters
                .delivered_ws
                .fetch_add(batch.events.len() as u64, Relaxed);
        }
        if batch.ended {
            if !batch.events.last().is_some_and(|e| e.is_end()) {
                // The end is no longer retained (or the client resumed from it): say it.
                let end = crate::frames::end_ws(&batch.next.to_string());
                if !sent(within(stall, wr.feed(Message::Text(end))).await) {
                    return End::Done;
                }
            }
            if !sent(within(stall, wr.flush()).await) {
                return End::Done;
            }
            return End::Close(CloseCode::NORMAL, "topic ended");
        }
        if wrote && !sent(within(stall, wr.flush()).await) {
            return End::Done;
        }
        let from = Start::At(batch.next);
        // Idle: wait for the log to move, sending live items (presence notices, ephemeral
        // events) as they come.
        if !batch.more {
            loop {
                tokio::select! {
                    r = head.changed() => {
                        if r.is_err() {
                            return End::Close(CloseCode::GOING_AWAY, "topic removed");
                        }
                        break;
                    }
                    l = live.recv() => {
                        if !sent(within(stall, wr.send(Message::text(l.ws_frame()))).await) {
                            return End::Done;
                        }
                    }
                }
            }
        }
        head.borrow_and_update();
        batch = match lp.read(&state.name, from, limits) {
            Ok(b) => b,
            Err(ReadError::NoTopic) => return End::Close(CloseCode::GOING_AWAY, "topic removed"),
            Err(_) => return End::Close(CloseCode::INTERNAL_ERROR, "cursor ahead of the log"),
        };
    }
}

/// Whether a write finished in time and without an error.
fn sent<E>(r: Option<Result<(), E>>) -> bool {
    matches!(r, Some(Ok(())))
}

/// `fut`'s output, or `None` when it has not finished `limit` after it first had to wait. The
/// timer is boxed and armed only then: most writes finish in the poll that starts them, and
/// every subscriber's session holds this future's state (an inline `Sleep` is 120 bytes).
async fn within<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(v));
        }
        let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if t.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(None);
        }
        std::task::Poll::Pending
    })
    .await
}

async fn read_loop<S>(
    hub: &Hub,
    state: &std::sync::Arc<TopicState>,
    rd: &mut WsReader<S>,
    may_publish: bool,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    loop {
        match rd.recv().await {
            Some(Ok(Message::Text(t))) => {
                if !may_publish {
                    return End::Close(CloseCode::POLICY_VIOLATION, "publish not allowed");
                }
                if let Some((event, data)) = ephemeral_frame(t.as_str()) {
                    if !is_valid_event_type(&event) {
                        return End::Close(CloseCode::POLICY_VIOLATION, "invalid event type");
                    }
                    let data = bytes::Bytes::from(data);
                    hub.inner
                        .presence
                        .ephemeral(&state.name, &event, data.clone());
                    crate::presence_sync::ephemeral_to_others(hub, &state.name, &event, &data)
                        .await;
                    continue;
                }
                // Boxed: a rare path for a subscriber, which would otherwise reserve a
                // publish's state in every session.
                match Box::pin(hub.append(state, "message", t.into_bytes(), None)).await {
                    Ok(_) => {}
                    Err(PublishError::TooLarge { .. }) => {
                        return End::Close(CloseCode::MESSAGE_TOO_BIG, "message too large");
                    }
                    Err(PublishError::Store(_)) => {
                        return End::Close(CloseCode::TRY_AGAIN_LATER, "store unavailable");
                    }
                    // The writer is sending the end and closes with 1000: let it.
                    Err(PublishError::Ended) => std::future::pending::<()>().await,
                    Err(_) => return End::Close(CloseCode::INTERNAL_ERROR, "publish failed"),
                }
            }
            Some(Ok(Message::Binary(_))) => {
                return End::Close(CloseCode::UNSUPPORTED_DATA, "text frames only");
            }
            // Protocol errors were answered with their close code by the driver; `None` is a
            // finished close (or the idle timeout's 1001).
            Some(Err(_)) | None => return End::Done,
        }
    }
}

/// A client frame `{"ephemeral":{"event":"…","data":"…"}}` (`event` optional, `message` by
/// default): its type and data. Any other frame is a stored `message`.
fn ephemeral_frame(text: &str) -> Option<(String, String)> {
    if !text.starts_with("{\"ephemeral\"") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    let e = o.get("ephemeral")?.as_object()?;
    let data = e.get("data")?.as_str()?.to_owned();
    let event = match e.get("event") {
        None => "message".to_owned(),
        Some(t) => t.as_str()?.to_owned(),
    };
    Some((event, data))
}

#[cfg(test)]
mod tests {
    use super::ephemeral_frame;

    #[test]
    fn ephemeral_frames() {
        assert_eq!(
            ephemeral_frame(r#"{"ephemeral":{"event":"typing","data":"x"}}"#),
            Some(("typing".into(), "x".into()))
        );
        assert_eq!(
            ephemeral_frame(r#"{"ephemeral":{"data":"x"}}"#),
            Some(("message".into(), "x".into()))
        );
        assert_eq!(
            ephemeral_frame(r#"{"ephemeral":{"data":"x"},"more":1}"#),
            None
        );
        assert_eq!(ephemeral_frame(r#"{"ephemeral":{"data":1}}"#), None);
        assert_eq!(ephemeral_frame("hello"), None);
    }
}
