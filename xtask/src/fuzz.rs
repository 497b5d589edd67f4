//! `cargo xtask fuzz <target> --secs N`: runs one cargo-fuzz target of `fuzz/` for a
//! bounded time. Installs the nightly toolchain and cargo-fuzz when missing.

use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

pub(crate) fn run(sh: &Shell, root: &Path, target: &str, secs: u32) -> Result<()> {
    let fuzz_dir = root.join("fuzz");
    let target_file = fuzz_dir.join("fuzz_targets").join(format!("{target}.rs"));
    if !target_file.exists() {
        bail!(
            "no fuzz target {target:?} (looked for {})",
            target_file.display()
        );
    }
    if cmd!(sh, "rustup run nightly rustc --version")
        .quiet()
        .ignore_stderr()
        .read()
        .is_err()
    {
        println!("fuzz: installing the nightly toolchain (cargo-fuzz needs it)");
        cmd!(sh, "rustup toolchain install nightly --profile minimal").run()?;
    }
    if cmd!(sh, "cargo +nightly fuzz --version")
        .quiet()
        .ignore_stderr()
        .read()
        .is_err()
    {
        println!("fuzz: installing cargo-fuzz (a few minutes, once)");
        cmd!(sh, "cargo +nightly install cargo-fuzz --locked").run()?;
    }
    let _dir = sh.push_dir(&fuzz_dir);
    let max_time = format!("-max_total_time={secs}");
    cmd!(sh, "cargo +nightly fuzz run {target} -- {max_time}")
        .run()
        .with_context(|| {
            format!("fuzz target {target} found a failure: see fuzz/artifacts/{target}/")
        })?;
    Ok(())
}
