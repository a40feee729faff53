//! One module per subcommand. Each exposes its clap arguments and a
//! `run(args) -> i32` returning the process exit code.

pub(crate) mod poll;
pub(crate) mod sse;
