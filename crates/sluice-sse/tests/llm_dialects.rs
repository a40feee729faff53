//! The LLM dialect rules (`llm::Completion`) against recorded stream shapes of each dialect
//! (`tests/fixtures/llm/`, written from the public references listed in its README): complete
//! streams are done with the whole text, cut streams are not finished, error streams fail with
//! the error's kind and message — under `Dialect::Auto` and under the stream's own dialect,
//! whatever the read sizes.
#![cfg(feature = "llm")]

use sluice_sse::llm::{Completion, Dialect, Signal, text_delta};
use sluice_sse::{Item, Parser};

const TEXT: &str = "Hello! How can I help?";

/// What a stream should come to.
#[derive(Debug, PartialEq)]
enum Want {
    Done,
    Cut,
    Failed(&'static str, &'static str),
}

const CASES: &[(&str, Dialect, Want)] = &[
    ("openai_chat", Dialect::OpenAiChat, Want::Done),
    ("openai_chat_cut", Dialect::OpenAiChat, Want::Cut),
    (
        "openai_chat_error",
        Dialect::OpenAiChat,
        Want::Failed("server_error", "The server had an error"),
    ),
    ("openai_responses", Dialect::OpenAiResponses, Want::Done),
    (
        "openai_responses_failed",
        Dialect::OpenAiResponses,
        Want::Failed("server_error", ""),
    ),
    (
        "openai_responses_incomplete",
        Dialect::OpenAiResponses,
        Want::Failed("response.incomplete", "max_output_tokens"),
    ),
    (
        "openai_responses_error",
        Dialect::OpenAiResponses,
        Want::Failed("server_is_overloaded", ""),
    ),
    ("anthropic", Dialect::Anthropic, Want::Done),
    ("anthropic_cut", Dialect::Anthropic, Want::Cut),
    (
        "anthropic_error",
        Dialect::Anthropic,
        Want::Failed("overloaded_error", "Overloaded"),
    ),
    ("vercel_ui", Dialect::VercelUi, Want::Done),
    (
        "vercel_ui_error",
        Dialect::VercelUi,
        Want::Failed("error", ""),
    ),
    ("sluice", Dialect::Sluice, Want::Done),
];

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/tests/fixtures/llm/{name}.sse",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Runs the stream in `read`-byte pieces until the first terminal event; returns the outcome,
/// the text and the signals seen.
fn run(bytes: &[u8], read: usize, dialect: Dialect) -> (Completion, String, Vec<Signal>) {
    let mut p = Parser::new();
    let mut c = Completion::new(dialect);
    let mut text = String::new();
    let mut signals = Vec::new();
    'feed: for piece in bytes.chunks(read) {
        p.handle_input(piece).unwrap();
        while let Some(item) = p.poll_item() {
            if let Item::Event(e) = item {
                if let Some(t) = text_delta(&e) {
                    text.push_str(&t);
                }
                let s = c.handle_event(&e);
                let end = matches!(s, Signal::Done | Signal::Failed(_));
                signals.push(s);
                if end {
                    break 'feed;
                }
            }
        }
    }
    (c, text, signals)
}

#[test]
fn every_fixture_ends_as_its_dialect_says() {
    for (name, dialect, want) in CASES {
        let bytes = fixture(name);
        for d in [Dialect::Auto, *dialect] {
            for read in [1, 7, 1460, usize::MAX] {
                let (c, text, signals) = run(&bytes, read.min(bytes.len()), d);
                let ctx = format!("{name} as {} in {read}-byte reads", d.name());
                match want {
                    Want::Done => {
                        assert!(c.is_done(), "{ctx}: {signals:?}");
                        if *name != "sluice" {
                            assert_eq!(text, TEXT, "{ctx}");
                        }
                    }
                    Want::Cut => {
                        assert!(!c.is_finished(), "{ctx}: {signals:?}");
                        assert!(TEXT.starts_with(&text) && !text.is_empty(), "{ctx}: {text}");
                    }
                    Want::Failed(kind, message) => {
                        let Some(Err(e)) = c.outcome() else {
                            panic!("{ctx}: not failed: {signals:?}")
                        };
                        assert_eq!(e.kind, *kind, "{ctx}: {e}");
                        assert!(e.message.contains(message), "{ctx}: {e}");
                        assert!(!e.message.is_empty(), "{ctx}");
                    }
                }
                if d != Dialect::Auto || *name != "sluice" {
                    assert_eq!(c.detected(), Some(*dialect), "{ctx}");
                }
            }
        }
    }
}

#[test]
fn keep_alives_are_not_content() {
    let (_, _, signals) = run(&fixture("anthropic"), usize::MAX, Dialect::Auto);
    assert!(signals.contains(&Signal::KeepAlive), "{signals:?}");
}

#[test]
fn another_dialect_does_not_end_the_stream() {
    // Under the Anthropic rules a Chat Completions stream never ends: `[DONE]` is not its end.
    let (c, _, _) = run(&fixture("openai_chat"), usize::MAX, Dialect::Anthropic);
    assert!(!c.is_finished());
    let (c, _, _) = run(&fixture("anthropic"), usize::MAX, Dialect::OpenAiChat);
    assert!(!c.is_finished());
}

#[test]
fn names_round_trip() {
    for d in Dialect::ALL {
        assert_eq!(Dialect::from_name(d.name()), Some(d));
    }
    assert_eq!(Dialect::from_name("gpt"), None);
}
