//! Confab's server load benchmark (issue 6): thousands of WebSocket clients in rooms of
//! five, on loopback only, against `confab-server` and, as baselines, the signalling
//! servers of y-webrtc and PeerJS under the same load. It measures delivered/expected,
//! p50/p99 latency, server memory per connection and server CPU; also idle connections
//! (memory) and two Confab nodes over NATS against one (added latency).
//!
//! ```text
//! protocol    what one client says, and how it reads what arrives (three protocols)
//! client      one client: connect, join, send on schedule, record deliveries
//! scenario    one run: N clients, the measurements around them
//! servers     the servers as child processes (and npm install of the baselines)
//! proc_stats  /proc: RSS, CPU time; RLIMIT_NOFILE
//! report      load.json, the comparison with the goals, the printed table
//! ```
//!
//! The `confab-load-bench` binary runs the whole benchmark (`cargo xtask bench` runs it
//! in a loopback-only network namespace); `tests/smoke.rs` runs a small load against an
//! in-process server on every `cargo xtask test`.

pub mod abuse;
pub mod client;
pub mod proc_stats;
pub mod protocol;
pub mod report;
pub mod scenario;
pub mod servers;

pub use protocol::Protocol;
pub use scenario::{RunConfig, RunResult, Target};
