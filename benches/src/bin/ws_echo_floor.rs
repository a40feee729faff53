//! The floor of the WebSocket echo bench (`scripts/bench/ws_compare.sh`, `FLOOR=1`): an echo
//! server that does the least any server can do per message, so that the bench shows what CPU
//! per message is reachable at all on this machine with the system calls every echo server
//! here makes (one read and one write per echo in a closed loop, plus readiness).
//!
//! One thread, one `epoll` (mio). Per readiness: one read into the connection's buffer, every
//! whole frame unmasked in place, its server header written over the client's (it is four
//! bytes shorter: no masking key), and all the echoes of that read sent by one `writev` straight
//! from the buffer — no copy in user space but the XOR. Pings are answered (the same bytes with
//! the Pong opcode), a Close is echoed and the connection closed.
//!
//! It is **not a server**: no UTF-8 check, no limits beyond the buffer, no protocol checks a
//! peer's bytes would need, fragments echoed as they come. It exists to be measured.
//!
//! ```text
//! ws_echo_floor --addr 127.0.0.1:PORT
//! ```

use std::io::{self, IoSlice, Read, Write};
use std::ops::Range;

use mio::Events;
use mio::net::TcpStream;
use sluice_benches::floor::{self, LISTENER, Slots};
/// The first read buffer of a connection; it grows to hold a whole frame.
const BUFFER: usize = 64 * 1024;
/// The largest frame taken (the other echo servers' message limit, and its header).
const MAX_FRAME: usize = (64 << 20) + 14;
/// Echoes per `writev` (a closed-loop client has one in flight per connection).
const MAX_SLICES: usize = 64;

struct Conn {
    sock: TcpStream,
    /// The read buffer: bytes `start..end` are unread.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Echo bytes a full socket buffer did not take yet.
    output: Vec<u8>,
    upgraded: bool,
    /// A Close was echoed: the connection ends once it is written.
    closing: bool,
    /// Bytes the frame at `start` needs in all (0: no partial frame).
    need: usize,
    /// The echo ranges of one read (kept to reuse its allocation).
    ranges: Vec<Range<usize>>,
}

/// XORs `data` with the masking key (RFC 6455 §5.3), eight bytes at a time.
fn unmask(data: &mut [u8], key: [u8; 4]) {
    let k = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut words = data.chunks_exact_mut(8);
    for w in &mut words {
        let v = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ k;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// One whole client frame at the front of `buf`: `(frame length, echo range)`, the echo
/// (server header and unmasked payload) rewritten in place; `None` for a Pong (nothing to
/// send). `Err(needed)`: the frame is not whole, it needs `needed` bytes in all.
fn echo_frame(buf: &mut [u8]) -> Result<(usize, Option<Range<usize>>, u8), usize> {
    if buf.len() < 2 {
        return Err(2);
    }
    let (b0, b1) = (buf[0], buf[1]);
    let (ext, len) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (2, usize::from(u16::from_be_bytes([buf[2], buf[3]]))),
        127 if buf.len() >= 10 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            (
                8,
                usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX / 2),
            )
        }
        126 => return Err(4),
        127 => return Err(10),
        n => (0, usize::from(n)),
    };
    let payload: usize = 2 + ext + 4;
    let whole = payload.saturating_add(len);
    if buf.len() < whole {
        return Err(whole);
    }
    let key = [
        buf[payload - 4],
        buf[payload - 3],
        buf[payload - 2],
        buf[payload - 1],
    ];
    unmask(&mut buf[payload..whole], key);
    let opcode = b0 & 0x0f;
    if opcode == 0xA {
        return Ok((whole, None, opcode));
    }
    // The server header (2 + ext bytes, the client's without the mask bit and key) ends where
    // the payload starts: it begins four bytes into the client's frame.
    let head = 4;
    let b0 = if opcode == 0x9 { (b0 & 0xf0) | 0xA } else { b0 };
    let ext_bytes: [u8; 8] = {
        let mut e = [0u8; 8];
        e[..ext].copy_from_slice(&buf[2..2 + ext]);
        e
    };
    buf[head] = b0;
    buf[head + 1] = b1 & 0x7f;
    buf[head + 2..head + 2 + ext].copy_from_slice(&ext_bytes[..ext]);
    Ok((whole, Some(head..whole), opcode))
}

impl Conn {
    /// Reads (again only while a read fills the free space: later bytes raise a new edge —
    /// unless the readiness said the peer closed, `closed`, whose end raises none) and echoes
    /// every whole frame. `Ok(false)`: the peer closed.
    fn readable(&mut self, closed: bool) -> io::Result<bool> {
        loop {
            if self.end == self.buf.len() || self.buf.len() - self.start < self.need {
                self.make_room();
            }
            let n = match self.sock.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let filled = self.end + n == self.buf.len();
            self.end += n;
            if self.upgraded {
                self.echo()?;
            } else {
                self.handshake()?;
            }
            if self.closing || (!filled && !closed) {
                return Ok(true);
            }
        }
    }

    /// Moves the unread bytes to the front and grows the buffer to hold `need` of them (or
    /// doubles it when it is full).
    fn make_room(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < self.need {
            self.buf.resize(self.need, 0);
        } else if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
    }

    fn handshake(&mut self) -> io::Result<()> {
        let mut fields = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut fields);
        let n = match req.parse(&self.buf[self.start..self.end]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(()),
            Err(_) => return Err(io::ErrorKind::InvalidData.into()),
        };
        let key = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
            .ok_or(io::ErrorKind::InvalidData)?
            .value;
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
            sluice_ws::handshake::accept_key(key)
        );
        self.start += n;
        self.upgraded = true;
        self.send(answer.as_bytes())?;
        self.echo()
    }

    /// Echoes every whole frame in the buffer with one `writev` (the ranges list is reused).
    fn echo(&mut self) -> io::Result<()> {
        let mut ranges = std::mem::take(&mut self.ranges);
        ranges.clear();
        let mut at = self.start;
        self.need = 0;
        while !self.closing {
            match echo_frame(&mut self.buf[at..self.end]) {
                Ok((len, echo, opcode)) => {
                    if let Some(r) = echo {
                        ranges.push(at + r.start..at + r.end);
                    }
                    at += len;
                    self.closing = opcode == 0x8;
                }
                Err(need) if need > MAX_FRAME => return Err(io::ErrorKind::InvalidData.into()),
                Err(need) => {
                    self.need = need;
                    break;
                }
            }
        }
        if !ranges.is_empty() {
            if self.output.is_empty() {
                self.write_ranges(&ranges)?;
            } else {
                // The socket is full: queued behind what is waiting, in order.
                for r in &ranges {
                    self.output.extend_from_slice(&self.buf[r.clone()]);
                }
            }
        }
        self.ranges = ranges;
        self.start = at;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(())
    }

    /// Sends the echoes in `ranges` of the buffer: one `write` for one, one `writev` for up to
    /// [`MAX_SLICES`] (more: one per that many). What a full socket does not take is queued; a
    /// short write means the socket is full, so no write is spent on `EAGAIN`.
    fn write_ranges(&mut self, ranges: &[Range<usize>]) -> io::Result<()> {
        for (i, group) in ranges.chunks(MAX_SLICES).enumerate() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            for (s, r) in slices.iter_mut().zip(group) {
                *s = IoSlice::new(&self.buf[r.clone()]);
            }
            let slices = &slices[..group.len()];
            let total: usize = slices.iter().map(|s| s.len()).sum();
            let written = loop {
                let r = match slices {
                    [one] => self.sock.write(one),
                    _ => self.sock.write_vectored(slices),
                };
                match r {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break 0,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            if written < total {
                // The socket is full: the rest of this group and every later range, in order.
                let mut skip = written;
                for r in &ranges[i * MAX_SLICES..] {
                    if skip >= r.len() {
                        skip -= r.len();
                        continue;
                    }
                    self.output
                        .extend_from_slice(&self.buf[r.start + skip..r.end]);
                    skip = 0;
                }
                return Ok(());
            }
        }
        Ok(())
    }

    /// Writes `bytes` (the handshake's answer: nothing is queued yet); a full socket's rest
    /// is queued.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        floor::send(&mut self.sock, &mut self.output, bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        floor::flush(&mut self.sock, &mut self.output)
    }
}

fn main() -> io::Result<()> {
    let addr = floor::addr_arg("ws_echo_floor", "127.0.0.1:9005");
    let (mut poll, listener) = floor::listen(addr)?;
    let mut conns: Slots<Conn> = Slots::default();
    let mut events = Events::with_capacity(1024);
    let make = |sock| Conn {
        sock,
        buf: vec![0; BUFFER],
        start: 0,
        end: 0,
        output: Vec::new(),
        upgraded: false,
        closing: false,
        need: 0,
        ranges: Vec::new(),
    };
    eprintln!("ws echo floor listening on {addr}");
    loop {
        floor::wait(&mut poll, &mut events)?;
        for ev in &events {
            if ev.token() == LISTENER {
                floor::accept_all(&listener, poll.registry(), &mut conns, make, |c| {
                    &mut c.sock
                });
                continue;
            }
            let slot = ev.token().0;
            let Some(c) = conns.get_mut(slot) else {
                continue;
            };
            let mut alive = true;
            if ev.is_writable() {
                alive &= c.flush().is_ok();
            }
            let closed = ev.is_read_closed() || ev.is_error();
            if alive && (ev.is_readable() || closed) {
                alive = matches!(c.readable(closed), Ok(true));
            }
            if (!alive || (c.closing && c.output.is_empty()))
                && let Some(mut c) = conns.remove(slot)
            {
                let _ = poll.registry().deregister(&mut c.sock);
            }
        }
    }
}
