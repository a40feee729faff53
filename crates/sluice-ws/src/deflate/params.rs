//! Negotiation (RFC 7692 §5, §7.1): our preferences, the agreed parameters, offers and answers.

use crate::handshake::Extension;

/// The extension token, `permessage-deflate`.
pub const EXTENSION_NAME: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// Smallest LZ77 window size RFC 7692 allows (2^8 bytes).
pub(crate) const MIN_WINDOW_BITS: u8 = 8;
/// Largest LZ77 window size (2^15 = 32 KiB), the default.
pub(crate) const MAX_WINDOW_BITS: u8 = 15;

/// What this endpoint wants from permessage-deflate.
///
/// The four negotiation fields keep RFC 7692's names, which say whose compressor they govern:
/// `server_*` limits the server's compressor (what the client decompresses), `client_*` the
/// client's. A server puts them in its answer; a client puts them in its offer (and requires the
/// server's answer to honour them).
///
/// Memory: a compressor with window `2^w` holds about `2^(w+2)` bytes of window and hash chain
/// plus 128 KiB of hash table and pending buffer (≈ 256 KiB at `w = 15`); a decompressor about
/// 7 KiB plus a `2^w` window. Both are allocated on the first compressed message. With "no
/// context takeover" for a direction, that direction's state is freed after every message.
///
/// ```
/// let config = sluice_ws::deflate::DeflateConfig::default()
///     .with_level(1)
///     .with_threshold(256)
///     .with_server_no_context_takeover(true);
/// assert_eq!(config.level, 1);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// zlib compression level, 0 (store) to 9 (smallest); values above 9 count as 9.
    /// Default 6 (zlib's default).
    pub level: u32,
    /// Messages sent whole with fewer payload bytes than this go out uncompressed (RSV1 clear);
    /// deflate rarely saves anything on a handful of bytes. Fragments sent with
    /// [`Connection::send_fragment`](crate::Connection::send_fragment) are always compressed.
    /// Default 32.
    pub threshold: usize,
    /// The server resets its compressor after every message (server: announce it; client:
    /// request it). Saves the server's compressor memory between messages, costs ratio.
    /// Default `false`.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message (server: require it; client:
    /// announce it). Default `false`.
    pub client_no_context_takeover: bool,
    /// Largest window (base-2 log, 8..=15) of the server's compressor (server: use at most this;
    /// client: request it). Default 15.
    pub server_max_window_bits: u8,
    /// Largest window (8..=15) of the client's compressor (server: ask for it when the client
    /// offers `client_max_window_bits`, which is the only way RFC 7692 lets a server limit it;
    /// client: use at most this and offer it). Default 15.
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 6,
            threshold: 32,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

/// The agreed permessage-deflate parameters (RFC 7692 §7.1), as carried by one extension
/// element of an offer or an answer.
///
/// `server_max_window_bits` / `client_max_window_bits` are `None` when absent. In an offer,
/// `client_max_window_bits` without a value ("I can limit my window if you ask") parses as
/// `Some(15)`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// Largest window (base-2 log) of the server's compressor.
    pub server_max_window_bits: Option<u8>,
    /// Largest window (base-2 log) of the client's compressor.
    pub client_max_window_bits: Option<u8>,
}

/// An offer or answer that RFC 7692 §7.1 says must be declined (server) or fails the
/// connection (client). Peer fault.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// The element is not `permessage-deflate`.
    #[error("extension {name:?} is not permessage-deflate")]
    NotDeflate {
        /// The extension name.
        name: String,
    },
    /// A parameter RFC 7692 does not define (§7.1: decline / fail).
    #[error("unknown permessage-deflate parameter {name:?}")]
    UnknownParameter {
        /// The parameter name.
        name: String,
    },
    /// The same parameter twice in one element (§7.1).
    #[error("duplicate permessage-deflate parameter {name:?}")]
    DuplicateParameter {
        /// The parameter name.
        name: String,
    },
    /// A value where none is allowed, none where one is required, or not an integer 8..=15
    /// without leading zeros (§7.1.1, §7.1.2).
    #[error("invalid value {value:?} for permessage-deflate parameter {name:?}")]
    InvalidValue {
        /// The parameter name.
        name: String,
        /// The value received, if any.
        value: Option<String>,
    },
    /// The server answered with more than one permessage-deflate element.
    #[error("more than one permessage-deflate element in the answer")]
    DuplicateExtension,
    /// The server's answer does not accept what the client offered (a requested parameter is
    /// missing, or a window larger than requested).
    #[error("permessage-deflate answer does not match the offer: {reason}")]
    AnswerNotOffered {
        /// What did not match.
        reason: &'static str,
    },
}

impl DeflateConfig {
    /// Sets [`DeflateConfig::level`].
    pub fn with_level(mut self, level: u32) -> Self {
        self.level = level;
        self
    }

    /// Sets [`DeflateConfig::threshold`].
    pub fn with_threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Sets [`DeflateConfig::server_no_context_takeover`].
    pub fn with_server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// Sets [`DeflateConfig::client_no_context_takeover`].
    pub fn with_client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// Sets [`DeflateConfig::server_max_window_bits`] (clamped to 8..=15).
    pub fn with_server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = clamp_bits(bits);
        self
    }

    /// Sets [`DeflateConfig::client_max_window_bits`] (clamped to 8..=15).
    pub fn with_client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = clamp_bits(bits);
        self
    }

    fn server_bits(&self) -> u8 {
        clamp_bits(self.server_max_window_bits)
    }

    fn client_bits(&self) -> u8 {
        clamp_bits(self.client_max_window_bits)
    }

    /// Client: the offer to send in `Sec-WebSocket-Extensions`. It always carries
    /// `client_max_window_bits` (with our limit as value when below 15) so that a server may
    /// ask for a smaller client window.
    pub fn offer(&self) -> Extension {
        let mut params: Vec<(&str, Option<String>)> = Vec::new();
        if self.client_no_context_takeover {
            params.push((CLIENT_NO_CONTEXT_TAKEOVER, None));
        }
        if self.server_no_context_takeover {
            params.push((SERVER_NO_CONTEXT_TAKEOVER, None));
        }
        if self.server_bits() < MAX_WINDOW_BITS {
            params.push((SERVER_MAX_WINDOW_BITS, Some(self.server_bits().to_string())));
        }
        let client_bits = self.client_bits();
        params.push((
            CLIENT_MAX_WINDOW_BITS,
            (client_bits < MAX_WINDOW_BITS).then(|| client_bits.to_string()),
        ));
        build(&params)
    }

    /// Server: the agreed parameters for the first offer (in the client's order of preference)
    /// that is a valid permessage-deflate offer, or `None` to answer without the extension.
    /// Answer with [`DeflateParams::to_extension`].
    ///
    /// Offers with unknown, duplicate or malformed parameters are declined (RFC 7692 §7.1) and
    /// the next one is tried. Every valid offer can be accepted: the server honours the
    /// client's requests and adds its own ([`DeflateConfig::server_no_context_takeover`],
    /// a smaller `server_max_window_bits`, and `client_no_context_takeover` /
    /// `client_max_window_bits` as the RFC allows).
    pub fn accept_offers(&self, offers: &[Extension]) -> Option<DeflateParams> {
        offers
            .iter()
            .filter(|e| e.name().eq_ignore_ascii_case(EXTENSION_NAME))
            .find_map(|e| DeflateParams::parse_offer(e).ok())
            .map(|offer| self.answer(&offer))
    }

    /// Server: the answer to one valid offer.
    fn answer(&self, offer: &DeflateParams) -> DeflateParams {
        let server_bits = self.server_bits();
        DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || self.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits: match offer.server_max_window_bits {
                Some(n) => Some(n.min(server_bits)),
                None => (server_bits < MAX_WINDOW_BITS).then_some(server_bits),
            },
            // Only allowed when offered; a value below 15 lets our decompressor use a
            // smaller window.
            client_max_window_bits: offer
                .client_max_window_bits
                .map(|n| n.min(self.client_bits()))
                .filter(|&n| n < MAX_WINDOW_BITS),
        }
    }

    /// Client: validates the server's `Sec-WebSocket-Extensions` answer against the offer
    /// [`DeflateConfig::offer`] made. `Ok(None)`: the server declined (no compression).
    /// `Err`: fail the connection (RFC 7692 §7.1: malformed answer, or one that does not accept
    /// what was offered).
    pub fn accept_response(
        &self,
        answer: &[Extension],
    ) -> Result<Option<DeflateParams>, NegotiationError> {
        let mut found = answer
            .iter()
            .filter(|e| e.name().eq_ignore_ascii_case(EXTENSION_NAME));
        let Some(ext) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return Err(NegotiationError::DuplicateExtension);
        }
        let p = DeflateParams::parse_answer(ext)?;
        if self.server_no_context_takeover && !p.server_no_context_takeover {
            return Err(NegotiationError::AnswerNotOffered {
                reason: "server_no_context_takeover was requested",
            });
        }
        let server_bits = self.server_bits();
        if server_bits < MAX_WINDOW_BITS && p.server_max_window_bits.is_none_or(|n| n > server_bits)
        {
            return Err(NegotiationError::AnswerNotOffered {
                reason: "server_max_window_bits larger than requested",
            });
        }
        if p.client_max_window_bits
            .is_some_and(|n| n > self.client_bits())
        {
            return Err(NegotiationError::AnswerNotOffered {
                reason: "client_max_window_bits larger than offered",
            });
        }
        Ok(Some(p))
    }
}

impl DeflateParams {
    /// Parses a client's offer element (RFC 7692 §7.1): `client_max_window_bits` may come
    /// without a value (parsed as `Some(15)`).
    pub fn parse_offer(ext: &Extension) -> Result<Self, NegotiationError> {
        Self::parse(ext, true)
    }

    /// Parses a server's answer element: every window-bits parameter needs a value.
    pub fn parse_answer(ext: &Extension) -> Result<Self, NegotiationError> {
        Self::parse(ext, false)
    }

    fn parse(ext: &Extension, offer: bool) -> Result<Self, NegotiationError> {
        if !ext.name().eq_ignore_ascii_case(EXTENSION_NAME) {
            return Err(NegotiationError::NotDeflate {
                name: ext.name().to_owned(),
            });
        }
        let mut p = DeflateParams::default();
        let mut seen = [false; 4];
        for param in ext.params() {
            let name = param.name();
            let value = param.value();
            let idx = [
                SERVER_NO_CONTEXT_TAKEOVER,
                CLIENT_NO_CONTEXT_TAKEOVER,
                SERVER_MAX_WINDOW_BITS,
                CLIENT_MAX_WINDOW_BITS,
            ]
            .iter()
            .position(|k| k.eq_ignore_ascii_case(name))
            .ok_or_else(|| NegotiationError::UnknownParameter {
                name: name.to_owned(),
            })?;
            if std::mem::replace(&mut seen[idx], true) {
                return Err(NegotiationError::DuplicateParameter {
                    name: name.to_owned(),
                });
            }
            let invalid = || NegotiationError::InvalidValue {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            };
            match idx {
                0 | 1 => {
                    if value.is_some() {
                        return Err(invalid());
                    }
                    if idx == 0 {
                        p.server_no_context_takeover = true;
                    } else {
                        p.client_no_context_takeover = true;
                    }
                }
                2 => {
                    p.server_max_window_bits = Some(value.and_then(parse_bits).ok_or_else(invalid)?)
                }
                _ => {
                    p.client_max_window_bits = Some(match value {
                        None if offer => MAX_WINDOW_BITS,
                        v => v.and_then(parse_bits).ok_or_else(invalid)?,
                    })
                }
            }
        }
        Ok(p)
    }

    /// The extension element for these parameters (a server's answer), e.g.
    /// `permessage-deflate; server_no_context_takeover; client_max_window_bits=10`.
    pub fn to_extension(&self) -> Extension {
        let mut params: Vec<(&str, Option<String>)> = Vec::new();
        if self.server_no_context_takeover {
            params.push((SERVER_NO_CONTEXT_TAKEOVER, None));
        }
        if self.client_no_context_takeover {
            params.push((CLIENT_NO_CONTEXT_TAKEOVER, None));
        }
        if let Some(n) = self.server_max_window_bits {
            params.push((SERVER_MAX_WINDOW_BITS, Some(n.to_string())));
        }
        if let Some(n) = self.client_max_window_bits {
            params.push((CLIENT_MAX_WINDOW_BITS, Some(n.to_string())));
        }
        build(&params)
    }
}

/// An integer 8..=15 without leading zeros (RFC 7692 §7.1.2.1).
fn parse_bits(v: &str) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u8>()
        .ok()
        .filter(|n| (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(n))
}

fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

fn build(params: &[(&str, Option<String>)]) -> Extension {
    let mut ext = Extension::new(EXTENSION_NAME).expect("permessage-deflate is a token");
    for (name, value) in params {
        ext = ext
            .with_param(name, value.as_deref())
            .expect("parameter names and decimal values are tokens");
    }
    ext
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Extension {
        let mut l = Extension::parse_list(s.as_bytes()).unwrap();
        assert_eq!(l.len(), 1);
        l.remove(0)
    }

    /// RFC 7692 §7.1: every parameter form, and the values that must be refused.
    #[test]
    fn rfc7692_7_1_parameter_syntax() {
        let p = DeflateParams::parse_offer(&one(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits",
        ))
        .unwrap();
        assert!(p.server_no_context_takeover && p.client_no_context_takeover);
        assert_eq!(p.server_max_window_bits, Some(10));
        assert_eq!(p.client_max_window_bits, Some(15));
        // Quoted values are fine once unquoted (§9.1 of RFC 6455).
        let p =
            DeflateParams::parse_offer(&one("permessage-deflate; client_max_window_bits=\"8\""))
                .unwrap();
        assert_eq!(p.client_max_window_bits, Some(8));
        // A valueless client_max_window_bits is an offer-only form.
        assert!(matches!(
            DeflateParams::parse_answer(&one("permessage-deflate; client_max_window_bits")),
            Err(NegotiationError::InvalidValue { .. })
        ));
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=0x9",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=true",
        ] {
            assert!(
                matches!(
                    DeflateParams::parse_offer(&one(bad)),
                    Err(NegotiationError::InvalidValue { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            DeflateParams::parse_offer(&one("permessage-deflate; foo")),
            Err(NegotiationError::UnknownParameter { .. })
        ));
        assert!(matches!(
            DeflateParams::parse_offer(&one(
                "permessage-deflate; server_no_context_takeover; Server_No_Context_Takeover"
            )),
            Err(NegotiationError::DuplicateParameter { .. })
        ));
        assert!(matches!(
            DeflateParams::parse_offer(&one(
                "permessage-deflate; client_max_window_bits; client_max_window_bits=10"
            )),
            Err(NegotiationError::DuplicateParameter { .. })
        ));
    }

    /// RFC 7692 §5.1 / §7.1: offers in preference order, invalid ones declined.
    #[test]
    fn server_takes_first_valid_offer() {
        let offers = Extension::parse_list(
            b"x-webkit-deflate-frame, permessage-deflate; bogus, \
              permessage-deflate; server_max_window_bits=10; client_max_window_bits, \
              permessage-deflate",
        )
        .unwrap();
        let agreed = DeflateConfig::default().accept_offers(&offers).unwrap();
        assert_eq!(agreed.server_max_window_bits, Some(10));
        assert_eq!(agreed.client_max_window_bits, None);
        assert_eq!(
            agreed.to_extension().to_string(),
            "permessage-deflate; server_max_window_bits=10"
        );
        let none = Extension::parse_list(b"permessage-deflate; a=1, foo").unwrap();
        assert_eq!(DeflateConfig::default().accept_offers(&none), None);
    }

    #[test]
    fn server_adds_its_own_requirements() {
        let config = DeflateConfig::default()
            .with_server_no_context_takeover(true)
            .with_client_no_context_takeover(true)
            .with_server_max_window_bits(12)
            .with_client_max_window_bits(10);
        let agreed = config
            .accept_offers(&[one("permessage-deflate; client_max_window_bits")])
            .unwrap();
        assert_eq!(
            agreed.to_extension().to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=12; client_max_window_bits=10"
        );
        // Without client_max_window_bits in the offer the server may not limit the client.
        let agreed = config.accept_offers(&[one("permessage-deflate")]).unwrap();
        assert_eq!(agreed.client_max_window_bits, None);
        // A smaller request wins over our own limit.
        let agreed = config
            .accept_offers(&[one("permessage-deflate; server_max_window_bits=9")])
            .unwrap();
        assert_eq!(agreed.server_max_window_bits, Some(9));
    }

    #[test]
    fn client_offer_and_answer_checks() {
        let config = DeflateConfig::default()
            .with_server_no_context_takeover(true)
            .with_server_max_window_bits(10)
            .with_client_max_window_bits(12);
        assert_eq!(
            config.offer().to_string(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
             client_max_window_bits=12"
        );
        let ok = config
            .accept_response(&[one(
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=9",
            )])
            .unwrap()
            .unwrap();
        assert_eq!(ok.server_max_window_bits, Some(9));
        assert_eq!(config.accept_response(&[]), Ok(None));
        for (bad, what) in [
            ("permessage-deflate; server_max_window_bits=10", "no sncto"),
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
                "bigger server window",
            ),
            (
                "permessage-deflate; server_no_context_takeover",
                "server window not limited",
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
                 client_max_window_bits=13",
                "bigger client window",
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; x",
                "unknown parameter",
            ),
        ] {
            assert!(config.accept_response(&[one(bad)]).is_err(), "{what}");
        }
        let twice = Extension::parse_list(b"permessage-deflate, permessage-deflate").unwrap();
        assert_eq!(
            DeflateConfig::default().accept_response(&twice),
            Err(NegotiationError::DuplicateExtension)
        );
    }
}
