//! The parsers that see peer bytes, on their own, for fuzz targets (feature `fuzzing`; not a
//! stable API): the request-head parser, the body decoder and the HTTP/2 head mapping.

use bytes::BytesMut;

use crate::body::{BodyDecoder, Framing, FramingError, Step};
use crate::head::{self, HeadError, RequestHead};

/// What [`decode_body`] got out of a byte stream.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The body's data.
    pub data: Vec<u8>,
    /// Whether the body ended (`false`: the input ran out first).
    pub complete: bool,
    /// Bytes after the end of the body (a pipelined request), for a complete body.
    pub rest: Vec<u8>,
    /// Chunk-extension bytes seen.
    pub extension_bytes: u64,
}

/// Feeds `input` to a body decoder for `framing`, in pieces cut at `cuts` (offsets, any order;
/// out-of-range ones ignored), as a connection would; `eof` says the peer closes after the
/// input. Trailers are bounded by `max_trailer`.
///
/// # Errors
/// The decoder's [`FramingError`].
pub fn decode_body(
    framing: Framing,
    input: &[u8],
    cuts: &[usize],
    eof: bool,
    max_trailer: usize,
) -> Result<Decoded, FramingError> {
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&c| c < input.len()).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut dec = BodyDecoder::new(framing, max_trailer);
    let mut buf = BytesMut::new();
    let mut data = Vec::new();
    let mut pos = 0;
    let mut next_cut = cuts.into_iter();
    loop {
        let at_end = pos == input.len();
        match dec.decode(&mut buf, at_end && eof)? {
            Step::Data(d) => {
                assert!(!d.is_empty(), "Step::Data is never empty");
                data.extend_from_slice(&d);
            }
            Step::End => {
                buf.extend_from_slice(&input[pos..]);
                return Ok(Decoded {
                    data,
                    complete: true,
                    rest: buf.to_vec(),
                    extension_bytes: dec.extension_bytes(),
                });
            }
            Step::NeedMore if at_end => {
                return Ok(Decoded {
                    data,
                    complete: false,
                    rest: Vec::new(),
                    extension_bytes: dec.extension_bytes(),
                });
            }
            Step::NeedMore => {
                let end = next_cut.next().unwrap_or(input.len());
                buf.extend_from_slice(&input[pos..end]);
                pos = end;
            }
        }
    }
}

/// Looks for a complete request head in `input` (after skipping leading empty lines, as the
/// server does), scanning it in pieces cut at `cuts` so the resumable end-of-head search is
/// exercised; `None` when no head is complete. The head found is parsed with at most
/// `max_headers` fields.
#[must_use]
pub fn parse_head(
    input: &[u8],
    cuts: &[usize],
    max_headers: usize,
) -> Option<(usize, Result<RequestHead, HeadError>)> {
    let mut buf = BytesMut::from(input);
    head::skip_leading_empty_lines(&mut buf);
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&c| c < buf.len()).collect();
    cuts.push(buf.len());
    cuts.sort_unstable();
    let mut scanned = 0;
    let mut found = None;
    for c in cuts {
        if let Some(n) = head::find_head_end(&buf[..c], &mut scanned) {
            found = Some(n);
            break;
        }
    }
    let one_shot = head::find_head_end(&buf, &mut 0);
    assert_eq!(found, one_shot, "the resumed search finds the same end");
    let n = found?;
    let r = head::parse_request(&mut buf, n, max_headers);
    Some((n, r))
}

/// The HTTP/2 request head mapping (`:method`, `:path`, `:authority`, `:protocol`).
///
/// # Errors
/// As the server answers: [`HeadError`].
pub fn h2_head(
    parts: &http::request::Parts,
    end_stream: bool,
    max_headers: usize,
) -> Result<RequestHead, HeadError> {
    head::from_h2(parts, end_stream, max_headers)
}
