//! Bounds on what a peer may make the handshake parsers buffer.

/// Limits applied while parsing a handshake head (request on the server, response on the
/// client).
///
/// A peer controls how large its head is; these bounds cap how many bytes a parser waits for
/// and how many header fields it accepts. Exceeding either is a 431 on the server side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeLimits {
    /// Largest head accepted, in bytes, from the first byte to the end of the empty line that
    /// ends it. Default 8 KiB (8192), the common default of nginx and Apache.
    pub max_head_size: usize,
    /// Most header fields accepted. Default 64.
    pub max_headers: usize,
}

impl HandshakeLimits {
    /// Default `max_head_size`: 8 KiB.
    pub const DEFAULT_MAX_HEAD_SIZE: usize = 8 * 1024;
    /// Default `max_headers`: 64.
    pub const DEFAULT_MAX_HEADERS: usize = 64;

    /// The defaults (8 KiB head, 64 headers).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_head_size: Self::DEFAULT_MAX_HEAD_SIZE,
            max_headers: Self::DEFAULT_MAX_HEADERS,
        }
    }

    /// Sets `max_head_size`.
    #[must_use]
    pub const fn with_max_head_size(mut self, max: usize) -> Self {
        self.max_head_size = max;
        self
    }

    /// Sets `max_headers`.
    #[must_use]
    pub const fn with_max_headers(mut self, max: usize) -> Self {
        self.max_headers = max;
        self
    }
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        Self::new()
    }
}
