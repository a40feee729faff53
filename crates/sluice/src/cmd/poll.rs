//! `sluice poll URL` (being written).

/// Arguments of `sluice poll`.
#[derive(Debug, clap::Args)]
pub(crate) struct PollArgs {
    /// The long-poll endpoint, e.g. http://127.0.0.1:8080/poll/news
    url: String,
}

pub(crate) fn run(a: PollArgs) -> i32 {
    eprintln!("sluice poll {}: not available yet", a.url);
    2
}
