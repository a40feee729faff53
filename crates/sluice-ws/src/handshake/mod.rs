//! RFC 6455 §4 opening handshake (under construction).
