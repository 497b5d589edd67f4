//! Public-API suite: real WebSocket and HTTP clients against an in-process server on
//! 127.0.0.1:0. Every wait is bounded by `harness::WAIT`.

// clippy.toml's allow-*-in-tests covers `#[test]` functions only, not the harness helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod cluster;
mod deposits;
mod flood;
mod http;
mod limits;
mod mailbox;
mod metrics;
mod per_ip;
mod relay;
mod shutdown;
mod signalling;
