//! Test support: a frame builder and an in-memory client/server `Pair`.
#![allow(dead_code, unreachable_pub)]

use bytes::BytesMut;
use sluice_ws::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
use sluice_ws::mask::apply_mask;
use sluice_ws::{Config, Connection, Event, ProtocolError, Role};

/// Encodes one frame (masking the payload if `mask` is set).
pub fn frame(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    frame_rsv(fin, 0, opcode, mask, payload)
}

/// Like [`frame`] with RSV bits.
pub fn frame_rsv(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let h = FrameHeader {
        fin,
        rsv,
        opcode: OpCode::new(opcode).unwrap(),
        mask,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = h.encode(&mut head);
    let mut out = head[..n].to_vec();
    let mut p = payload.to_vec();
    if let Some(k) = mask {
        apply_mask(&mut p, k);
    }
    out.extend_from_slice(&p);
    out
}

/// A frame as a client sends it (masked with a fixed key).
pub fn cframe(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, opcode, Some([0x37, 0xfa, 0x21, 0x3d]), payload)
}

/// A deterministic mask source (tests only: real clients need unpredictable keys).
pub fn counter_mask() -> impl FnMut() -> [u8; 4] + Send + 'static {
    let mut n: u32 = 0x9e37_79b9;
    move || {
        n = n.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        n.to_le_bytes()
    }
}

pub fn client(config: Config) -> Connection {
    Connection::new(Role::Client, config).with_mask_source(counter_mask())
}

pub fn server(config: Config) -> Connection {
    Connection::new(Role::Server, config)
}

/// Feeds `bytes` to `conn` in chunks of `chunk` bytes; returns the first error.
pub fn feed_chunked(
    conn: &mut Connection,
    bytes: &[u8],
    chunk: usize,
) -> Result<(), ProtocolError> {
    let mut buf = BytesMut::new();
    let mut res = Ok(());
    for piece in bytes.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        if let Err(e) = conn.handle_input(&mut buf) {
            res = Err(e);
            break;
        }
    }
    res
}

pub fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

pub fn transmits(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(t) = conn.poll_transmit() {
        out.extend_from_slice(&t.to_vec());
    }
    out
}

/// Output of a connection decoded back into frames: (fin, opcode, unmasked payload).
pub fn decode_frames(mut bytes: &[u8], expect_masked: bool) -> Vec<(bool, u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (h, n) = sluice_ws::frame::decode_header(bytes).unwrap().unwrap();
        assert_eq!(h.mask.is_some(), expect_masked);
        let len = h.payload_len as usize;
        let mut p = bytes[n..n + len].to_vec();
        if let Some(k) = h.mask {
            apply_mask(&mut p, k);
        }
        out.push((h.fin, h.opcode.get(), p));
        bytes = &bytes[n + len..];
    }
    out
}

/// A client and a server connected by in-memory pipes that deliver bytes in chunks.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    to_client: BytesMut,
    to_server: BytesMut,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    pub client_error: Option<ProtocolError>,
    pub server_error: Option<ProtocolError>,
    /// Bytes delivered per `handle_input` call.
    pub chunk: usize,
}

impl Pair {
    pub fn new(config: Config, chunk: usize) -> Self {
        Pair {
            client: client(config.clone()),
            server: server(config),
            to_client: BytesMut::new(),
            to_server: BytesMut::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_error: None,
            server_error: None,
            chunk: chunk.max(1),
        }
    }

    /// Moves bytes both ways until neither side has anything to send. Bounded.
    pub fn run(&mut self) {
        for _ in 0..1_000_000 {
            let mut progressed = false;
            let c_out = transmits(&mut self.client);
            let s_out = transmits(&mut self.server);
            progressed |= !c_out.is_empty() || !s_out.is_empty();
            deliver(
                &mut self.server,
                &mut self.to_server,
                &c_out,
                self.chunk,
                &mut self.server_error,
            );
            deliver(
                &mut self.client,
                &mut self.to_client,
                &s_out,
                self.chunk,
                &mut self.client_error,
            );
            self.client_events.extend(events(&mut self.client));
            self.server_events.extend(events(&mut self.server));
            if !progressed && !self.client.has_transmit() && !self.server.has_transmit() {
                return;
            }
        }
        panic!("pair did not settle");
    }
}

fn deliver(
    conn: &mut Connection,
    buf: &mut BytesMut,
    bytes: &[u8],
    chunk: usize,
    err: &mut Option<ProtocolError>,
) {
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        if let Err(e) = conn.handle_input(buf) {
            err.get_or_insert(e);
        }
    }
}
