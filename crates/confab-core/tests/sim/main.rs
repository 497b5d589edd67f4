//! Simulation tests: many `Client`s on a virtual clock, talking through a seeded network.
//! A failing randomized test prints its seed; `CONFAB_SEED=n` replays just that seed.

mod net;
mod pair;
mod mesh;
