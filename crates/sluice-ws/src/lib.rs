//! sluice-ws (under construction): RFC 6455 WebSocket, sans-IO.

pub mod handshake;
