//! sluice-tokio (under construction).
