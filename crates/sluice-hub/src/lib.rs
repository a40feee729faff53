#![doc = include_str!("../README.md")]

mod auth;
mod config;
mod frames;
mod hub;
mod jwt;
mod metrics;
mod origin;
mod presence;
mod presence_sync;
mod query;
mod replica;
mod server;
mod sse;
mod topic;
mod ws;

/// The hub's HTTP API, as specified (`docs/hub.md` of the repository): routes, statuses, JSON
/// shapes, auth, limits.
#[doc = include_str!("../API.md")]
pub mod api {}

pub use auth::{Action, Claims, TokenError, Verifier, mint_token};
pub use config::HubConfig;
pub use hub::{Hub, PublishError, RESERVED_PREFIX, SYS_METRICS_TOPIC};
pub use metrics::MetricsSnapshot;
pub use presence::Member;
pub use topic::{MAX_TOPIC_LEN, is_valid_topic, pattern_matches};

pub use sluice_http::ServerConfig;
/// The protocol and HTTP types this crate's API speaks, re-exported so embedders need no
/// direct dependency.
pub use sluice_longpoll::{Cursor, LogConfig};
/// The store seam ([`Hub::with_store`]), re-exported.
pub use sluice_store as store;
