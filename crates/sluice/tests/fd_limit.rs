//! Issue 16 item 3, out of file descriptors: `sluice serve` under `ulimit -n 256` with 300
//! idle connections. The hub caps connections below what the limit leaves room for, so the
//! next client gets a 503 at once instead of hanging in the accept queue, and the log does not
//! fill with accept failures.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Kills the hub however the test ends (a panicking test must not leave it running).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_means_503_not_a_hang() {
    let script = format!(
        "ulimit -n 256 && exec '{}' serve --addr 127.0.0.1:0",
        env!("CARGO_BIN_EXE_sluice")
    );
    let child = Command::new("sh")
        .args(["-c", &script])
        .env_remove("SLUICE_AUTH_SECRET")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut stderr = child.0.stderr.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_once("open http://")
        .map(|(_, u)| u.trim().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| panic!("no URL in {line:?}"));

    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    // Let the hub accept what it can.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    for _ in 0..5 {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        // The answer may come before the request is read: a failed write is fine.
        let _ = c
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
            .await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out)).await;
        answers.push(String::from_utf8_lossy(&out).into_owned());
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for a in &answers {
        assert!(a.starts_with("HTTP/1.1 503"), "{a:?}");
        assert!(a.to_ascii_lowercase().contains("retry-after: 1"), "{a}");
    }
    // Freeing slots lets clients in again.
    drop(idle);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out)).await;
        if out.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(child);
    let mut log = String::new();
    stderr.read_to_string(&mut log).unwrap();
    assert!(
        log.contains("connection cap lowered"),
        "the lowered cap is logged: {log}"
    );
    assert!(
        log.matches("accept failed").count() <= 1,
        "accept failures are rate-limited: {log}"
    );
}
