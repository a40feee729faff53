//! Writing a whole buffer and flushing it within a time limit, with no timer unless the
//! socket makes the write wait.
//!
//! `tokio::time::timeout(limit, io.write_all_buf(buf))` keeps a `Sleep` (about 120 bytes, with
//! its timer-wheel entry) inside every write's future — and so inside the state of every task
//! that may write, e.g. each long-lived streaming response. Most writes complete in the poll
//! that starts them; this one arms a boxed timer only when the socket returns `Pending`.

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Buf;
use tokio::io::AsyncWrite;
use tokio::time::Sleep;

/// Most slices of a buffer handed to one vectored write.
const MAX_SLICES: usize = 4;

/// Writes all of `buf` to `io` and flushes, failing with [`io::ErrorKind::TimedOut`] when that
/// has not finished `limit` after the first time the socket made it wait. Cancel-safe in the
/// sense of `write_all_buf`: `buf` is advanced by what was written.
pub(crate) async fn write_all_within<W, B>(
    io: &mut W,
    buf: &mut B,
    limit: Duration,
) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    B: Buf,
{
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    poll_fn(|cx| {
        let mut io = Pin::new(&mut *io);
        while buf.has_remaining() {
            let polled = if io.is_write_vectored() {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = buf.chunks_vectored(&mut slices);
                io.as_mut().poll_write_vectored(cx, &slices[..n])
            } else {
                io.as_mut().poll_write(cx, buf.chunk())
            };
            match polled {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => buf.advance(n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        if !buf.has_remaining()
            && let Poll::Ready(r) = io.as_mut().poll_flush(cx)
        {
            return Poll::Ready(r);
        }
        // The socket made us wait: from now on the limit runs.
        let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if t.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "write timed out",
            )));
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn writes_everything_and_flushes() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let mut data = bytes::Bytes::from_static(b"hello ").chain(&b"world"[..]);
        write_all_within(&mut a, &mut data, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(!data.has_remaining());
        let mut got = [0u8; 11];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello world");
    }

    #[tokio::test]
    async fn a_stuck_reader_times_the_write_out() {
        // 16 bytes of room, 64 to write, nobody reading: the write waits, then times out
        // `limit` after it first had to wait.
        let (mut a, _b) = tokio::io::duplex(16);
        let mut data = &[7u8; 64][..];
        let t0 = std::time::Instant::now();
        let err = write_all_within(&mut a, &mut data, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(t0.elapsed() >= Duration::from_millis(200));
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(data.len(), 48, "the first 16 bytes went out");
    }

    #[tokio::test]
    async fn a_slow_reader_within_the_limit_is_fine() {
        let (mut a, mut b) = tokio::io::duplex(16);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0u8; 8];
            while got.len() < 64 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let n = b.read(&mut chunk).await.unwrap();
                got.extend_from_slice(&chunk[..n]);
            }
            got
        });
        let mut data = &[9u8; 64][..];
        write_all_within(&mut a, &mut data, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reader.await.unwrap(), vec![9u8; 64]);
    }
}
