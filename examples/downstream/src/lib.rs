//! A tiny chat protocol over `sluice-ws`, standing for "your handler": a server-side room that
//! reads client frames with a sans-IO [`Connection`], treats text messages as commands
//! (`/nick NAME`, `/quit`, anything else is said to the room) and counts what it did.
//! Its tests and fuzz target use only sluice-ws's public features.

use bytes::BytesMut;
use sluice_ws::{Config, Connection, Event, Message, ProtocolError, Role};

/// What the room did with a client's bytes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Lines said to the room, as `nick: text`.
    pub said: Vec<String>,
    /// Binary messages ignored.
    pub ignored: usize,
    /// The client quit (`/quit` or a Close).
    pub quit: bool,
    /// The protocol error the connection failed with.
    pub error: Option<ProtocolError>,
}

/// Reads one client's bytes (in the pieces they arrived in) and runs the room's rules.
pub fn serve<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut conn = Connection::new(
        Role::Server,
        Config::default().with_max_message_size(64 << 10),
    );
    let mut buf = BytesMut::new();
    let mut nick = String::from("anon");
    let mut out = Outcome::default();
    for piece in pieces {
        buf.extend_from_slice(piece);
        if let Err(e) = conn.handle_input(&mut buf) {
            out.error = Some(e);
        }
        // Found by the fuzz target: events after `/quit` that arrived in the same read must not
        // be acted on (the outcome may not depend on how the bytes were cut).
        while let Some(ev) = conn.poll_event() {
            if out.quit {
                break;
            }
            match ev {
                Event::Message(Message::Text(t)) => {
                    if let Some(name) = t.strip_prefix("/nick ") {
                        nick = name.trim().chars().take(32).collect();
                    } else if &*t == "/quit" {
                        out.quit = true;
                    } else {
                        out.said.push(format!("{nick}: {t}"));
                    }
                }
                Event::Message(Message::Binary(_)) => out.ignored += 1,
                Event::CloseReceived { .. } => out.quit = true,
                _ => {}
            }
        }
        while conn.poll_transmit().is_some() {}
        if out.error.is_some() || out.quit {
            break;
        }
    }
    out
}
