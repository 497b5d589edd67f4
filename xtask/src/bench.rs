//! `cargo xtask bench`: the benchmark suites, as steps: confab-core's criterion
//! benches, then the browser bench (`confab-browser-bench` in the e2e crate)
//! against a release build, in a loopback-only network namespace like the
//! end-to-end tests. Its figures land in `target/bench/browser.json`. Then the
//! server load bench (`confab-load-bench`, crates/confab-load): Confab's release
//! server against the y-webrtc and PeerJS signalling servers (npm, installed into
//! `target/bench` first), also in a loopback-only namespace; figures in
//! `target/bench/load.json`. `CONFAB_LOAD_ONLY=traffic|idle|cluster` (comma-separated)
//! narrows the load bench to some of its scenarios.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::{
    build,
    install::{self, Browser},
    steps::Steps,
    test,
};

pub(crate) fn run(sh: &Shell, root: &Path) -> Result<()> {
    install::run(sh, root, Browser::Needed)?;
    let mut steps = Steps::new("bench", 3);
    steps.run(
        "confab-core (criterion): cargo bench -p confab-core --benches",
        || {
            cmd!(sh, "cargo bench -p confab-core --benches").run()?;
            Ok(())
        },
    );
    steps.run(
        "browser: release build, confab-browser-bench in a loopback-only netns",
        || browser(sh, root),
    );
    steps.run(
        "server load: confab-load-bench (confab, y-webrtc, peerjs) in a loopback-only netns",
        || load(sh, root),
    );
    steps.finish()
}

/// Builds the release server and the load bench, installs the npm baselines (the
/// namespace has no network), then runs the bench inside the namespace.
fn load(sh: &Shell, root: &Path) -> Result<()> {
    cmd!(sh, "cargo build --release -p confab-server").run()?;
    cmd!(
        sh,
        "cargo build --release -p confab-load --bin confab-load-bench"
    )
    .run()?;
    let target = root.join("target");
    let bench_dir = target.join("bench");
    let bin = target.join("release").join("confab-load-bench");
    cmd!(sh, "{bin} --install-only --node-dir {bench_dir}").run()?;
    let bin = bin.to_str().context("the target directory is not UTF-8")?;
    test::in_netns(sh, &[bin])?
        .env(
            "CONFAB_SERVER_BIN",
            target.join("release").join("confab-server"),
        )
        .env("CONFAB_BENCH_NODE_DIR", &bench_dir)
        .env("CONFAB_BENCH_OUT", bench_dir.join("load.json"))
        .run()?;
    Ok(())
}

/// Builds the app and server, and the bench binary, outside the namespace (it
/// has no network); then runs the binary inside it.
fn browser(sh: &Shell, root: &Path) -> Result<()> {
    // With the benchmark hooks, and apart from `dist/`: release builds never have them.
    let dist = root.join("target").join("bench").join("dist");
    build::run_with(sh, root, &dist, build::Hooks::Bench)?;
    // The bench profile (opt-level 3, like criterion's build), not release: the
    // release profile builds for size, which would slow the native half of the
    // wasm-versus-native seal+open comparison. Its output still goes to
    // target/release.
    cmd!(
        sh,
        "cargo build -p confab-e2e --bin confab-browser-bench --profile bench"
    )
    .run()?;
    let target = root.join("target");
    let bin = target.join("release").join("confab-browser-bench");
    let bin = bin.to_str().context("the target directory is not UTF-8")?;
    test::in_netns(sh, &[bin])?
        .env("CONFAB_DIST", &dist)
        .env(
            "CONFAB_SERVER_BIN",
            target.join("release").join("confab-server"),
        )
        .env("CONFAB_E2E_OUT", target.join("e2e"))
        .env(
            "CONFAB_BENCH_OUT",
            target.join("bench").join("browser.json"),
        )
        .run()?;
    Ok(())
}
