//! Test support shared by this crate's integration tests.
#![allow(dead_code)]

pub mod fault_proxy;
pub mod hub_process;
pub mod llm_upstream;
