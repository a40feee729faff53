#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod client;
mod encoder;
mod error;
mod parser;

pub use client::{Client, ClientConfig, State};
pub use encoder::{Event, HEARTBEAT, comment, heartbeat};
pub use error::{EncodeError, ParseError, ResponseError};
pub use parser::{Config, Item, MessageEvent, Parser};
