//! Driver configuration: buffer limits, keepalive and close timeouts.

use std::time::Duration;

/// Configuration of a [`WebSocket`](super::WebSocket) driver.
///
/// Protocol limits (frame and message sizes) live in [`sluice_ws::Config`], carried
/// here as [`WsConfig::protocol`]; this struct adds what only a driver with sockets
/// and timers can do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WsConfig {
    /// Protocol configuration handed to the sans-IO [`sluice_ws::Connection`].
    pub protocol: sluice_ws::Config,
    /// Outgoing bytes queued (not yet accepted by the socket) above which `send`
    /// and the `Sink` wait for the socket to drain. Default 1 MiB. A slow reader
    /// therefore slows the sender instead of growing memory without bound; a
    /// single message larger than this is still sent (it is never copied).
    pub write_buffer_high_water: usize,
    /// Messages whose payload is at most this many bytes are copied into the
    /// coalescing write buffer (many small messages, one `write`); larger payloads
    /// are written by a vectored write straight from the caller's `Bytes`.
    /// Default 4 KiB.
    pub write_copy_threshold: usize,
    /// Capacity of the read buffer when it is (re)allocated. Default 4 KiB; it
    /// grows to fit the frame that arrives, plus at most one read of up to 64 KiB, rounded
    /// up by at most an eighth (with a frame of
    /// [`max_frame_size`](sluice_ws::Config::max_frame_size): at most 9/8 of that limit
    /// plus 72 KiB), and is given back when the connection goes idle.
    pub read_buffer_initial: usize,
    /// Send a Ping when nothing was received for this long. Default: off.
    pub ping_interval: Option<Duration>,
    /// Fail the connection (close code 1001 where possible, error
    /// [`Error::Timeout`](super::Error::Timeout)) when nothing was received for
    /// this long — a dead peer or a half-open TCP connection. Default: off.
    pub idle_timeout: Option<Duration>,
    /// After our Close frame went out, how long to wait for the peer's Close and
    /// the end of the TCP stream before dropping the transport. Default 5 s.
    pub close_timeout: Duration,
    /// Longest time the opening handshake may take (request head read, or the
    /// server's answer awaited). Default 10 s.
    pub handshake_timeout: Duration,
    /// permessage-deflate (RFC 7692): a server accepts a client's offer, a client
    /// offers it; `None` turns it off. Default: on, with
    /// [`DeflateConfig::default`](sluice_ws::deflate::DeflateConfig) (level 6,
    /// messages under 32 bytes sent plain, context takeover, 32 KiB windows) —
    /// browsers and most clients offer it, and chat-like JSON shrinks 3–10×.
    ///
    /// Cost: compressor and decompressor are allocated on a connection's first
    /// compressed message (none while idle before that); with the default windows
    /// that is about 300 KiB per connection while context takeover keeps them.
    /// For many mostly idle connections, set
    /// `server_no_context_takeover` (the state is freed after every message) or
    /// smaller window bits, or turn deflate off. Messages inflate under
    /// [`sluice_ws::Config::max_message_size`] (a decompression bomb closes with
    /// 1009 as soon as the limit is crossed).
    #[cfg(feature = "deflate")]
    pub deflate: Option<sluice_ws::deflate::DeflateConfig>,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            protocol: sluice_ws::Config::default(),
            write_buffer_high_water: 1 << 20,
            write_copy_threshold: 4 << 10,
            read_buffer_initial: 4 << 10,
            ping_interval: None,
            idle_timeout: None,
            close_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            #[cfg(feature = "deflate")]
            deflate: Some(sluice_ws::deflate::DeflateConfig::default()),
        }
    }
}

impl WsConfig {
    /// Sets the protocol configuration (or use the shortcuts below:
    /// [`max_message_size`](WsConfig::max_message_size), …).
    pub fn protocol(mut self, protocol: sluice_ws::Config) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets [`WsConfig::ping_interval`].
    pub fn ping_interval(mut self, every: Option<Duration>) -> Self {
        self.ping_interval = every;
        self
    }

    /// Sets [`WsConfig::idle_timeout`].
    pub fn idle_timeout(mut self, after: Option<Duration>) -> Self {
        self.idle_timeout = after;
        self
    }

    /// Sets [`WsConfig::close_timeout`].
    pub fn close_timeout(mut self, after: Duration) -> Self {
        self.close_timeout = after;
        self
    }

    /// Sets [`WsConfig::deflate`] (`None` turns permessage-deflate off).
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, deflate: Option<sluice_ws::deflate::DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }

    /// Sets [`WsConfig::write_buffer_high_water`].
    pub fn write_buffer_high_water(mut self, bytes: usize) -> Self {
        self.write_buffer_high_water = bytes;
        self
    }

    /// Sets [`WsConfig::write_copy_threshold`].
    pub fn write_copy_threshold(mut self, bytes: usize) -> Self {
        self.write_copy_threshold = bytes;
        self
    }

    /// Sets [`WsConfig::read_buffer_initial`].
    pub fn read_buffer_initial(mut self, bytes: usize) -> Self {
        self.read_buffer_initial = bytes;
        self
    }

    /// Sets [`WsConfig::handshake_timeout`].
    pub fn handshake_timeout(mut self, after: Duration) -> Self {
        self.handshake_timeout = after;
        self
    }

    /// Sets the largest message accepted, reassembled from its fragments and, with
    /// permessage-deflate, inflated ([`sluice_ws::Config::max_message_size`]; more closes
    /// with 1009).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.protocol = self.protocol.with_max_message_size(bytes);
        self
    }

    /// Sets the largest frame payload accepted ([`sluice_ws::Config::max_frame_size`]; more
    /// closes with 1009).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.protocol = self.protocol.with_max_frame_size(bytes);
        self
    }

    /// Sets how many Pongs may wait unsent before reading pauses
    /// ([`sluice_ws::Config::max_pending_pongs`]).
    pub fn max_pending_pongs(mut self, n: usize) -> Self {
        self.protocol = self.protocol.with_max_pending_pongs(n);
        self
    }

    /// Sets whether Pings are answered automatically ([`sluice_ws::Config::auto_pong`]).
    pub fn auto_pong(mut self, on: bool) -> Self {
        self.protocol = self.protocol.with_auto_pong(on);
        self
    }
}
