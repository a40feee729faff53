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
