//! `sluice ws` (being written).

/// Arguments of `sluice ws`.
#[derive(Debug, clap::Args)]
pub(crate) struct WsArgs {}

pub(crate) fn run(_a: WsArgs) -> i32 {
    eprintln!("sluice: this subcommand is not available yet");
    2
}
