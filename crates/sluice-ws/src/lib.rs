#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod close;
pub mod config;
pub mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod utf8;

pub use close::CloseCode;
pub use config::{Config, Role};
pub use connection::{Connection, Event, State, Transmit};
pub use error::{ProtocolError, SendError};
pub use message::Message;
pub use utf8::Utf8Bytes;
