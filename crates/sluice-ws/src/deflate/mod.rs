//! permessage-deflate (RFC 7692), behind the `deflate` cargo feature.
//!
//! Three pieces, none doing I/O:
//!
//! - [`DeflateConfig`]: what this endpoint wants (compression level, size threshold, context
//!   takeover and window sizes). It builds a client's offer ([`DeflateConfig::offer`]), picks a
//!   server's answer among a client's offers ([`DeflateConfig::accept_offers`]) and validates a
//!   server's answer on the client ([`DeflateConfig::accept_response`]).
//! - [`DeflateParams`]: the parameters both ends agreed on (RFC 7692 §7.1), parsed and checked
//!   (unknown, duplicate or malformed parameters are refused, §7.1).
//! - [`PerMessageDeflate`]: the compressor and decompressor of one connection, created from the
//!   agreed parameters and handed to [`Connection::with_deflate`](crate::Connection::with_deflate).
//!
//! ```
//! use sluice_ws::deflate::{DeflateConfig, PerMessageDeflate};
//! use sluice_ws::handshake::Extension;
//! use sluice_ws::{Config, Connection, Role};
//!
//! let config = DeflateConfig::default();
//! // Client: offer, then check the server's answer.
//! let offer = config.offer();
//! assert_eq!(offer.to_string(), "permessage-deflate; client_max_window_bits");
//! // Server: pick the first acceptable offer and answer it.
//! let offers = Extension::parse_list(offer.to_string().as_bytes()).unwrap();
//! let agreed = config.accept_offers(&offers).unwrap();
//! let answer = agreed.to_extension();
//! let server = Connection::new(Role::Server, Config::default())
//!     .with_deflate(PerMessageDeflate::new(Role::Server, &agreed, &config));
//! // Client again: the answer must match what was offered.
//! let agreed_by_client = config.accept_response(&[answer]).unwrap().unwrap();
//! assert_eq!(agreed_by_client, agreed);
//! # drop(server);
//! ```
//!
//! Backend: flate2 with `zlib-rs` (raw deflate with a chosen window size, as zlib's
//! `deflateInit2`/`inflateInit2`). zlib cannot compress raw deflate with an 8-bit window; when 8
//! is agreed for our compressor we use 9, as zlib itself did before 1.2.9 and as node does:
//! zlib's deflate never emits a distance above `2^bits - 262`, so a 9-bit compressor only
//! references the last 250 bytes, inside the 256-byte window the peer was promised.

mod codec;
mod params;

pub use codec::{DeflateStats, InflateError, PerMessageDeflate};
pub use params::{DeflateConfig, DeflateParams, EXTENSION_NAME, NegotiationError};
