//! Read and write halves of a [`WebSocket`](super::WebSocket) for two tasks.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use sluice_ws::{CloseCode, Event, Message};
use tokio::io::{AsyncRead, AsyncWrite};

use super::core::{CloseInfo, Inner};
use super::error::Error;
use super::socket::{poll_feed, poll_next_message, poll_send, start_send};

type Shared<S> = Arc<Mutex<Inner<S>>>;

/// Locks a mutex even if a thread panicked while holding it (the connection state stays
/// consistent between polls).
pub(crate) fn lock<T>(s: &Mutex<T>) -> MutexGuard<'_, T> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection driver behind a lock, as a writer sees it: a plain mutex (the locked split)
/// or the parallel halves' shared state, whose guard also takes in the reader's control
/// frames and lets the reader know when the lock is free.
pub(crate) trait TxLock {
    /// The stream the driver writes to.
    type Io: AsyncRead + AsyncWrite + Unpin;
    /// Access to the driver while locked.
    type Guard<'a>: std::ops::DerefMut<Target = Inner<Self::Io>>
    where
        Self: 'a;
    /// Locks the driver (held per poll, never across a wait).
    fn lock_tx(&self) -> Self::Guard<'_>;
}

impl<S: AsyncRead + AsyncWrite + Unpin> TxLock for Mutex<Inner<S>> {
    type Io = S;
    type Guard<'a>
        = MutexGuard<'a, Inner<S>>
    where
        S: 'a;
    fn lock_tx(&self) -> Self::Guard<'_> {
        lock(self)
    }
}

/// A writer's operations (the locked split and the parallel halves' writer share them).
pub(crate) mod writer {
    use super::*;

    /// Sends and flushes under one lock per poll (a socket that takes the frame at once
    /// costs one lock, not three).
    pub(crate) async fn send<L: TxLock>(m: &L, msg: Message) -> Result<(), Error> {
        let mut msg = Some(msg);
        std::future::poll_fn(|cx| poll_send(&mut m.lock_tx(), &mut msg, cx)).await
    }

    /// Waits for room and queues under one lock per poll.
    pub(crate) async fn feed<L: TxLock>(m: &L, msg: Message) -> Result<(), Error> {
        let mut msg = Some(msg);
        std::future::poll_fn(|cx| poll_feed(&mut m.lock_tx(), &mut msg, cx)).await
    }

    pub(crate) async fn flush<L: TxLock>(m: &L) -> Result<(), Error> {
        std::future::poll_fn(|cx| m.lock_tx().poll_write_queue(cx)).await
    }

    pub(crate) async fn ping<L: TxLock>(m: &L, payload: Bytes) -> Result<(), Error> {
        {
            let mut g = m.lock_tx();
            g.conn.ping(payload)?;
            g.drain_transmits();
        }
        flush(m).await
    }

    /// `Sink::poll_close`: a Close (1000) unless one was sent, then flush. Sets
    /// `queued_close` when this call queued the Close.
    pub(crate) fn poll_close<L: TxLock>(
        m: &L,
        cx: &mut Context<'_>,
        queued_close: &mut bool,
    ) -> Poll<Result<(), Error>> {
        let mut g = m.lock_tx();
        if g.closed.is_none() && g.conn.state() == sluice_ws::State::Open {
            g.start_close(CloseCode::NORMAL, "")?;
            *queued_close = true;
        }
        g.poll_write_queue(cx)
    }
}

pub(crate) fn split<S: AsyncRead + AsyncWrite + Unpin>(
    mut inner: Inner<S>,
) -> (WsReader<S>, WsWriter<S>) {
    inner.share_write_waker();
    let shared = Arc::new(Mutex::new(inner));
    (
        WsReader {
            shared: shared.clone(),
        },
        WsWriter { shared },
    )
}

/// The reading half of a split [`WebSocket`](super::WebSocket). It also writes
/// what the protocol answers on its own (Pongs, the Close reply), so keep
/// reading even when you only want to send.
///
/// The halves share the connection under a lock that is held only while a
/// poll runs, never across an `.await`.
pub struct WsReader<S> {
    shared: Shared<S>,
}

/// The writing half of a split [`WebSocket`](super::WebSocket).
pub struct WsWriter<S> {
    shared: Shared<S>,
}

impl<S> std::fmt::Debug for WsReader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsReader").finish_non_exhaustive()
    }
}

impl<S> std::fmt::Debug for WsWriter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsWriter").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsReader<S> {
    /// Receives the next data message; see [`WebSocket::recv`](super::WebSocket::recv).
    /// Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        std::future::poll_fn(|cx| poll_next_message(&mut lock(&self.shared), cx)).await
    }

    /// Receives the next event of any kind. Cancel-safe.
    pub async fn next_event(&mut self) -> Option<Result<Event, Error>> {
        std::future::poll_fn(|cx| lock(&self.shared).poll_event(cx)).await
    }

    /// How the connection ended, once it has.
    pub fn close_info(&self) -> Option<CloseInfo> {
        lock(&self.shared).closed.as_deref().cloned()
    }

    /// Whether `writer` is the other half of this connection.
    pub fn is_pair_of(&self, writer: &WsWriter<S>) -> bool {
        Arc::ptr_eq(&self.shared, &writer.shared)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsWriter<S> {
    /// Sends a message and flushes it.
    pub async fn send(&mut self, msg: Message) -> Result<(), Error> {
        writer::send(&*self.shared, msg).await
    }

    /// Queues a message without flushing, after waiting for buffer space.
    pub async fn feed(&mut self, msg: Message) -> Result<(), Error> {
        writer::feed(&*self.shared, msg).await
    }

    /// Writes every queued byte.
    pub async fn flush(&mut self) -> Result<(), Error> {
        writer::flush(&*self.shared).await
    }

    /// Sends a Ping.
    pub async fn ping(&mut self, payload: Bytes) -> Result<(), Error> {
        writer::ping(&*self.shared, payload).await
    }

    /// Starts the closing handshake; the reader half completes it.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        lock(&self.shared).start_close(code, reason)?;
        self.flush().await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsReader<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        poll_next_message(&mut lock(&self.shared), cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsWriter<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_write_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        start_send(&mut lock(&self.shared), item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_write_queue(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        writer::poll_close(&*self.shared, cx, &mut false)
    }
}
