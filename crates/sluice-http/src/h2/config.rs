//! HTTP/2 limits.

/// HTTP/2 limits of the server, passed to the `h2` crate. Each bounds what one client can
/// make the server hold or do; the defaults are finite and documented.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct H2Config {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`: streams a client may have open at once (more are
    /// refused with `REFUSED_STREAM`). Default 128 (a page's SSE streams, long-polls and
    /// WebSockets on one connection; browsers allow ~100).
    pub max_concurrent_streams: u32,
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: bytes a client may send on one stream before we read
    /// them. Default 64 KiB.
    pub initial_stream_window: u32,
    /// The connection's receive window. Default 1 MiB.
    pub initial_connection_window: u32,
    /// Bytes buffered per stream for sending before the writer waits. Default 64 KiB.
    pub max_send_buffer: usize,
    /// Streams reset by the client before we accepted them that are tolerated at once
    /// (rapid reset, CVE-2023-44487): beyond it the connection gets GOAWAY
    /// `ENHANCE_YOUR_CALM`. Default 20 (h2's).
    pub max_pending_accept_reset_streams: usize,
    /// Streams we reset because the client broke a rule, tolerated per connection before
    /// GOAWAY (the "MadeYouReset" variant of rapid reset). Default 1,024 (h2's).
    pub max_local_error_reset_streams: usize,
    /// Reset streams remembered at once (to ignore their late frames). Default 64.
    pub max_concurrent_reset_streams: usize,
    /// Send `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1` (RFC 8441 §3): WebSocket over HTTP/2.
    /// Default `true`.
    pub enable_connect_protocol: bool,
}

impl Default for H2Config {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 128,
            initial_stream_window: 64 * 1024,
            initial_connection_window: 1024 * 1024,
            max_send_buffer: 64 * 1024,
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
            max_concurrent_reset_streams: 64,
            enable_connect_protocol: true,
        }
    }
}
