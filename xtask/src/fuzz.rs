//! `cargo xtask fuzz <target> [--secs N] [--runs N] [--cmin] [--no-sanitizer]`: runs one cargo-fuzz target
//! of `fuzz/` for a bounded time or number of executions. Installs the nightly toolchain
//! and cargo-fuzz when missing.
//!
//! New inputs are written to `fuzz/target/corpus/<target>/` (not committed); the committed,
//! minimised corpus `fuzz/corpus/<target>/` is read as a seed and replayed by the owning
//! crate's tests on every `cargo test`. `--cmin` merges the new inputs into it and
//! minimises it again.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

/// Every target, with the crate whose tests replay its corpus.
pub(crate) const TARGETS: &[(&str, &str)] = &[
    ("socket", "confab-server (src/fuzzing.rs)"),
    ("records", "confab-core (src/fuzzing.rs)"),
    ("mailbox", "confab-core (src/fuzzing.rs)"),
    ("vault", "confab-core (src/fuzzing.rs)"),
    ("signal", "confab-core (src/fuzzing.rs)"),
    ("call", "confab-core (src/fuzzing.rs)"),
    ("wire", "none (no committed corpus)"),
    ("client", "confab-core (src/fuzzing.rs)"),
];

/// How long to fuzz: seconds (0: no limit) and executions (None: no limit).
pub(crate) struct Budget {
    pub(crate) secs: u32,
    pub(crate) runs: Option<u64>,
}

/// What else a run does.
pub(crate) struct Options {
    /// Merge new inputs into the committed corpus and minimise it afterwards.
    pub(crate) cmin: bool,
    /// Build with AddressSanitizer (cargo-fuzz's default).
    pub(crate) sanitizer: bool,
}

pub(crate) fn run(
    sh: &Shell,
    root: &Path,
    target: &str,
    budget: Budget,
    options: Options,
) -> Result<()> {
    let Options { cmin, sanitizer } = options;
    let sanitizer: &[&str] = if sanitizer {
        &[]
    } else {
        &["--sanitizer", "none"]
    };
    let fuzz_dir = root.join("fuzz");
    let target_file = fuzz_dir.join("fuzz_targets").join(format!("{target}.rs"));
    if !target_file.exists() || !TARGETS.iter().any(|(name, _)| *name == target) {
        let known: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
        bail!(
            "no fuzz target {target:?} (looked for {}); targets: {}",
            target_file.display(),
            known.join(", ")
        );
    }
    if budget.secs == 0 && budget.runs.is_none() {
        bail!("give --secs or --runs: a fuzz run must be bounded");
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
    let committed = fuzz_dir.join("corpus").join(target);
    let found = fuzz_dir.join("target").join("corpus").join(target);
    fs::create_dir_all(&committed)?;
    fs::create_dir_all(&found)?;
    // The final stats give the executions and executions/second of the run.
    let mut limits = vec![
        format!("-max_total_time={}", budget.secs),
        "-print_final_stats=1".to_owned(),
    ];
    if let Some(runs) = budget.runs {
        limits.push(format!("-runs={runs}"));
    }
    // Release with debug assertions: overflow checks catch arithmetic on peer lengths.
    cmd!(
        sh,
        "cargo +nightly fuzz run --release --debug-assertions {sanitizer...} {target} {found} {committed} -- {limits...}"
    )
    .run()
    .with_context(|| format!("fuzz target {target} found a failure: see fuzz/artifacts/{target}/"))?;
    if cmin {
        for entry in fs::read_dir(&found)? {
            let path = entry?.path();
            if let Some(name) = path.file_name() {
                fs::copy(&path, committed.join(name))?;
            }
        }
        // Minimised on edges, not hit counts: the same coverage in tens of files.
        cmd!(
            sh,
            "cargo +nightly fuzz cmin --release --debug-assertions {sanitizer...} {target} {committed} -- -use_counters=0"
        )
        .run()?;
        let n = fs::read_dir(&committed)?.count();
        println!("fuzz: fuzz/corpus/{target}/ holds {n} inputs after cmin");
    }
    Ok(())
}
