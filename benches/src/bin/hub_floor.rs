//! The floor of the hub broadcast bench (`scripts/bench/hub_broadcast.sh`, target `floor`): a
//! server that does the least any server can do per delivery, so that the bench can show what
//! CPU per delivery is reachable at all on this machine with the syscalls every server here
//! makes (nchan and the hub alike: one `write` per WebSocket or SSE delivery; one `write` and
//! one `read` per long-poll delivery, plus the readiness they cost).
//!
//! It speaks just enough of the hub's wire forms for the load tool (`hub_broadcast --target
//! sluice`) to drive it exactly as it drives `sluice serve`: `GET /ws/T` (the RFC 6455
//! handshake, then unmasked text frames), `GET /sse/T` (a chunked `text/event-stream`),
//! `GET /poll/T?cursor=…` (answered at once without a cursor or behind the head, parked at the
//! head), `POST /publish/T` and `GET /metrics` (the three gauges the load tool reads). One
//! thread, one `epoll` (mio). A publish encodes each form once and writes it to every
//! subscriber from the publishing loop (nchan's order: every answer before any new request),
//! so each delivery costs one `write` and nothing else in user space beyond walking a list.
//!
//! It is **not a server**: one topic whatever the path, no limits, no timeouts, no close
//! handshake, no retention, no checks a peer's bytes would need. It exists to be measured.
//!
//! ```text
//! hub_floor --addr 127.0.0.1:PORT
//! ```

use std::io::{self, Read};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Poll};
use sluice_benches::floor::{self, LISTENER, Slots};
/// A request head and body larger than this closes the connection (the load tool's are small).
const MAX_REQUEST: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// Reading requests.
    Http,
    Ws,
    Sse,
    /// A long-poll at the head, answered by the next publish.
    Parked,
}

struct Conn {
    sock: TcpStream,
    input: Vec<u8>,
    /// Bytes a full socket buffer did not take yet (written when it is writable again).
    output: Vec<u8>,
    role: Role,
}

impl Conn {
    /// Writes `bytes` after anything still queued; what the socket does not take is queued.
    /// `Err`: the connection is gone.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        floor::send(&mut self.sock, &mut self.output, bytes)
    }

    /// Reads until the socket is empty. `Ok(false)`: the peer closed. A read that does not
    /// fill the chunk emptied the socket, and later bytes raise a new edge, so no read is spent
    /// on `EAGAIN` — unless the readiness said the peer closed (`closed`): its end raises no
    /// further edge, so then reading goes on until the end is seen.
    fn fill(&mut self, closed: bool) -> io::Result<bool> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.sock.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    let drained = n < chunk.len();
                    // WebSocket and SSE subscribers send nothing the floor needs to read.
                    if self.role == Role::Http || self.role == Role::Parked {
                        self.input.extend_from_slice(&chunk[..n]);
                        if self.input.len() > MAX_REQUEST {
                            return Err(io::ErrorKind::InvalidData.into());
                        }
                    }
                    if drained && !closed {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The one topic: its head and the encoded forms of its newest event.
#[derive(Default)]
struct Topic {
    seq: u64,
    /// `cursor()` of `seq`, kept so that a poll's cursor is compared without a new string.
    head: String,
    /// The newest event's long-poll answer, whole (head and body).
    poll_answer: Vec<u8>,
}

impl Topic {
    fn cursor(&self) -> String {
        format!("1.f.{}", self.seq)
    }
}

struct Floor {
    poll: Poll,
    listener: TcpListener,
    conns: Slots<Conn>,
    topic: Topic,
    counts: [u64; 3],
}

/// Where a poll's `cursor` is.
enum PollAt {
    /// None given: answered at once with the head.
    New,
    /// At the head: parked.
    Head,
    /// Behind it: answered with the newest event.
    Behind,
}

/// A request the floor understood.
enum Route {
    Ws(String),
    Sse,
    Poll(PollAt),
    Publish(Vec<u8>),
    Metrics,
    NotFound,
}

/// Parses one request at the front of `buf` (`at_head`: the topic's cursor): `Ok(None)` until it
/// is whole; `Ok(Some((n, route)))` consumes `n` bytes.
fn parse(buf: &[u8], at_head: &str) -> Result<Option<(usize, Route)>, httparse::Error> {
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut fields);
    let httparse::Status::Complete(head) = req.parse(buf)? else {
        return Ok(None);
    };
    let field = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let body_len = field("content-length")
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if buf.len() < head + body_len {
        return Ok(None);
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let route = if path.starts_with("/ws/") {
        match field("sec-websocket-key") {
            Some(k) => Route::Ws(sluice_ws::handshake::accept_key(k)),
            None => Route::NotFound,
        }
    } else if path.starts_with("/sse/") {
        Route::Sse
    } else if path.starts_with("/poll/") {
        let cursor = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("cursor="))
            .filter(|c| !c.is_empty());
        Route::Poll(match cursor {
            None => PollAt::New,
            Some(c) if c == at_head => PollAt::Head,
            Some(_) => PollAt::Behind,
        })
    } else if path.starts_with("/publish/") {
        Route::Publish(buf[head..head + body_len].to_vec())
    } else if path == "/metrics" {
        Route::Metrics
    } else {
        Route::NotFound
    };
    Ok(Some((head + body_len, route)))
}

/// `s` as a JSON string's contents.
fn json_escape(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
}

fn http_answer(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut a = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncache-control: no-store\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    a.extend_from_slice(body);
    a
}

/// The long-poll answer for `cursor` and the events in `events_json` (`[...]`).
fn poll_answer(cursor: &str, events_json: &[u8]) -> Vec<u8> {
    let mut body = format!("{{\"cursor\":\"{cursor}\",\"events\":").into_bytes();
    body.extend_from_slice(events_json);
    body.extend_from_slice(b",\"more\":false,\"gap\":null,\"reset\":false}");
    http_answer("200 OK", "application/json", &body)
}

/// An unmasked server text frame (RFC 6455 §5.2).
fn ws_text_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x81);
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

impl Floor {
    fn accept(&mut self) {
        let make = |sock| Conn {
            sock,
            input: Vec::new(),
            output: Vec::new(),
            role: Role::Http,
        };
        floor::accept_all(
            &self.listener,
            self.poll.registry(),
            &mut self.conns,
            make,
            |c| &mut c.sock,
        );
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut c) = self.conns.remove(slot) {
            let _ = self.poll.registry().deregister(&mut c.sock);
            match c.role {
                Role::Ws => self.counts[0] -= 1,
                Role::Sse => self.counts[1] -= 1,
                Role::Parked => self.counts[2] -= 1,
                Role::Http => {}
            }
        }
    }

    /// Readiness of connection `slot`.
    fn ready(&mut self, slot: usize, ev: &mio::event::Event) {
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        let closed = ev.is_read_closed() || ev.is_error();
        let mut ok = true;
        if ev.is_writable() {
            ok &= floor::flush(&mut c.sock, &mut c.output).is_ok();
        }
        // What came before the peer's end is still answered (then the connection goes).
        let mut alive = ok;
        if ok && (ev.is_readable() || closed) {
            alive = matches!(c.fill(closed), Ok(true));
        }
        if ok {
            ok = self.serve(slot).is_ok();
        }
        if !ok || !alive {
            self.close(slot);
        }
    }

    /// Answers the whole requests in connection `slot`'s input.
    fn serve(&mut self, slot: usize) -> io::Result<()> {
        loop {
            let Some(c) = self.conns.get_mut(slot) else {
                return Ok(());
            };
            if c.role != Role::Http || c.input.is_empty() {
                return Ok(());
            }
            let Some((n, route)) =
                parse(&c.input, &self.topic.head).map_err(|_| io::ErrorKind::InvalidData)?
            else {
                return Ok(());
            };
            c.input.drain(..n);
            match route {
                Route::Ws(accept) => {
                    c.send(
                        format!(
                            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
                        )
                        .as_bytes(),
                    )?;
                    c.role = Role::Ws;
                    self.counts[0] += 1;
                }
                Route::Sse => {
                    c.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache, no-transform\r\ntransfer-encoding: chunked\r\n\r\n")?;
                    c.role = Role::Sse;
                    self.counts[1] += 1;
                }
                Route::Poll(PollAt::New) => {
                    c.send(&poll_answer(&self.topic.head, b"[]"))?;
                }
                Route::Poll(PollAt::Head) => {
                    c.role = Role::Parked;
                    self.counts[2] += 1;
                }
                // Behind the head: the newest event (the load tool asks one event at a time).
                Route::Poll(PollAt::Behind) => {
                    let answer = std::mem::take(&mut self.topic.poll_answer);
                    let r = c.send(&answer);
                    self.topic.poll_answer = answer;
                    r?;
                }
                Route::Metrics => {
                    let [ws, sse, poll] = self.counts;
                    let body = format!(
                        "sluice_subscribers{{transport=\"ws\"}} {ws}\nsluice_subscribers{{transport=\"sse\"}} {sse}\nsluice_longpoll_parked {poll}\n"
                    );
                    c.send(&http_answer("200 OK", "text/plain", body.as_bytes()))?;
                }
                Route::NotFound => c.send(&http_answer("404 Not Found", "text/plain", b""))?,
                Route::Publish(data) => {
                    self.topic.seq += 1;
                    self.topic.head = self.topic.cursor();
                    let id = self.topic.head.clone();
                    c.send(&http_answer(
                        "200 OK",
                        "application/json",
                        format!("{{\"id\":\"{id}\"}}").as_bytes(),
                    ))?;
                    self.publish(&id, &data);
                }
            }
        }
    }

    /// Encodes the event once per form and writes it to every subscriber.
    fn publish(&mut self, id: &str, data: &[u8]) {
        let mut json = format!("{{\"id\":\"{id}\",\"event\":\"message\",\"data\":\"").into_bytes();
        json_escape(data, &mut json);
        json.extend_from_slice(b"\"}");
        let ws = ws_text_frame(&json);
        let mut sse_frame = format!("id: {id}\ndata: ").into_bytes();
        sse_frame.extend_from_slice(data);
        sse_frame.extend_from_slice(b"\n\n");
        let mut sse = format!("{:x}\r\n", sse_frame.len()).into_bytes();
        sse.extend_from_slice(&sse_frame);
        sse.extend_from_slice(b"\r\n");
        let mut events = b"[".to_vec();
        events.extend_from_slice(&json);
        events.push(b']');
        self.topic.poll_answer = poll_answer(id, &events);

        let mut gone = Vec::new();
        for (slot, c) in self.conns.iter_mut() {
            let r = match c.role {
                Role::Ws => c.send(&ws),
                Role::Sse => c.send(&sse),
                Role::Parked => {
                    c.role = Role::Http;
                    self.counts[2] -= 1;
                    c.send(&self.topic.poll_answer)
                }
                Role::Http => continue,
            };
            if r.is_err() {
                gone.push(slot);
            }
        }
        for slot in gone {
            self.close(slot);
        }
    }
}

fn main() -> io::Result<()> {
    let addr = floor::addr_arg("hub_floor", "127.0.0.1:8080");
    let (poll, listener) = floor::listen(addr)?;
    let mut floor = Floor {
        poll,
        listener,
        conns: Slots::default(),
        topic: Topic::default(),
        counts: [0; 3],
    };
    floor.topic.head = floor.topic.cursor();
    floor.topic.poll_answer = poll_answer(&floor.topic.head, b"[]");
    eprintln!("hub floor listening on {addr}");
    let mut events = Events::with_capacity(1024);
    loop {
        floor::wait(&mut floor.poll, &mut events)?;
        for ev in &events {
            if ev.token() == LISTENER {
                floor.accept();
            } else {
                floor.ready(ev.token().0, ev);
            }
        }
    }
}
