//! proptest strategies (feature `proptest`), built on this crate's `arbitrary` generators —
//! the ones its own property tests use.

use proptest::strategy::Strategy;

use crate::arbitrary::RawQuery;
use crate::{Cursor, Request, Start};

/// A cursor.
pub fn cursor() -> impl Strategy<Value = Cursor> {
    sluice_testkit::from_arbitrary()
}

/// A start position: now, earliest or a cursor.
pub fn start() -> impl Strategy<Value = Start> {
    sluice_testkit::from_arbitrary()
}

/// A valid request.
pub fn request() -> impl Strategy<Value = Request> {
    sluice_testkit::from_arbitrary()
}

/// Query-string-shaped text, usually invalid.
pub fn raw_query() -> impl Strategy<Value = RawQuery> {
    sluice_testkit::from_arbitrary()
}
