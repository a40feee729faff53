//! One module per subcommand. Each exposes its clap arguments and a
//! `run(args) -> i32` returning the process exit code.

pub(crate) mod poll;
pub(crate) mod presence;
pub(crate) mod publish;
pub(crate) mod relay;
pub(crate) mod serve;
pub(crate) mod sse;
pub(crate) mod sub;
pub(crate) mod tls;
pub(crate) mod token;
pub(crate) mod ws;
