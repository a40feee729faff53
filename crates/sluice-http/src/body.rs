//! Message body framing (RFC 9112 §6, §7.1): a sans-IO incremental decoder shared by the
//! server (request bodies) and the client (response bodies).

use bytes::{Bytes, BytesMut};

/// Longest chunk-size line accepted, extensions included (bytes, CRLF included).
pub(crate) const MAX_CHUNK_LINE: usize = 4096;
/// Most trailer fields accepted after the last chunk (they are read and discarded).
pub(crate) const MAX_TRAILERS: usize = 32;

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body runs until the peer closes the connection (responses only).
    CloseDelimited,
}

/// A framing fault in the body bytes the peer sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// A chunk-size line is malformed (no hex digit, bad character, bare LF, over 16 digits).
    #[error("invalid chunk size line")]
    InvalidChunkSize,
    /// A chunk-size line is longer than the limit (extensions included).
    #[error("chunk size line of {size} bytes exceeds {max}")]
    ChunkLineTooLong {
        /// Bytes seen so far without a line end.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Chunk data is not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    MissingChunkCrlf,
    /// The trailer section is malformed or too large.
    #[error("invalid or oversized trailer section")]
    InvalidTrailers,
    /// The peer closed the connection before the body was complete.
    #[error("connection closed before the end of the body")]
    UnexpectedEof,
}

/// One step of decoding.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Body bytes (never empty).
    Data(Bytes),
    /// Nothing decodable in the buffer: read more.
    NeedMore,
    /// The body is complete; bytes after it are left in the buffer.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkCrlf,
    Trailers,
    Close,
    Done,
}

/// Incremental body decoder: feed it the connection's read buffer.
#[derive(Debug, Clone)]
pub(crate) struct BodyDecoder {
    state: State,
    max_trailer_bytes: usize,
    /// Chunk-extension bytes seen so far (whatever follows the size digits on a chunk-size
    /// line): the server counts them against the body limit.
    ext_bytes: u64,
}

impl BodyDecoder {
    /// A decoder for `framing`; trailers are bounded by `max_trailer_bytes`.
    pub(crate) fn new(framing: Framing, max_trailer_bytes: usize) -> BodyDecoder {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::CloseDelimited => State::Close,
        };
        BodyDecoder {
            state,
            max_trailer_bytes,
            ext_bytes: 0,
        }
    }

    /// Chunk-extension bytes decoded so far (0 for other framings).
    pub(crate) fn extension_bytes(&self) -> u64 {
        self.ext_bytes
    }

    /// Body bytes the peer has announced and not yet sent: what is left of a `Content-Length`
    /// body or of the current chunk (`None` between chunks and for other framings). A server
    /// refuses a body at once when this alone exceeds its limit.
    pub(crate) fn announced_remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) | State::ChunkData(n) => Some(n),
            _ => None,
        }
    }

    /// Whether the whole body has been decoded.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes still expected for a `Content-Length` body, if that is the framing.
    pub(crate) fn remaining_length(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// Decodes from `buf`, consuming what it returns. `eof` says the peer has closed; then
    /// `NeedMore` is never returned.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut, eof: bool) -> Result<Step, FramingError> {
        loop {
            match self.state {
                State::Done => return Ok(Step::End),
                State::Length(rem) => {
                    let Some((data, rem)) = take(buf, rem) else {
                        return need_more(eof);
                    };
                    self.state = if rem == 0 {
                        State::Done
                    } else {
                        State::Length(rem)
                    };
                    return Ok(Step::Data(data));
                }
                State::Close => {
                    if buf.is_empty() {
                        if eof {
                            self.state = State::Done;
                            return Ok(Step::End);
                        }
                        return Ok(Step::NeedMore);
                    }
                    return Ok(Step::Data(buf.split().freeze()));
                }
                State::ChunkSize => match parse_chunk_line(buf)? {
                    Some((consumed, size)) => {
                        let digits = buf.iter().take_while(|b| b.is_ascii_hexdigit()).count();
                        self.ext_bytes += (consumed - 2 - digits) as u64;
                        let _ = buf.split_to(consumed);
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::ChunkData(size)
                        };
                    }
                    None => return need_more(eof),
                },
                State::ChunkData(rem) => {
                    let Some((data, rem)) = take(buf, rem) else {
                        return need_more(eof);
                    };
                    self.state = if rem == 0 {
                        State::ChunkCrlf
                    } else {
                        State::ChunkData(rem)
                    };
                    return Ok(Step::Data(data));
                }
                State::ChunkCrlf => {
                    if buf.len() < 2 {
                        if buf.first().is_some_and(|&b| b != b'\r') {
                            return Err(FramingError::MissingChunkCrlf);
                        }
                        return need_more(eof);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(FramingError::MissingChunkCrlf);
                    }
                    let _ = buf.split_to(2);
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILERS];
                    match httparse::parse_headers(buf, &mut fields) {
                        // The limit holds however the section arrived (in one read or
                        // many): found by the `http_chunked` fuzz target.
                        Ok(httparse::Status::Complete((consumed, _)))
                            if consumed > self.max_trailer_bytes =>
                        {
                            return Err(FramingError::InvalidTrailers);
                        }
                        Ok(httparse::Status::Complete((consumed, _))) => {
                            let _ = buf.split_to(consumed);
                            self.state = State::Done;
                            return Ok(Step::End);
                        }
                        Ok(httparse::Status::Partial) => {
                            if buf.len() > self.max_trailer_bytes {
                                return Err(FramingError::InvalidTrailers);
                            }
                            return need_more(eof);
                        }
                        Err(_) => return Err(FramingError::InvalidTrailers),
                    }
                }
            }
        }
    }
}

/// Parses `chunk-size [ chunk-ext ] CRLF` at the start of `buf`: `Ok(None)` when incomplete.
///
/// Stricter than httparse alone: at least one hex digit first, and no bare LF or other control
/// byte (except HTAB) anywhere in the line, which closes request-smuggling ambiguities.
fn parse_chunk_line(buf: &[u8]) -> Result<Option<(usize, u64)>, FramingError> {
    match buf.first() {
        None => return Ok(None),
        Some(b) if !b.is_ascii_hexdigit() => return Err(FramingError::InvalidChunkSize),
        Some(_) => {}
    }
    match httparse::parse_chunk_size(buf) {
        Ok(httparse::Status::Complete((consumed, size))) => {
            let line = &buf[..consumed - 2];
            if line.iter().any(|&b| b != b'\t' && (b < 0x20 || b == 0x7f)) {
                return Err(FramingError::InvalidChunkSize);
            }
            Ok(Some((consumed, size)))
        }
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_CHUNK_LINE {
                return Err(FramingError::ChunkLineTooLong {
                    size: buf.len(),
                    max: MAX_CHUNK_LINE,
                });
            }
            if buf.contains(&b'\n') {
                return Err(FramingError::InvalidChunkSize);
            }
            Ok(None)
        }
        Err(_) => Err(FramingError::InvalidChunkSize),
    }
}

/// Writes the chunk size line `<hex>\r\n` for `len` into `out`; returns its length.
pub(crate) fn chunk_size_line(len: usize, out: &mut [u8; 18]) -> usize {
    let digits = if len == 0 {
        1
    } else {
        (usize::BITS - len.leading_zeros()).div_ceil(4) as usize
    };
    for (i, o) in out[..digits].iter_mut().enumerate() {
        *o = b"0123456789ABCDEF"[(len >> (4 * (digits - 1 - i))) & 0xf];
    }
    out[digits] = b'\r';
    out[digits + 1] = b'\n';
    digits + 2
}

/// Splits off up to `rem` bytes of a length-delimited piece (a `Content-Length` body or a
/// chunk): the data and what remains of the piece, or `None` if `buf` is empty.
fn take(buf: &mut BytesMut, rem: u64) -> Option<(Bytes, u64)> {
    if buf.is_empty() {
        return None;
    }
    let n = usize::try_from(rem).unwrap_or(usize::MAX).min(buf.len());
    Some((buf.split_to(n).freeze(), rem - n as u64))
}

/// Out of bytes mid-body: wait for more, or fail if the peer has closed.
fn need_more(eof: bool) -> Result<Step, FramingError> {
    if eof {
        Err(FramingError::UnexpectedEof)
    } else {
        Ok(Step::NeedMore)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_lines() {
        for len in [0usize, 1, 9, 10, 15, 16, 255, 256, 4095, 65_536, usize::MAX] {
            let mut out = [0u8; 18];
            let n = chunk_size_line(len, &mut out);
            assert_eq!(&out[..n], format!("{len:X}\r\n").as_bytes());
        }
    }

    fn decode_all(
        framing: Framing,
        input: &[u8],
        split: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), FramingError> {
        decode_all_with(framing, input, split, 8192)
    }

    fn decode_all_with(
        framing: Framing,
        input: &[u8],
        split: usize,
        max_trailer: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), FramingError> {
        let mut dec = BodyDecoder::new(framing, max_trailer);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            match dec.decode(&mut buf, pos >= input.len())? {
                Step::Data(d) => {
                    assert!(!d.is_empty());
                    out.extend_from_slice(&d);
                }
                Step::End => return Ok((out, buf.to_vec())),
                Step::NeedMore => {
                    let end = (pos + split).min(input.len());
                    buf.extend_from_slice(&input[pos..end]);
                    pos = end;
                }
            }
        }
    }

    #[test]
    fn chunked_any_split() {
        // RFC 9112 §7.1 example shape, with an extension and a trailer.
        let input = b"4\r\nWiki\r\n5;ext=\"v\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for split in 1..input.len() {
            let (body, rest) = decode_all(Framing::Chunked, input, split).unwrap();
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
            // Leftover is whatever was read past the end; the rest was never fed.
            assert!(b"NEXT".starts_with(&rest));
        }
    }

    #[test]
    fn extension_bytes_and_announced_sizes() {
        let mut dec = BodyDecoder::new(Framing::Chunked, 8192);
        let mut buf = BytesMut::from(&b"2;a=b;c\r\nxy\r\nFFFFFFFFFFFFFFFF;e\r\nz"[..]);
        assert_eq!(
            dec.decode(&mut buf, false),
            Ok(Step::Data(Bytes::from_static(b"xy")))
        );
        assert_eq!(dec.extension_bytes(), 6);
        assert_eq!(dec.announced_remaining(), None);
        assert_eq!(
            dec.decode(&mut buf, false),
            Ok(Step::Data(Bytes::from_static(b"z")))
        );
        assert_eq!(dec.extension_bytes(), 8);
        assert_eq!(dec.announced_remaining(), Some(u64::MAX - 1));
        let dec = BodyDecoder::new(Framing::Length(7), 8192);
        assert_eq!(dec.announced_remaining(), Some(7));
    }

    /// The trailer limit does not depend on how the bytes arrive (a fuzz find: a section over
    /// the limit used to pass when it came in one read).
    #[test]
    fn trailer_limit_under_any_split() {
        let mut input = b"1\r\nA\r\n0\r\nX-T: ".to_vec();
        input.extend_from_slice(&[b'v'; 200]);
        input.extend_from_slice(b"\r\n\r\n");
        for split in [1, 7, 64, input.len()] {
            assert_eq!(
                decode_all_with(Framing::Chunked, &input, split, 100),
                Err(FramingError::InvalidTrailers),
                "split {split}"
            );
        }
    }

    #[test]
    fn chunked_rejects_malformed() {
        for bad in [
            &b"\r\n"[..],
            b"x\r\n",
            b"-1\r\n",
            b"1\nA\r\n0\r\n\r\n",
            b"1;a\nb\r\nA\r\n0\r\n\r\n",
            b"1\r\nAB\r\n",
            b"11111111111111111\r\n",
            b" 1\r\nA\r\n",
        ] {
            assert!(decode_all(Framing::Chunked, bad, 64).is_err(), "{bad:?}");
        }
        let long = [b"1;".as_slice(), &[b'a'; MAX_CHUNK_LINE]].concat();
        assert!(matches!(
            decode_all(Framing::Chunked, &long, 1 << 20),
            Err(FramingError::ChunkLineTooLong { .. })
        ));
        assert_eq!(
            decode_all(Framing::Chunked, b"5\r\nab", 3),
            Err(FramingError::UnexpectedEof)
        );
    }

    #[test]
    fn length_and_close() {
        let (b, rest) = decode_all(Framing::Length(3), b"abcdef", 2).unwrap();
        assert_eq!(b, b"abc");
        assert!(b"def".starts_with(&rest));
        assert_eq!(
            decode_all(Framing::Length(9), b"abc", 2),
            Err(FramingError::UnexpectedEof)
        );
        let (b, _) = decode_all(Framing::CloseDelimited, b"all of it", 4).unwrap();
        assert_eq!(b, b"all of it");
        let (b, _) = decode_all(Framing::Empty, b"x", 4).unwrap();
        assert!(b.is_empty());
    }
}
