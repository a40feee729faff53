//! The client subcommands (`pub`, `sub`, `ws`, `token`) as processes against a real
//! `sluice serve` on a loopback port picked by the OS. Every wait is bounded.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

mod support;

use support::hub_process::{BIN, HubProcess as Hub};
const WAIT: Duration = Duration::from_secs(20);

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sluice(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice");
    let deadline = Instant::now() + WAIT;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        assert!(Instant::now() < deadline, "sluice {args:?} did not exit");
        thread::sleep(Duration::from_millis(20));
    }
}

fn publish(hub: &Hub, topic: &str, data: &str) -> String {
    let out = sluice(&["pub", &hub.url(&format!("/publish/{topic}")), data]);
    assert!(out.status.success(), "pub failed: {}", stderr(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(id.starts_with("1."), "id {id:?}");
    id
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A long-running client whose stdout lines arrive on a channel.
struct Lines {
    proc: Proc,
    rx: mpsc::Receiver<String>,
    stdin: Option<ChildStdin>,
}

impl Lines {
    fn spawn(args: &[&str]) -> Lines {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sluice");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            proc: Proc(child),
            rx,
            stdin,
        }
    }

    fn next(&self) -> serde_json::Value {
        let l = self.rx.recv_timeout(WAIT).expect("a line within the wait");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"))
    }

    fn exit_code(mut self) -> Option<i32> {
        drop(self.stdin.take());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.proc.0.try_wait().unwrap() {
                return s.code();
            }
            assert!(Instant::now() < deadline, "client did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn event(v: &serde_json::Value) -> (String, String, String) {
    (
        v["id"].as_str().expect("id").to_owned(),
        v["event"].as_str().expect("event").to_owned(),
        v["data"].as_str().expect("data").to_owned(),
    )
}

/// Each transport prints every event once, in order, with the id `pub` printed; history
/// first (`--from earliest`), then live events; exits 0 after `--count`.
#[test]
fn sub_every_transport_history_then_live() {
    let hub = Hub::start("127.0.0.1:0", &[]);
    let ids: Vec<String> = ["a", "b \"quoted\"\nline"]
        .iter()
        .map(|d| publish(&hub, "news", d))
        .collect();
    let subs: Vec<(&str, Lines)> = ["ws", "sse", "poll"]
        .into_iter()
        .map(|t| {
            let url = hub.url(&format!("/{t}/news"));
            (
                t,
                Lines::spawn(&["sub", &url, "--from", "earliest", "--count", "4"]),
            )
        })
        .collect();
    // History reaches every subscriber before the live events are published.
    for (t, s) in &subs {
        assert_eq!(event(&s.next()).0, ids[0], "{t}");
        assert_eq!(event(&s.next()).2, "b \"quoted\"\nline", "{t}");
    }
    let out = sluice(&["pub", &hub.url("/publish/news"), "typed", "--event", "tick"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id3 = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let id4 = publish(&hub, "news", "last");
    for (t, s) in subs {
        assert_eq!(
            event(&s.next()),
            (id3.clone(), "tick".into(), "typed".into()),
            "{t}"
        );
        assert_eq!(event(&s.next()).0, id4, "{t}");
        assert_eq!(s.exit_code(), Some(0), "{t}: exit after --count");
    }
}

/// A subscriber resumes from its last id after the hub is killed and restarted on the same
/// port: the new (in-memory) history is announced with a reset line, then new events follow.
#[test]
fn sub_resumes_across_a_hub_restart() {
    let hub = Hub::start("127.0.0.1:0", &[]);
    let addr = hub.addr.clone();
    let subs: Vec<(&str, Lines)> = ["ws", "sse", "poll"]
        .into_iter()
        .map(|t| {
            let url = hub.url(&format!("/{t}/r"));
            (t, Lines::spawn(&["sub", &url, "--from", "earliest"]))
        })
        .collect();
    let before = publish(&hub, "r", "before");
    for (t, s) in &subs {
        assert_eq!(event(&s.next()).0, before, "{t}");
    }
    hub.kill();
    let hub = Hub::start(&addr, &[]);
    // Each client reconnects with backoff; publish once all are back (the retained event then
    // reaches every one of them after the reset, whenever it reconnects).
    let after = publish(&hub, "r", "after");
    for (t, s) in &subs {
        assert_eq!(s.next(), serde_json::json!({"reset": true}), "{t}");
        assert_eq!(
            event(&s.next()),
            (after.clone(), "message".into(), "after".into()),
            "{t}"
        );
    }
}

/// A client started from an id resumes right after it, on any transport (one cursor space).
#[test]
fn sub_from_a_cursor_on_every_transport() {
    let hub = Hub::start("127.0.0.1:0", &[]);
    let ids: Vec<String> = (0..4)
        .map(|i| publish(&hub, "c", &format!("m{i}")))
        .collect();
    for t in ["ws", "sse", "poll"] {
        let url = hub.url(&format!("/{t}/c"));
        let out = sluice(&["sub", &url, "--from", &ids[1], "--count", "2"]);
        assert!(out.status.success(), "{t}: {}", stderr(&out));
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| event(&serde_json::from_str(l).unwrap()).0)
            .collect();
        assert_eq!(got, &ids[2..], "{t}");
    }
}

/// `sluice ws`: stdin lines are published as `message` events, and the hub's frames (those
/// events included) are printed; the end of stdin closes normally (exit 0).
/// A token that no header may hold (a CR left by a file with CRLF line ends) is an argument
/// error, exit 2, and the message never quotes it; with and without `--reconnect`.
#[test]
fn ws_refuses_a_token_with_a_control_byte_without_printing_it() {
    for extra in [&[][..], &["--reconnect"][..]] {
        let mut args = vec!["ws", "ws://127.0.0.1:9/ws/t", "--token", "s3cret-tok\r"];
        args.extend_from_slice(extra);
        let out = sluice(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("token"), "{err}");
        assert!(!err.contains("s3cret"), "the token was printed: {err}");
    }
}

#[test]
fn ws_stdin_lines_become_events() {
    let hub = Hub::start("127.0.0.1:0", &[]);
    let url = format!("ws://{}/ws/chat", hub.addr);
    let mut ws = Lines::spawn(&["ws", &url]);
    let stdin = ws.stdin.as_mut().unwrap();
    writeln!(stdin, "first line").unwrap();
    stdin.flush().unwrap();
    // The hub's frames as they come: the live subscription's starting cursor first.
    assert!(ws.next()["cursor"].is_string());
    let v = ws.next();
    assert_eq!(event(&v).1, "message");
    assert_eq!(event(&v).2, "first line");
    // The event is in the topic's log for every transport.
    let out = sluice(&[
        "sub",
        &hub.url("/poll/chat"),
        "--from",
        "earliest",
        "--count",
        "1",
    ]);
    assert_eq!(
        event(&serde_json::from_slice(&out.stdout).unwrap()).2,
        "first line"
    );
    assert_eq!(ws.exit_code(), Some(0));
}

/// Unusable URLs exit 2, unreachable hubs exit 1, each with one line on stderr.
#[test]
fn clear_errors_for_bad_urls_and_refused_connections() {
    for args in [
        &["pub", "127.0.0.1:1/publish/x", "d"][..],
        &["pub", "http://127.0.0.1:1/nope/x", "d"],
        &["pub", "http://127.0.0.1:1/publish/a%20b", "d"],
        &["sub", "http://127.0.0.1:1/publish/x"],
        &["sub", "ftp://127.0.0.1:1/ws/x"],
        &["ws", "gopher://127.0.0.1:1/"],
        &["ws", "ws://127.0.0.1:1/", "--cacert", "/nonexistent/ca.pem"],
        &["token", "--secret", "s", "--ttl", "5w"],
        &["token", "--secret", "s", "--publish", "a/b"],
    ] {
        let out = sluice(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).trim().is_empty(), "{args:?}");
    }
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for args in [
        vec![
            "pub".to_owned(),
            format!("http://127.0.0.1:{port}/publish/x"),
            "d".into(),
        ],
        vec!["sub".to_owned(), format!("http://127.0.0.1:{port}/ws/x")],
        vec!["sub".to_owned(), format!("http://127.0.0.1:{port}/sse/x")],
        vec!["sub".to_owned(), format!("http://127.0.0.1:{port}/poll/x")],
        vec!["ws".to_owned(), format!("ws://127.0.0.1:{port}/ws/x")],
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = sluice(&a);
        assert_eq!(out.status.code(), Some(1), "{a:?}");
        let e = stderr(&out);
        assert_eq!(e.trim().lines().count(), 1, "{a:?}: {e}");
        assert!(e.contains("refused") || e.contains("cannot"), "{a:?}: {e}");
    }
}

/// Tokens minted by `sluice token` against a hub with `--auth-secret`: the auth matrix for
/// `pub` and every `sub` transport (no token 401, wrong pattern 403, expired 401, valid 200).
#[test]
fn token_auth_matrix() {
    let secret = "cli-test-secret";
    let hub = Hub::start("127.0.0.1:0", &["--auth-secret", secret]);
    let mint = |extra: &[&str]| {
        let mut a = vec!["token", "--secret", secret, "--sub", "tester"];
        a.extend_from_slice(extra);
        let out = sluice(&a);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let good = mint(&["--publish", "news.*", "--subscribe", "news.*"]);
    let expired = mint(&["--publish", "*", "--ttl", "1s"]);
    let url = hub.url("/publish/news.eu");

    let out = sluice(&["pub", &url, "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));

    let out = sluice(&["pub", &hub.url("/publish/other"), "x", "--token", &good]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));

    let out = sluice(&["pub", &url, "hello", "--token", &good]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    for t in ["ws", "sse", "poll"] {
        let sub_url = hub.url(&format!("/{t}/news.eu"));
        let out = sluice(&["sub", &sub_url]);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(stderr(&out).contains("401"), "{t}: {}", stderr(&out));
        let out = sluice(&["sub", &hub.url(&format!("/{t}/other")), "--token", &good]);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(stderr(&out).contains("403"), "{t}: {}", stderr(&out));
        let out = sluice(&[
            "sub", &sub_url, "--token", &good, "--from", "earliest", "--count", "1",
        ]);
        assert!(out.status.success(), "{t}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(event(&v).0, id, "{t}");
    }

    thread::sleep(Duration::from_millis(2100));
    let out = sluice(&["pub", &url, "x", "--token", &expired]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
}

#[test]
fn help_has_examples() {
    for cmd in ["pub", "sub", "ws", "token"] {
        let out = sluice(&[cmd, "--help"]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Examples:"), "{cmd}");
        assert!(text.contains(&format!("sluice {cmd} ")), "{cmd}");
    }
}

/// `sluice sub --presence` prints joins and leaves (its own first) and ephemeral events;
/// `sluice presence` lists who is there.
#[test]
fn presence_and_ephemeral_on_the_command_line() {
    let hub = Hub::start("127.0.0.1:0", &[]);
    let ws = format!("ws://{}/ws/room", hub.addr);
    let watcher = Lines::spawn(&["sub", &ws, "--presence", "--client", "watcher"]);
    assert_eq!(watcher.next()["join"]["client"], "watcher");
    let other = Lines::spawn(&["sub", &hub.url("/sse/room"), "--client", "other"]);
    let j = watcher.next();
    assert_eq!(
        (
            j["join"]["client"].as_str(),
            j["join"]["transport"].as_str()
        ),
        (Some("other"), Some("sse"))
    );
    let out = sluice(&["presence", &hub.url("/presence/room")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut ids: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["since"].as_u64().is_some(), "{l}");
            v["client"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["other", "watcher"]);
    // An ephemeral publish reaches both live subscribers, as an `ephemeral` line.
    let out = sluice(&[
        "pub",
        &hub.url("/publish/room"),
        "hi",
        "--event",
        "typing",
        "--ephemeral",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "ephemeral: 2 receivers"
    );
    let want = serde_json::json!({"ephemeral": {"event": "typing", "data": "hi"}});
    assert_eq!(watcher.next(), want);
    assert_eq!(other.next(), want);
    drop(other);
    assert_eq!(watcher.next()["leave"]["client"], "other");
}
