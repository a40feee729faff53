//! The example downstream crate's fuzz target (`examples/downstream`), as docs/fuzzing.md shows
//! a user writing one: arbitrary client frames from `sluice_ws::arbitrary`, fed to the user's
//! handler in arbitrary cuts. Invariant: a valid client never makes the room fail, and every
//! text message that is not a command is said exactly once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_ws::arbitrary::WireFrames;
use sluice_ws::split::pieces;
use sluice_ws::{Message, Role};

fuzz_target!(|input: (WireFrames, Vec<usize>)| {
    let (client, cuts) = input;
    if client.role != Role::Client {
        return;
    }
    let out = downstream_chat::serve(pieces(&client.bytes, &cuts));
    assert_eq!(out.error, None);
    let plain = client
        .messages
        .iter()
        .take_while(|m| !matches!(m, Message::Text(t) if &**t == "/quit"))
        .filter(|m| matches!(m, Message::Text(t) if !t.starts_with("/nick ")))
        .count();
    assert_eq!(out.said.len(), plain);
});
