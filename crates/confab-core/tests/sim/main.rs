//! Simulation tests: many `Client`s on a virtual clock, talking through a seeded network.
//! A failing randomized test prints its seed; `CONFAB_SEED=n` replays just that seed.

// Test code: panicking on a broken expectation is the point, and the virtual clock starts
// from one real `Instant::now()`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(clippy::disallowed_methods)]

mod calls;
mod crash;
mod files;
mod governance;
mod mailbox;
mod mesh;
mod net;
mod pair;
mod room;
mod server;
