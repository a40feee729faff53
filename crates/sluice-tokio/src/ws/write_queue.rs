//! The outgoing byte queue: small frames coalesced, large payloads written in place.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWrite;

/// Most slices handed to one vectored write.
const MAX_IOV: usize = 64;

/// Bytes waiting for the socket, in order.
///
/// Frames with small payloads are appended to `tail` (one allocation, one write
/// for many frames). A large payload is never copied: the tail (holding its
/// header) is frozen into `chunks` and the payload `Bytes` follows it, so the
/// socket gets header and payload in one vectored write.
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    queued: usize,
}

impl WriteQueue {
    /// Bytes not yet accepted by the socket.
    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Queues one frame: `header` then `payload`.
    pub(crate) fn push(&mut self, header: &[u8], payload: &Bytes, copy_threshold: usize) {
        self.queued += header.len() + payload.len();
        if payload.len() <= copy_threshold {
            self.tail.extend_from_slice(header);
            self.tail.extend_from_slice(payload);
        } else {
            self.tail.extend_from_slice(header);
            let head = self.tail.split().freeze();
            self.chunks.push_back(head);
            self.chunks.push_back(payload.clone());
        }
    }

    /// Writes as much as the socket takes; `Ready(Ok)` once the queue is empty.
    pub(crate) fn poll_write_all<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.queued > 0 {
            let n = if io.is_write_vectored() && !self.chunks.is_empty() {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let mut k = 0;
                for c in self.chunks.iter().take(MAX_IOV - 1) {
                    slices[k] = IoSlice::new(c);
                    k += 1;
                }
                if k < MAX_IOV && !self.tail.is_empty() {
                    slices[k] = IoSlice::new(&self.tail);
                    k += 1;
                }
                ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..k]))?
            } else {
                let first: &[u8] = match self.chunks.front() {
                    Some(c) => c,
                    None => &self.tail,
                };
                ready!(Pin::new(&mut *io).poll_write(cx, first))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.advance(n);
        }
        // Idle: give the coalescing buffer's memory back if it grew large.
        if self.tail.capacity() > 64 << 10 {
            self.tail = BytesMut::new();
        }
        Poll::Ready(Ok(()))
    }

    fn advance(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(c) if c.len() <= n => {
                    n -= c.len();
                    self.chunks.pop_front();
                }
                Some(c) => {
                    c.advance(n);
                    n = 0;
                }
                None => {
                    if n == self.tail.len() {
                        // Keeps the buffer's start: the next frame is appended
                        // without reclaiming the written prefix.
                        self.tail.clear();
                    } else {
                        self.tail.advance(n);
                    }
                    n = 0;
                }
            }
        }
    }

    /// Drops everything queued (the transport is gone).
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.tail = BytesMut::new();
        self.queued = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    /// A writer that accepts at most `step` bytes per call.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
        vectored: bool,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut left = self.step;
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(left);
                self.out.extend_from_slice(&b[..k]);
                left -= k;
                n += k;
                if left == 0 {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            self.vectored
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn order_is_kept_across_small_and_large_frames_and_partial_writes() {
        for vectored in [false, true] {
            for step in [1, 3, 7, 100, 10_000] {
                let mut q = WriteQueue::default();
                let mut expect = Vec::new();
                for i in 0..20u8 {
                    let header = [0x82, i];
                    let payload = Bytes::from(vec![i; if i % 3 == 0 { 300 } else { 5 }]);
                    q.push(&header, &payload, 64);
                    expect.extend_from_slice(&header);
                    expect.extend_from_slice(&payload);
                }
                assert_eq!(q.len(), expect.len());
                let mut w = Trickle {
                    out: Vec::new(),
                    step,
                    vectored,
                };
                let mut cx = Context::from_waker(Waker::noop());
                assert!(q.poll_write_all(&mut w, &mut cx).is_ready());
                assert!(q.is_empty());
                assert_eq!(w.out, expect, "step {step} vectored {vectored}");
            }
        }
    }
}
