//! Error types: [`ProtocolError`] for peer faults, [`SendError`] for caller misuse.

use crate::close::CloseCode;

/// The peer violated RFC 6455. The connection is failed (§7.1.7) and
/// [`ProtocolError::close_code`] is the status code sent in our Close frame.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// RSV1–3 bits set that no negotiated extension defines for this frame (§5.2; with
    /// permessage-deflate, RSV1 only on the first frame of a data message, RFC 7692 §6).
    #[error("reserved bits not allowed on this frame (rsv = {rsv:#05b})")]
    ReservedBits {
        /// The three RSV bits, RSV1 as the most significant (0b100).
        rsv: u8,
    },
    /// An opcode reserved for future use (0x3–0x7, 0xB–0xF) (§5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A 64-bit payload length with the most significant bit set (§5.2).
    #[error("64-bit payload length with the most significant bit set")]
    InvalidLength,
    /// A payload length not encoded in the minimal number of bytes (§5.2: "the minimal number of
    /// bytes MUST be used to encode the length").
    #[error("payload length {len} not minimally encoded")]
    NonMinimalLength {
        /// The decoded length.
        len: u64,
    },
    /// A control frame with a payload over 125 bytes (§5.5).
    #[error("control frame payload of {size} bytes exceeds 125")]
    ControlFrameTooLarge {
        /// Declared payload length.
        size: u64,
    },
    /// A control frame without FIN (§5.5: control frames must not be fragmented).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A server received an unmasked frame (§5.1).
    #[error("client frame is not masked")]
    UnmaskedFrame,
    /// A client received a masked frame (§5.1).
    #[error("server frame is masked")]
    MaskedFrame,
    /// A continuation frame arrived with no fragmented message in progress (§5.4).
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text or binary frame arrived while a fragmented message was in progress (§5.4).
    #[error("new data frame while a fragmented message is in progress")]
    ExpectedContinuation,
    /// A Close frame with a 1-byte payload (§5.5.1).
    #[error("close frame payload of 1 byte")]
    CloseFrameTooShort,
    /// A Close frame with a status code that must not be sent (§7.4).
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A text message (or a Close frame's reason) is not valid UTF-8 (§8.1).
    #[error("invalid UTF-8 in text payload")]
    InvalidUtf8,
    /// A compressed message (permessage-deflate) is not a valid DEFLATE stream (RFC 7692
    /// §7.2.2).
    #[error("invalid compressed data")]
    InvalidCompressedData,
    /// A frame payload exceeds [`Config::max_frame_size`](crate::Config::max_frame_size).
    #[error("frame of {size} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// Declared payload length.
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message exceeds [`Config::max_message_size`](crate::Config::max_message_size).
    #[error("message of at least {size} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// Message size so far, including the frame that crossed the limit.
        size: u64,
        /// The configured limit.
        max: usize,
    },
}

impl ProtocolError {
    /// The status code to send when failing the connection because of this error.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::ReservedBits { .. }
            | ProtocolError::ReservedOpcode(_)
            | ProtocolError::InvalidLength
            | ProtocolError::NonMinimalLength { .. }
            | ProtocolError::ControlFrameTooLarge { .. }
            | ProtocolError::FragmentedControlFrame
            | ProtocolError::UnmaskedFrame
            | ProtocolError::MaskedFrame
            | ProtocolError::UnexpectedContinuation
            | ProtocolError::ExpectedContinuation
            | ProtocolError::CloseFrameTooShort
            | ProtocolError::InvalidCloseCode(_) => CloseCode::PROTOCOL_ERROR,
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
        }
    }
}

/// The caller asked for something the protocol or the connection state forbids. Nothing was
/// queued; the connection is unchanged.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A Close frame was already sent (or the connection failed): no more frames may be sent
    /// (§5.5.1).
    #[error("the connection is closing or closed")]
    Closed,
    /// Ping, Pong and Close payloads are limited to 125 bytes (§5.5).
    #[error("control frame payload of {size} bytes exceeds {max}")]
    ControlFrameTooLarge {
        /// Requested payload length.
        size: usize,
        /// Always 125.
        max: usize,
    },
    /// The close code may not be sent on the wire (see [`CloseCode::is_sendable`]).
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// A close reason longer than 123 bytes (125 minus the 2-byte code).
    #[error("close reason of {size} bytes exceeds {max}")]
    ReasonTooLong {
        /// Reason length in bytes.
        size: usize,
        /// Always 123.
        max: usize,
    },
    /// A client connection must mask every frame but has no mask source
    /// ([`Connection::with_mask_source`](crate::Connection::with_mask_source)).
    #[error("client connection has no mask source")]
    NoMaskSource,
    /// [`Connection::send`](crate::Connection::send) while a fragmented message started by
    /// [`Connection::send_fragment`](crate::Connection::send_fragment) is unfinished.
    #[error("a fragmented message is in progress")]
    FragmentInProgress,
    /// A fragment of a different kind (text/binary) than the message it continues.
    #[error("fragment kind differs from the message in progress")]
    FragmentKindMismatch,
}
