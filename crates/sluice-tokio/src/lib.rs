//! sluice-tokio (under construction): tokio drivers for the Sluice protocol crates.

pub mod http;
pub mod longpoll;
pub mod ws;
