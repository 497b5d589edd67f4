//! `cargo xtask sim --governance` and the test step that runs it: the governance
//! simulation's sweep (issue 17: "50 members with churn, partitions and loss ... 1,000
//! seeds in CI"), seeds `0..n` on two threads, a line a seed, every failing seed listed
//! with the check it failed (seeds known to fail apart: [`KNOWN_FAILING`]).
//!
//! It runs the dev-profile test binary that the native test step built (confab-core is
//! at opt-level 3 there, see Cargo.toml), for the same packages so that cargo reuses it:
//! at 3fb21f0 a seed costs about 6.6 s of CPU there against 6.1 s in the `sim` profile
//! (seed 3, load 10 on 2 cores), and building the `sim` profile would cost minutes.

use std::time::Instant;

use anyhow::{Result, bail};
use xshell::{Shell, cmd};

/// Seeds `cargo xtask test` sweeps: those swept at fb9a567 (0..100; about 4.5 s CPU a
/// seed, so about 4 min on 2 idle cores). Issue 17 asks for 1,000: about 40 min on 2
/// cores, more than CI's 90 min hold with the other steps; raise it as seeds are swept
/// and the budget allows.
pub(crate) const TEST_SEEDS: u64 = 100;

/// Seeds of `0..TEST_SEEDS` known to fail (convergence; fixes under way in core): listed
/// with their checks like any failing seed, but the step fails only for others, and says
/// when one of them passes (then take it off this list).
pub(crate) const KNOWN_FAILING: &[u64] = &[];

/// The packages of the native test step (`test.rs`): the same set, so cargo reuses its
/// build of the simulation instead of building confab-core again with other features.
const PACKAGES: &[&str] = &[
    "-p",
    "confab-core",
    "-p",
    "confab-server",
    "-p",
    "confab-load",
    "-p",
    "xtask",
];

/// Sweeps seeds `0..seeds` of the governance simulation; fails if a seed not in
/// [`KNOWN_FAILING`] fails.
pub(crate) fn governance(sh: &Shell, seeds: u64) -> Result<()> {
    let started = Instant::now();
    // Built first (a no-op after the native step), so that the time printed after is the
    // sweep's own.
    cmd!(sh, "cargo test {PACKAGES...} --test sim --no-run").run()?;
    let built = started.elapsed().as_secs_f64();
    let known: Vec<String> = KNOWN_FAILING
        .iter()
        .filter(|seed| **seed < seeds)
        .map(u64::to_string)
        .collect();
    let swept = cmd!(
        sh,
        "cargo test {PACKAGES...} --test sim governance::fifty -- --nocapture"
    )
    .env("CONFAB_GOVERNANCE_SEEDS", seeds.to_string())
    .env("CONFAB_GOVERNANCE_KNOWN_FAILING", known.join(","))
    .env("CONFAB_SIM_VERBOSE", "1")
    .run();
    let secs = started.elapsed().as_secs_f64();
    println!("governance sweep of {seeds} seeds: {secs:.0} s wall ({built:.0} s of it building)");
    if swept.is_err() {
        bail!("the governance sweep failed (every failing seed is listed above with its check)");
    }
    Ok(())
}
