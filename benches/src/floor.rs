//! What the floor servers share (`hub_floor`, `ws_echo_floor`): one thread, one `epoll` (mio),
//! connections in slots addressed by their readiness token. A floor server is not a server: it
//! does only the least any server must do per message, so that a bench can show what CPU per
//! message the same system calls allow on the machine.

use std::io::{self, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};

/// The listener's token (connections use their slot's index).
pub const LISTENER: Token = Token(usize::MAX);

/// Connections by slot; a closed connection's slot is reused.
pub struct Slots<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slots<T> {
    /// The connection in `slot`, if it is open.
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.items.get_mut(slot).and_then(Option::as_mut)
    }

    /// Takes the connection out of `slot` and frees the slot.
    pub fn remove(&mut self, slot: usize) -> Option<T> {
        let item = self.items.get_mut(slot)?.take()?;
        self.free.push(slot);
        Some(item)
    }

    /// Every open connection with its slot.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut T)> {
        self.items
            .iter_mut()
            .enumerate()
            .filter_map(|(i, c)| c.as_mut().map(|c| (i, c)))
    }

    fn insert(&mut self, item: T) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.items[slot] = Some(item);
                slot
            }
            None => {
                self.items.push(Some(item));
                self.items.len() - 1
            }
        }
    }
}

/// `--addr HOST:PORT` from the command line (or `default`).
///
/// # Panics
/// On any other argument or an address that does not parse (a bench tool's usage error).
#[must_use]
pub fn addr_arg(name: &str, default: &str) -> SocketAddr {
    let mut addr = default.to_owned();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match (k.as_str(), it.next()) {
            ("--addr", Some(v)) => addr = v,
            _ => panic!("usage: {name} --addr 127.0.0.1:PORT"),
        }
    }
    addr.parse().expect("--addr host:port")
}

/// A listener on `addr`, registered under [`LISTENER`] with a new `epoll`.
///
/// # Errors
/// The address is taken, or the `epoll` could not be made.
pub fn listen(addr: SocketAddr) -> io::Result<(Poll, TcpListener)> {
    let poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    Ok((poll, listener))
}

/// Waits for readiness (a signal's interruption is not an error).
///
/// # Errors
/// `epoll_wait` failed.
pub fn wait(poll: &mut Poll, events: &mut Events) -> io::Result<()> {
    loop {
        match poll.poll(events, None) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// Accepts every waiting connection: `TCP_NODELAY`, registered for both kinds of readiness
/// (edge-triggered) under its slot's token, made into a connection by `make`. A connection
/// that cannot be set up is dropped (the server goes on). Out of file descriptors, the rest of
/// the backlog waits for the next connection's edge: the benches stay within the fd limit.
pub fn accept_all<T>(
    listener: &TcpListener,
    registry: &Registry,
    slots: &mut Slots<T>,
    make: impl Fn(TcpStream) -> T,
    sock_of: impl Fn(&mut T) -> &mut TcpStream,
) {
    loop {
        let sock = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("accept: {e}");
                return;
            }
        };
        if let Err(e) = sock.set_nodelay(true) {
            eprintln!("nodelay: {e}");
            continue;
        }
        let slot = slots.insert(make(sock));
        let conn = slots.get_mut(slot).expect("just inserted");
        if let Err(e) = registry.register(
            sock_of(conn),
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            eprintln!("register: {e}");
            slots.remove(slot);
        }
    }
}

/// Writes `bytes` after what `out` still holds: straight to the socket when `out` is empty,
/// the rest (all of it when the socket is full) queued in `out`. A short write means the socket
/// is full: no write is spent on `EAGAIN`, the writable edge [`flush`]es in order.
///
/// # Errors
/// The connection is gone.
pub fn send(sock: &mut TcpStream, out: &mut Vec<u8>, bytes: &[u8]) -> io::Result<()> {
    if !out.is_empty() {
        out.extend_from_slice(bytes);
        return Ok(());
    }
    loop {
        match sock.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                out.extend_from_slice(&bytes[n..]);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                out.extend_from_slice(bytes);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes `out` until it is empty or the socket is full (the rest stays in `out`).
///
/// # Errors
/// The connection is gone.
pub fn flush(sock: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    while !out.is_empty() {
        match sock.write(out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
