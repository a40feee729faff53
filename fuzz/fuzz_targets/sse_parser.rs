//! Fuzz the SSE parser with peer bytes.
//!
//! Invariants: no panic; memory bounded by the limits (`buffered_len`, event and comment
//! sizes); the same items, final last event ID, retry and error kind whatever the split (the
//! whole input at once vs. reads whose sizes are derived from the input); the borrowed path
//! (`handle_input_with`) reports exactly what the owned one does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_sse::{Config, Item, ParseError, Parser};

const MAX_LINE: usize = 256;
const MAX_EVENT: usize = 1024;

#[derive(Debug, PartialEq)]
struct Outcome {
    items: Vec<Item>,
    error: Option<(u8, usize)>,
    last_event_id: String,
    retry: Option<u64>,
}

fn kind(e: &ParseError) -> (u8, usize) {
    match e {
        ParseError::LineTooLong { max, .. } => (0, *max),
        ParseError::EventTooLarge { max, .. } => (1, *max),
        _ => (255, 0),
    }
}

/// The borrowed path over the same reads: its items (owned copies) and error kind.
fn run_borrowed(
    input: &[u8],
    sizes: &mut dyn Iterator<Item = usize>,
) -> (Vec<Item>, Option<(u8, usize)>) {
    let config = Config::default()
        .with_max_line_length(MAX_LINE)
        .with_max_event_size(MAX_EVENT);
    let mut p = Parser::with_config(config);
    let mut items = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        if let Err(e) = p.handle_input_with(chunk, |it| items.push(it.to_owned())) {
            return (items, Some(kind(&e)));
        }
    }
    (items, None)
}

fn run(input: &[u8], sizes: &mut dyn Iterator<Item = usize>) -> Outcome {
    let config = Config::default()
        .with_max_line_length(MAX_LINE)
        .with_max_event_size(MAX_EVENT);
    let mut p = Parser::with_config(config);
    let mut out = Outcome {
        items: vec![],
        error: None,
        last_event_id: String::new(),
        retry: None,
    };
    let mut rest = input;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let res = p.handle_input(chunk);
        assert!(
            // The event type and last event ID can each grow to three lines' worth: every
            // byte that is not UTF-8 becomes U+FFFD (3 bytes). Found by this target.
            p.buffered_len() <= 7 * MAX_LINE + MAX_EVENT + 3,
            "buffers exceed limits: {}",
            p.buffered_len()
        );
        while let Some(item) = p.poll_item() {
            match &item {
                Item::Event(e) => assert!(e.data.len() <= MAX_EVENT),
                // U+FFFD replacement can triple an invalid byte.
                Item::Comment(c) => assert!(c.len() <= 3 * MAX_LINE),
                _ => {}
            }
            out.items.push(item);
        }
        if let Err(e) = res {
            out.error = Some(kind(&e));
            // Sticky until the end of the stream.
            assert_eq!(p.handle_input(b"\n\n").map_err(|e| kind(&e)), Err(kind(&e)));
            break;
        }
    }
    p.handle_eof();
    assert!(p.poll_item().is_none(), "end of stream dispatches nothing");
    out.last_event_id = p.last_event_id().to_owned();
    out.retry = p.retry();
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let whole = run(input, &mut std::iter::empty());
    let mut state = u32::from(seed) | 1;
    let mut sizes = std::iter::from_fn(|| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        Some((state % 17) as usize + 1)
    });
    let split = run(input, &mut sizes);
    assert_eq!(whole, split);
    let bytewise = run(input, &mut std::iter::repeat(1));
    assert_eq!(whole, bytewise);
    let (items, error) = run_borrowed(input, &mut std::iter::repeat(3));
    assert_eq!(
        (&whole.items, whole.error),
        (&items, error),
        "borrowed path"
    );
});
