//! A [`WebSocket`](super::WebSocket) split into halves that run in parallel: each owns
//! its side of the transport (`TcpStream::into_split`), so a reader task and a writer
//! task on two runtime threads read and write at the same time, and the reading half still
//! answers Pings and the peer's Close by itself.
//!
//! How: the reading half keeps the receiving [`Connection`](sluice_ws::Connection) and
//! reads with no lock at all. The writing half has the sending connection
//! ([`Connection::split_sender`](sluice_ws::Connection::split_sender)) and the write
//! queue behind a mutex that only it takes on the data path (so it is uncontended). The
//! reader never waits for that mutex: its own rare frames — a Pong, the Close reply, a
//! keepalive Ping — go to a side queue that whoever next holds the mutex moves behind the
//! writer's whole frames; the reader then takes the mutex when it is free (woken by the
//! writer's unlock) and flushes, so they go out even while the writer is idle. (While the
//! reader flushes, the writer's next lock waits for that write.) When the reader finishes
//! (closed, failed, timed out), the writer's sends fail and a writer waiting for the
//! socket is woken. After either half's Close frame the
//! other sends nothing more (RFC 6455 §5.5.1); a Close sent by the writer wakes the
//! reader, which then waits for the reply no longer than the close timeout.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use futures_util::task::AtomicWaker;
use sluice_ws::{CloseCode, Event, Message, State, Transmit};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::core::{CloseInfo, Inner, Link};
use super::error::Error;
use super::socket::poll_next_message;
use super::split::{self, TxLock, lock};

/// The transport's read side as the reading half's driver sees it: its frames go
/// through the [`Link`], never to this.
pub(crate) struct ReadSide<R>(R);

impl<R: AsyncRead + Unpin> AsyncRead for ReadSide<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for ReadSide<R> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The transport's write side as the writing half's driver sees it (it never reads).
pub(crate) struct WriteSide<W>(W);

impl<W: Unpin> AsyncRead for WriteSide<W> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for WriteSide<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// What the halves share: the writer's driver, the reader's control frames on their way
/// to it, and flags the reader reads lock-free.
struct Shared<W> {
    tx: Mutex<Inner<WriteSide<W>>>,
    /// The reader's frames (Pongs, the Close reply, keepalive Pings) not yet queued in `tx`:
    /// whoever next holds `tx` moves them (the reader never waits for `tx`).
    ctl: Mutex<Vec<Transmit>>,
    ctl_pending: AtomicBool,
    /// The reader found `tx` taken and waits to be woken when it is free.
    reader_waiting: AtomicBool,
    /// What the reader touches on every wait, on a cache line of its own: the writer's lock
    /// traffic above and the reader's waker registrations would otherwise move one line
    /// between the two threads for every message.
    rx: ReaderLine,
}

/// The reader's side of [`Shared`].
#[repr(align(128))]
struct ReaderLine {
    /// Either half queued a Close frame.
    close_sent: AtomicBool,
    /// The reader's waker (for the lock coming free and the writer's Close).
    reader: AtomicWaker,
}

/// `tx` locked. Holds the reader's control frames moved in; on unlock, wakes the reader if
/// it waited for the lock.
pub(crate) struct TxGuard<'a, W> {
    guard: Option<MutexGuard<'a, Inner<WriteSide<W>>>>,
    shared: &'a Shared<W>,
}

impl<W> std::ops::Deref for TxGuard<'_, W> {
    type Target = Inner<WriteSide<W>>;
    fn deref(&self) -> &Self::Target {
        self.guard.as_deref().expect("held until drop")
    }
}

impl<W> std::ops::DerefMut for TxGuard<'_, W> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.guard.as_deref_mut().expect("held until drop")
    }
}

impl<W> Drop for TxGuard<'_, W> {
    fn drop(&mut self) {
        drop(self.guard.take());
        if self.shared.reader_waiting.swap(false, Ordering::SeqCst) {
            self.shared.rx.reader.wake();
        }
    }
}

impl<W: AsyncWrite + Unpin> Shared<W> {
    fn note_close_sent(&self) {
        self.rx.close_sent.store(true, Ordering::Release);
        self.rx.reader.wake();
    }

    /// Takes `tx` in hand: the reader's control frames are queued behind the writer's whole
    /// frames, except after a Close (ours or the reader's): nothing may follow one.
    fn guard<'a>(&'a self, mut g: MutexGuard<'a, Inner<WriteSide<W>>>) -> TxGuard<'a, W> {
        // Clear the flag before taking: a frame deposited in between sets it again and is
        // taken next time (clearing after taking could hide it, the Close reply included).
        // A plain load first: the flag is almost never set, and a swap is a write to a line
        // the reader shares on every lock (a set flag missed here is taken at the next lock).
        if self.ctl_pending.load(Ordering::Relaxed)
            && self.ctl_pending.swap(false, Ordering::AcqRel)
        {
            let frames = std::mem::take(&mut *lock(&self.ctl));
            for t in frames {
                if g.conn.state() != State::Open {
                    break;
                }
                if t.is_close() {
                    g.conn.mark_close_sent();
                    self.rx.close_sent.store(true, Ordering::Release);
                }
                g.queue_transmit(&t);
            }
        }
        TxGuard {
            guard: Some(g),
            shared: self,
        }
    }

    /// The reader's way to `tx`: never waits. When the writer holds it, the reader's waker
    /// is left for the writer's unlock.
    fn try_lock_tx(&self, cx: &mut Context<'_>) -> Option<TxGuard<'_, W>> {
        for attempt in 0..2 {
            let g = match self.tx.try_lock() {
                Ok(g) => Some(g),
                Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(g) = g {
                self.reader_waiting.store(false, Ordering::SeqCst);
                return Some(self.guard(g));
            }
            if attempt == 0 {
                self.rx.reader.register(cx.waker());
                self.reader_waiting.store(true, Ordering::SeqCst);
            }
        }
        None
    }
}

impl<W: AsyncWrite + Unpin> split::TxLock for Shared<W> {
    type Io = WriteSide<W>;
    type Guard<'a>
        = TxGuard<'a, W>
    where
        W: 'a;
    fn lock_tx(&self) -> TxGuard<'_, W> {
        self.guard(lock(&self.tx))
    }
}

impl<W: AsyncWrite + Unpin + Send> Link for Shared<W> {
    fn deposit(&self, t: Transmit) {
        lock(&self.ctl).push(t);
        self.ctl_pending.store(true, Ordering::Release);
    }

    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.try_lock_tx(cx) {
            Some(mut g) => g.poll_write_queue(cx),
            None => Poll::Pending,
        }
    }

    fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(mut g) = self.try_lock_tx(cx) else {
            return Poll::Pending;
        };
        match g.poll_write_queue(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => Poll::Ready(Ok(())),
            Poll::Ready(Ok(())) => Pin::new(&mut g.io).poll_shutdown(cx),
        }
    }

    fn close_sent(&self) -> bool {
        self.rx.close_sent.load(Ordering::Acquire)
    }

    fn register_reader(&self, w: &Waker) {
        self.rx.reader.register(w);
    }

    fn reader_done(&self, closed: Option<CloseInfo>) {
        // The one place the reader waits for the lock: once, at the end, for as long as the
        // writer takes over one poll.
        lock(&self.tx).end_writes(closed);
        // Nothing more goes out: answers still waiting for the writer's lock are dropped now,
        // not kept until both halves are gone.
        self.ctl_pending.store(false, Ordering::Release);
        lock(&self.ctl).clear();
    }
}

/// Splits `inner` over the two sides of its transport that `f` makes.
pub(crate) fn split_with<S, R, W>(
    inner: Inner<S>,
    f: impl FnOnce(S) -> (R, W),
) -> (WsReadHalf<R>, WsWriteHalf<W>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (mut rx, stream) = inner.replace_io(());
    let queued = rx.take_write_queue();
    // Frames queued before the split (a Pong the caller has not flushed yet): the reader
    // flushes them if the writer does not.
    let queued_empty = queued.is_empty();
    let conn = rx.conn.split_sender();
    if rx.conn.role() == sluice_ws::Role::Client {
        // The sender took the mask source; the reader's Pongs and Close need keys too.
        rx.conn.set_mask_source(super::random::mask_key);
    }
    let (r, w) = f(stream);
    let tx = rx.writer_for(WriteSide(w), conn, queued);
    let close_sent = tx.conn.state() != State::Open;
    let shared = Arc::new(Shared {
        tx: Mutex::new(tx),
        ctl: Mutex::new(Vec::new()),
        ctl_pending: AtomicBool::new(false),
        reader_waiting: AtomicBool::new(false),
        rx: ReaderLine {
            close_sent: AtomicBool::new(close_sent),
            reader: AtomicWaker::new(),
        },
    });
    let (mut rx, ()) = rx.replace_io(ReadSide(r));
    rx.set_link(shared.clone(), !queued_empty);
    (WsReadHalf { inner: rx }, WsWriteHalf { shared })
}

/// The reading half of a [`WebSocket`](super::WebSocket) split with
/// [`split_with`](super::WebSocket::split_with). It reads with no lock; it also writes what
/// the protocol answers on its own (Pongs, the Close reply, keepalive Pings), so keep
/// reading even when you only want to send.
pub struct WsReadHalf<R> {
    inner: Inner<ReadSide<R>>,
}

/// The writing half of a [`WebSocket`](super::WebSocket) split with
/// [`split_with`](super::WebSocket::split_with).
pub struct WsWriteHalf<W> {
    shared: Arc<Shared<W>>,
}

impl<R> std::fmt::Debug for WsReadHalf<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsReadHalf").finish_non_exhaustive()
    }
}

impl<W> std::fmt::Debug for WsWriteHalf<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsWriteHalf").finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> WsReadHalf<R> {
    /// Receives the next data message; see [`WebSocket::recv`](super::WebSocket::recv).
    /// Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        std::future::poll_fn(|cx| poll_next_message(&mut self.inner, cx)).await
    }

    /// Receives the next event of any kind. Cancel-safe.
    pub async fn next_event(&mut self) -> Option<Result<Event, Error>> {
        std::future::poll_fn(|cx| self.inner.poll_event(cx)).await
    }

    /// How the connection ended, once it has.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.inner.closed.as_deref()
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> WsWriteHalf<W> {
    /// Sends a message and flushes it.
    pub async fn send(&mut self, msg: Message) -> Result<(), Error> {
        split::writer::send(&*self.shared, msg).await
    }

    /// Queues a message without flushing, after waiting for buffer space.
    pub async fn feed(&mut self, msg: Message) -> Result<(), Error> {
        split::writer::feed(&*self.shared, msg).await
    }

    /// Writes every queued byte.
    pub async fn flush(&mut self) -> Result<(), Error> {
        split::writer::flush(&*self.shared).await
    }

    /// Sends a Ping.
    pub async fn ping(&mut self, payload: Bytes) -> Result<(), Error> {
        split::writer::ping(&*self.shared, payload).await
    }

    /// Starts the closing handshake; the reading half completes it (and closes the
    /// transport after the peer's reply or the close timeout).
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.lock_tx().start_close(code, reason)?;
        self.shared.note_close_sent();
        split::writer::flush(&*self.shared).await
    }

    /// Bytes queued for the socket but not yet written.
    pub fn buffered_amount(&self) -> usize {
        self.shared.lock_tx().wq.len()
    }

    /// Whether `reader` is the other half of this connection.
    pub fn is_pair_of<R>(&self, reader: &WsReadHalf<R>) -> bool {
        reader
            .inner
            .is_linked_to(&(self.shared.clone() as Arc<dyn Link>))
    }
}

impl<R: AsyncRead + Unpin> Stream for WsReadHalf<R> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        poll_next_message(&mut self.get_mut().inner, cx)
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> Sink<Message> for WsWriteHalf<W> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.lock_tx().poll_write_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        super::socket::start_send(&mut self.shared.lock_tx(), item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.lock_tx().poll_write_queue(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut queued = false;
        let r = split::writer::poll_close(&*self.shared, cx, &mut queued);
        if queued {
            self.shared.note_close_sent();
        }
        r
    }
}
