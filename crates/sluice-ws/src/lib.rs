#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
// `no_std` + `alloc` without the default `std` feature: frames, masking, UTF-8 validation,
// close codes and the connection state machine. The opening handshake (it speaks the `http`
// crate's `StatusCode`, which needs std) and permessage-deflate (flate2) need `std`.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "arbitrary")]
pub mod arbitrary;
pub mod close;
pub mod config;
pub mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod error;
pub mod frame;
#[cfg(feature = "std")]
pub mod handshake;
pub mod input;
pub mod mask;
pub mod message;
#[cfg(feature = "arbitrary")]
pub mod split;
#[cfg(feature = "proptest")]
pub mod strategy;
pub mod utf8;

pub use close::CloseCode;
pub use config::{Config, Role};
pub use connection::{Connection, Event, State, Transmit};
pub use error::{ProtocolError, SendError};
pub use message::Message;
pub use utf8::Utf8Bytes;
