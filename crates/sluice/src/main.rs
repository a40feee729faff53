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
    /// Run the hub: WebSocket, SSE and long-poll on one port, one replay log per topic.
    Serve(cmd::serve::ServeArgs),
    /// Publish one event to a hub topic.
    Pub(cmd::publish::PubArgs),
    /// Subscribe to a hub topic (transport picked from the URL path) and print events.
    Sub(cmd::sub::SubArgs),
    /// WebSocket client: stdin lines become messages, messages go to stdout.
    Ws(cmd::ws::WsArgs),
    /// Mint a JWT (HS256) for a hub started with --auth-secret.
    Token(cmd::token::TokenArgs),
    /// Server-Sent Events tools: decode a stream, encode events, connect to a server
    /// (`sluice sse URL` is short for `sluice sse connect URL`).
    #[command(subcommand)]
    Sse(cmd::sse::SseCommand),
    /// Long-poll client: print events as JSON lines and resume from cursors.
    Poll(cmd::poll::PollArgs),
    /// Who is subscribed to a hub topic (every node with a shared store).
    Presence(cmd::presence::PresenceArgs),
    /// Relay an upstream event stream (an LLM API, any SSE URL) into a hub topic, then end
    /// the topic: resumable, many followers, any transport.
    Relay(cmd::relay::RelayArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve(a) => cmd::serve::run(a),
        Command::Pub(a) => cmd::publish::run(a),
        Command::Sub(a) => cmd::sub::run(a),
        Command::Ws(a) => cmd::ws::run(a),
        Command::Token(a) => cmd::token::run(a),
        Command::Sse(c) => cmd::sse::run(c),
        Command::Poll(a) => cmd::poll::run(a),
        Command::Presence(a) => cmd::presence::run(a),
        Command::Relay(a) => cmd::relay::run(a),
    };
    std::process::exit(code);
}
