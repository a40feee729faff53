//! The connection state machine (RFC 6455 §5–§7): bytes in, events and bytes out.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use bytes::{Buf, Bytes, BytesMut};

use crate::close::CloseCode;
use crate::config::{Config, Role};
#[cfg(feature = "deflate")]
use crate::deflate::{InflateError, PerMessageDeflate};
use crate::error::{ProtocolError, SendError};
#[cfg(feature = "deflate")]
use crate::frame::RSV1;
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode, decode_header};
use crate::mask::{apply_mask, apply_mask_offset};
use crate::message::Message;
use crate::utf8::{Utf8Bytes, Utf8Validator};

/// Longest close reason: a Close payload is at most 125 bytes, 2 of which are the code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// What the connection reports to the application, in the order it happened.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete text or binary message.
    Message(Message),
    /// A Ping arrived (its Pong is sent automatically if [`Config::auto_pong`] is set; see
    /// [`Config::max_pending_pongs`] for Ping floods).
    Ping(Bytes),
    /// A Pong arrived.
    Pong(Bytes),
    /// The peer's Close frame arrived. If we had not sent a Close yet, the echo (with the peer's
    /// code) is already queued for [`Connection::poll_transmit`]. `code` is `None` when the
    /// frame had no payload.
    CloseReceived {
        /// The peer's status code, if any.
        code: Option<CloseCode>,
        /// The peer's reason (possibly empty).
        reason: String,
    },
    /// The connection is closed: the closing handshake completed, the connection failed
    /// because of a [`ProtocolError`] (`code` is what we sent), or the transport ended without
    /// a closing handshake (`code` is [`CloseCode::ABNORMAL`]). This is always the last event.
    ///
    /// The driver should write out every pending [`Transmit`], then close the transport (a
    /// server closes the TCP connection first, RFC 6455 §7.1.1; a client may wait a little
    /// for the server to do so).
    Closed {
        /// The peer's code for a clean close ([`CloseCode::NO_STATUS`] if it sent none), our
        /// code when we failed the connection, or 1006.
        code: CloseCode,
        /// The peer's reason for a clean close, or a description of the failure.
        reason: String,
    },
}

/// The connection's lifecycle (RFC 6455 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a Close frame and wait for the peer's; received messages are still delivered,
    /// nothing more can be sent.
    Closing,
    /// Both Close frames were exchanged, the connection failed, or the transport ended.
    Closed,
}

/// One frame to write: a header of at most 14 bytes and a payload.
///
/// The payload is a [`Bytes`] (already masked for a client), so a driver can write
/// `header()` and `payload()` with one vectored write without copying a large payload.
#[derive(Clone, PartialEq, Eq)]
pub struct Transmit {
    header: [u8; MAX_HEADER_LEN],
    header_len: u8,
    payload: Bytes,
}

impl Transmit {
    /// The encoded frame header.
    pub fn header(&self) -> &[u8] {
        &self.header[..usize::from(self.header_len)]
    }

    /// The (masked, for a client) payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Whether this is a Close frame.
    pub fn is_close(&self) -> bool {
        self.header[0] & 0x0F == 0x8
    }

    /// Total length: header plus payload.
    pub fn len(&self) -> usize {
        usize::from(self.header_len) + self.payload.len()
    }

    /// Always `false`: a frame has at least a 2-byte header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends header and payload to `out` (a copying convenience for tests and small frames).
    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(self.len());
        out.extend_from_slice(self.header());
        out.extend_from_slice(&self.payload);
    }

    /// Header and payload as one vector (copies).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        v.extend_from_slice(self.header());
        v.extend_from_slice(&self.payload);
        v
    }
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transmit")
            .field("header", &self.header())
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// The caller's mask key generator (`Sync`, so that `Connection` is; it is only called through
/// `&mut self`).
type MaskSource = Box<dyn FnMut() -> [u8; 4] + Send + Sync>;

/// The frame currently being received: its header was consumed from the input buffer, its
/// payload accumulates there.
#[derive(Debug)]
struct InFrame {
    header: FrameHeader,
    len: usize,
    /// Payload bytes at the front of the input buffer already unmasked (and validated).
    processed: usize,
    /// Whether the payload belongs to a text message.
    text: bool,
}

/// What one step of the input loop did.
enum Step {
    /// `buf` holds no complete frame.
    Incomplete,
    /// A frame was consumed; its events (if any) are queued.
    Frame,
    /// A frame that was a whole message by itself was consumed: the message, not queued.
    Message(Message),
}

/// A fragmented message being reassembled.
#[derive(Debug)]
struct Assembly {
    text: bool,
    buf: BytesMut,
}

/// A WebSocket connection after the opening handshake: a deterministic state machine with no
/// I/O, no clock and no randomness.
///
/// - Feed received bytes with [`handle_input`](Connection::handle_input) and the end of the
///   transport with [`handle_eof`](Connection::handle_eof).
/// - Take what happened from [`poll_event`](Connection::poll_event) (or feed and take one
///   event at a time with [`poll_input`](Connection::poll_input)) and what to write from
///   [`poll_transmit`](Connection::poll_transmit).
/// - Command with [`send`](Connection::send), [`ping`](Connection::ping),
///   [`close`](Connection::close) and friends.
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    mask_source: Option<MaskSource>,
    frame: Option<InFrame>,
    assembly: Option<Assembly>,
    utf8: Utf8Validator,
    close_sent: bool,
    /// Kind (text?) of the message being sent with `send_fragment`, if one is unfinished.
    sending_fragmented: Option<bool>,
    pending_pongs: VecDeque<Bytes>,
    events: VecDeque<Event>,
    transmits: VecDeque<Transmit>,
    /// Set by `deliver` when a queued data message is complete (see
    /// `handle_input_until_message`, which also stops at a `Step::Message`).
    message_completed: bool,
    /// permessage-deflate, if negotiated. Boxed: its state is a few hundred bytes that a
    /// connection without the extension should not carry.
    #[cfg(feature = "deflate")]
    deflate: Option<Box<PerMessageDeflate>>,
    /// The message being received is compressed (its first frame had RSV1).
    #[cfg(feature = "deflate")]
    rx_compressed: bool,
    /// The compressed message being received, decompressed so far (at most
    /// `max_message_size + 1` bytes).
    #[cfg(feature = "deflate")]
    rx_inflated: Vec<u8>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("close_sent", &self.close_sent)
            .field("frame", &self.frame)
            .field("events", &self.events.len())
            .field("transmits", &self.transmits.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection in the [`State::Open`] state, right after the opening handshake.
    ///
    /// A client must also be given a mask source with
    /// [`with_mask_source`](Connection::with_mask_source) before it sends anything.
    pub fn new(role: Role, config: Config) -> Self {
        Connection {
            role,
            config,
            state: State::Open,
            mask_source: None,
            frame: None,
            assembly: None,
            utf8: Utf8Validator::default(),
            close_sent: false,
            sending_fragmented: None,
            pending_pongs: VecDeque::new(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            message_completed: false,
            #[cfg(feature = "deflate")]
            deflate: None,
            #[cfg(feature = "deflate")]
            rx_compressed: false,
            #[cfg(feature = "deflate")]
            rx_inflated: Vec::new(),
        }
    }

    /// Attaches permessage-deflate (RFC 7692), created from the parameters agreed in the
    /// opening handshake: RSV1 becomes legal on the first frame of a data message, compressed
    /// messages are inflated (their decompressed size counted against
    /// [`Config::max_message_size`] as they inflate), and messages sent are compressed
    /// (see [`DeflateConfig::threshold`](crate::deflate::DeflateConfig::threshold)). Control
    /// frames are never compressed.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, deflate: PerMessageDeflate) -> Self {
        self.config.allowed_rsv |= RSV1;
        self.deflate = Some(Box::new(deflate));
        self
    }

    /// The permessage-deflate state, if negotiated.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<&PerMessageDeflate> {
        self.deflate.as_deref()
    }

    /// Sets the source of masking keys for frames sent by a client (RFC 6455 §5.3 asks for
    /// keys unpredictable to the peer, i.e. from a strong random generator; this crate has no
    /// randomness of its own). Ignored by a server.
    pub fn with_mask_source(mut self, f: impl FnMut() -> [u8; 4] + Send + Sync + 'static) -> Self {
        self.mask_source = Some(Box::new(f));
        self
    }

    /// Replaces the source of masking keys (see
    /// [`with_mask_source`](Connection::with_mask_source)).
    pub fn set_mask_source(&mut self, f: impl FnMut() -> [u8; 4] + Send + Sync + 'static) {
        self.mask_source = Some(Box::new(f));
    }

    /// Hands the sending side to a second connection, for a driver that reads and writes
    /// from two places at once (a reader task and a writer task, each with its own half of
    /// the transport).
    ///
    /// The returned connection sends: [`send`](Connection::send),
    /// [`send_fragment`](Connection::send_fragment), [`ping`](Connection::ping),
    /// [`close`](Connection::close) and [`poll_transmit`](Connection::poll_transmit). It takes
    /// this connection's send state — a fragmented message in progress, whether a Close was
    /// sent, the permessage-deflate compressor and the mask source (so a client's reading
    /// side needs a new one, [`set_mask_source`](Connection::set_mask_source), for its Pongs
    /// and Close reply). Frames this connection had queued stay here; take them with
    /// `poll_transmit` first.
    ///
    /// This connection keeps receiving: it reassembles messages and still queues its own
    /// answers (Pongs, the Close reply, the Close that fails the connection). The two
    /// connections know nothing of each other: the driver writes both sides' frames through
    /// one queue and, after either side's Close frame, writes nothing more from the other
    /// (RFC 6455 §5.5.1) — [`Transmit::is_close`] tells it which frame is a Close. Input must
    /// not be fed to the returned connection.
    pub fn split_sender(&mut self) -> Connection {
        let mut tx = Connection::new(self.role, self.config.clone());
        tx.state = if self.close_sent && self.state == State::Open {
            State::Closing
        } else {
            self.state
        };
        tx.close_sent = self.close_sent;
        tx.mask_source = self.mask_source.take();
        tx.sending_fragmented = self.sending_fragmented.take();
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_deref_mut() {
            tx.deflate = Some(Box::new(d.split_compressor()));
        }
        tx
    }

    /// Records that a Close frame for this connection was sent by other means (the
    /// receiving side after [`split_sender`](Connection::split_sender) answered the peer's
    /// Close or failed the connection): from now on nothing can be sent
    /// ([`SendError::Closed`]).
    pub fn mark_close_sent(&mut self) {
        self.close_sent = true;
        self.sending_fragmented = None;
        if self.state == State::Open {
            self.state = State::Closing;
        }
    }

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The lifecycle state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the connection reached [`State::Closed`].
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether more input is useful (the connection is not closed).
    pub fn wants_input(&self) -> bool {
        self.state != State::Closed
    }

    /// Bytes still missing from the payload of the frame being received, beyond what the
    /// input buffer held at the last [`handle_input`](Connection::handle_input) (0 when between
    /// frames). A driver may reserve this much in its buffer to avoid repeated growth.
    pub fn input_hint(&self) -> usize {
        self.frame.as_ref().map_or(0, |f| f.len - f.processed)
    }

    /// Whether [`poll_transmit`](Connection::poll_transmit) has something.
    pub fn has_transmit(&self) -> bool {
        !self.pending_pongs.is_empty() || !self.transmits.is_empty()
    }

    /// Consumes every complete frame at the front of `buf` and queues the resulting events and
    /// automatic answers.
    ///
    /// Bytes of an incomplete frame stay in `buf`: pass the same buffer again with more bytes
    /// appended (do not modify what is left in it; its payload part may already be unmasked).
    /// A header is parsed once; a partial payload is unmasked and, for text, UTF-8 validated as
    /// it arrives, so invalid text fails the connection without waiting for the frame's end.
    /// Complete single-frame messages are split off `buf` without copying.
    ///
    /// On a protocol violation by the peer, events for the frames before it are kept, a Close
    /// frame with [`ProtocolError::close_code`] is queued, [`Event::Closed`] follows, the
    /// state becomes [`State::Closed`] and the error is returned. Once closed, input is
    /// discarded (`buf` is cleared) and `Ok(())` is returned.
    pub fn handle_input(&mut self, buf: &mut BytesMut) -> Result<(), ProtocolError> {
        while self.handle_input_until_message(buf)? {}
        Ok(())
    }

    /// Like [`handle_input`](Connection::handle_input), but stops right after the frame that
    /// completes a data message and returns `Ok(true)`; the frames after it stay in `buf`,
    /// unexamined. `Ok(false)` means `buf` holds no complete frame any more.
    ///
    /// A driver that answers each message before looking at the next frame (an echo server,
    /// a request/response protocol) uses this so that a message the peer sent before a
    /// protocol violation is answered before the connection is failed — the order the peer
    /// expects (Autobahn|Testsuite's "strict" behaviour, e.g. cases 3.2 and 5.15). Call it
    /// again, with no new bytes, once the message is handled.
    pub fn handle_input_until_message(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<bool, ProtocolError> {
        self.message_completed = false;
        loop {
            if self.state == State::Closed {
                buf.clear();
                return Ok(false);
            }
            match self.step(buf) {
                Ok(Step::Message(msg)) => {
                    self.events.push_back(Event::Message(msg));
                    return Ok(true);
                }
                Ok(Step::Frame) if self.message_completed => return Ok(true),
                Ok(Step::Frame) => {}
                Ok(Step::Incomplete) => return Ok(false),
                Err(e) => return Err(self.fail_input(buf, e)),
            }
        }
    }

    /// The next event: one already queued, else the next one decoded from the front of `buf`,
    /// which consumes the frames up to the one that produced it and leaves the rest unexamined.
    /// `Ok(None)`: nothing is queued and `buf` holds no complete frame (what is left of a
    /// partial frame stays in `buf`, as with [`handle_input`](Connection::handle_input): append
    /// to it and call again), or the connection is closed and the input was discarded.
    ///
    /// For a driver that hands out one event at a time. Unlike
    /// [`handle_input_until_message`](Connection::handle_input_until_message), it stops at
    /// every event, control frames' included, and a message in one uncompressed frame goes
    /// straight to the caller without passing through the event queue. The events are the
    /// same, in the same order, as [`handle_input`](Connection::handle_input) then
    /// [`poll_event`](Connection::poll_event): every event of the frames before a protocol
    /// violation comes out before the `Err`, and [`Event::Closed`] after it.
    pub fn poll_input(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Ok(Some(ev));
            }
            if self.state == State::Closed {
                buf.clear();
                return Ok(None);
            }
            match self.step(buf) {
                Ok(Step::Message(msg)) => return Ok(Some(Event::Message(msg))),
                Ok(Step::Frame) => {}
                Ok(Step::Incomplete) => return Ok(None),
                Err(e) => return Err(self.fail_input(buf, e)),
            }
        }
    }

    /// A protocol error in the input: the rest of `buf` is discarded and the connection fails
    /// (a Close with the error's code is queued, then [`Event::Closed`]). Returns the error.
    fn fail_input(&mut self, buf: &mut BytesMut, e: ProtocolError) -> ProtocolError {
        buf.clear();
        self.fail(&e);
        e
    }

    /// The transport ended (EOF or error). Unless the closing handshake completed, the
    /// connection is closed with [`CloseCode::ABNORMAL`] and pending output is dropped.
    pub fn handle_eof(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.frame = None;
        self.assembly = None;
        self.drop_rx_message();
        self.pending_pongs.clear();
        self.transmits.clear();
        self.events.push_back(Event::Closed {
            code: CloseCode::ABNORMAL,
            reason: String::new(),
        });
    }

    /// The next event, oldest first.
    #[must_use]
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next frame to write, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(payload) = self.pending_pongs.pop_front() {
            return Some(self.make_transmit(true, OpCode::PONG, payload));
        }
        self.transmits.pop_front()
    }

    /// Queues a complete message as one frame.
    pub fn send(&mut self, msg: Message) -> Result<(), SendError> {
        self.check_can_send()?;
        if self.sending_fragmented.is_some() {
            return Err(SendError::FragmentInProgress);
        }
        let (opcode, payload) = match msg {
            Message::Text(t) => (OpCode::TEXT, t.into_bytes()),
            Message::Binary(b) => (OpCode::BINARY, b),
        };
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_deref_mut()
            && d.should_compress(payload.len())
        {
            let z = Bytes::from(d.compress(&payload, true));
            self.queue_rsv(true, RSV1, opcode, z);
            return Ok(());
        }
        self.queue(true, opcode, payload);
        Ok(())
    }

    /// Queues one fragment of a message streamed as several frames (RFC 6455 §5.4).
    ///
    /// The first call starts a message of `fragment`'s kind; later calls must pass the same kind
    /// and are sent as continuation frames; `fin = true` ends the message. Control frames
    /// ([`ping`](Connection::ping), [`close`](Connection::close)) may be sent in between;
    /// [`send`](Connection::send) may not. Text fragments must each be valid UTF-8.
    pub fn send_fragment(&mut self, fragment: Message, fin: bool) -> Result<(), SendError> {
        self.check_can_send()?;
        let text = fragment.is_text();
        let opcode = match self.sending_fragmented {
            None if text => OpCode::TEXT,
            None => OpCode::BINARY,
            Some(t) if t == text => OpCode::CONTINUATION,
            Some(_) => return Err(SendError::FragmentKindMismatch),
        };
        let payload = fragment.into_bytes();
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_deref_mut() {
            // A fragmented message is always compressed: its size is not known up front.
            let z = Bytes::from(d.compress(&payload, fin));
            let rsv = if opcode == OpCode::CONTINUATION {
                0
            } else {
                RSV1
            };
            self.queue_rsv(fin, rsv, opcode, z);
            self.sending_fragmented = if fin { None } else { Some(text) };
            return Ok(());
        }
        self.queue(fin, opcode, payload);
        self.sending_fragmented = if fin { None } else { Some(text) };
        Ok(())
    }

    /// Queues a Ping with at most 125 bytes of payload.
    pub fn ping(&mut self, payload: Bytes) -> Result<(), SendError> {
        check_control_len(payload.len())?;
        self.check_can_send()?;
        self.queue(true, OpCode::PING, payload);
        Ok(())
    }

    /// Queues an unsolicited Pong (a heartbeat, §5.5.3) with at most 125 bytes of payload.
    pub fn pong(&mut self, payload: Bytes) -> Result<(), SendError> {
        check_control_len(payload.len())?;
        self.check_can_send()?;
        self.queue(true, OpCode::PONG, payload);
        Ok(())
    }

    /// Starts the closing handshake (RFC 6455 §7.1.2): queues a Close frame and moves to
    /// [`State::Closing`]; [`Event::Closed`] follows when the peer's Close arrives.
    ///
    /// `code` must be [sendable](CloseCode::is_sendable) and `reason` at most 123 bytes, except
    /// that [`CloseCode::NO_STATUS`] with an empty reason sends a Close frame without payload.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if self.close_sent || self.state == State::Closed {
            return Err(SendError::Closed);
        }
        let payload = if code == CloseCode::NO_STATUS && reason.is_empty() {
            Bytes::new()
        } else {
            if !code.is_sendable() {
                return Err(SendError::InvalidCloseCode(code.0));
            }
            if reason.len() > MAX_CLOSE_REASON {
                return Err(SendError::ReasonTooLong {
                    size: reason.len(),
                    max: MAX_CLOSE_REASON,
                });
            }
            close_payload(code, reason)
        };
        self.check_mask_source()?;
        self.queue_close(payload);
        self.state = State::Closing;
        Ok(())
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        if self.close_sent || self.state == State::Closed {
            return Err(SendError::Closed);
        }
        self.check_mask_source()
    }

    fn check_mask_source(&self) -> Result<(), SendError> {
        if self.role == Role::Client && self.mask_source.is_none() {
            return Err(SendError::NoMaskSource);
        }
        Ok(())
    }

    fn can_send_internal(&self) -> bool {
        !self.close_sent && (self.role == Role::Server || self.mask_source.is_some())
    }

    /// Queues a Close frame after the pending Pongs (which answer Pings received before).
    fn queue_close(&mut self, payload: Bytes) {
        while let Some(pong) = self.pending_pongs.pop_front() {
            let t = self.make_transmit(true, OpCode::PONG, pong);
            self.transmits.push_back(t);
        }
        self.queue(true, OpCode::CLOSE, payload);
        self.close_sent = true;
    }

    fn queue(&mut self, fin: bool, opcode: OpCode, payload: Bytes) {
        self.queue_rsv(fin, 0, opcode, payload);
    }

    fn queue_rsv(&mut self, fin: bool, rsv: u8, opcode: OpCode, payload: Bytes) {
        let t = self.make_transmit_rsv(fin, rsv, opcode, payload);
        self.transmits.push_back(t);
    }

    fn make_transmit(&mut self, fin: bool, opcode: OpCode, payload: Bytes) -> Transmit {
        self.make_transmit_rsv(fin, 0, opcode, payload)
    }

    fn make_transmit_rsv(
        &mut self,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        payload: Bytes,
    ) -> Transmit {
        let mask = match (self.role, &mut self.mask_source) {
            (Role::Client, Some(source)) => Some(source()),
            _ => None,
        };
        let payload = match mask {
            Some(key) if !payload.is_empty() => {
                // Mask in place when we own the only reference, otherwise copy once.
                let mut owned = payload
                    .try_into_mut()
                    .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                apply_mask(&mut owned, key);
                owned.freeze()
            }
            _ => payload,
        };
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut bytes = [0u8; MAX_HEADER_LEN];
        let header_len = header.encode(&mut bytes) as u8;
        Transmit {
            header: bytes,
            header_len,
            payload,
        }
    }

    /// Fails the connection (§7.1.7): Close with the error's code, then closed.
    fn fail(&mut self, e: &ProtocolError) {
        let code = e.close_code();
        self.frame = None;
        self.assembly = None;
        self.drop_rx_message();
        if self.can_send_internal() {
            self.queue_close(close_payload(code, ""));
        }
        self.pending_pongs.clear();
        self.close_sent = true;
        self.state = State::Closed;
        self.events.push_back(Event::Closed {
            code,
            reason: e.to_string(),
        });
    }

    /// Processes at most one frame.
    fn step(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        if self.frame.is_none() {
            let Some((header, header_len)) = decode_header(buf)? else {
                return Ok(Step::Incomplete);
            };
            let frame = self.start_frame(header)?;
            buf.advance(header_len);
            self.frame = Some(frame);
        }
        let Some(frame) = self.frame.as_mut() else {
            return Ok(Step::Incomplete);
        };
        let avail = buf.len().min(frame.len);
        if avail > frame.processed {
            let fresh = &mut buf[frame.processed..avail];
            if let Some(key) = frame.header.mask {
                apply_mask_offset(fresh, key, frame.processed);
            }
            // Text is validated piecewise only while the message is incomplete (fail fast);
            // the piece that completes it is checked with the whole message below.
            let completes = avail == frame.len && frame.header.fin;
            if frame.text && !completes {
                self.utf8
                    .feed(fresh)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            frame.processed = avail;
        }
        if avail < frame.len {
            return Ok(Step::Incomplete);
        }
        let header = frame.header;
        let len = frame.len;
        self.frame = None;
        // A whole message in one uncompressed frame (the common case): built here and handed
        // to the caller, not queued. (No message is being assembled: `start_frame` refused a
        // data frame then.) This repeats `deliver` on purpose: calling it here costs ~6 ns of
        // 50–64 per 20-byte message (ws_decode bench), the payload handle moved once more.
        // Keep the two alike.
        if header.fin && !self.rx_compressed() {
            if header.opcode == OpCode::TEXT {
                let text = Utf8Bytes::try_from(buf.split_to(len).freeze())
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
                return Ok(Step::Message(Message::Text(text)));
            }
            if header.opcode == OpCode::BINARY {
                return Ok(Step::Message(Message::Binary(buf.split_to(len).freeze())));
            }
        }
        let payload = buf.split_to(len).freeze();
        self.finish_frame(header, payload)?;
        Ok(Step::Frame)
    }

    /// Validates a new frame header against the connection state and limits.
    fn start_frame(&mut self, header: FrameHeader) -> Result<InFrame, ProtocolError> {
        header.check(self.role, self.config.allowed_rsv)?;
        // RFC 7692 §6: RSV1 (the only bit an extension here defines) marks the first frame of
        // a compressed data message; never a control frame or a continuation.
        if header.rsv != 0 && (header.opcode.is_control() || header.opcode == OpCode::CONTINUATION)
        {
            return Err(ProtocolError::ReservedBits { rsv: header.rsv });
        }
        let mut text = match header.opcode {
            OpCode::CONTINUATION => match &self.assembly {
                Some(a) => a.text,
                None => return Err(ProtocolError::UnexpectedContinuation),
            },
            OpCode::TEXT | OpCode::BINARY => {
                if self.assembly.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                self.utf8.reset();
                #[cfg(feature = "deflate")]
                {
                    self.rx_compressed = header.rsv != 0;
                }
                header.opcode == OpCode::TEXT
            }
            // Control frames: at most 125 bytes (checked above), never text.
            _ => false,
        };
        let compressed = !header.opcode.is_control() && self.rx_compressed();
        if compressed {
            // The compressed payload is not text: UTF-8 is checked on the inflated bytes.
            text = false;
        }
        if !header.opcode.is_control() {
            let max = self.config.max_frame_size;
            if header.payload_len > max as u64 {
                return Err(ProtocolError::FrameTooLarge {
                    size: header.payload_len,
                    max,
                });
            }
            // A compressed message is counted as it inflates (finish_frame); its compressed
            // frames never accumulate (each is inflated once complete).
            let so_far = self.assembly.as_ref().map_or(0, |a| a.buf.len() as u64);
            let size = so_far + header.payload_len;
            let max = self.config.max_message_size;
            if !compressed && size > max as u64 {
                return Err(ProtocolError::MessageTooLarge { size, max });
            }
        }
        Ok(InFrame {
            header,
            // Bounded by max_frame_size (data) or 125 (control), so it fits a usize.
            len: header.payload_len as usize,
            processed: 0,
            text,
        })
    }

    /// Acts on a complete, unmasked frame.
    fn finish_frame(&mut self, header: FrameHeader, payload: Bytes) -> Result<(), ProtocolError> {
        match header.opcode {
            OpCode::PING => {
                if self.config.auto_pong && self.can_send_internal() {
                    if self.pending_pongs.len() >= self.config.max_pending_pongs.max(1) {
                        self.pending_pongs.pop_front();
                    }
                    self.pending_pongs.push_back(payload.clone());
                }
                self.events.push_back(Event::Ping(payload));
            }
            OpCode::PONG => self.events.push_back(Event::Pong(payload)),
            OpCode::CLOSE => self.on_close(payload)?,
            opcode => {
                #[cfg(feature = "deflate")]
                if self.rx_compressed {
                    let text = match &self.assembly {
                        Some(a) if opcode == OpCode::CONTINUATION => a.text,
                        _ => opcode == OpCode::TEXT,
                    };
                    return self.finish_compressed(text, header.fin, &payload);
                }
                let text = match (opcode, &mut self.assembly) {
                    (OpCode::CONTINUATION, Some(a)) => {
                        a.buf.extend_from_slice(&payload);
                        if !header.fin {
                            return Ok(());
                        }
                        let Some(a) = self.assembly.take() else {
                            return Ok(());
                        };
                        return self.deliver(a.text, a.buf.freeze());
                    }
                    (_, _) => opcode == OpCode::TEXT,
                };
                if header.fin {
                    self.deliver(text, payload)?;
                } else {
                    let mut buf = BytesMut::with_capacity(payload.len().max(64));
                    buf.extend_from_slice(&payload);
                    self.assembly = Some(Assembly { text, buf });
                }
            }
        }
        Ok(())
    }

    /// Whether the data message being received is compressed.
    fn rx_compressed(&self) -> bool {
        #[cfg(feature = "deflate")]
        {
            self.rx_compressed
        }
        #[cfg(not(feature = "deflate"))]
        {
            false
        }
    }

    /// Forgets the data message being received (compressed part).
    fn drop_rx_message(&mut self) {
        #[cfg(feature = "deflate")]
        {
            self.rx_compressed = false;
            self.rx_inflated = Vec::new();
        }
    }

    /// A complete frame of a compressed message: inflate it (bounded by `max_message_size`),
    /// validate text as it inflates, deliver on FIN.
    #[cfg(feature = "deflate")]
    fn finish_compressed(
        &mut self,
        text: bool,
        fin: bool,
        payload: &[u8],
    ) -> Result<(), ProtocolError> {
        let Some(d) = self.deflate.as_deref_mut() else {
            // RSV1 is only allowed once deflate is attached.
            return Err(ProtocolError::ReservedBits { rsv: RSV1 });
        };
        let start = self.rx_inflated.len();
        d.decompress(
            payload,
            fin,
            &mut self.rx_inflated,
            self.config.max_message_size,
        )
        .map_err(|e| match e {
            InflateError::TooLarge { size, max } => ProtocolError::MessageTooLarge {
                size: size as u64,
                max,
            },
            _ => ProtocolError::InvalidCompressedData,
        })?;
        if !fin {
            if text {
                self.utf8
                    .feed(&self.rx_inflated[start..])
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            if self.assembly.is_none() {
                self.assembly = Some(Assembly {
                    text,
                    buf: BytesMut::new(),
                });
            }
            return Ok(());
        }
        self.assembly = None;
        self.rx_compressed = false;
        let out = core::mem::take(&mut self.rx_inflated);
        self.deliver(text, Bytes::from(out))
    }

    /// (`step` builds a whole single-frame message the same way, inline: keep them alike.)
    fn deliver(&mut self, text: bool, payload: Bytes) -> Result<(), ProtocolError> {
        let msg = if text {
            let s = Utf8Bytes::try_from(payload).map_err(|_| ProtocolError::InvalidUtf8)?;
            Message::Text(s)
        } else {
            Message::Binary(payload)
        };
        self.events.push_back(Event::Message(msg));
        self.message_completed = true;
        Ok(())
    }

    /// The peer's Close frame (§5.5.1, §7.1.5, §7.4).
    fn on_close(&mut self, payload: Bytes) -> Result<(), ProtocolError> {
        let (code, reason) = match payload.len() {
            0 => (None, String::new()),
            1 => return Err(ProtocolError::CloseFrameTooShort),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_sendable() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason =
                    core::str::from_utf8(&payload[2..]).map_err(|_| ProtocolError::InvalidUtf8)?;
                (Some(code), reason.to_owned())
            }
        };
        self.events.push_back(Event::CloseReceived {
            code,
            reason: reason.clone(),
        });
        if !self.close_sent && self.can_send_internal() {
            // Echo the peer's status code (§5.5.1).
            let echo = code.map_or_else(Bytes::new, |c| close_payload(c, ""));
            self.queue_close(echo);
        }
        self.close_sent = true;
        self.pending_pongs.clear();
        self.assembly = None;
        self.drop_rx_message();
        self.state = State::Closed;
        self.events.push_back(Event::Closed {
            code: code.unwrap_or(CloseCode::NO_STATUS),
            reason,
        });
        Ok(())
    }
}

fn check_control_len(size: usize) -> Result<(), SendError> {
    if size > MAX_CONTROL_PAYLOAD {
        return Err(SendError::ControlFrameTooLarge {
            size,
            max: MAX_CONTROL_PAYLOAD,
        });
    }
    Ok(())
}

fn close_payload(code: CloseCode, reason: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(2 + reason.len());
    b.extend_from_slice(&code.0.to_be_bytes());
    b.extend_from_slice(reason.as_bytes());
    b.freeze()
}
