//! `sluice serve` (being written).

/// Arguments of `sluice serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {}

pub(crate) fn run(_a: ServeArgs) -> i32 {
    eprintln!("sluice: this subcommand is not available yet");
    2
}
