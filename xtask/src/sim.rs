//! `cargo xtask sim --governance` and the test step that runs it: the governance
//! simulation's sweep (issue 17: "50 members with churn, partitions and loss ... 1,000
//! seeds in CI"), seeds `0..n` on two threads, a line a seed, every failing seed listed
//! with the check it failed (seeds known to fail apart: [`KNOWN_FAILING`]).
//!
//! It runs the dev-profile test binary that the native test step built (confab-core is
//! at opt-level 3 there, see Cargo.toml), for the same packages so that cargo reuses it:
//! at 3fb21f0 a seed costs about 6.6 s of CPU there against 6.1 s in the `sim` profile
//! (seed 3, load 10 on 2 cores), and building the `sim` profile would cost minutes.
//! `cargo xtask test` starts it right after the native step and lets it run, at the lowest
//! priority, beside the browser steps (whose CPU idles while browsers wait on timers and
//! the network), and waits for it at the end ([`Background`]).

use std::{
    fs::{self, File},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command},
    time::Instant,
};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

/// Seeds `cargo xtask test` sweeps. Issue 17 asks for 1,000. In the clean-clone pre-check of
/// a62e9ef (2 cores) 300 seeds ran 2,576 s wall beside the browser steps, of which only 416 s
/// came after them (about 18 seeds a minute alone); the whole check took 3,682 s. So each
/// 100 seeds past 300 add about 5.5 min: 500 take it to about 72 min, 1,000 would be about
/// 100. Raise it as a seed gets cheaper.
pub(crate) const TEST_SEEDS: u64 = 500;

/// Seeds of `0..TEST_SEEDS` known to fail (fixes under way in core): listed with their
/// checks like any failing seed, but the step fails only for others, and says when one of
/// them passes (then take it off this list). Swept on 51936ab (every seed's scenario changed
/// with the Lamport order of bundles and the remover's promotion in removal news). Safety:
/// 435 (a removed member holds an event of the winning epoch 7, its own 7 a rival that
/// lost). Convergence: 71, 77, 183 and 459 (members in other epochs or rooms than the
/// owner's), 113 (a newcomer in a removed admin's rival epoch nobody deposits into: fix on
/// branch `wip-113`), 312 (a newcomer let in by nobody with the right to is not told). See
/// the session 22 note on issue 17.
pub(crate) const KNOWN_FAILING: &[u64] = &[71, 77, 113, 183, 312, 435, 459];

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
    let binary = build(sh)?;
    let built = started.elapsed().as_secs_f64();
    let status = sweep(sh, &binary, &[], seeds).status()?;
    let secs = started.elapsed().as_secs_f64();
    println!("governance sweep of {seeds} seeds: {secs:.0} s wall ({built:.0} s of it building)");
    if !status.success() {
        bail!("the governance sweep failed (every failing seed is listed above with its check)");
    }
    Ok(())
}

/// The sweep as `cargo xtask test` runs it: started right after the native step (whose build
/// it reuses), at the lowest priority, so that it takes only the CPU the later steps leave
/// idle (browsers waiting on timers and the network, mostly), and waited for at the end.
pub(crate) struct Background {
    child: Child,
    log: PathBuf,
    seeds: u64,
    started: Instant,
}

/// Starts the sweep of seeds `0..seeds` in the background, its output into a file under
/// `target/`.
pub(crate) fn start(sh: &Shell, root: &Path, seeds: u64) -> Result<Background> {
    let started = Instant::now();
    let binary = build(sh)?;
    let dir = root.join("target");
    fs::create_dir_all(&dir)?;
    let log = dir.join("governance-sweep.log");
    let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let child = sweep(sh, &binary, &["nice", "-n", "19"], seeds)
        .stdout(out.try_clone()?)
        .stderr(out)
        // A group of its own, so that dropping it kills the test binary under `nice` too.
        .process_group(0)
        .spawn()
        .context("starting the governance sweep")?;
    Ok(Background {
        child,
        log,
        seeds,
        started,
    })
}

impl Background {
    /// Waits for the sweep, prints its output, and fails as [`governance`] does. The time
    /// printed is the sweep's whole wall time, most of it beside the other steps.
    pub(crate) fn finish(mut self) -> Result<()> {
        let waited = Instant::now();
        let status = self.child.wait()?;
        let output = fs::read_to_string(&self.log).unwrap_or_default();
        print!("{output}");
        println!(
            "governance sweep of {} seeds: {:.0} s wall since it started, {:.0} s of it waited for at the end",
            self.seeds,
            self.started.elapsed().as_secs_f64(),
            waited.elapsed().as_secs_f64(),
        );
        if !status.success() {
            bail!(
                "the governance sweep failed (every failing seed is listed above with its check)"
            );
        }
        Ok(())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = self.child.wait();
        }
    }
}

/// Builds the simulation's test binary (a no-op after the native step) and gives its path:
/// the sweep runs it directly, so that it holds no cargo lock while later steps build.
fn build(sh: &Shell) -> Result<PathBuf> {
    let messages = cmd!(
        sh,
        "cargo test {PACKAGES...} --test sim --no-run --message-format=json-render-diagnostics"
    )
    .read()?;
    messages
        .lines()
        .filter(|line| line.contains(r#""name":"sim""#))
        .find_map(|line| {
            let (_, rest) = line.split_once(r#""executable":""#)?;
            let (path, _) = rest.split_once('"')?;
            Some(PathBuf::from(path))
        })
        .context("cargo built no `sim` test binary")
}

/// The sweep's command: the test binary at `binary`, run through `prefix` (e.g. `nice`).
fn sweep(sh: &Shell, binary: &Path, prefix: &[&str], seeds: u64) -> Command {
    let known: Vec<String> = KNOWN_FAILING
        .iter()
        .filter(|seed| **seed < seeds)
        .map(u64::to_string)
        .collect();
    let mut command = match prefix.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command
        .args(["governance::fifty", "--nocapture"])
        // Where cargo runs it.
        .current_dir(sh.current_dir().join("crates/confab-core"))
        .env("CONFAB_GOVERNANCE_SEEDS", seeds.to_string())
        .env("CONFAB_GOVERNANCE_KNOWN_FAILING", known.join(","))
        .env("CONFAB_SIM_VERBOSE", "1");
    command
}
