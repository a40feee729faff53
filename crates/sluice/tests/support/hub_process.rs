//! `sluice serve` as a child process for tests: started on a loopback port (the OS picks a
//! free one, or a given one for a restart on the same address), killed by PID when dropped.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// A running hub; killed when dropped.
pub struct HubProcess {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HubProcess {
    /// Starts `sluice serve --addr ADDR EXTRA…` and waits (≤ 20 s) for its startup line.
    pub fn start(addr: &str, extra: &[&str]) -> HubProcess {
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", addr])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sluice serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("sluice hub on ") {
                    let _ = tx.send(rest.split(": ").next().unwrap_or("").to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("sluice serve on {addr}: no startup line");
            }
        };
        HubProcess { child, addr }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// An unlabelled figure of its `GET /metrics` (`None` if it cannot be read).
    pub async fn metric(&self, name: &str) -> Option<u64> {
        let req = sluice_http::ClientRequest::get(&self.url("/metrics")).ok()?;
        let mut r = sluice_http::fetch(req, &sluice_http::ClientConfig::default())
            .await
            .ok()?;
        let body = r.bytes(1 << 20).await.ok()?;
        let text = std::str::from_utf8(&body).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// Kills it (SIGKILL) and waits for the exit.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it gracefully (SIGTERM: streams end cleanly, polls are answered) and waits for
    /// the exit.
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
