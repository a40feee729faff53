//! proptest: arbitrary events → encoder → bytes cut at arbitrary points → parser gives back
//! exactly the events (data line endings normalised to LF), `retry` values and comments.

use bytes::BytesMut;
use proptest::prelude::*;
use sluice_sse::{Event, Item, MessageEvent, Parser};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Model {
    comments: Vec<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    data: Option<String>,
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a :\r\n\t\u{0}é日😀\u{FEFF}]{0,12}",
        any::<String>(),
        Just(String::new()),
    ]
}

fn line_text() -> impl Strategy<Value = String> {
    text().prop_map(|s| s.replace(['\r', '\n'], ""))
}

fn model() -> impl Strategy<Value = Model> {
    (
        prop::collection::vec(text(), 0..3),
        prop::option::of(line_text()),
        prop::option::of(line_text().prop_map(|s| s.replace('\0', ""))),
        prop::option::of(0u64..10_000_000),
        prop::option::of(text()),
    )
        .prop_map(|(comments, event, id, retry, data)| Model {
            comments,
            event,
            id,
            retry,
            data,
        })
}

fn split_lines(s: &str) -> Vec<String> {
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .split('\n')
        .map(str::to_owned)
        .collect()
}

fn expected(models: &[Model]) -> Vec<Item> {
    let mut id = String::new();
    let mut items = vec![];
    for m in models {
        for c in &m.comments {
            items.extend(split_lines(c).into_iter().map(Item::Comment));
        }
        if let Some(r) = m.retry {
            items.push(Item::Retry(r));
        }
        if let Some(new) = &m.id {
            id = new.clone();
        }
        if let Some(d) = &m.data {
            items.push(Item::Event(MessageEvent::new(
                m.event.clone().unwrap_or_default(),
                split_lines(d).join("\n"),
                &id,
            )));
        }
    }
    items
}

fn encode(models: &[Model]) -> BytesMut {
    let mut buf = BytesMut::new();
    for m in models {
        let mut e = Event::new();
        for c in &m.comments {
            e = e.comment(c.clone());
        }
        if let Some(v) = &m.event {
            e = e.event(v.clone());
        }
        if let Some(v) = &m.id {
            e = e.id(v.clone());
        }
        if let Some(v) = m.retry {
            e = e.retry(Duration::from_millis(v));
        }
        if let Some(v) = &m.data {
            e = e.data(v.clone());
        }
        e.encode(&mut buf).unwrap();
    }
    buf
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_parse_round_trip(
        models in prop::collection::vec(model(), 0..6),
        cuts in prop::collection::vec(1usize..40, 0..64),
        bom in any::<bool>(),
    ) {
        let mut bytes = encode(&models).to_vec();
        if bom {
            bytes.splice(0..0, *b"\xEF\xBB\xBF");
        }
        let mut p = Parser::new();
        let mut got = vec![];
        let mut rest = &bytes[..];
        for n in cuts.iter().copied().cycle().take(bytes.len()) {
            let (chunk, tail) = rest.split_at(n.min(rest.len()));
            p.handle_input(chunk).unwrap();
            got.extend(std::iter::from_fn(|| p.poll_item()));
            rest = tail;
        }
        p.handle_input(rest).unwrap();
        p.handle_eof();
        got.extend(std::iter::from_fn(|| p.poll_item()));
        prop_assert_eq!(got, expected(&models));
    }
}
