//! Shared helpers for the Sluice benchmarks.
