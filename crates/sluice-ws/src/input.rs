//! Growing the input buffer a driver hands to
//! [`Connection::handle_input`](crate::Connection::handle_input).

use bytes::BytesMut;

/// Makes room for `additional` more bytes in `buf` without copying bytes it no longer holds.
///
/// A single-frame message is split off the front of the input buffer without copying, so the
/// buffer's allocation still holds the messages already handed out. `BytesMut::reserve` can
/// then reuse the allocation only in place; when it cannot (a message is still alive, or the
/// allocation is too small) it reallocates and copies the *whole* allocation, the split-off
/// messages included — for 1 MiB messages a second 1 MiB copy per message. This reuses the
/// allocation when that is cheap (`BytesMut::try_reclaim`: nothing else refers to it) and
/// otherwise moves only the bytes still in `buf` (a partial frame) to a new allocation,
/// sized to the next power of two but never more than an eighth above what is needed: a
/// somewhat larger next frame still reclaims it, and a buffer sized for a frame of the maximum
/// size stays within 1/8 of that limit (a plain power of two could come close to twice it).
///
/// ```
/// use bytes::BytesMut;
/// let mut buf = BytesMut::with_capacity(64);
/// buf.extend_from_slice(b"a message, then the start of the next frame");
/// let message = buf.split_to(10).freeze(); // still alive: the allocation is shared
/// sluice_ws::input::reserve(&mut buf, 1 << 20);
/// assert!(buf.capacity() - buf.len() >= 1 << 20);
/// assert_eq!(&buf[..], b" then the start of the next frame");
/// assert_eq!(&message[..], b"a message,");
/// ```
pub fn reserve(buf: &mut BytesMut, additional: usize) {
    if buf.capacity() - buf.len() >= additional || buf.try_reclaim(additional) {
        return;
    }
    let mut fresh = BytesMut::with_capacity(rounded(buf.len().saturating_add(additional)));
    fresh.extend_from_slice(buf);
    *buf = fresh;
}

/// `need` rounded up for reuse: to the next power of two, capped at `need + need / 8`.
fn rounded(need: usize) -> usize {
    let cap = need.saturating_add(need / 8);
    need.checked_next_power_of_two().map_or(cap, |p| p.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_the_allocation_once_the_split_off_bytes_are_gone() {
        let mut buf = BytesMut::with_capacity(1024);
        buf.extend_from_slice(&[7; 1000]);
        let msg = buf.split_to(990).freeze();
        drop(msg);
        let before = buf.as_ptr();
        reserve(&mut buf, 500);
        assert!(buf.capacity() - buf.len() >= 500);
        assert_eq!(&buf[..], &[7; 10]);
        // Reclaimed: the live bytes moved to the front of the same allocation.
        assert_ne!(buf.as_ptr(), before);
    }

    #[test]
    fn copies_only_the_live_bytes_while_a_message_is_held() {
        let mut buf = BytesMut::with_capacity(1024);
        buf.extend_from_slice(&[1; 1000]);
        let msg = buf.split_to(990).freeze();
        reserve(&mut buf, 4096);
        assert!(buf.capacity() >= 10 + 4096);
        assert!(buf.capacity() <= 8192, "not grown by the dead prefix");
        assert_eq!(&buf[..], &[1; 10]);
        assert_eq!(&msg[..], &[1; 990][..]);
    }

    #[test]
    fn growth_stays_within_an_eighth_of_the_need() {
        // A frame just over a power of two (e.g. a limit of 1 MiB + 1) would round to twice it.
        for need in [
            1usize,
            7,
            100,
            4096,
            4097,
            (1 << 20) + 1,
            (3 << 20) + 5,
            16 << 20,
        ] {
            let r = rounded(need);
            assert!(r >= need, "{need}");
            assert!(r <= need + need / 8, "{need} -> {r}");
            if need.is_power_of_two() {
                assert_eq!(r, need);
            }
        }
        assert_eq!(rounded(usize::MAX), usize::MAX);
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(&[3; 16]);
        let _held = buf.split_to(10).freeze();
        reserve(&mut buf, (1 << 20) + 1);
        assert!(buf.capacity() > (1 << 20) + 6);
        assert!(
            buf.capacity() <= ((1 << 20) + 7) * 9 / 8,
            "{}",
            buf.capacity()
        );
    }
}
