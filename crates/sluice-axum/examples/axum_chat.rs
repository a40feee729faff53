//! An axum app with routes of its own and the whole Sluice hub nested under `/rt` — the
//! shape to copy into an existing app.
//!
//! ```text
//! cargo run --release -p sluice-axum --example axum_chat -- --addr 127.0.0.1:3000 [--auth-secret SECRET]
//! ```
//!
//! - `/` — the app's page: a live clock over SSE, an echo over WebSocket, a link to the chat;
//! - `/clock` — [`Sse`] of one tick a second, resuming after `Last-Event-ID`;
//! - `/echo` — [`WsUpgrade`]: a WebSocket echo (permessage-deflate when offered);
//! - `/rt/` — the hub ([`HubService`]): its chat page, `/rt/ws/{topic}`, `/rt/sse/{topic}`,
//!   `/rt/poll/{topic}`, `POST /rt/publish/{topic}`, `/rt/metrics` — with the hub's own
//!   auth (`--auth-secret`: HS256 tokens, as `sluice serve`), Origin checks and limits.
//!
//! Prints `listening on http://ADDR` once bound; SIGTERM or Ctrl-C shuts down gracefully
//! (subscribers get the hub's shutdown: Close 1001, the SSE stream's end).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::{any, get};
use sluice_axum::{HubServiceExt, LastEventId, Sse, WsUpgrade};
use sluice_hub::{Hub, HubConfig};
use sluice_sse::Event;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>my app</title>
<h1>My app</h1>
<p>Clock over SSE: <output id="clock">…</output></p>
<p>Echo over WebSocket: <input id="say" value="hello"> <button id="send">send</button> <output id="echo"></output></p>
<p><a href="rt/">the chat (the Sluice hub nested under /rt)</a></p>
<script>
const clock = new EventSource('clock');
clock.onmessage = (e) => { document.getElementById('clock').textContent = e.data; };
const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/echo`);
ws.onmessage = (e) => { document.getElementById('echo').textContent = e.data; };
document.getElementById('send').onclick = () => ws.send(document.getElementById('say').value);
</script>
"#;

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// One tick a second, numbered; a reconnecting `EventSource` continues after the last it saw.
/// The stream ends at the hub's shutdown, so the server's graceful shutdown is not held open.
async fn clock(State(hub): State<Hub>, LastEventId(last): LastEventId) -> impl IntoResponse {
    let mut n: u64 = last
        .and_then(|id| id.parse().ok())
        .map_or(0, |n: u64| n + 1);
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(1);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = hub.shutdown_signal() => return,
            }
            let ev = Event::new().id(n.to_string()).data(format!("tick {n}"));
            if tx.send(ev).await.is_err() {
                return; // the client went away
            }
            n += 1;
        }
    });
    Sse::new(Receiver(rx)).retry(Duration::from_secs(1))
}

/// An `mpsc::Receiver` as a `Stream` (tokio-stream's wrapper, in five lines).
struct Receiver(tokio::sync::mpsc::Receiver<Event>);

impl futures_core::Stream for Receiver {
    type Item = Event;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Event>> {
        self.0.poll_recv(cx)
    }
}

async fn echo(up: WsUpgrade) -> impl IntoResponse {
    up.on_upgrade(|mut socket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            if socket.send(msg).await.is_err() {
                break;
            }
        }
    })
}

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:3000".to_string();
    let mut config = HubConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--auth-secret" => {
                config.auth_secret = Some(
                    args.next()
                        .expect("--auth-secret needs a value")
                        .into_bytes(),
                );
            }
            "-h" | "--help" => {
                println!("usage: axum_chat [--addr HOST:PORT] [--auth-secret SECRET]");
                return Ok(());
            }
            other => {
                eprintln!("unknown argument {other:?}; try --help");
                std::process::exit(2);
            }
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let hub = Hub::new(config);
            let app = Router::new()
                .route("/", get(page))
                .route("/clock", get(clock).with_state(hub.clone()))
                .route("/echo", any(echo))
                .nest_service("/rt", hub.service());
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            println!("listening on http://{}", listener.local_addr()?);
            let stopping = hub.clone();
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    shutdown_requested().await;
                    // Ends every hub subscription (WebSocket Close 1001, SSE end, parked
                    // polls answered), so the server's graceful shutdown can finish.
                    stopping.shutdown();
                })
                .await
        })
}

async fn shutdown_requested() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
