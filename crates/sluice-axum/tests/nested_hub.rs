//! The hub's own end-to-end tests (`crates/sluice-hub/tests/transports.rs` and `security.rs`,
//! unchanged), run against the hub nested under `/rt` of an axum app through
//! [`HubService`](sluice_axum::HubService): every transport, resume, gap/reset, the one cursor
//! space, JWT auth, Origin checks — served by `axum::serve` instead of the hub's listener.
#![allow(missing_docs)]
// Each included test file declares `mod common;` (the harness), as it does in sluice-hub.
#![allow(clippy::duplicate_mod)]

use axum::Router;
use axum::routing::get;
use sluice_axum::HubServiceExt;
use sluice_hub::Hub;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves `hub` at `/rt` of an app that has a route of its own, the way a user nests it.
pub fn serve_under_test(
    l: TcpListener,
    hub: Hub,
) -> (JoinHandle<std::io::Result<()>>, &'static str) {
    let app = Router::new()
        .route("/", get(|| async { "the app's own page" }))
        .nest_service("/rt", hub.service());
    (
        tokio::spawn(async move { axum::serve(l, app).await }),
        "/rt",
    )
}

#[path = "../../sluice-hub/tests/transports.rs"]
mod transports;

#[path = "../../sluice-hub/tests/security.rs"]
mod security;
