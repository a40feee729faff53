//! sluice-sse (under construction).
