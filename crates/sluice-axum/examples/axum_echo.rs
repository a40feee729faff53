//! A WebSocket echo on every path of an axum app, through [`sluice_axum::WsUpgrade`] with
//! permessage-deflate on: the Autobahn|Testsuite testee of the integration, and the bench
//! target beside axum's built-in `WebSocketUpgrade` (served on `/axum/…` by `--with-axum-ws`).
//!
//! ```text
//! cargo run --release -p sluice-axum --example axum_echo -- --addr 127.0.0.1:9004 [--with-axum-ws]
//! ```
//!
//! Prints `listening on ws://ADDR` once bound. Messages and frames up to 64 MiB (Autobahn's
//! 9.x cases send 16 MiB). Served by `axum::serve`: HTTP/1.1 upgrades and HTTP/2 extended
//! CONNECT (h2c) both reach the same handler (`any`).

use axum::Router;
use axum::response::{IntoResponse, Response};
use sluice_axum::{WsConfig, WsUpgrade};

async fn echo(up: WsUpgrade) -> impl IntoResponse {
    let mut config = WsConfig::default();
    config.protocol = config
        .protocol
        .with_max_frame_size(64 << 20)
        .with_max_message_size(64 << 20);
    up.config(config).on_upgrade(|mut socket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            if socket.send(msg).await.is_err() {
                break;
            }
        }
    })
}

/// The same echo on axum's built-in `WebSocketUpgrade` (tokio-tungstenite), for the side by
/// side bench: same app, same server, another route.
async fn axum_echo(up: axum::extract::ws::WebSocketUpgrade) -> Response {
    up.max_message_size(64 << 20)
        .max_frame_size(64 << 20)
        .on_upgrade(|mut socket| async move {
            use axum::extract::ws::Message;
            while let Some(Ok(msg)) = socket.recv().await {
                if matches!(msg, Message::Close(_)) {
                    break;
                }
                if socket.send(msg).await.is_err() {
                    break;
                }
            }
        })
}

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:9004".to_string();
    let mut with_axum = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--with-axum-ws" => with_axum = true,
            "-h" | "--help" => {
                println!("usage: axum_echo [--addr HOST:PORT] [--with-axum-ws]");
                return Ok(());
            }
            other => {
                eprintln!("unknown argument {other:?}; try --help");
                std::process::exit(2);
            }
        }
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let mut app = Router::new();
            if with_axum {
                app = app.route("/axum/{*rest}", axum::routing::any(axum_echo));
            }
            let app = app.fallback(echo);
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            println!("listening on ws://{}", listener.local_addr()?);
            axum::serve(listener, app).await
        })
}
