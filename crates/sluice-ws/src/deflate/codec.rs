//! Per-message compression (RFC 7692 §7.2): the compressor and decompressor of one connection.

use std::fmt;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::params::{DeflateConfig, DeflateParams, MAX_WINDOW_BITS};
use crate::config::Role;

/// The empty stored block a sync flush ends with; removed from the end of a compressed
/// message by the sender and appended back by the receiver (RFC 7692 §7.2.1, §7.2.2).
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Smallest window zlib accepts for raw deflate (see the module docs about 8).
const ZLIB_MIN_BITS: u8 = 9;

/// Largest growth step of the inflate output buffer before it is exactly as large as the limit
/// allows.
const INFLATE_STEP: usize = 64 << 10;

/// Why inflating a message failed.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// The decompressed message would exceed the limit (`size` is what was produced when this
    /// was noticed: at most `max + 1`).
    #[error("decompressed message of at least {size} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Bytes produced so far.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The payload is not a valid DEFLATE stream.
    #[error("invalid DEFLATE data")]
    Corrupt,
}

/// Counters of one connection's permessage-deflate traffic (for metrics and tests).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeflateStats {
    /// Compressed messages sent.
    pub messages_compressed: u64,
    /// Bytes given to the compressor.
    pub compress_in: u64,
    /// Compressed bytes produced (frame payloads).
    pub compress_out: u64,
    /// Compressed messages received and inflated.
    pub messages_inflated: u64,
    /// Compressed bytes received.
    pub inflate_in: u64,
    /// Bytes inflated from them.
    pub inflate_out: u64,
}

/// The permessage-deflate state of one connection: a compressor for what we send and a
/// decompressor for what we receive, each created on first use and, for a direction without
/// context takeover, freed after every message.
pub struct PerMessageDeflate {
    params: DeflateParams,
    level: Compression,
    threshold: usize,
    tx_bits: u8,
    tx_reset: bool,
    rx_bits: u8,
    rx_reset: bool,
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
    /// The current received message hit a final (BFINAL) block: ignore the rest of it.
    rx_ended: bool,
    stats: DeflateStats,
}

impl fmt::Debug for PerMessageDeflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerMessageDeflate")
            .field("params", &self.params)
            .field("tx_bits", &self.tx_bits)
            .field("rx_bits", &self.rx_bits)
            .field("compressor", &self.compressor.is_some())
            .field("decompressor", &self.decompressor.is_some())
            .finish_non_exhaustive()
    }
}

impl PerMessageDeflate {
    /// The extension for an endpoint in `role` with the `agreed` parameters (from
    /// [`DeflateConfig::accept_offers`] on a server, [`DeflateConfig::accept_response`] on a
    /// client) and our `config` (level, threshold, and the no-context-takeover we chose for
    /// ourselves even if not announced).
    pub fn new(role: Role, agreed: &DeflateParams, config: &DeflateConfig) -> Self {
        let (tx_bits, tx_nct, rx_bits, rx_nct, own_nct) = match role {
            Role::Server => (
                agreed.server_max_window_bits,
                agreed.server_no_context_takeover,
                agreed.client_max_window_bits,
                agreed.client_no_context_takeover,
                config.server_no_context_takeover,
            ),
            Role::Client => (
                agreed.client_max_window_bits,
                agreed.client_no_context_takeover,
                agreed.server_max_window_bits,
                agreed.server_no_context_takeover,
                config.client_no_context_takeover,
            ),
        };
        let bits = |b: Option<u8>| b.unwrap_or(MAX_WINDOW_BITS).clamp(ZLIB_MIN_BITS, 15);
        PerMessageDeflate {
            params: *agreed,
            level: Compression::new(config.level.min(9)),
            threshold: config.threshold,
            tx_bits: bits(tx_bits),
            tx_reset: tx_nct || own_nct,
            rx_bits: bits(rx_bits),
            rx_reset: rx_nct,
            compressor: None,
            decompressor: None,
            rx_ended: false,
            stats: DeflateStats::default(),
        }
    }

    /// Moves the sending direction (the compressor and its settings) into a second value, for a
    /// connection split into a receiving and a sending half
    /// ([`Connection::split_sender`](crate::Connection::split_sender)). This one keeps
    /// inflating; each keeps its own [`stats`](Self::stats) from here on.
    pub fn split_compressor(&mut self) -> PerMessageDeflate {
        PerMessageDeflate {
            params: self.params,
            level: self.level,
            threshold: self.threshold,
            tx_bits: self.tx_bits,
            tx_reset: self.tx_reset,
            rx_bits: self.rx_bits,
            rx_reset: self.rx_reset,
            compressor: self.compressor.take(),
            decompressor: None,
            rx_ended: false,
            stats: DeflateStats::default(),
        }
    }

    /// The agreed parameters.
    pub fn params(&self) -> &DeflateParams {
        &self.params
    }

    /// Traffic counters.
    pub fn stats(&self) -> DeflateStats {
        self.stats
    }

    /// Whether a whole message of `len` bytes is worth compressing
    /// ([`DeflateConfig::threshold`]).
    pub fn should_compress(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// Whether compressor and decompressor state are allocated right now.
    pub fn has_state(&self) -> (bool, bool) {
        (self.compressor.is_some(), self.decompressor.is_some())
    }

    /// Compresses the next piece of a message (sync flush). With `fin`, the message ends: the
    /// trailing `00 00 ff ff` is removed (§7.2.1) and, without context takeover, the
    /// compressor is freed. The result is the frame payload.
    pub fn compress(&mut self, mut input: &[u8], fin: bool) -> Vec<u8> {
        let input_len = input.len();
        let (level, bits) = (self.level, self.tx_bits);
        let c = self
            .compressor
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, bits));
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
            let before = c.total_in();
            // Raw deflate with a valid level and window never reports a stream error; a
            // "no progress" condition is `Ok(BufError)`, which ends the loop below.
            let _status = c
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .expect("deflate on a valid stream state");
            let used = (c.total_in() - before) as usize;
            input = &input[used..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        self.stats.compress_in += input_len as u64;
        if fin {
            self.stats.messages_compressed += 1;
            // §7.2.1: the message must end with an empty stored block, minus its last 4
            // bytes. A sync flush ends with one; when it had nothing new to flush (empty
            // input right after an earlier flush, e.g. an empty last fragment) it wrote
            // nothing, and the stream is byte-aligned: the block is then its header byte
            // alone (BFINAL = 0, BTYPE = 00, padding), as in RFC 7692 §7.2.3.6.
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            } else {
                out.push(0x00);
            }
            if self.tx_reset {
                self.compressor = None;
            }
        }
        self.stats.compress_out += out.len() as u64;
        out
    }

    /// Inflates the next frame payload of a compressed message into `out`, which holds the
    /// message decompressed so far; with `fin` the message ends (the `00 00 ff ff` tail is
    /// appended, §7.2.2, and without context takeover the decompressor is freed).
    ///
    /// `out` never grows past `max + 1` bytes: the limit is checked while inflating, so a
    /// decompression bomb costs at most the limit in memory, never its full output.
    pub fn decompress(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), InflateError> {
        let before = out.len();
        let res = self.decompress_inner(input, fin, out, max);
        self.stats.inflate_in += input.len() as u64;
        self.stats.inflate_out += (out.len() - before) as u64;
        if fin && res.is_ok() {
            self.stats.messages_inflated += 1;
        }
        if fin || res.is_err() {
            self.rx_ended = false;
            if self.rx_reset || res.is_err() {
                self.decompressor = None;
            }
        }
        res
    }

    fn decompress_inner(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), InflateError> {
        if !self.rx_ended {
            self.inflate(input, out, max)?;
        }
        if fin && !self.rx_ended {
            self.inflate(&TAIL, out, max)?;
        }
        Ok(())
    }

    fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), InflateError> {
        let bits = self.rx_bits;
        let d = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        loop {
            if out.len() > max {
                return Err(InflateError::TooLarge {
                    size: out.len(),
                    max,
                });
            }
            if out.len() == out.capacity() {
                // Grow geometrically, but never past max + 1: one byte over the limit is
                // enough to know the message is too large.
                let len = out.len();
                let target = len
                    .saturating_mul(2)
                    .max(len + 256)
                    .min(len + INFLATE_STEP.max(len))
                    .min(max.saturating_add(1));
                out.reserve_exact(target - len);
            }
            let (before_in, before_out) = (d.total_in(), out.len());
            let status = d
                .decompress_vec(input, out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            let used = (d.total_in() - before_in) as usize;
            input = &input[used..];
            if status == Status::StreamEnd {
                // A final block (§7.2.3.4): the rest of the message carries nothing; the
                // next message starts a new stream.
                self.rx_ended = true;
                d.reset(false);
                break;
            }
            let room = out.len() < out.capacity();
            if input.is_empty() && room {
                break;
            }
            if used == 0 && out.len() == before_out && room {
                // No progress with input and room left: not a DEFLATE stream we can finish.
                return Err(InflateError::Corrupt);
            }
        }
        if out.len() > max {
            return Err(InflateError::TooLarge {
                size: out.len(),
                max,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(agreed: DeflateParams) -> (PerMessageDeflate, PerMessageDeflate) {
        let config = DeflateConfig::default().with_threshold(0);
        (
            PerMessageDeflate::new(Role::Client, &agreed, &config),
            PerMessageDeflate::new(Role::Server, &agreed, &config),
        )
    }

    fn inflate_all(d: &mut PerMessageDeflate, frames: &[&[u8]]) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            d.decompress(f, i + 1 == frames.len(), &mut out, 1 << 20)?;
        }
        Ok(out)
    }

    /// RFC 7692 §7.2.3.1–§7.2.3.5 payloads, decoded.
    #[test]
    fn rfc7692_7_2_3_vectors_decode() {
        let (_, mut s) = pair(DeflateParams::default());
        // §7.2.3.1: "Hello" in one frame, then in two fragments.
        let hello: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate_all(&mut s, &[hello]).unwrap(), b"Hello");
        let (_, mut s) = pair(DeflateParams::default());
        assert_eq!(
            inflate_all(&mut s, &[&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
        // §7.2.3.2: the second "Hello" refers back into the first (context takeover).
        let second: &[u8] = &[0xf2, 0x00, 0x11, 0x00, 0x00];
        assert_eq!(inflate_all(&mut s, &[second]).unwrap(), b"Hello");
        // §7.2.3.3: a stored (uncompressed) block.
        let (_, mut s) = pair(DeflateParams::default());
        let stored: &[u8] = &[
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(inflate_all(&mut s, &[stored]).unwrap(), b"Hello");
        // §7.2.3.4: a block with BFINAL set; the next message starts afresh.
        let last: &[u8] = &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(inflate_all(&mut s, &[last]).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut s, &[hello]).unwrap(), b"Hello");
        // §7.2.3.5: two DEFLATE blocks in one message.
        let (_, mut s) = pair(DeflateParams::default());
        let two: &[u8] = &[
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        assert_eq!(inflate_all(&mut s, &[two]).unwrap(), b"Hello");
    }

    /// §7.2.3.1 and §7.2.3.2 from the sending side: zlib's output is byte-exact.
    #[test]
    fn rfc7692_7_2_3_vectors_encode() {
        let (mut c, _) = pair(DeflateParams::default());
        assert_eq!(
            c.compress(b"Hello", true),
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
        assert_eq!(c.compress(b"Hello", true), [0xf2, 0x00, 0x11, 0x00, 0x00]);
        // No context takeover: the second message is compressed afresh.
        let nct = DeflateParams {
            client_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let (mut c, _) = pair(nct);
        c.compress(b"Hello", true);
        assert!(!c.has_state().0);
        assert_eq!(
            c.compress(b"Hello", true),
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
    }

    #[test]
    fn bomb_stops_at_limit_plus_one() {
        let (mut c, mut s) = pair(DeflateParams::default());
        let zeros = vec![0u8; 8 << 20];
        let bomb = c.compress(&zeros, true);
        assert!(bomb.len() < 16 << 10, "{}", bomb.len());
        let mut out = Vec::new();
        let err = s.decompress(&bomb, true, &mut out, 100_000).unwrap_err();
        assert_eq!(
            err,
            InflateError::TooLarge {
                size: 100_001,
                max: 100_000
            }
        );
        assert!(out.capacity() <= 100_001, "{}", out.capacity());
        // Exactly at the limit is fine.
        let (mut c, mut s) = pair(DeflateParams::default());
        let msg = c.compress(&zeros[..100_000], true);
        let mut out = Vec::new();
        s.decompress(&msg, true, &mut out, 100_000).unwrap();
        assert_eq!(out.len(), 100_000);
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let (_, mut s) = pair(DeflateParams::default());
        // BTYPE = 11 is reserved.
        assert_eq!(
            inflate_all(&mut s, &[&[0xff, 0xff, 0xff]]),
            Err(InflateError::Corrupt)
        );
        // A stored block whose NLEN is not the complement of LEN.
        let (_, mut s) = pair(DeflateParams::default());
        assert_eq!(
            inflate_all(&mut s, &[&[0x00, 0x05, 0x00, 0x00, 0x00, b'a']]),
            Err(InflateError::Corrupt)
        );
    }

    /// Window 8 is agreed: our compressor runs with zlib's smallest raw window, 9 (zlib keeps
    /// its match distances at most 2^9 - 262 = 250 bytes), and a 9-bit inflater decodes it.
    #[test]
    fn window_bits_8_compresses_with_9() {
        let agreed = DeflateParams {
            client_max_window_bits: Some(8),
            ..DeflateParams::default()
        };
        let (mut c, _) = pair(agreed);
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{} ", i % 700).into_bytes())
            .collect();
        let z = c.compress(&text, true);
        let mut strict = Decompress::new_with_window_bits(false, 9);
        let mut out = Vec::with_capacity(text.len() + 16);
        let mut input = z.clone();
        input.extend_from_slice(&TAIL);
        strict
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(out, text);
        assert!(z.len() < text.len() / 2);
    }
}
