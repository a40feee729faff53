#![doc = include_str!("../README.md")]

mod backoff;
mod frames;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod hub;
mod position;
mod reconnect;
pub mod relay;

pub use backoff::Backoff;
pub use frames::{Item, PresenceMember};
pub use hub::{
    Event, HubClient, HubClientConfig, PublishError, Status, SubscribeError, Subscription,
    Transport, TransportMode,
};
pub use reconnect::{
    Builder, Closed, ConnState, Overflow, ReconnectConfig, ReconnectingWebSocket, SendError, States,
};
pub use relay::{RelayError, RelaySink, RelaySummary, relay, relay_until};
pub use sluice_longpoll::Start;
pub use sluice_tokio::ws::Message;
