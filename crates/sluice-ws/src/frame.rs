//! Frame headers (RFC 6455 §5.2): parse and encode.
//!
//! [`decode_header`] is httparse-style: it looks at a byte slice and either returns a complete
//! header with the number of bytes it occupies, or `Ok(None)` when more bytes are needed. It
//! checks only what is structural to the header itself (the length encoding);
//! [`FrameHeader::check`] applies the per-connection rules (role, reserved bits and opcodes,
//! control frame constraints).

use core::fmt;

use crate::Role;
use crate::error::ProtocolError;

/// The longest possible header: 2 fixed bytes, 8 bytes of extended length, 4 of masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest payload of a control frame (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A 4-bit frame opcode (§5.2). Reserved values are representable so that they can be reported.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpCode(u8);

impl OpCode {
    /// 0x0: continuation of a fragmented message.
    pub const CONTINUATION: OpCode = OpCode(0x0);
    /// 0x1: text frame.
    pub const TEXT: OpCode = OpCode(0x1);
    /// 0x2: binary frame.
    pub const BINARY: OpCode = OpCode(0x2);
    /// 0x8: connection close.
    pub const CLOSE: OpCode = OpCode(0x8);
    /// 0x9: ping.
    pub const PING: OpCode = OpCode(0x9);
    /// 0xA: pong.
    pub const PONG: OpCode = OpCode(0xA);

    /// The opcode with these 4 bits, or `None` if `bits > 0xF`.
    pub const fn new(bits: u8) -> Option<OpCode> {
        if bits <= 0xF {
            Some(OpCode(bits))
        } else {
            None
        }
    }

    /// The 4-bit value.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Control opcodes have the high bit set (0x8–0xF).
    pub const fn is_control(self) -> bool {
        self.0 & 0x8 != 0
    }

    /// Reserved for future use: 0x3–0x7 and 0xB–0xF.
    pub const fn is_reserved(self) -> bool {
        matches!(self.0, 0x3..=0x7 | 0xB..=0xF)
    }
}

impl fmt::Debug for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            OpCode::CONTINUATION => "Continuation",
            OpCode::TEXT => "Text",
            OpCode::BINARY => "Binary",
            OpCode::CLOSE => "Close",
            OpCode::PING => "Ping",
            OpCode::PONG => "Pong",
            _ => return write!(f, "Reserved({:#x})", self.0),
        };
        f.write_str(name)
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// RSV1–RSV3 as a 3-bit value, RSV1 the most significant (`0b100`).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes (at most `2^63 - 1`).
    pub payload_len: u64,
}

/// Bit for RSV1 in [`FrameHeader::rsv`] (used by permessage-deflate, RFC 7692).
pub const RSV1: u8 = 0b100;

/// Decodes a frame header from the start of `buf`.
///
/// Returns `Ok(Some((header, header_len)))` when `buf` holds a complete header, `Ok(None)` when
/// more bytes are needed (nothing is consumed; call again with more bytes), and an error when
/// the length is invalid: the most significant bit of a 64-bit length is set, or the length is
/// not minimally encoded (§5.2).
pub fn decode_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    let [b0, b1, rest @ ..] = buf else {
        return Ok(None);
    };
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7F;
    let (payload_len, ext) = match len7 {
        126 => {
            let Some(bytes) = rest.first_chunk::<2>() else {
                return Ok(None);
            };
            let len = u64::from(u16::from_be_bytes(*bytes));
            if len < 126 {
                return Err(ProtocolError::NonMinimalLength { len });
            }
            (len, 2)
        }
        127 => {
            let Some(bytes) = rest.first_chunk::<8>() else {
                return Ok(None);
            };
            let len = u64::from_be_bytes(*bytes);
            if len >> 63 != 0 {
                return Err(ProtocolError::InvalidLength);
            }
            if len <= u64::from(u16::MAX) {
                return Err(ProtocolError::NonMinimalLength { len });
            }
            (len, 8)
        }
        n => (u64::from(n), 0),
    };
    let mut header_len = 2 + ext;
    let mask = if masked {
        let Some(key) = rest[ext..].first_chunk::<4>() else {
            return Ok(None);
        };
        header_len += 4;
        Some(*key)
    } else {
        None
    };
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0b111,
        opcode: OpCode(b0 & 0x0F),
        mask,
        payload_len,
    };
    Ok(Some((header, header_len)))
}

impl FrameHeader {
    /// Number of bytes [`FrameHeader::encode`] writes.
    pub const fn encoded_len(&self) -> usize {
        let ext = if self.payload_len < 126 {
            0
        } else if self.payload_len <= u16::MAX as u64 {
            2
        } else {
            8
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header into `out` with the minimal length encoding and returns the number of
    /// bytes written. `rsv` is truncated to 3 bits and `payload_len` must be below `2^63`
    /// (larger values are clamped to `2^63 - 1` so the encoding is always valid).
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0b111) << 4) | (self.opcode.0 & 0x0F);
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload_len.min(u64::MAX >> 1);
        let mut n = if len < 126 {
            out[1] = mask_bit | len as u8;
            2
        } else if len <= u64::from(u16::MAX) {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&len.to_be_bytes());
            10
        };
        if let Some(key) = self.mask {
            out[n..n + 4].copy_from_slice(&key);
            n += 4;
        }
        n
    }

    /// Applies the rules a receiving endpoint enforces on every header:
    ///
    /// - RSV bits outside `allowed_rsv` (no extension negotiated: `0`) → §5.2;
    /// - reserved opcodes → §5.2;
    /// - control frames must have FIN and at most 125 bytes of payload → §5.5;
    /// - a server requires masked frames, a client rejects them → §5.1.
    pub fn check(&self, local_role: Role, allowed_rsv: u8) -> Result<(), ProtocolError> {
        if self.rsv & !allowed_rsv != 0 {
            return Err(ProtocolError::ReservedBits { rsv: self.rsv });
        }
        if self.opcode.is_reserved() {
            return Err(ProtocolError::ReservedOpcode(self.opcode.0));
        }
        if self.opcode.is_control() {
            if self.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLarge {
                    size: self.payload_len,
                });
            }
            if !self.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
        }
        match (local_role, self.mask.is_some()) {
            (Role::Server, false) => Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => Err(ProtocolError::MaskedFrame),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> (FrameHeader, usize) {
        let r = decode_header(bytes).unwrap().unwrap();
        for cut in 0..r.1 {
            assert_eq!(decode_header(&bytes[..cut]), Ok(None), "prefix {cut}");
        }
        r
    }

    #[test]
    fn rfc_5_7_unmasked_hello() {
        // §5.7: A single-frame unmasked text message: 0x81 0x05 "Hello".
        let (h, n) = decode_all(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(n, 2);
        assert_eq!(
            h,
            FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::TEXT,
                mask: None,
                payload_len: 5
            }
        );
    }

    #[test]
    fn rfc_5_7_masked_hello() {
        // §5.7: 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58.
        let (h, n) = decode_all(&[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        assert_eq!(n, 6);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(h.payload_len, 5);
    }

    #[test]
    fn rfc_5_7_fragmented() {
        // §5.7: 0x01 0x03 "Hel", then 0x80 0x02 "lo".
        let (h, _) = decode_all(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert!(!h.fin);
        assert_eq!(h.opcode, OpCode::TEXT);
        let (h, _) = decode_all(&[0x80, 0x02, 0x6c, 0x6f]);
        assert!(h.fin);
        assert_eq!(h.opcode, OpCode::CONTINUATION);
    }

    #[test]
    fn rfc_5_7_ping_pong() {
        // §5.7: unmasked Ping 0x89 0x05 "Hello"; masked Pong 0x8a 0x85 0x37 0xfa 0x21 0x3d ...
        let (h, _) = decode_all(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(h.opcode, OpCode::PING);
        let (h, n) = decode_all(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f]);
        assert_eq!((h.opcode, n), (OpCode::PONG, 6));
    }

    #[test]
    fn rfc_5_7_256_and_64k_binary() {
        // §5.7: 256 bytes binary: 0x82 0x7E 0x0100; 64 KiB: 0x82 0x7F 0x0000000000010000.
        let (h, n) = decode_all(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((h.opcode, h.payload_len, n), (OpCode::BINARY, 256, 4));
        let (h, n) = decode_all(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!((h.payload_len, n), (65536, 10));
        let mut out = [0; MAX_HEADER_LEN];
        let n = h.encode(&mut out);
        assert_eq!(&out[..n], &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn length_rules_5_2() {
        assert_eq!(
            decode_header(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(ProtocolError::InvalidLength)
        );
        assert_eq!(
            decode_header(&[0x82, 0x7E, 0x00, 0x7D]),
            Err(ProtocolError::NonMinimalLength { len: 125 })
        );
        assert_eq!(
            decode_header(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]),
            Err(ProtocolError::NonMinimalLength { len: 65535 })
        );
        // Largest legal length round-trips.
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::BINARY,
            mask: Some([1, 2, 3, 4]),
            payload_len: u64::MAX >> 1,
        };
        let mut out = [0; MAX_HEADER_LEN];
        let n = h.encode(&mut out);
        assert_eq!(n, MAX_HEADER_LEN);
        assert_eq!(decode_header(&out[..n]), Ok(Some((h, n))));
    }

    #[test]
    fn check_rules() {
        let base = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::TEXT,
            mask: Some([0; 4]),
            payload_len: 0,
        };
        assert_eq!(base.check(Role::Server, 0), Ok(()));
        assert_eq!(base.check(Role::Client, 0), Err(ProtocolError::MaskedFrame));
        let unmasked = FrameHeader { mask: None, ..base };
        assert_eq!(unmasked.check(Role::Client, 0), Ok(()));
        assert_eq!(
            unmasked.check(Role::Server, 0),
            Err(ProtocolError::UnmaskedFrame)
        );
        let rsv = FrameHeader { rsv: RSV1, ..base };
        assert_eq!(
            rsv.check(Role::Server, 0),
            Err(ProtocolError::ReservedBits { rsv: RSV1 })
        );
        assert_eq!(rsv.check(Role::Server, RSV1), Ok(()));
        for op in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            let h = FrameHeader {
                opcode: OpCode::new(op).unwrap(),
                ..base
            };
            assert_eq!(
                h.check(Role::Server, 0),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
        let ping = FrameHeader {
            opcode: OpCode::PING,
            payload_len: 126,
            ..base
        };
        assert_eq!(
            ping.check(Role::Server, 0),
            Err(ProtocolError::ControlFrameTooLarge { size: 126 })
        );
        let ping = FrameHeader {
            opcode: OpCode::PING,
            fin: false,
            ..base
        };
        assert_eq!(
            ping.check(Role::Server, 0),
            Err(ProtocolError::FragmentedControlFrame)
        );
    }
}
