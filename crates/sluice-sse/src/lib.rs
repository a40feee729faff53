#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
// `no_std` + `alloc`: the parser, encoder and reconnection rules need nothing from an operating
// system. The default `std` feature only adds `std::error::Error` through thiserror.
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "arbitrary")]
pub mod arbitrary;
mod client;
mod encoder;
mod error;
#[cfg(feature = "llm")]
pub mod llm;
mod parser;
#[cfg(feature = "arbitrary")]
pub mod split;
#[cfg(feature = "proptest")]
pub mod strategy;

pub use client::{Client, ClientConfig, State};
pub use encoder::{Event, HEARTBEAT, comment, heartbeat};
pub use error::{EncodeError, ParseError, ResponseError};
pub use parser::{Config, EventRef, Item, ItemRef, MessageEvent, Parser};
