//! The split-anywhere checks (features `arbitrary` or `proptest`): what a [`Connection`] makes
//! of a peer's bytes, and what the handshake parsers make of a head, must not depend on how
//! the bytes were cut.

use alloc::vec::Vec;

use bytes::BytesMut;
pub use sluice_testkit::{Splits, pieces, same_under_splits};

use crate::{Config, Connection, Event, ProtocolError, Role};

/// What a fresh [`Connection`] of `role` with `config` reports for the peer's bytes in
/// `pieces`, then the end of input: every event, and the protocol error it failed with, if
/// any. A client connection masks its automatic answers with fixed keys.
pub fn events_of(
    role: Role,
    config: &Config,
    pieces: &mut dyn Iterator<Item = &[u8]>,
) -> (Vec<Event>, Option<ProtocolError>) {
    drive(role, config, pieces, |conn, buf, events| {
        let r = conn.handle_input(buf);
        events.extend(core::iter::from_fn(|| conn.poll_event()));
        r
    })
}

/// [`events_of`], with the connection driven one event at a time by
/// [`Connection::poll_input`] (the way sluice-tokio's driver reads) instead of
/// [`Connection::handle_input`] and [`Connection::poll_event`]: the two must give the same.
pub fn events_one_at_a_time(
    role: Role,
    config: &Config,
    pieces: &mut dyn Iterator<Item = &[u8]>,
) -> (Vec<Event>, Option<ProtocolError>) {
    drive(role, config, pieces, |conn, buf, events| {
        while let Some(ev) = conn.poll_input(buf)? {
            events.push(ev);
        }
        Ok(())
    })
}

/// Feeds `pieces` to a fresh connection, `take` turning what is buffered into events after
/// each; then the end of input (unless it failed) and what is left queued.
fn drive(
    role: Role,
    config: &Config,
    pieces: &mut dyn Iterator<Item = &[u8]>,
    mut take: impl FnMut(&mut Connection, &mut BytesMut, &mut Vec<Event>) -> Result<(), ProtocolError>,
) -> (Vec<Event>, Option<ProtocolError>) {
    let mut conn = Connection::new(role, config.clone());
    if role == Role::Client {
        conn = conn.with_mask_source(|| [0x5a, 0xa5, 0x3c, 0xc3]);
    }
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let mut error = None;
    for piece in pieces {
        buf.extend_from_slice(piece);
        error = take(&mut conn, &mut buf, &mut events).err();
        while conn.poll_transmit().is_some() {}
        if error.is_some() {
            break;
        }
    }
    if error.is_none() {
        conn.handle_eof();
    }
    events.extend(core::iter::from_fn(|| conn.poll_event()));
    (events, error)
}

/// [`events_of`] on `bytes` whole and cut per `splits`; every run must give the same, which
/// is returned. Each run is also driven by [`events_one_at_a_time`], which must agree.
///
/// ```
/// use sluice_ws::split::{Splits, events_under_splits};
/// use sluice_ws::{Config, Event, Message, Role};
/// // A masked "Hello" from a client (RFC 6455 §5.7), as a server reads it.
/// let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let (events, err) = events_under_splits(&frame, Role::Server, &Config::default(), Splits::Every);
/// assert_eq!(err, None);
/// assert_eq!(events[0], Event::Message(Message::text("Hello")));
/// ```
///
/// # Panics
/// When a cut set gives another result (the message names the cuts).
pub fn events_under_splits(
    bytes: &[u8],
    role: Role,
    config: &Config,
    splits: Splits,
) -> (Vec<Event>, Option<ProtocolError>) {
    sluice_testkit::same_under_splits(bytes, splits, |p| {
        let pieces: Vec<&[u8]> = p.collect();
        let batch = events_of(role, config, &mut pieces.iter().copied());
        let one = events_one_at_a_time(role, config, &mut pieces.iter().copied());
        assert_eq!(batch, one, "handle_input and poll_input disagree");
        batch
    })
}

/// What a fresh [`RequestParser`](crate::handshake::RequestParser) makes of a head fed in
/// `pieces`: the request and how many bytes it took, `None` if the head is incomplete, or the
/// error.
#[cfg(feature = "std")]
pub fn request_of(
    limits: crate::handshake::HandshakeLimits,
    pieces: &mut dyn Iterator<Item = &[u8]>,
) -> Result<Option<(crate::handshake::ServerRequest, usize)>, crate::handshake::HandshakeError> {
    let mut parser = crate::handshake::RequestParser::new(limits);
    let mut buf = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        if let Some(done) = parser.parse(&buf)? {
            return Ok(Some(done));
        }
    }
    Ok(None)
}

/// [`request_of`] on `bytes` whole and cut per `splits`; every run must give the same.
///
/// # Panics
/// When a cut set gives another result.
#[cfg(feature = "std")]
pub fn request_under_splits(
    bytes: &[u8],
    limits: crate::handshake::HandshakeLimits,
    splits: Splits,
) -> Result<Option<(crate::handshake::ServerRequest, usize)>, crate::handshake::HandshakeError> {
    sluice_testkit::same_under_splits(bytes, splits, |p| request_of(limits, p))
}
