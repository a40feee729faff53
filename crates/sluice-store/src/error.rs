//! [`StoreError`].

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or refused to serve (connection refused or dropped, a
    /// timeout, a Redis `LOADING`/`BUSY` answer): worth retrying later (HTTP 503 with
    /// `Retry-After`).
    #[error("store unavailable: {reason}")]
    Unavailable {
        /// What went wrong.
        reason: String,
    },
    /// The store refuses this operation for this input, for good (an `Idempotency-Key`
    /// retried after its event left retention): HTTP 409. Not a sign of an unhealthy store.
    #[error("conflict: {reason}")]
    Conflict {
        /// Why.
        reason: String,
    },
    /// The topic has ended ([`crate::END_EVENT_TYPE`]): the store appends nothing after the
    /// end (HTTP 409 `ended`). Checked with the append, atomically, so a publish that races a
    /// close on another node is refused rather than stored after the end. Not a sign of an
    /// unhealthy store.
    #[error("the topic ended at {end}")]
    Ended {
        /// The end's cursor.
        end: crate::Cursor,
    },
    /// The embedded store failed to read or write its file (I/O error, disk full): HTTP 503.
    #[error("storage error: {reason}")]
    Storage {
        /// What went wrong.
        reason: String,
    },
    /// The store holds something this version cannot decode: HTTP 500.
    #[error("corrupt store data: {reason}")]
    Corrupt {
        /// What was wrong.
        reason: String,
    },
    /// The URL names a store kind this build does not include (a cargo feature is off).
    #[error("store `{kind}` is not built in (enable the cargo feature `{kind}`)")]
    NotBuiltIn {
        /// `file`, `redis` or `nats`.
        kind: &'static str,
    },
}

impl StoreError {
    /// Whether retrying later may succeed (answer 503 with `Retry-After`, not 500).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable { .. } | StoreError::Storage { .. } => true,
            StoreError::Corrupt { .. }
            | StoreError::NotBuiltIn { .. }
            | StoreError::Conflict { .. }
            | StoreError::Ended { .. } => false,
        }
    }

    #[cfg(any(feature = "redis", feature = "nats"))]
    pub(crate) fn unavailable(e: impl std::fmt::Display) -> Self {
        StoreError::Unavailable {
            reason: e.to_string(),
        }
    }

    /// Whether the store itself is failing (count it, say `degraded`), as opposed to refusing
    /// one request.
    #[must_use]
    pub fn is_store_failure(&self) -> bool {
        !matches!(self, StoreError::Conflict { .. } | StoreError::Ended { .. })
    }

    pub(crate) fn corrupt(e: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            reason: e.to_string(),
        }
    }
}
