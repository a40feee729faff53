//! Status codes: the `http` crate's [`StatusCode`], the one type every crate of the workspace
//! (and h2, hyper and axum) uses, plus the framing rule this layer needs.

pub use http::StatusCode;

/// Whether a response with this status never has a body (1xx, 204, 304; RFC 9112 §6.3).
pub(crate) fn forbids_body(status: StatusCode) -> bool {
    status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodiless_statuses() {
        assert!(forbids_body(StatusCode::NO_CONTENT));
        assert!(forbids_body(StatusCode::NOT_MODIFIED));
        assert!(forbids_body(StatusCode::CONTINUE));
        assert!(!forbids_body(StatusCode::OK));
        assert_eq!(StatusCode::OK.to_string(), "200 OK");
    }
}
