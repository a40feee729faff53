//! sluice-ws (under construction).
