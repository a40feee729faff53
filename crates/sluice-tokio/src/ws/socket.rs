//! [`WebSocket`]: one connection over any async byte stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;
use sluice_ws::{CloseCode, Connection, Event, Message, Role};
use tokio::io::{AsyncRead, AsyncWrite};

use super::config::WsConfig;
use super::core::{CloseInfo, Inner};
use super::error::Error;
use super::split::{WsReader, WsWriter};

/// A WebSocket connection over `S` (a `TcpStream`, a TLS stream, a stream upgraded
/// by hyper or axum, or `tokio::io::duplex` in tests).
///
/// Reading ([`recv`](Self::recv), [`next_event`](Self::next_event), the `Stream`
/// impl) also drives the writing the protocol needs on its own: automatic Pongs,
/// the Close reply, keepalive Pings. Writing ([`send`](Self::send), the `Sink`
/// impl) applies backpressure: when more than
/// [`WsConfig::write_buffer_high_water`] bytes wait for the socket, it waits.
pub struct WebSocket<S> {
    pub(crate) inner: Inner<S>,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("state", &self.inner.conn.state())
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps a stream whose opening handshake is already done. `read_buf` holds
    /// any bytes read past the handshake (they are the start of the first frame).
    /// A client gets its masking keys from the operating system's CSPRNG.
    pub fn from_raw(io: S, role: Role, read_buf: BytesMut, config: WsConfig) -> Self {
        let mut conn = Connection::new(role, config.protocol.clone());
        if role == Role::Client {
            conn = conn.with_mask_source(super::random::mask_key);
        }
        WebSocket {
            inner: Inner::new(io, role, read_buf, config, conn),
        }
    }

    /// Wraps a stream around a sans-IO connection the caller built (for example
    /// with a negotiated extension).
    pub fn from_connection(
        io: S,
        role: Role,
        conn: Connection,
        read_buf: BytesMut,
        config: WsConfig,
    ) -> Self {
        WebSocket {
            inner: Inner::new(io, role, read_buf, config, conn),
        }
    }

    /// The sans-IO connection (state, configuration and, with the `deflate`
    /// feature, the negotiated permessage-deflate and its counters).
    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    /// Receives the next data message. Pings, Pongs and the closing handshake are
    /// handled underneath. `None` once the connection is closed (see
    /// [`close_info`](Self::close_info) for the code); a protocol violation by the
    /// peer is returned once as `Err` (after the Close frame with its code was sent)
    /// and is followed by `None`.
    ///
    /// Cancel-safe: dropping the future (say, in `tokio::select!`) loses no
    /// bytes and no partially received frame or message.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        std::future::poll_fn(|cx| poll_next_message(&mut self.inner, cx)).await
    }

    /// Receives the next event of any kind (messages, Pings, Pongs, the peer's
    /// Close, and the final `Closed`). Cancel-safe like [`recv`](Self::recv).
    pub async fn next_event(&mut self) -> Option<Result<Event, Error>> {
        std::future::poll_fn(|cx| self.inner.poll_event(cx)).await
    }

    /// The socket as a `Stream` of every [`Event`] (messages, Pings, Pongs, the peer's Close
    /// and the final `Closed`), beside the `Stream` of [`Message`]s the socket itself is —
    /// for applications that watch the control frames (tokio-tungstenite shows them as
    /// `Message::Ping`/`Pong`/`Close`). Pongs and the Close reply are still sent for you.
    pub fn events(&mut self) -> Events<'_, S> {
        Events {
            inner: &mut self.inner,
        }
    }

    /// Sends a message and flushes it to the socket.
    pub async fn send(&mut self, msg: Message) -> Result<(), Error> {
        // `feed` then `flush` in one poll function: one await point, and a socket
        // that takes the frame at once finishes in a single poll.
        let inner = &mut self.inner;
        let mut msg = Some(msg);
        std::future::poll_fn(move |cx| poll_send(inner, &mut msg, cx)).await
    }

    /// Queues a message without flushing (batch several, then [`flush`](Self::flush)).
    /// Waits first if the write buffer is over its high-water mark.
    pub async fn feed(&mut self, msg: Message) -> Result<(), Error> {
        let inner = &mut self.inner;
        let mut msg = Some(msg);
        std::future::poll_fn(move |cx| poll_feed(inner, &mut msg, cx)).await
    }

    /// Writes every queued byte to the socket.
    pub async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.inner.poll_write_queue(cx)).await
    }

    /// Sends one fragment of a message streamed as several frames (RFC 6455 §5.4)
    /// and flushes it: the first call starts a message of `fragment`'s kind, later
    /// calls continue it, `fin = true` ends it. Each text fragment must be valid
    /// UTF-8 on its own.
    pub async fn send_fragment(&mut self, fragment: Message, fin: bool) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.inner.poll_write_ready(cx)).await?;
        if self.inner.closed.is_some() {
            return Err(Error::Closed);
        }
        self.inner.conn.send_fragment(fragment, fin)?;
        self.inner.drain_transmits();
        self.flush().await
    }

    /// Sends a Ping with `payload` (at most 125 bytes).
    pub async fn ping(&mut self, payload: Bytes) -> Result<(), Error> {
        self.inner.conn.ping(payload)?;
        self.inner.drain_transmits();
        self.flush().await
    }

    /// Starts the closing handshake: sends a Close frame with `code` and `reason`
    /// and flushes it. Keep calling [`recv`](Self::recv) until `None` to complete
    /// the handshake (messages that were already in flight still arrive); the
    /// transport is closed after the peer's reply or the close timeout.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.inner.start_close(code, reason)?;
        self.flush().await
    }

    /// Bytes queued for the socket but not yet written (like the browser's
    /// `bufferedAmount`); bounded by the high-water mark plus one message.
    pub fn buffered_amount(&self) -> usize {
        self.inner.wq.len()
    }

    /// How the connection ended, once it has.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.inner.closed.as_deref()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.inner.io
    }

    /// Splits into a reading and a writing half usable from two tasks. The halves
    /// share the stream under a lock held while either is polled (the syscalls
    /// included): right for one task that `select!`s over both, or for a stream that
    /// cannot be split. For two tasks on two threads, [`split_with`](Self::split_with)
    /// lets them run in parallel.
    pub fn split(self) -> (WsReader<S>, WsWriter<S>) {
        super::split::split(self.inner)
    }

    /// Splits into halves that run in parallel, over the two sides of the stream that
    /// `f` makes — `TcpStream::into_split`, `UnixStream::into_split`, or
    /// [`tokio::io::split`] for any stream. The reading half reads with no lock and
    /// still answers Pings and the peer's Close itself; the writing half takes a mutex
    /// that the reader touches only for those rare frames. See [`WsReadHalf`](super::WsReadHalf).
    ///
    /// ```no_run
    /// # async fn demo(socket: sluice_tokio::ws::WebSocket<tokio::net::TcpStream>) {
    /// let (mut rx, mut tx) = socket.split_with(tokio::net::TcpStream::into_split);
    /// let reader = tokio::spawn(async move { while let Some(Ok(_msg)) = rx.recv().await {} });
    /// tx.send(sluice_tokio::ws::Message::text("hello")).await.ok();
    /// # }
    /// ```
    pub fn split_with<R, W>(
        self,
        f: impl FnOnce(S) -> (R, W),
    ) -> (super::WsReadHalf<R>, super::WsWriteHalf<W>)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        super::halves::split_with(self.inner, f)
    }
}

pub(crate) fn start_send<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &mut Inner<S>,
    msg: Message,
) -> Result<(), Error> {
    if inner.closed.is_some() {
        return Err(Error::Closed);
    }
    inner.conn.send(msg)?;
    inner.drain_transmits();
    Ok(())
}

/// `feed` as one poll function: waits for room, then queues `msg` (taken once; `None`
/// afterwards, so polling again is `Ready(Ok)`).
pub(crate) fn poll_feed<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &mut Inner<S>,
    msg: &mut Option<Message>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    if msg.is_some() {
        std::task::ready!(inner.poll_write_ready(cx))?;
        if let Some(m) = msg.take() {
            start_send(inner, m)?;
        }
    }
    Poll::Ready(Ok(()))
}

/// `send` as one poll function: [`poll_feed`], then flushes.
pub(crate) fn poll_send<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &mut Inner<S>,
    msg: &mut Option<Message>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    std::task::ready!(poll_feed(inner, msg, cx))?;
    inner.poll_write_queue(cx)
}

pub(crate) fn poll_next_message<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &mut Inner<S>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Message, Error>>> {
    loop {
        match std::task::ready!(inner.poll_event(cx)) {
            Some(Ok(Event::Message(m))) => return Poll::Ready(Some(Ok(m))),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            None => return Poll::Ready(None),
        }
    }
}

/// [`WebSocket::events`]: every [`Event`] as a `Stream`; ends after `Closed` (or the error
/// that failed the connection).
#[must_use = "streams do nothing unless polled"]
pub struct Events<'a, S> {
    inner: &'a mut Inner<S>,
}

impl<S> std::fmt::Debug for Events<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for Events<'_, S> {
    type Item = Result<Event, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_event(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        poll_next_message(&mut self.get_mut().inner, cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_write_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        start_send(&mut self.get_mut().inner, item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_write_queue(cx)
    }

    /// Sends a Close (1000) if none was sent yet and flushes. Reading on (the
    /// `Stream` side) completes the handshake.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let inner = &mut self.get_mut().inner;
        if inner.closed.is_none() && inner.conn.state() == sluice_ws::State::Open {
            inner.start_close(CloseCode::NORMAL, "")?;
        }
        inner.poll_write_queue(cx)
    }
}
