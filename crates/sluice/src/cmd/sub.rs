//! `sluice sub` (being written).

/// Arguments of `sluice sub`.
#[derive(Debug, clap::Args)]
pub(crate) struct SubArgs {}

pub(crate) fn run(_a: SubArgs) -> i32 {
    eprintln!("sluice: this subcommand is not available yet");
    2
}
