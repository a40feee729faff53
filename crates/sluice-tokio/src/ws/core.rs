//! The driver loop shared by [`WebSocket`](super::WebSocket) and its split halves:
//! socket reads into the sans-IO connection, its transmits out to the socket,
//! timers for keepalive and the closing handshake.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use sluice_ws::{CloseCode, Connection, Event, Role, State};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::config::WsConfig;
use super::error::Error;
use super::waker_set::WakerSet;
use super::write_queue::WriteQueue;

/// Size of the on-stack buffer used for a read when no heap buffer is held.
const STACK_READ: usize = 32 << 10;

/// Free space below which the read buffer is grown (or reclaimed) before a read,
/// so a read is never starved into many small ones.
const MIN_READ_SPARE: usize = 1024;

/// Most a read buffer grows by at once when reads keep filling it (the peer sends faster than
/// we read): reads then take up to this much per system call instead of
/// [`WsConfig::read_buffer_initial`]. The buffer is given back when the connection goes idle.
const MAX_READ_GROWTH: usize = 64 << 10;

/// How the peer (or we) ended the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code ([`CloseCode::ABNORMAL`] when the transport ended without
    /// a closing handshake).
    pub code: CloseCode,
    /// The reason text, possibly empty.
    pub reason: String,
}

/// The [`WsConfig`] fields the driver reads after the handshake (the protocol part
/// lives in the [`Connection`]; keeping the whole config here would cost every
/// connection ~200 bytes).
#[derive(Clone, Copy)]
struct Limits {
    write_buffer_high_water: usize,
    write_copy_threshold: usize,
    read_buffer_initial: usize,
    close_timeout: Duration,
}

/// Keepalive state, allocated only when a ping interval or idle timeout is
/// configured (a connection without them pays neither the memory nor a clock
/// read per socket read).
struct Keepalive {
    timer: Pin<Box<Sleep>>,
    ping_interval: Option<Duration>,
    idle_timeout: Option<Duration>,
    last_rx: Instant,
    pinged_since_rx: bool,
}

/// Everything one connection owns.
pub(crate) struct Inner<S> {
    pub(crate) io: S,
    pub(crate) conn: Connection,
    limits: Limits,
    role: Role,
    rbuf: BytesMut,
    pub(crate) wq: WriteQueue,
    keepalive: Option<Box<Keepalive>>,
    close_timer: Option<Pin<Box<Sleep>>>,
    close_timer_fired: bool,
    read_done: bool,
    /// `rbuf` may hold frames the connection has not examined yet: set after a
    /// read (and for bytes read before the handshake finished), cleared when
    /// `poll_input` finds no complete frame.
    unprocessed: bool,
    write_failed: bool,
    /// Boxed, like the error below: end-of-life state an open connection should not carry.
    pub(crate) closed: Option<Box<CloseInfo>>,
    stored_error: Option<Box<Error>>,
    /// `Closed` (as in `closed`) is still to be handed out.
    final_pending: bool,
    finished: bool,
    /// How a split connection's halves meet (one pointer: an unsplit connection pays 8 bytes).
    split: Option<Box<Split>>,
    /// Frames were handed to `link` and not yet seen flushed.
    flush_owed: bool,
    /// Size of the last read when it filled all the buffer's free space (more is probably
    /// waiting), else 0.
    full_read: u32,
}

/// The driver's part in a split connection.
enum Split {
    /// Both halves may wait on the write side: write waits register with the set and poll
    /// with its waker (the locked split's shared driver, the parallel halves' writer).
    SharedWaker(Arc<WakerSet>, Waker),
    /// The reading half of a connection split into parallel halves: its frames (Pongs, the
    /// Close reply, keepalive Pings) go to the writing half's queue through this link, and
    /// `io` is only read.
    Link(Arc<dyn Link>),
}

/// What the reading half of a split connection asks of the writing half (see
/// [`halves`](super::halves)); every call is on a rare path (control frames, closing).
pub(crate) trait Link: Send + Sync {
    /// Hands one of the reader's frames to the writer, to be queued behind its whole frames
    /// the next time either half holds the write side (dropped there if a Close frame was
    /// queued before it, RFC 6455 §5.5.1).
    fn deposit(&self, t: sluice_ws::Transmit);
    /// Writes the shared queue out.
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;
    /// Writes the shared queue out, then shuts the write side down.
    fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Whether either half queued a Close frame.
    fn close_sent(&self) -> bool;
    /// Wakes the reader when the writer sends a Close (the reader runs the close timer).
    fn register_reader(&self, w: &Waker);
    /// The reader is done (the connection closed or failed): the writer's sends fail from
    /// now on, and a writer waiting for the socket is woken to find out.
    fn reader_done(&self, closed: Option<CloseInfo>);
}

/// Moving a connection's state between streams (for split halves).
impl<S> Inner<S> {
    /// Makes write-side waits wake every waiting half (see [`WakerSet`]).
    pub(crate) fn share_write_waker(&mut self) {
        let set = Arc::new(WakerSet::default());
        let waker = Waker::from(set.clone());
        self.split = Some(Box::new(Split::SharedWaker(set, waker)));
    }

    /// A connection's driver state, before any byte moved.
    fn from_parts(
        io: S,
        conn: Connection,
        limits: Limits,
        role: Role,
        rbuf: BytesMut,
        keepalive: Option<Box<Keepalive>>,
    ) -> Self {
        Inner {
            io,
            conn,
            limits,
            role,
            rbuf,
            wq: WriteQueue::default(),
            keepalive,
            close_timer: None,
            close_timer_fired: false,
            read_done: false,
            unprocessed: true,
            write_failed: false,
            closed: None,
            stored_error: None,
            final_pending: false,
            finished: false,
            split: None,
            flush_owed: false,
            full_read: 0,
        }
    }

    /// Makes this the reading half of a connection split into parallel halves.
    /// `flush_owed`: frames are already waiting on the other side.
    pub(crate) fn set_link(&mut self, link: Arc<dyn Link>, flush_owed: bool) {
        self.split = Some(Box::new(Split::Link(link)));
        self.flush_owed = flush_owed;
    }

    /// The link to the writing half, when this is a reading half.
    fn link(&self) -> Option<&Arc<dyn Link>> {
        match self.split.as_deref() {
            Some(Split::Link(l)) => Some(l),
            _ => None,
        }
    }

    /// Whether this reading half's link is `link`.
    pub(crate) fn is_linked_to(&self, link: &Arc<dyn Link>) -> bool {
        self.link().is_some_and(|l| Arc::ptr_eq(l, link))
    }

    /// The reading half finished: nothing more can be written (see [`Link::reader_done`]).
    pub(crate) fn end_writes(&mut self, closed: Option<CloseInfo>) {
        if self.closed.is_none() {
            self.closed = closed.map(Box::new);
        }
        self.write_failed = true;
        self.wq.clear();
        if let Some(Split::SharedWaker(_, waker)) = self.split.as_deref() {
            waker.wake_by_ref();
        }
    }

    /// Queues one frame for the socket.
    pub(crate) fn queue_transmit(&mut self, t: &sluice_ws::Transmit) {
        self.wq
            .push(t.header(), t.payload(), self.limits.write_copy_threshold);
    }

    /// Takes what is queued for the socket (when the writing moves elsewhere).
    pub(crate) fn take_write_queue(&mut self) -> WriteQueue {
        std::mem::take(&mut self.wq)
    }

    /// The writing half's driver for a connection split into parallel halves: `io` is the
    /// transport's write side, `conn` the sending connection
    /// ([`Connection::split_sender`]), `wq` what this one had queued. Write waits wake
    /// every waiting half.
    pub(crate) fn writer_for<T>(&self, io: T, conn: Connection, wq: WriteQueue) -> Inner<T> {
        let mut tx = Inner::from_parts(io, conn, self.limits, self.role, BytesMut::new(), None);
        tx.wq = wq;
        tx.read_done = true;
        tx.unprocessed = false;
        tx.write_failed = self.write_failed;
        tx.share_write_waker();
        tx
    }

    /// The same connection state over another stream; gives the old one back.
    pub(crate) fn replace_io<T>(self, io: T) -> (Inner<T>, S) {
        let inner = Inner {
            io,
            conn: self.conn,
            limits: self.limits,
            role: self.role,
            rbuf: self.rbuf,
            wq: self.wq,
            keepalive: self.keepalive,
            close_timer: self.close_timer,
            close_timer_fired: self.close_timer_fired,
            read_done: self.read_done,
            unprocessed: self.unprocessed,
            write_failed: self.write_failed,
            closed: self.closed,
            stored_error: self.stored_error,
            final_pending: self.final_pending,
            finished: self.finished,
            split: self.split,
            flush_owed: self.flush_owed,
            full_read: self.full_read,
        };
        (inner, self.io)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    pub(crate) fn new(
        io: S,
        role: Role,
        read_buf: BytesMut,
        cfg: WsConfig,
        conn: Connection,
    ) -> Self {
        let keepalive = match (cfg.ping_interval, cfg.idle_timeout) {
            (None, None) => None,
            (p, i) => {
                let now = Instant::now();
                let first = p.unwrap_or(Duration::MAX).min(i.unwrap_or(Duration::MAX));
                Some(Box::new(Keepalive {
                    timer: Box::pin(tokio::time::sleep_until(now + first)),
                    ping_interval: p,
                    idle_timeout: i,
                    last_rx: now,
                    pinged_since_rx: false,
                }))
            }
        };
        let limits = Limits {
            write_buffer_high_water: cfg.write_buffer_high_water,
            write_copy_threshold: cfg.write_copy_threshold,
            read_buffer_initial: cfg.read_buffer_initial,
            close_timeout: cfg.close_timeout,
        };
        // An empty leftover of the handshake buffer would pin its allocation.
        let rbuf = if read_buf.is_empty() {
            BytesMut::new()
        } else {
            read_buf
        };
        Inner::from_parts(io, conn, limits, role, rbuf, keepalive)
    }

    /// [`drain_transmits`](Self::drain_transmits) for what reading produced (automatic Pongs,
    /// the Close reply, keepalive Pings), except while the socket is not taking what is
    /// queued (a peer that sends Pings and does not read): the Pongs then stay in the
    /// connection, which keeps at most `max_pending_pongs` of them, instead of one queued per
    /// Ping without bound. Closing frames (the state changes with them) always go.
    fn drain_answers(&mut self) {
        let backlogged = match self.link() {
            Some(_) => self.flush_owed,
            None => self.wq.len() >= self.limits.write_buffer_high_water,
        };
        if !backlogged || self.conn.state() != State::Open {
            self.drain_transmits();
        }
    }

    /// Moves the connection's pending transmits into the write queue.
    pub(crate) fn drain_transmits(&mut self) {
        if !self.conn.has_transmit()
            && (self.close_timer.is_some() || self.conn.state() == State::Open)
        {
            return;
        }
        while let Some(t) = self.conn.poll_transmit() {
            match self.link() {
                Some(link) => {
                    link.deposit(t);
                    self.flush_owed = true;
                }
                None => self
                    .wq
                    .push(t.header(), t.payload(), self.limits.write_copy_threshold),
            }
        }
        if self.close_timer.is_none() && self.conn.state() != State::Open {
            self.close_timer = Some(Box::pin(tokio::time::sleep(self.limits.close_timeout)));
        }
    }

    /// Writes queued bytes; `Ready(Ok)` once the socket took everything and was flushed.
    pub(crate) fn poll_write_queue(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.write_failed {
            self.wq.clear();
            return Poll::Ready(Err(Error::Closed));
        }
        let res = match self.split.as_deref() {
            Some(Split::SharedWaker(set, waker)) => {
                set.register(cx.waker());
                let waker = waker.clone();
                let mut cx2 = Context::from_waker(&waker);
                self.poll_write_inner(&mut cx2)
            }
            _ => self.poll_write_inner(cx),
        };
        match res {
            Poll::Ready(Err(e)) => {
                self.write_failed = true;
                self.wq.clear();
                if self.closed.is_none() {
                    self.conn.handle_eof();
                }
                Poll::Ready(Err(Error::Io(e)))
            }
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(link) = self.link() {
            if self.flush_owed {
                match std::task::ready!(link.poll_flush(cx)) {
                    Ok(()) => self.flush_owed = false,
                    Err(Error::Io(e)) => return Poll::Ready(Err(e)),
                    Err(_) => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                }
            }
            return Poll::Ready(Ok(()));
        }
        let had = !self.wq.is_empty();
        std::task::ready!(self.wq.poll_write_all(&mut self.io, cx))?;
        if had {
            std::task::ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Waits until the queued bytes are below the high-water mark (backpressure).
    pub(crate) fn poll_write_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.wq.len() < self.limits.write_buffer_high_water {
            return Poll::Ready(Ok(()));
        }
        match self.poll_write_queue(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending if self.wq.len() < self.limits.write_buffer_high_water => {
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Hands out the next event, driving reads, writes and timers. Between two
    /// events, whatever waits to be written (a Pong, a Close reply, frames fed
    /// without a flush) is written — or, if the socket is full, left to wait for
    /// it — before the next buffered frame is examined.
    ///
    /// Cancel-safe: before this returns `Pending`, every byte read lives in `rbuf`
    /// and every decoded event in the connection (or, for `Closed`, in `closed`).
    pub(crate) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Event, Error>>> {
        loop {
            if self.finished {
                return Poll::Ready(self.take_final());
            }
            // Fast path: nothing to write, so the next buffered frame may be examined
            // at once (otherwise the write step below comes first). Answers the
            // connection still holds count: they join the write queue on the way out.
            let next = if self.unprocessed
                && self.wq.is_empty()
                && !self.flush_owed
                && !self.conn.has_transmit()
            {
                self.next_input()
            } else {
                self.conn.poll_event()
            };
            if let Some(ev) = next {
                match self.hand_out(ev) {
                    Some(ready) => return ready,
                    None => continue,
                }
            }
            self.drain_answers();
            // Fast path: nothing queued (the common case after a flushed send) needs
            // no write attempt and no waker registration. After a failed write nothing can
            // be written any more (the error was stored when it happened): asking again
            // would fail again at once, and `continue` on that spun this loop forever when
            // the reader was the one that hit the failure (a Pong or Close reply, a
            // keepalive Ping to a peer that had reset the connection).
            let write_pending = if (self.wq.is_empty() && !self.flush_owed) || self.write_failed {
                false
            } else {
                match self.poll_write_queue(cx) {
                    Poll::Ready(Ok(())) => false,
                    Poll::Ready(Err(e)) => {
                        if self.closed.is_none() && self.stored_error.is_none() {
                            self.stored_error = Some(Box::new(e));
                        }
                        continue;
                    }
                    Poll::Pending => true,
                }
            };
            if self.closed.is_some() {
                return self.poll_finish(cx, write_pending);
            }
            if let Some(link) = self.link()
                && self.close_timer.is_none()
                && link.close_sent()
            {
                // The writing half sent our Close: wait for the reply no longer than this.
                self.close_timer = Some(Box::pin(tokio::time::sleep(self.limits.close_timeout)));
            }
            if self.close_timer.is_some() && self.poll_close_timer(cx) {
                continue;
            }
            if self.unprocessed {
                // The write step ran (or waits on a full socket): examine the next frame.
                if let Some(ev) = self.next_input() {
                    match self.hand_out(ev) {
                        Some(ready) => return ready,
                        None => continue,
                    }
                }
            }
            match self.poll_read(cx) {
                Poll::Pending => {
                    // Keepalive only once everything that arrived has been read: input that
                    // waited while the application was not reading is not silence.
                    if self.keepalive.is_some() && self.poll_keepalive(cx) {
                        continue;
                    }
                    if let Some(link) = self.link()
                        && self.close_timer.is_none()
                    {
                        link.register_reader(cx.waker());
                        if link.close_sent() {
                            continue;
                        }
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => {
                    self.read_done = true;
                    self.conn.handle_eof();
                }
                Poll::Ready(Ok(_)) => {
                    if let Some(k) = self.keepalive.as_mut() {
                        k.last_rx = Instant::now();
                        k.pinged_since_rx = false;
                    }
                    self.unprocessed = true;
                }
                Poll::Ready(Err(e)) => {
                    self.read_done = true;
                    self.stored_error = Some(Box::new(Error::Io(e)));
                    self.conn.handle_eof();
                }
            }
        }
    }

    /// After `Closed`: flush our last frames, then end the transport. A server
    /// closes TCP first (RFC 6455 §7.1.1); a client waits (bounded by the close
    /// timeout) for the server's FIN, then closes.
    fn poll_finish(
        &mut self,
        cx: &mut Context<'_>,
        write_pending: bool,
    ) -> Poll<Option<Result<Event, Error>>> {
        let timed_out = self.close_timer_fired
            || self
                .close_timer
                .as_mut()
                .is_some_and(|t| t.as_mut().poll(cx).is_ready());
        if timed_out {
            self.close_timer_fired = true;
        }
        if write_pending && !timed_out {
            return Poll::Pending;
        }
        if self.role == Role::Client && !self.read_done && !timed_out && !self.write_failed {
            // Drain until the server's FIN; anything after Close is ignored.
            loop {
                match self.poll_read(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                        self.read_done = true;
                        break;
                    }
                    Poll::Ready(Ok(_)) => self.rbuf.clear(),
                }
            }
        }
        if !self.write_failed {
            let shut = match self.link() {
                Some(link) => link.poll_shutdown(cx),
                None => Pin::new(&mut self.io).poll_shutdown(cx),
            };
            match shut {
                Poll::Pending if !timed_out => return Poll::Pending,
                _ => {}
            }
        }
        self.finished = true;
        self.rbuf = BytesMut::new();
        self.wq.clear();
        if let Some(link) = self.link() {
            link.reader_done(self.closed.as_deref().cloned());
        }
        Poll::Ready(self.take_final())
    }

    /// An event taken from the connection: handed to the application, or, for
    /// `Closed`, kept until our last frames (the Close with its code) reached the
    /// socket (`None`: go on).
    fn hand_out(&mut self, ev: Event) -> Option<Poll<Option<Result<Event, Error>>>> {
        self.drain_answers();
        if let Event::Closed { code, reason } = &ev {
            self.closed = Some(Box::new(CloseInfo {
                code: *code,
                reason: reason.clone(),
            }));
            self.final_pending = true;
            return None;
        }
        Some(Poll::Ready(Some(Ok(ev))))
    }

    /// The next event from the connection, decoding buffered bytes one event at a time: the
    /// application answers a message before the frames after it are examined (so a message
    /// sent before a protocol violation is still answered). Clears `unprocessed` once `rbuf`
    /// holds no complete frame; a protocol error is stored, and the connection's `Closed`
    /// follows it.
    fn next_input(&mut self) -> Option<Event> {
        match self.conn.poll_input(&mut self.rbuf) {
            Ok(Some(ev)) => Some(ev),
            Ok(None) => {
                self.unprocessed = false;
                None
            }
            Err(e) => {
                self.stored_error = Some(Box::new(Error::Protocol(e)));
                // The connection failed: `Closed` is queued.
                self.conn.poll_event()
            }
        }
    }

    /// After the transport ended: the error that failed the connection (once),
    /// then the `Closed` event (once), then nothing.
    fn take_final(&mut self) -> Option<Result<Event, Error>> {
        if let Some(e) = self.stored_error.take() {
            return Some(Err(*e));
        }
        if !std::mem::take(&mut self.final_pending) {
            return None;
        }
        self.closed.as_deref().map(|c| {
            Ok(Event::Closed {
                code: c.code,
                reason: c.reason.clone(),
            })
        })
    }

    /// The close timer. Returns `true` if it changed state.
    fn poll_close_timer(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(t) = self.close_timer.as_mut()
            && !self.close_timer_fired
            && t.as_mut().poll(cx).is_ready()
        {
            // The peer did not complete the closing handshake in time.
            self.close_timer_fired = true;
            self.conn.handle_eof();
            return true;
        }
        false
    }

    /// The keepalive timer: a Ping after `ping_interval` of silence, failure after
    /// `idle_timeout`. Returns `true` if it changed state.
    fn poll_keepalive(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(k) = self.keepalive.as_mut() else {
            return false;
        };
        if k.timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        let now = Instant::now();
        let quiet = now.saturating_duration_since(k.last_rx);
        if let Some(idle) = k.idle_timeout
            && quiet >= idle
        {
            self.keepalive = None;
            self.stored_error = Some(Box::new(Error::Timeout));
            // The peer is presumed dead: tell it why if the socket still takes
            // bytes, but do not wait for a closing handshake.
            if self
                .conn
                .close(CloseCode::GOING_AWAY, "idle timeout")
                .is_ok()
            {
                self.drain_transmits();
                let _ = self.poll_write_queue(cx);
            }
            self.close_timer_fired = true;
            self.conn.handle_eof();
            return true;
        }
        if let Some(every) = k.ping_interval
            && quiet >= every
            && !k.pinged_since_rx
            && self.conn.state() == State::Open
        {
            k.pinged_since_rx = true;
            let _ = self.conn.ping(bytes::Bytes::new());
        }
        let next_ping = k.ping_interval.map(|p| {
            if k.pinged_since_rx {
                k.last_rx + p + p
            } else {
                k.last_rx + p
            }
        });
        let next_idle = k.idle_timeout.map(|i| k.last_rx + i);
        let next = match (next_ping, next_idle) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return true,
        };
        let next = next.max(now + Duration::from_millis(1));
        k.timer.as_mut().reset(next);
        true
    }

    /// Reads what the socket has. A connection that holds no read buffer (new, or
    /// given back after a large message) reads into a stack buffer first, so an
    /// idle connection allocates nothing until bytes arrive. A buffer of up to
    /// [`WsConfig::read_buffer_initial`] is then kept and read into directly
    /// (messages split off its front; it is reclaimed in place once they are
    /// dropped); a larger one is given back when the connection goes idle.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.rbuf.capacity() == 0 {
            let mut stack = [std::mem::MaybeUninit::<u8>::uninit(); STACK_READ];
            let mut rb = ReadBuf::uninit(&mut stack);
            std::task::ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
            let got = rb.filled();
            // A full stack read counts as a full read, as on the buffer path below.
            self.full_read = if got.len() == STACK_READ {
                u32::try_from(STACK_READ).unwrap_or(u32::MAX)
            } else {
                0
            };
            if !got.is_empty() {
                self.rbuf
                    .reserve(got.len().max(self.limits.read_buffer_initial));
                self.rbuf.extend_from_slice(got);
            }
            return Poll::Ready(Ok(got.len()));
        }
        let mut spare = self.rbuf.capacity() - self.rbuf.len();
        let hint = self.conn.input_hint();
        if spare < MIN_READ_SPARE || spare < hint {
            // Grow to the frame that is arriving (its length is known from its header): a
            // large message arrives in one allocation, never more than the frame needs. While
            // reads keep filling the buffer, read more per system call (a fast sender of
            // small messages); the buffer is given back when the connection goes idle.
            let streaming = (self.full_read as usize * 2).min(MAX_READ_GROWTH);
            let more = hint.max(self.limits.read_buffer_initial).max(streaming);
            sluice_ws::input::reserve(&mut self.rbuf, more);
            spare = self.rbuf.capacity() - self.rbuf.len();
        }
        match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rbuf) {
            Poll::Ready(Ok(n)) => {
                self.full_read = if n == spare {
                    u32::try_from(n).unwrap_or(u32::MAX)
                } else {
                    0
                };
                Poll::Ready(Ok(n))
            }
            Poll::Pending => {
                self.full_read = 0;
                if self.rbuf.is_empty() && self.rbuf.capacity() > self.limits.read_buffer_initial {
                    // Idle after a large message: give the buffer back.
                    self.rbuf = BytesMut::new();
                }
                Poll::Pending
            }
            r => r,
        }
    }

    /// Starts the closing handshake from our side.
    pub(crate) fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if self.closed.is_some() || self.conn.state() != State::Open {
            return Err(Error::Closed);
        }
        self.conn.close(code, reason)?;
        self.drain_transmits();
        Ok(())
    }
}
