//! `sluice publish` (being written).

/// Arguments of `sluice publish`.
#[derive(Debug, clap::Args)]
pub(crate) struct PubArgs {}

pub(crate) fn run(_a: PubArgs) -> i32 {
    eprintln!("sluice: this subcommand is not available yet");
    2
}
