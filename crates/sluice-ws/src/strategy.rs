//! proptest strategies (feature `proptest`), built on this crate's `arbitrary` generators —
//! the ones its own property tests use.

use proptest::strategy::Strategy;

use crate::arbitrary::WireFrames;
use crate::frame::FrameHeader;
use crate::{CloseCode, Message, Role};

pub use sluice_testkit::cuts;

/// A data message (text biased to multi-byte code points, or binary up to 4 KiB).
pub fn message() -> impl Strategy<Value = Message> {
    sluice_testkit::from_arbitrary()
}

/// A close code, mostly sendable ones.
pub fn close_code() -> impl Strategy<Value = CloseCode> {
    sluice_testkit::from_arbitrary()
}

/// Any frame header the format can carry, lengths at the encoding edges.
pub fn frame_header() -> impl Strategy<Value = FrameHeader> {
    sluice_testkit::from_arbitrary()
}

/// The bytes an endpoint of `role` sends (valid frames, masked iff `role` is the client), with
/// the messages they carry.
pub fn frames(role: Role) -> impl Strategy<Value = WireFrames> {
    sluice_testkit::with_arbitrary(move |u| WireFrames::arbitrary_for(role, u))
}

/// A valid opening handshake with its valid answer.
#[cfg(feature = "std")]
pub fn handshake() -> impl Strategy<Value = crate::arbitrary::HandshakeExchange> {
    sluice_testkit::from_arbitrary()
}

/// Head-shaped bytes, usually invalid.
#[cfg(feature = "std")]
pub fn raw_head() -> impl Strategy<Value = crate::arbitrary::RawHead> {
    sluice_testkit::from_arbitrary()
}
