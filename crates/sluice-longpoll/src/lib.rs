#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "arbitrary")]
pub mod arbitrary;
pub mod client;
pub mod cursor;
pub mod log;
pub mod query;
pub mod response;
pub mod server;
#[cfg(feature = "proptest")]
pub mod strategy;

/// The protocol this crate implements, as specified (`docs/longpoll.md` of the repository).
#[doc = include_str!("../PROTOCOL.md")]
pub mod protocol {}

pub use client::{Client, ClientConfig, ClientError, ClientEvent, ReceivedEvent};
pub use cursor::{Cursor, CursorError, EncodedCursor};
pub use log::{AppendError, Batch, END_EVENT_TYPE, Event, Log, LogConfig, ReadLimits, ReadOutcome};
pub use query::{QueryError, Request, Start};
pub use response::{Response, StatusCode};
pub use server::{Handled, PublishError, Server, ServerConfig, WaiterId};
