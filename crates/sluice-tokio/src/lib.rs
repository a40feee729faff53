#![doc = include_str!("../README.md")]

pub mod longpoll;
pub mod sse;
pub mod ws;
