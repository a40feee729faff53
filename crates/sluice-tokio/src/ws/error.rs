//! The driver's error type.

use std::io;

/// Why a WebSocket operation failed.
///
/// Peer faults ([`Error::Protocol`], [`Error::Handshake`] for a bad answer or
/// request) are kept apart from caller misuse ([`Error::Send`]) and from the
/// transport ([`Error::Io`], [`Error::Timeout`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The peer violated RFC 6455; a Close frame with the mapped code was sent.
    #[error("protocol error from the peer: {0}")]
    Protocol(#[from] sluice_ws::ProtocolError),
    /// The caller asked for something the protocol forbids (sending after
    /// close, an oversized control frame, an invalid close code).
    #[error("invalid use: {0}")]
    Send(#[from] sluice_ws::SendError),
    /// The peer's handshake request was refused (the error's HTTP answer was sent).
    #[error("handshake failed: {0}")]
    Handshake(#[from] sluice_ws::handshake::HandshakeError),
    /// The server's handshake answer was not an acceptable 101.
    #[error("handshake answer refused: {0}")]
    Response(#[from] sluice_ws::handshake::ResponseError),
    /// The server's permessage-deflate answer is malformed or does not match
    /// the offer (RFC 7692 §7.1: the client fails the connection).
    #[cfg(feature = "deflate")]
    #[error("permessage-deflate answer refused: {0}")]
    Deflate(#[from] sluice_ws::deflate::NegotiationError),
    /// The application's handshake choices were invalid (caller misuse).
    #[error("invalid handshake choice: {0}")]
    Build(#[from] sluice_ws::handshake::BuildError),
    /// The application rejected the handshake request (its response was sent).
    #[error("handshake rejected by the application")]
    Rejected,
    /// Nothing was received within the idle timeout (dead peer), or the
    /// opening handshake took too long.
    #[error("timed out")]
    Timeout,
    /// The connection is closed; nothing more can be sent.
    #[error("connection closed")]
    Closed,
    /// The URL could not be used (not `ws://`, `wss://`, `http://` or `https://`).
    #[error("invalid URL: {0}")]
    Url(String),
    /// Opening the connection failed: TCP, or the TLS handshake (an untrusted certificate
    /// says so), or a timeout.
    #[error("{0}")]
    Connect(sluice_http::ClientError),
}

impl Error {
    /// Whether this error means the connection is finished.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Error::Send(_) | Error::Build(_))
    }
}
