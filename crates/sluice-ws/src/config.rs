//! Connection configuration: role and limits.

/// Which end of the connection this endpoint is (RFC 6455 §5.1: clients mask, servers do not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that opened the connection; it masks every frame it sends.
    Client,
    /// The endpoint that accepted the connection; it never masks.
    Server,
}

/// Limits and behaviour switches of a [`Connection`](crate::Connection).
///
/// Every buffer a peer can grow is bounded by one of these limits:
///
/// - the payload of a frame being received stays in the caller's input buffer until the frame is
///   complete, so that buffer needs at most `max_frame_size` plus a 14-byte header;
/// - a fragmented message is reassembled in a buffer of at most `max_message_size` bytes;
/// - control frames are at most 125 bytes and at most `max_pending_pongs` automatic Pongs are
///   pending.
///
/// ```
/// let config = sluice_ws::Config::default()
///     .with_max_frame_size(1 << 20)
///     .with_max_message_size(4 << 20);
/// assert_eq!(config.max_frame_size, 1 << 20);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Largest accepted frame payload, in bytes; a larger frame fails the connection with 1009
    /// as soon as its header arrives. Default: 16 MiB.
    pub max_frame_size: usize,
    /// Largest accepted message (sum of its fragments' payloads), in bytes; a larger message
    /// fails the connection with 1009 as soon as the header of the frame crossing the limit
    /// arrives. Default: 64 MiB.
    pub max_message_size: usize,
    /// Answer every Ping with a Pong automatically (RFC 6455 §5.5.2). Default: `true`.
    pub auto_pong: bool,
    /// How many automatic Pongs may wait for [`poll_transmit`](crate::Connection::poll_transmit).
    /// Each Ping is answered (Autobahn 2.10 expects a Pong per Ping) until this many are
    /// pending; beyond that the oldest pending Pong is dropped, so under a Ping flood the latest
    /// Ping wins (§5.5.3 allows answering only the most recent one). `1` gives pure
    /// "latest Ping wins"; `0` is treated as `1`. Bounds pending Pong memory at 125 bytes each.
    /// Default: 16.
    pub max_pending_pongs: usize,
    /// RSV bits (`0b100` = RSV1) that a negotiated extension defines: 0, or RSV1 once
    /// permessage-deflate is attached with `Connection::with_deflate` (feature `deflate`).
    pub(crate) allowed_rsv: u8,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            auto_pong: true,
            max_pending_pongs: 16,
            allowed_rsv: 0,
        }
    }
}

impl Config {
    /// Sets [`Config::max_frame_size`].
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`Config::max_message_size`].
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`Config::max_pending_pongs`].
    pub fn with_max_pending_pongs(mut self, n: usize) -> Self {
        self.max_pending_pongs = n;
        self
    }

    /// Sets [`Config::auto_pong`].
    pub fn with_auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }
}
