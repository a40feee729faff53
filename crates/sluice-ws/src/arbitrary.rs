//! `arbitrary::Arbitrary` for what a user of this crate generates (feature `arbitrary`):
//! [`Message`], [`CloseCode`], [`FrameHeader`]; [`WireFrames`], the bytes a real endpoint of a
//! role sends (valid by construction: written by this crate's own encoder); and, with `std`,
//! opening handshakes — [`HandshakeExchange`] (a valid request and its valid answer) and
//! [`RawHead`] (head-shaped bytes, usually invalid).

use alloc::string::String;
use alloc::vec::Vec;

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::Bytes;

use crate::frame::{FrameHeader, OpCode};
use crate::{CloseCode, Config, Connection, Message, Role};

/// Text biased towards what breaks WebSocket code: multi-byte code points, the empty string,
/// long runs; or any string.
fn text(u: &mut Unstructured<'_>) -> Result<String> {
    const PIECES: &[&str] = &["a", " ", "é", "日本", "😀", "\u{FEFF}", "{\"k\":1}", "\0"];
    if u.ratio(1, 3)? {
        return String::arbitrary(u);
    }
    let n = u.int_in_range(0..=64)?;
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(u.choose(PIECES)?);
    }
    Ok(s)
}

impl<'a> Arbitrary<'a> for Message {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(if u.arbitrary()? {
            Message::text(text(u)?)
        } else {
            let len = u.int_in_range(0..=4096)?;
            Message::binary(Bytes::copy_from_slice(u.bytes(len.min(u.len()))?))
        })
    }
}

impl<'a> Arbitrary<'a> for CloseCode {
    /// Mostly codes that may be sent (RFC 6455 §7.4.1, the IANA registry, 3000–4999), sometimes
    /// any `u16` (which a peer must refuse with 1002 when it is not sendable).
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const SENDABLE: &[u16] = &[
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
        ];
        Ok(CloseCode(match u.int_in_range(0..=3)? {
            0 | 1 => *u.choose(SENDABLE)?,
            2 => u.int_in_range(3000..=4999)?,
            _ => u16::arbitrary(u)?,
        }))
    }
}

impl<'a> Arbitrary<'a> for FrameHeader {
    /// Any header the format can carry (any RSV bits and opcode, masked or not), with payload
    /// lengths at the edges of the 7-bit, 16-bit and 64-bit encodings (RFC 6455 §5.2).
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let payload_len = match u.int_in_range(0..=3)? {
            0 => u.int_in_range(0..=125)?,
            1 => u.int_in_range(126..=65_535)?,
            2 => u.int_in_range(65_536..=(1 << 63) - 1)?,
            _ => *u.choose(&[0, 125, 126, 127, 65_535, 65_536, (1 << 63) - 1])?,
        };
        Ok(FrameHeader {
            fin: u.arbitrary()?,
            rsv: u.int_in_range(0..=7)?,
            opcode: OpCode::new(u.int_in_range(0..=15)?)
                .ok_or(arbitrary::Error::IncorrectFormat)?,
            mask: u.arbitrary()?,
            payload_len,
        })
    }
}

/// What an endpoint of `role` puts on the wire: data messages (some fragmented — text at code
/// point boundaries, as the send API takes whole code points; a peer's frames cut inside a code
/// point are what the raw-byte targets feed), Pings between them, maybe a Close at the end —
/// written by a [`Connection`] of that role, so masked iff `role` is the client, with keys
/// from a generator seeded here (never all zero, so a reader that forgets to unmask fails). A peer [`Connection`] of the other role must deliver exactly `messages`, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrames {
    /// Who sent the frames.
    pub role: Role,
    /// The frames.
    pub bytes: Vec<u8>,
    /// The data messages they carry, in order.
    pub messages: Vec<Message>,
    /// The Close at the end, if any.
    pub close: Option<CloseCode>,
}

impl Default for WireFrames {
    fn default() -> Self {
        WireFrames {
            role: Role::Client,
            bytes: Vec::new(),
            messages: Vec::new(),
            close: None,
        }
    }
}

impl WireFrames {
    /// Frames sent by an endpoint of `role`.
    ///
    /// # Errors
    /// Only when `u` cannot be read (as every `Arbitrary` impl).
    pub fn arbitrary_for(role: Role, u: &mut Unstructured<'_>) -> Result<Self> {
        let n = u.int_in_range(0..=8)?;
        // xorshift32 from an arbitrary nonzero seed: no key is all zero.
        let mut key = u.arbitrary::<u32>()? | 1;
        let mut conn = Connection::new(role, Config::default()).with_mask_source(move || {
            key ^= key << 13;
            key ^= key >> 17;
            key ^= key << 5;
            key.to_le_bytes()
        });
        let mut bytes = Vec::new();
        let mut messages = Vec::new();
        for _ in 0..n {
            let msg = Message::arbitrary(u)?;
            let pieces = u.int_in_range(1..=4)?;
            let sent = if pieces == 1 {
                conn.send(msg.clone()).is_ok()
            } else {
                send_fragmented(&mut conn, &msg, pieces, u)?
            };
            if sent {
                messages.push(msg);
            }
            if u.ratio(1, 4)? {
                let len = u.int_in_range(0..=125)?;
                let payload = Bytes::copy_from_slice(u.bytes(len.min(u.len()))?);
                let _ = conn.ping(payload);
            }
            drain(&mut conn, &mut bytes);
        }
        let close = if u.ratio(1, 2)? {
            let code = CloseCode::arbitrary(u)?;
            let code = if code.is_sendable() {
                code
            } else {
                CloseCode::NORMAL
            };
            let reason = text(u)?;
            let reason: String = reason.chars().take(30).collect();
            conn.close(code, &reason).is_ok().then_some(code)
        } else {
            None
        };
        drain(&mut conn, &mut bytes);
        Ok(WireFrames {
            role,
            bytes,
            messages,
            close,
        })
    }
}

/// Appends what `conn` has to send to `bytes`.
fn drain(conn: &mut Connection, bytes: &mut Vec<u8>) {
    while let Some(t) = conn.poll_transmit() {
        bytes.extend_from_slice(t.header());
        bytes.extend_from_slice(t.payload());
    }
}

/// `pieces` consecutive spans `(start, end)` covering `0..len`, cut at arbitrary points (some
/// may be empty).
fn spans(
    len: usize,
    pieces: usize,
    u: &mut Unstructured<'_>,
) -> Result<impl Iterator<Item = (usize, usize)>> {
    let mut cuts: Vec<usize> = (1..pieces)
        .map(|_| u.int_in_range(0..=len))
        .collect::<Result<_>>()?;
    cuts.sort_unstable();
    let ends: Vec<usize> = cuts.into_iter().chain([len]).collect();
    let starts = core::iter::once(0).chain(ends.clone());
    Ok(starts.zip(ends))
}

/// `msg` in `pieces` fragments, cut at arbitrary char boundaries (text) or bytes (binary).
fn send_fragmented(
    conn: &mut Connection,
    msg: &Message,
    pieces: usize,
    u: &mut Unstructured<'_>,
) -> Result<bool> {
    let parts: Vec<Message> = match msg {
        Message::Text(t) => {
            let chars: Vec<char> = t.chars().collect();
            spans(chars.len(), pieces, u)?
                .map(|(a, b)| Message::text(chars[a..b].iter().collect::<String>()))
                .collect()
        }
        Message::Binary(b) => spans(b.len(), pieces, u)?
            .map(|(x, y)| Message::binary(b.slice(x..y)))
            .collect(),
    };
    let last = parts.len() - 1;
    for (k, p) in parts.into_iter().enumerate() {
        if conn.send_fragment(p, k == last).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

impl<'a> Arbitrary<'a> for WireFrames {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let role = if u.arbitrary()? {
            Role::Client
        } else {
            Role::Server
        };
        WireFrames::arbitrary_for(role, u)
    }
}

#[cfg(feature = "std")]
pub use self::handshake::{HandshakeExchange, RawHead};

#[cfg(feature = "std")]
mod handshake {
    use alloc::string::String;
    use alloc::vec::Vec;

    use arbitrary::{Arbitrary, Result, Unstructured};

    use crate::handshake::{Accept, ClientHandshake, HandshakeLimits, RequestParser};

    /// An RFC 9110 token: a known subprotocol name, or 1–12 `tchar`s.
    fn token(u: &mut Unstructured<'_>) -> Result<String> {
        const KNOWN: &[&str] = &[
            "chat",
            "v2",
            "graphql-ws",
            "mqtt",
            "x.y",
            "a-b",
            "wamp.2.json",
        ];
        const TCHAR: &[u8] = b"abcxyzABCXYZ0123456789!#$%&'*+.^_`|~-";
        if u.ratio(1, 2)? {
            return Ok(String::from(*u.choose(KNOWN)?));
        }
        let n = u.int_in_range(1..=12)?;
        (0..n)
            .map(|_| u.choose(TCHAR).map(|&b| char::from(b)))
            .collect()
    }

    /// A valid opening handshake (RFC 6455 §4.1, written by [`ClientHandshake::encode`]) and
    /// the server's valid answer ([`ServerRequest::accept`](crate::handshake::ServerRequest::accept)
    /// after parsing it), with arbitrary host, path, nonce, subprotocols, extensions and
    /// extra fields.
    #[derive(Debug, Clone)]
    pub struct HandshakeExchange {
        /// The client's side.
        pub request: ClientHandshake,
        /// The request head on the wire.
        pub request_bytes: Vec<u8>,
        /// The `101` answer on the wire (the first offered subprotocol selected).
        pub response_bytes: Vec<u8>,
    }

    impl<'a> Arbitrary<'a> for HandshakeExchange {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let host = *u.choose(&[
                "example.com",
                "127.0.0.1:9001",
                "[::1]:80",
                "h",
                "a.b.c:443",
            ])?;
            let segs = u.int_in_range(0..=3)?;
            let mut path = String::from("/");
            for i in 0..segs {
                if i > 0 {
                    path.push('/');
                }
                path.push_str(&token(u)?);
            }
            if u.ratio(1, 3)? {
                path.push_str("?cursor=1.5.3&token=t");
            }
            let bad = || arbitrary::Error::IncorrectFormat;
            let mut req = ClientHandshake::new(host, &path, u.arbitrary()?).map_err(|_| bad())?;
            let mut protocols: Vec<String> = Vec::new();
            for _ in 0..u.int_in_range(0..=3)? {
                let p = token(u)?;
                if !protocols.contains(&p) {
                    req = req.protocol(&p).map_err(|_| bad())?;
                    protocols.push(p);
                }
            }
            for _ in 0..u.int_in_range(0..=2)? {
                let ext = if u.ratio(1, 2)? {
                    let offer = *u.choose(&[
                        "permessage-deflate",
                        "permessage-deflate; client_max_window_bits",
                        "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
                    ])?;
                    crate::handshake::Extension::parse_list(offer.as_bytes()).map_err(|_| bad())?
                } else {
                    let mut e = crate::handshake::Extension::new(&token(u)?).map_err(|_| bad())?;
                    for _ in 0..u.int_in_range(0..=2)? {
                        let value = u.ratio(1, 2)?.then(|| token(u)).transpose()?;
                        e = e
                            .with_param(&token(u)?, value.as_deref())
                            .map_err(|_| bad())?;
                    }
                    alloc::vec![e]
                };
                for e in ext {
                    req = req.extension(e);
                }
            }
            if u.ratio(1, 3)? {
                req = req
                    .header("Origin", "https://app.example")
                    .map_err(|_| bad())?;
            }
            for i in 0..u.int_in_range(0..=2)? {
                let value: String = (0..u.int_in_range(0..=30)?)
                    .map(|_| u.int_in_range(0x20u8..=0x7e).map(char::from))
                    .collect::<Result<_>>()?;
                let name = alloc::format!("X-Field-{i}");
                req = req.header(&name, value.trim()).map_err(|_| bad())?;
            }
            let request_bytes = req.encode();
            let mut parser = RequestParser::new(HandshakeLimits::default());
            let (server, _) = parser
                .parse(&request_bytes)
                .ok()
                .flatten()
                .ok_or_else(bad)?;
            let mut accept = Accept::new();
            if let Some(p) = server.protocols().first() {
                accept = accept.protocol(p.clone());
            }
            let response_bytes = server.accept(&accept).map_err(|_| bad())?.to_vec();
            Ok(HandshakeExchange {
                request: req,
                request_bytes,
                response_bytes,
            })
        }
    }

    /// Bytes shaped like an HTTP/1.1 head — a valid handshake with bytes deleted, replaced or
    /// inserted, fields repeated, lines cut, or pieces of heads — mostly not a valid one: for
    /// head parsers that must never panic and must answer the same however the bytes are cut.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct RawHead(pub Vec<u8>);

    impl<'a> Arbitrary<'a> for RawHead {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let mut bytes = if u.ratio(3, 4)? {
                HandshakeExchange::arbitrary(u)?.request_bytes
            } else {
                const PIECES: &[&[u8]] = &[
                    b"GET / HTTP/1.1\r\n",
                    b"Host: h\r\n",
                    b"Upgrade: websocket\r\n",
                    b"Connection: Upgrade\r\n",
                    b"Sec-WebSocket-Version: 13\r\n",
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                    b"\r\n",
                    b"\n",
                    b" ",
                    b":",
                    b"\0",
                    b"\xFF",
                    b"HTTP/1.0",
                    b"Sec-WebSocket-Extensions: ",
                ];
                let mut v = Vec::new();
                for _ in 0..u.int_in_range(0..=16)? {
                    v.extend_from_slice(u.choose(PIECES)?);
                }
                v
            };
            for _ in 0..u.int_in_range(0..=4)? {
                if bytes.is_empty() {
                    break;
                }
                let at = u.int_in_range(0..=bytes.len() - 1)?;
                match u.int_in_range(0..=2)? {
                    0 => {
                        bytes.remove(at);
                    }
                    1 => bytes[at] = u.arbitrary()?,
                    _ => bytes.insert(at, u.arbitrary()?),
                }
            }
            Ok(RawHead(bytes))
        }
    }
}
