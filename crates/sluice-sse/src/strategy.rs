//! proptest strategies (feature `proptest`), built on this crate's `arbitrary` generators: the
//! ones its own property tests use.

use proptest::strategy::Strategy;

use crate::Event;
use crate::arbitrary::{EventStream, RawStream};

pub use sluice_testkit::cuts;

/// An [`Event`] valid by construction.
pub fn event() -> impl Strategy<Value = Event> {
    sluice_testkit::from_arbitrary()
}

/// A valid event stream with the items a parser must report for it.
pub fn stream() -> impl Strategy<Value = EventStream> {
    sluice_testkit::from_arbitrary()
}

/// Bytes shaped like an event stream, usually invalid.
pub fn raw_stream() -> impl Strategy<Value = RawStream> {
    sluice_testkit::from_arbitrary()
}
