//! `sluice relay` and the LLM-aware `sluice sse connect` as processes: a fake OpenAI upstream
//! (`tests/support/llm_upstream.rs`, tokens at a pace) and a real `sluice serve` on loopback
//! ports. Every wait is bounded.

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

mod support;

use support::hub_process::{BIN, HubProcess as Hub};
use support::llm_upstream;

const WAIT: Duration = Duration::from_secs(30);

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        Proc(
            Command::new(BIN)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn sluice"),
        )
    }

    /// Waits (bounded) for the exit; the whole output.
    fn wait(mut self) -> Output {
        let deadline = Instant::now() + WAIT;
        while self.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "sluice did not exit");
            thread::sleep(Duration::from_millis(20));
        }
        let child = std::mem::replace(
            &mut self.0,
            Command::new("true").spawn().expect("spawn true"),
        );
        child.wait_with_output().unwrap()
    }
}

fn run(args: &[&str]) -> Output {
    Proc::spawn(args).wait()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn lines(o: &Output) -> Vec<serde_json::Value> {
    text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The answer text carried by Chat Completions chunks (`choices[0].delta.content`).
fn answer_of(datas: impl Iterator<Item = String>) -> String {
    datas
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")?
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

fn upstream(
    pace_ms: u64,
) -> (
    tokio::runtime::Runtime,
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, count) = rt.block_on(llm_upstream::start(Duration::from_millis(pace_ms)));
    (rt, format!("http://{addr}/v1/chat/completions"), count)
}

fn body(prompt: &str, tokens: usize, extra: &str) -> String {
    format!(
        r#"{{"stream":true,"max_tokens":{tokens},"messages":[{{"role":"user","content":"{prompt}"}}]{extra}}}"#
    )
}

#[test]
fn sse_connect_stops_at_done_fails_on_cut_and_error_and_never_resends_a_post() {
    let (_rt, url, count) = upstream(1);
    // Done: exit 0 at `[DONE]`, one request, the whole answer.
    let out = run(&["sse", "connect", &url, "-d", &body("hi", 5, "")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let datas = lines(&out)
        .into_iter()
        .map(|v| v["data"].as_str().unwrap().to_owned());
    assert_eq!(answer_of(datas), llm_upstream::answer("hi", 5).concat());
    assert!(
        text(&out.stderr).contains("done (openai"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(count.swap(0, Ordering::SeqCst), 1);

    // Cut before `[DONE]`: exit 1, typed, and the POST is not sent again.
    let out = run(&[
        "sse",
        "connect",
        &url,
        "-d",
        &body("hi", 5, r#","cut_after":2"#),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ended before its terminal event"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        count.swap(0, Ordering::SeqCst),
        1,
        "a POST body is never re-sent"
    );
    // With --resend it is (and each attempt is cut again: give up after the count).
    let out = run(&[
        "sse",
        "connect",
        &url,
        "-d",
        &body("hi", 5, r#","cut_after":2"#),
        "--resend",
        "--count",
        "4",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(count.swap(0, Ordering::SeqCst) >= 2, "--resend reconnects");

    // An error chunk: exit 1 with the upstream's message.
    let out = run(&[
        "sse",
        "connect",
        &url,
        "-d",
        &body("hi", 5, r#","fail_after":1"#),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("server_error") && err.contains("The server had an error"),
        "{err}"
    );

    // --dialect none: a plain EventSource; the stream ends (POST: not re-sent): exit 0.
    let out = run(&[
        "sse",
        "connect",
        &url,
        "-d",
        &body("hi", 2, ""),
        "--dialect",
        "none",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        lines(&out).len(),
        6,
        "role chunk, 3 tokens (the prompt's head, t1, t2), stop chunk, [DONE]"
    );
}

#[test]
fn sse_connect_idle_timeout_counts_events_not_bytes() {
    let (_rt, url, _) = upstream(3000);
    // Tokens every 3 s, idle timeout 1 s: the first token never comes in time.
    let started = Instant::now();
    let out = run(&[
        "sse",
        "connect",
        &url,
        "-d",
        &body("x", 3, ""),
        "--idle-timeout",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no event for 1000 ms"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn relay_publishes_every_token_once_then_ends_the_topic() {
    let hub = Hub::start("127.0.0.1:0", &[]);
    let (_rt, url, _) = upstream(5);
    // A follower before the generation starts, and one after it ended.
    let early = Proc::spawn(&["sub", &hub.url("/sse/gen-1"), "--from", "earliest"]);
    thread::sleep(Duration::from_millis(300));
    let out = run(&[
        "relay",
        &url,
        &hub.url("/publish/gen-1"),
        "-d",
        &body("hello", 60, ""),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("64 events relayed"),
        "{}",
        text(&out.stderr)
    );
    let want = llm_upstream::answer("hello", 60).concat();
    for follower in [
        early.wait(),
        run(&["sub", &hub.url("/ws/gen-1"), "--from", "earliest"]),
        run(&["sub", &hub.url("/poll/gen-1"), "--from", "earliest"]),
        run(&[
            "sub",
            &hub.url("/sse/gen-1"),
            "--from",
            "earliest",
            "--fallback",
        ]),
    ] {
        assert!(follower.status.success(), "{}", text(&follower.stderr));
        let items = lines(&follower);
        assert_eq!(items.last(), Some(&serde_json::json!({"end": true})));
        let ids: Vec<_> = items.iter().filter_map(|v| v["id"].as_str()).collect();
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(ids.len(), unique.len(), "no event twice");
        let datas = items
            .iter()
            .filter_map(|v| v["data"].as_str().map(str::to_owned));
        assert_eq!(answer_of(datas), want);
    }
    // Publishing after the end: refused (409).
    let out = run(&["pub", &hub.url("/publish/gen-1"), "late"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("409"), "{}", text(&out.stderr));
}

#[test]
fn relay_of_a_failing_upstream_publishes_the_error_and_ends_the_topic() {
    let hub = Hub::start("127.0.0.1:0", &[]);
    let (_rt, url, count) = upstream(1);
    let out = run(&[
        "relay",
        &url,
        &hub.url("/publish/gen-cut"),
        "-d",
        &body("x", 9, r#","cut_after":3"#),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("topic ended with an error event"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "the upstream POST was sent once"
    );
    let f = run(&["sub", &hub.url("/poll/gen-cut"), "--from", "earliest"]);
    assert!(f.status.success());
    let items = lines(&f);
    let n = items.len();
    assert_eq!(items[n - 1], serde_json::json!({"end": true}));
    assert_eq!(items[n - 2]["event"], "error");
    assert!(
        items[n - 2]["data"]
            .as_str()
            .unwrap()
            .contains("incomplete"),
        "{:?}",
        items[n - 2]
    );
    // And a follower that knows LLM streams fails on it: `sluice sse` exits 1.
    let out = run(&["sse", &hub.url("/sse/gen-cut")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("stream failed"),
        "{}",
        text(&out.stderr)
    );
}

/// Interrupted mid-generation (SIGTERM), the relay tells the followers: an `error` event of
/// type `aborted`, then the end; exit 130.
#[test]
fn an_interrupted_relay_ends_the_topic_with_an_error() {
    let hub = Hub::start("127.0.0.1:0", &[]);
    // 200 tokens at 50 ms: still running when it is interrupted.
    let (_rt, url, _count) = upstream(50);
    let relay = Proc::spawn(&[
        "relay",
        &url,
        &hub.url("/publish/gen-int"),
        "-d",
        &body("x", 200, ""),
    ]);
    // Until a few tokens were relayed.
    let o = run(&[
        "poll",
        &hub.url("/poll/gen-int"),
        "--from",
        "earliest",
        "--count",
        "3",
    ]);
    assert_eq!(lines(&o).len(), 3, "{}", text(&o.stderr));
    let pid = relay.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = relay.wait();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("topic ended with an error event"),
        "{}",
        text(&out.stderr)
    );
    let f = run(&["sub", &hub.url("/poll/gen-int"), "--from", "earliest"]);
    assert!(f.status.success(), "{}", text(&f.stderr));
    let items = lines(&f);
    let n = items.len();
    assert_eq!(items[n - 1], serde_json::json!({"end": true}));
    assert_eq!(items[n - 2]["event"], "error");
    assert!(
        items[n - 2]["data"].as_str().unwrap().contains("aborted"),
        "{:?}",
        items[n - 2]
    );
}
