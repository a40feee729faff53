//! sluice-ws client connection fed arbitrary server bytes. Invariants: see ws_conn_common.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "ws_conn_common.rs"]
mod common;

fuzz_target!(|data: &[u8]| common::run(sluice_ws::Role::Client, data));
