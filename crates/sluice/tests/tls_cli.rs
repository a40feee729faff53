//! The command line over TLS: `sluice serve --tls-cert/--tls-key` (startup line, bad files,
//! SIGHUP reload) and every client subcommand on https:// / wss:// with `--cacert`, with the
//! one-line certificate error when the CA is not trusted. Certificates are made per run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);

#[path = "../../sluice-http/tests/support/pki.rs"]
mod pki;
use pki::pki;

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("sluice-tls-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sluice(args: &[&str]) -> Output {
    sluice_with_stdin(args, None)
}

fn sluice_with_stdin(args: &[&str], input: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env_remove("SLUICE_TOKEN")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = input {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
    }
    let deadline = Instant::now() + T;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sluice {args:?} did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(cert: &str, key: &str) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            cert,
            "--tls-key",
            key,
        ])
        .env_remove("SLUICE_AUTH_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_once("open ")
        .map(|(_, u)| u.trim().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    assert!(base.starts_with("https://127.0.0.1:"), "{line}");
    Serve { child, base }
}

#[test]
fn tls_files_that_do_not_load_are_one_line_errors_exit_2() {
    let dir = TempDir::new();
    let p = pki();
    let cert = dir.write("cert.pem", &p.cert_pem);
    let other = pki();
    let wrong_key = dir.write("wrong.pem", &other.key_pem);
    let missing = dir.0.join("missing.pem").display().to_string();
    for args in [
        vec![
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            &missing,
            "--tls-key",
            &wrong_key,
        ],
        vec![
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &missing,
        ],
        vec![
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &cert,
        ],
        vec![
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &wrong_key,
        ],
    ] {
        let out = sluice(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("sluice serve: TLS: "), "{err}");
    }
}

#[test]
fn every_client_subcommand_over_tls_with_cacert_and_sighup_reload() {
    let dir = TempDir::new();
    let p = pki();
    let ca = dir.write("ca.pem", &p.ca_pem);
    let cert = dir.write("cert.pem", &p.cert_pem);
    let key = dir.write("key.pem", &p.key_pem);
    let hub = serve(&cert, &key);
    let b = &hub.base;

    let out = sluice(&[
        "pub",
        &format!("{b}/publish/news"),
        "first",
        "--cacert",
        &ca,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = sluice(&[
        "pub",
        &format!("{b}/publish/news"),
        "second",
        "--cacert",
        &ca,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let wss = b.replace("https://", "wss://");
    for url in [
        format!("{b}/sse/news"),
        format!("{wss}/ws/news"),
        format!("{b}/poll/news"),
    ] {
        let out = sluice(&[
            "sub", &url, "--from", "earliest", "--count", "2", "--cacert", &ca,
        ]);
        assert_eq!(out.status.code(), Some(0), "{url}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("first") && text.contains("second"),
            "{url}: {text}"
        );
    }
    let out = sluice(&[
        "poll",
        &format!("{b}/poll/news"),
        "--from",
        "earliest",
        "--count",
        "2",
        "--cacert",
        &ca,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = sluice(&[
        "sse",
        "connect",
        &format!("{b}/sse/news?cursor=earliest"),
        "--count",
        "2",
        "--cacert",
        &ca,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("second"));

    // sluice ws over wss, HTTP/1.1 and HTTP/2 (RFC 8441): a line sent is published to the
    // topic (whether the echo to the sender beats our own Close is a race, so the topic's
    // history is what is checked), then read back over wss by both paths.
    for (i, extra) in [&[][..], &["--http2"][..]].into_iter().enumerate() {
        let url = format!("{wss}/ws/chat{i}");
        let mut args = vec!["ws", url.as_str(), "--cacert", &ca];
        args.extend_from_slice(extra);
        let out = sluice_with_stdin(&args, Some("hello over tls\n"));
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", stderr(&out));
        let out = sluice(&[
            "sub", &url, "--from", "earliest", "--count", "1", "--cacert", &ca,
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("hello over tls"),
            "{extra:?}: {text} {}",
            stderr(&out)
        );
    }

    // Not trusted: one line that says "certificate", exit 1, for every client.
    for args in [
        vec![
            "pub".to_owned(),
            format!("{b}/publish/news"),
            "x".to_owned(),
        ],
        vec!["sub".to_owned(), format!("{b}/sse/news")],
        vec!["sub".to_owned(), format!("{wss}/ws/news")],
        vec!["sub".to_owned(), format!("{b}/poll/news")],
        vec![
            "sse".to_owned(),
            "connect".to_owned(),
            format!("{b}/sse/news"),
        ],
        vec!["poll".to_owned(), format!("{b}/poll/news")],
        vec!["ws".to_owned(), format!("{wss}/ws/news")],
        vec![
            "ws".to_owned(),
            "--http2".to_owned(),
            format!("{wss}/ws/news"),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = sluice(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("certificate"), "{args:?}: {err}");
    }

    // SIGHUP: a certificate from another CA replaces the files; new connections get it.
    let q = pki();
    let ca2 = dir.write("ca2.pem", &q.ca_pem);
    std::fs::write(Path::new(&cert), &q.cert_pem).unwrap();
    std::fs::write(Path::new(&key), &q.key_pem).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &hub.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + T;
    loop {
        let out = sluice(&[
            "pub",
            &format!("{b}/publish/news"),
            "third",
            "--cacert",
            &ca2,
        ]);
        if out.status.code() == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reload not seen: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = sluice(&["pub", &format!("{b}/publish/news"), "x", "--cacert", &ca]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("certificate"));
}
