//! Server-Sent Events over the [`http`](sluice_http) layer, on top of the sans-IO
//! [`sluice_sse`] parser, encoder and reconnection state machine.
//!
//! **Server**: [`SseWriter`] turns a [`Request`](sluice_http::Request) into a
//! `text/event-stream` response: the head goes out at once (`Content-Type:
//! text/event-stream`, `Cache-Control: no-cache`, `X-Accel-Buffering: no`), then each event as
//! one flushed piece (chunked for HTTP/1.1, close-delimited for HTTP/1.0). It sends heartbeat
//! comments when idle ([`SseWriterConfig::heartbeat_interval`]) and notices a client that went
//! away while waiting ([`SseWriter::idle`], [`SseWriter::forward`]). Broadcasts encode once
//! ([`Event::to_bytes`]) and write the shared [`Bytes`](bytes::Bytes) to every subscriber
//! ([`SseWriter::send_bytes`]).
//!
//! **Client**: [`SseClient`] is an `EventSource` for any request (method, fields, body) over
//! `http://` or a caller's [`Connector`](sluice_http::Connector) (TLS): redirects followed,
//! `Last-Event-ID` sent, reconnection per the WHATWG rules (`retry`, exponential backoff with
//! jitter from `getrandom`, `204` stops, another status or content type is fatal), a read
//! timeout for half-open connections. Items come from [`SseClient::next`] or as a
//! [`futures_core::Stream`] ([`SseClient::into_stream`]).
//!
//! Not done here: routing and topics (the hub's job), `https` itself (bring a connector),
//! cookies and credentials modes of browsers.

mod client;
mod server;

pub use client::{Disconnect, SseClient, SseClientConfig, SseError, SseEvent};
pub use server::{ForwardEnd, Idle, SendError, SseWriter, SseWriterConfig};
/// The protocol types this module's API speaks (from `sluice-sse`), re-exported so users need
/// no direct dependency.
pub use sluice_sse::{
    ClientConfig as ReconnectConfig, Config as ParserConfig, EncodeError, Event, Item,
    MessageEvent, ParseError, ResponseError, State, comment, heartbeat,
};
