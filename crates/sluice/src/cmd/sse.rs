//! `sluice sse ...` (being written).

/// `sluice sse` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum SseCommand {}

pub(crate) fn run(c: SseCommand) -> i32 {
    match c {}
}
