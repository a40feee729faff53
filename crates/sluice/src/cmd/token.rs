//! `sluice token` (being written).

/// Arguments of `sluice token`.
#[derive(Debug, clap::Args)]
pub(crate) struct TokenArgs {}

pub(crate) fn run(_a: TokenArgs) -> i32 {
    eprintln!("sluice: this subcommand is not available yet");
    2
}
