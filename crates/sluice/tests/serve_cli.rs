//! `sluice serve` end to end: the binary on a free loopback port, events published over HTTP
//! and received on WebSocket, SSE and long-poll, authentication from the environment, and
//! SIGTERM → graceful exit 0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sluice_http::{self as http, ClientConfig, ClientRequest, StatusCode};
use sluice_tokio::ws::{self, Message, WsConfig};

const T: Duration = Duration::from_secs(15);

/// A running `sluice serve` and the base URL it printed.
struct Hub {
    child: Child,
    base: String,
}

impl Hub {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Hub {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .env_remove("SLUICE_AUTH_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "sluice hub on 127.0.0.1:PORT: open http://127.0.0.1:PORT/"
        let base = line
            .split_once("open ")
            .map(|(_, u)| u.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| panic!("no URL in the startup line {line:?}"));
        assert!(base.starts_with("http://127.0.0.1:"), "{line}");
        Hub { child, base }
    }

    fn terminate(mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + T;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn request(req: ClientRequest) -> (StatusCode, String) {
    let mut r = tokio::time::timeout(T, http::fetch(req, &ClientConfig::default()))
        .await
        .unwrap()
        .unwrap();
    let body = r.bytes(1 << 20).await.unwrap();
    (r.status(), String::from_utf8(body.to_vec()).unwrap())
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_then_receive_on_every_transport_then_sigterm() {
    let hub = Hub::start(&["--retention-events", "100", "--log-format", "json"], &[]);
    let base = hub.base.clone();
    // Subscribers first: WebSocket and SSE live from now.
    let ws_url = format!("{}/ws/demo", base.replace("http://", "ws://"));
    let (mut socket, _) = ws::connect(&ws_url, WsConfig::default()).await.unwrap();
    let mut sse = http::fetch(
        ClientRequest::get(&format!("{base}/sse/demo")).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    assert_eq!(sse.header("content-type"), Some("text/event-stream"));
    // The SSE opening (retry + head id) arrives before any event.
    let opening = tokio::time::timeout(T, sse.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(opening.starts_with(b"retry: "), "{opening:?}");

    let (st, body) = request(
        ClientRequest::post(&format!("{base}/publish/demo?event=greeting"), "hello, hub").unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let id = json(&body)["id"].as_str().unwrap().to_owned();

    // WebSocket: the starting cursor (a live subscription), then one JSON text frame.
    let first = tokio::time::timeout(T, socket.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        first.as_bytes().starts_with(b"{\"cursor\":\"1."),
        "{first:?}"
    );
    let msg = tokio::time::timeout(T, socket.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(t) = msg else {
        panic!("text frame expected")
    };
    let v = json(&t);
    assert_eq!(
        (v["id"].as_str(), v["event"].as_str(), v["data"].as_str()),
        (Some(id.as_str()), Some("greeting"), Some("hello, hub"))
    );

    // SSE: the same event, id = the cursor.
    let mut parser = sluice_sse::Parser::new();
    let event = loop {
        if let Some(sluice_sse::Item::Event(e)) = parser.poll_item() {
            break e;
        }
        let b = tokio::time::timeout(T, sse.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        parser.handle_input(&b).unwrap();
    };
    assert_eq!(
        (
            event.event_type(),
            event.data.as_str(),
            event.last_event_id()
        ),
        ("greeting", "hello, hub", id.as_str())
    );

    // Long-poll from the beginning of the topic.
    let (st, body) = request(
        ClientRequest::get(&format!("{base}/poll/demo?cursor=earliest&timeout=0")).unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let v = json(&body);
    assert_eq!(v["events"][0]["id"], id.as_str());
    assert_eq!(v["events"][0]["data"], "hello, hub");

    // The page and the metrics are there.
    let (st, page) = request(ClientRequest::get(&format!("{base}/")).unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("<html"));
    let (_, metrics) = request(ClientRequest::get(&format!("{base}/metrics")).unwrap()).await;
    assert!(
        metrics.contains("sluice_subscribers{transport=\"ws\"} 1"),
        "{metrics}"
    );

    // SIGTERM: WebSocket closed with 1001, SSE ended, exit 0.
    let code = tokio::task::spawn_blocking(move || hub.terminate())
        .await
        .unwrap();
    assert_eq!(code, 0);
    while let Some(Ok(_)) = tokio::time::timeout(T, socket.recv()).await.unwrap() {}
    assert_eq!(socket.close_info().unwrap().code, ws::CloseCode::GOING_AWAY);
    let mut rest = Vec::new();
    while let Ok(Some(b)) = tokio::time::timeout(T, sse.chunk()).await.unwrap() {
        rest.extend_from_slice(&b);
    }
    assert!(
        String::from_utf8_lossy(&rest).contains("retry: "),
        "{rest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_secret_from_the_environment() {
    let hub = Hub::start(
        &[],
        &[("SLUICE_AUTH_SECRET", "test-secret-test-secret-test-secret")],
    );
    let (st, _) =
        request(ClientRequest::post(&format!("{}/publish/t", hub.base), "x").unwrap()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let token = sluice_hub::mint_token(
        b"test-secret-test-secret-test-secret",
        &sluice_hub::Claims::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 60,
        )
        .publish("t"),
    )
    .unwrap();
    let req = ClientRequest::post(&format!("{}/publish/t", hub.base), "x")
        .unwrap()
        .header("authorization", format!("Bearer {token}"));
    assert_eq!(request(req).await.0, StatusCode::OK);
    assert_eq!(
        tokio::task::spawn_blocking(move || hub.terminate())
            .await
            .unwrap(),
        0
    );
}

#[test]
fn help_lists_the_flags_and_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--addr",
        "--retention-events",
        "--retention-bytes",
        "--retention-age",
        "--auth-secret",
        "--allow-origin",
        "--max-connections",
        "--max-message-size",
        "--log-format",
        "Examples:",
        "SLUICE_AUTH_SECRET",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}

/// `--workers N` runs N runtime worker threads; 0 is refused.
#[test]
fn workers_sets_the_runtime_threads() {
    let workers = |hub: &Hub| {
        std::fs::read_dir(format!("/proc/{}/task", hub.child.id()))
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim() == "tokio-rt-worker")
            .count()
    };
    // The blocking pool's threads carry the same name (a write to stdout can start one): up
    // to two above N. Counts unlike the default (one per core).
    for n in [5, 9] {
        let hub = Hub::start(&["--workers", &n.to_string()], &[]);
        // A new thread names itself once it runs: wait for the names (bounded).
        let deadline = std::time::Instant::now() + T;
        let mut seen = workers(&hub);
        while seen < n && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            seen = workers(&hub);
        }
        assert!(
            (n..=n + 2).contains(&seen),
            "{seen} threads for --workers {n}"
        );
        assert_eq!(hub.terminate(), 0);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--workers", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn bad_flags_and_busy_ports_are_one_line_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--retention-age", "10 parsecs"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // A port that is taken.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--addr", &addr])
        .env_remove("SLUICE_AUTH_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
}

/// With its log pipe closed (the process that read it is gone), `sluice serve` still shuts
/// down on SIGTERM: a log line that cannot be written is dropped, not a panic in the task that
/// handles the signal (it used to hang forever).
#[test]
fn sigterm_works_with_the_log_pipe_closed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("SLUICE_AUTH_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("open http://"), "{line}");
    drop(child.stderr.take());
    std::thread::sleep(Duration::from_millis(200));
    let hub = Hub {
        child,
        base: String::new(),
    };
    assert_eq!(hub.terminate(), 0);
}
