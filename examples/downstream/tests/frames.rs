//! The room, property-tested on sluice-ws's public generators: whatever a real client sends,
//! cut however the network cuts it, every text message is said exactly once, in order.

use proptest::prelude::*;
use sluice_ws::split::pieces;
use sluice_ws::{Message, Role, strategy};

proptest! {
    #[test]
    fn every_text_message_is_said_once_in_order(
        client in strategy::frames(Role::Client),
        cuts in strategy::cuts(8192),
    ) {
        let out = downstream_chat::serve(pieces(&client.bytes, &cuts));
        prop_assert_eq!(out.error, None);
        let mut nick = String::from("anon");
        let mut expected = Vec::new();
        for m in &client.messages {
            match m {
                Message::Text(t) if t.starts_with("/nick ") => nick = t["/nick ".len()..].trim().chars().take(32).collect(),
                Message::Text(t) if &**t == "/quit" => break,
                Message::Text(t) => expected.push(format!("{nick}: {t}")),
                Message::Binary(_) => {}
            }
        }
        prop_assert_eq!(out.said, expected);
    }
}

/// The case the fuzz target found: `/quit` and a message after it in one read. Nothing after
/// `/quit` is said, however the two frames arrive.
#[test]
fn nothing_after_quit_whatever_the_reads() {
    use sluice_ws::{Config, Connection};
    let mut client =
        Connection::new(Role::Client, Config::default()).with_mask_source(|| [1, 2, 3, 4]);
    client.send(Message::text("/quit")).unwrap();
    client.send(Message::text("after")).unwrap();
    let mut bytes = Vec::new();
    while let Some(t) = client.poll_transmit() {
        bytes.extend_from_slice(t.header());
        bytes.extend_from_slice(t.payload());
    }
    let out = sluice_ws::split::same_under_splits(&bytes, sluice_ws::split::Splits::Every, |p| {
        downstream_chat::serve(p)
    });
    assert!(out.quit);
    assert!(out.said.is_empty(), "{:?}", out.said);
}
