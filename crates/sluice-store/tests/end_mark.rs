//! The end of an ended topic (hub §2.8) outlives the end event in the shared stores: once the
//! end is older than the retention age, a read no longer returns it as an event but still
//! says where the topic ended ([`History::end`]), on every node; and nothing is appended
//! after the end, by any node ([`StoreError::Ended`]). (The file store's tests are unit
//! tests in `src/file.rs`.)
//!
//! Each test starts its own `redis-server` / `nats-server -js` on a free loopback port with
//! its own data directory and kills it by PID (`scripts/setup.sh` installs both).

#![cfg(any(feature = "redis", feature = "nats"))]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[cfg(feature = "nats")]
use sluice_store::nats::NatsStore;
#[cfg(feature = "redis")]
use sluice_store::redis::RedisStore;
use sluice_store::{
    Cursor, END_EVENT_TYPE, History, LogConfig, NewEvent, Store, StoreConfig, StoreError,
};

/// The retention age: long enough for the round trips of [`publish_and_end`] to see every
/// event still retained on a loaded machine.
const AGE: Duration = Duration::from_secs(2);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed (SIGKILL) and reaped when dropped, with its data directory.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(feature = "redis")]
fn redis_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", dir.path().to_str().unwrap(), "--save", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server not found: run scripts/setup.sh");
    let s = Server {
        child,
        port,
        _dir: dir,
    };
    wait_listening(port, "redis-server");
    s
}

#[cfg(feature = "nats")]
fn nats_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
        .args(["-sd", dir.path().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server not found: run scripts/setup.sh");
    let s = Server {
        child,
        port,
        _dir: dir,
    };
    wait_listening(port, "nats-server");
    s
}

fn config() -> StoreConfig {
    StoreConfig::default().with_retention(LogConfig::default().with_max_age(AGE))
}

/// Publishes two events and the end to `t`, one event to `open`; returns the end's seq.
async fn publish_and_end(s: &dyn Store) -> u64 {
    s.append("t", NewEvent::new("m", b"a")).await.unwrap();
    s.append("t", NewEvent::new("m", b"b")).await.unwrap();
    s.append("open", NewEvent::new("m", b"x")).await.unwrap();
    let end = s
        .append("t", NewEvent::new(END_EVENT_TYPE, b""))
        .await
        .unwrap();
    let h = s.read("t", 0, 10).await.unwrap();
    assert_eq!(
        (h.head, h.events.len(), h.end),
        (3, 3, Some(3)),
        "the end, retained"
    );
    assert_eq!(s.read("open", 0, 10).await.unwrap().end, None);
    end.cursor.seq()
}

/// After the end of `t` (at `end`): `node` (another node, which last saw `t` before the
/// end) appends nothing, not even a second end; `open` is not affected.
async fn assert_refused_after_the_end(node: &dyn Store, end: Cursor) {
    for ev in [
        NewEvent::new("m", b"late"),
        NewEvent::new("m", b"late").idempotency_key(Some("late")),
        NewEvent::new(END_EVENT_TYPE, b""),
    ] {
        assert_eq!(
            node.append("t", ev).await,
            Err(StoreError::Ended { end }),
            "{ev:?}"
        );
    }
    let h = node.read("t", 0, 10).await.unwrap();
    assert_eq!(
        (h.head, h.end),
        (end.seq(), Some(end.seq())),
        "nothing stored"
    );
    let open = node.append("open", NewEvent::new("m", b"y")).await.unwrap();
    assert_eq!(open.cursor.seq(), 2);
}

/// `other` publishes to `t`, then `s` ends it (at seq 2): `other`, which last saw `t` before
/// the end, is refused after it (see [`assert_refused_after_the_end`]). Returns the end.
async fn end_behind_another_node(s: &dyn Store, other: &dyn Store) -> Cursor {
    other.append("t", NewEvent::new("m", b"0")).await.unwrap();
    let end = s
        .append("t", NewEvent::new(END_EVENT_TYPE, b""))
        .await
        .unwrap()
        .cursor;
    assert_eq!(end.seq(), 2);
    other
        .append("open", NewEvent::new("m", b"x"))
        .await
        .unwrap();
    assert_refused_after_the_end(other, end).await;
    end
}

/// Once the end has aged out: no events, and still the end.
fn assert_aged_out_but_ended(h: &History, end: u64) {
    assert_eq!(
        (h.head, h.events.len(), h.end),
        (end, 0, Some(end)),
        "{h:?}"
    );
}

/// Another node, which last published to `t` before `s` ended it: refused.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_refuses_appends_after_the_end() {
    let server = redis_server();
    let url = format!("redis://127.0.0.1:{}", server.port);
    let s = RedisStore::connect(&url, config()).await.unwrap();
    let other = RedisStore::connect(&url, config()).await.unwrap();
    let end = end_behind_another_node(&s, &other).await;
    // After the end aged out and the stream expired: still refused.
    tokio::time::sleep(AGE + Duration::from_millis(200)).await;
    let out = Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "del", "sluice:{t}:s"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    assert!(matches!(
        s.append("t", NewEvent::new("m", b"later")).await,
        Err(StoreError::Ended { end: e }) if e == end
    ));
}

/// Another node, whose cached last message of `t` is the one before the end: its publish
/// expects that message, loses to the end, re-reads, and is refused.
#[cfg(feature = "nats")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_refuses_appends_after_the_end() {
    let server = nats_server();
    let url = format!("nats://127.0.0.1:{}", server.port);
    let s = NatsStore::connect(&url, config()).await.unwrap();
    let other = NatsStore::connect(&url, config()).await.unwrap();
    let end = end_behind_another_node(&s, &other).await;
    // The node that ended it (its cached last message is the end): refused at once.
    assert_eq!(
        s.append("t", NewEvent::new("m", b"late")).await,
        Err(StoreError::Ended { end })
    );
    // A node with nothing cached, after the end aged out: refused, and the end still known.
    tokio::time::sleep(AGE + Duration::from_millis(200)).await;
    let third = NatsStore::connect(&url, config()).await.unwrap();
    assert!(matches!(
        third.append("t", NewEvent::new("m", b"later")).await,
        Err(StoreError::Ended { end: e }) if e == end
    ));
    assert_aged_out_but_ended(&third.read("t", 0, 10).await.unwrap(), end.seq());
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keeps_the_end_after_it_aged_out_and_forgets_it_with_the_epoch() {
    let server = redis_server();
    let url = format!("redis://127.0.0.1:{}", server.port);
    let s = RedisStore::connect(&url, config()).await.unwrap();
    let end = publish_and_end(&s).await;
    tokio::time::sleep(AGE + Duration::from_millis(200)).await;
    assert_aged_out_but_ended(&s.read("t", 0, 10).await.unwrap(), end);
    // The stream itself gone (its expiry): the meta hash still has the end.
    let out = Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "del", "sluice:{t}:s"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    // Another node sees the same.
    let other = RedisStore::connect(&url, config()).await.unwrap();
    let h = other.read("t", end, 10).await.unwrap();
    assert_aged_out_but_ended(&h, end);
    assert_eq!(other.read("open", 0, 10).await.unwrap().end, None);
    // A new epoch has not ended.
    other.restart_epoch("t", h.epoch).await.unwrap();
    let h2 = s.read("t", 0, 10).await.unwrap();
    assert_ne!(h2.epoch, h.epoch);
    assert_eq!((h2.head, h2.end), (0, None));
}

#[cfg(feature = "nats")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_keeps_the_end_after_it_aged_out() {
    let server = nats_server();
    let url = format!("nats://127.0.0.1:{}", server.port);
    let s = NatsStore::connect(&url, config()).await.unwrap();
    let end = publish_and_end(&s).await;
    tokio::time::sleep(AGE + Duration::from_millis(200)).await;
    assert_aged_out_but_ended(&s.read("t", 0, 10).await.unwrap(), end);
    assert_aged_out_but_ended(&s.read("t", end, 10).await.unwrap(), end);
    // Another node, with nothing cached, sees the same.
    let other = NatsStore::connect(&url, config()).await.unwrap();
    assert_aged_out_but_ended(&other.read("t", 0, 10).await.unwrap(), end);
    assert_eq!(other.read("open", 0, 10).await.unwrap().end, None);
}
