//! The `sluice` command line: `serve` (the hub), and clients for each transport.

mod cmd;

use clap::{Parser, Subcommand};

/// Real-time push over WebSocket, Server-Sent Events and long-polling.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Server-Sent Events tools: decode a stream, encode events, connect to a server.
    #[command(subcommand)]
    Sse(cmd::sse::SseCommand),
    /// Long-poll client: print events as JSON lines and resume from cursors.
    Poll(cmd::poll::PollArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Sse(c) => cmd::sse::run(c),
        Command::Poll(a) => cmd::poll::run(a),
    };
    std::process::exit(code);
}
