//! sluice-hub (under construction).
