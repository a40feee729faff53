//! TLS with rustls: the client side of [`DefaultConnector`](crate::DefaultConnector)
//! ([`ClientTls`]) and the server side of `sluice serve --tls-cert/--tls-key` ([`ServerTls`]).
//!
//! **Crypto provider.** Every rustls config here is built with an explicit provider
//! ([`rustls::crypto::ring`]): `ring` builds with a C compiler alone (no cmake, no assembler
//! toolchain), and passing the provider to each builder means no process-wide default is ever
//! needed — a user of this crate cannot meet rustls' "no process-level CryptoProvider" panic,
//! whatever other crates in the same binary enable.

mod client;
mod pem;
mod server;

pub use client::ClientTls;
pub use pem::TlsError;
pub use server::{ServerTls, TlsAcceptError};

use std::sync::Arc;

/// The crypto provider of every config this module builds.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// ALPN protocol id of HTTP/2 (RFC 7540 §3.3).
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";
