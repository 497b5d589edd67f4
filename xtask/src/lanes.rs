//! The end-to-end test binaries, run side by side: each in a network namespace
//! of its own (nothing one opens can meet another's; two may well get the same
//! port) and with an output directory of its own (`target/e2e/<name>/`: the
//! tests name data directories by port, and a few files not at all), a few at
//! a time, the slowest first; each one's output goes to `target/e2e/<name>.out`
//! and is printed whole as it ends.
//!
//! One after another they took 1,644 s on CI (2 cores): most of that is
//! waiting (for a timer, a browser, a peer), so two at a time fill the cores.

use std::{
    collections::VecDeque,
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
    time::Instant,
};

use anyhow::{Context, Result, bail};

/// How many binaries run at once unless `CONFAB_E2E_LANES` says otherwise (1 runs
/// them one after another, as `cargo test` does).
const DEFAULT_LANES: usize = 2;

/// The slowest binaries on CI, slowest first (seconds, alone): started first, so
/// that no long one starts last while the other lane idles. The others follow
/// by name.
const SLOWEST: &[&str] = &[
    "pwa",                  // 167
    "a11y",                 // 114
    "firefox",              // 114
    "call",                 // 106
    "phone",                // 101
    "governed_moves",       // 94
    "file_transfer",        // 77
    "composer",             // 63
    "governed_room",        // 62
    "mailbox",              // 56
    "adversary",            // 53
    "governed_four",        // 53
    "leave_rejoin_restart", // 50
    "push",                 // 50
];

/// One test binary: its target's name and its path.
pub(crate) struct TestBinary {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
}

/// The test executables in cargo's `--message-format=json` output (its
/// `compiler-artifact` messages that name an executable built as a test: not
/// the package's binaries, which `cargo test` builds too).
pub(crate) fn test_binaries(json_lines: &str) -> Vec<TestBinary> {
    json_lines
        .lines()
        .filter(|line| {
            line.contains(r#""reason":"compiler-artifact""#) && line.contains(r#""test":true}"#)
        })
        .filter_map(|line| {
            let path = string_field(line, "executable")?;
            let target = &line[line.find(r#""target":{"#)?..];
            Some(TestBinary {
                name: string_field(target, "name")?,
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// The first `"key":"value"` in `json` (a value without escapes).
fn string_field(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let len = json[start..].find('"')?;
    let value = &json[start..start + len];
    (!value.contains('\\')).then(|| value.to_owned())
}

/// `binaries` in the order they start: [`SLOWEST`] first, then by name.
fn in_order(mut binaries: Vec<TestBinary>) -> VecDeque<TestBinary> {
    binaries.sort_by_key(|binary| {
        let rank = SLOWEST
            .iter()
            .position(|slow| *slow == binary.name)
            .unwrap_or(SLOWEST.len());
        (rank, binary.name.clone())
    });
    binaries.into()
}

/// The number of lanes: `CONFAB_E2E_LANES`, else [`DEFAULT_LANES`].
pub(crate) fn lanes() -> Result<usize> {
    match std::env::var("CONFAB_E2E_LANES") {
        Ok(lanes) => {
            let lanes: usize = lanes
                .parse()
                .with_context(|| format!("CONFAB_E2E_LANES={lanes} is not a number"))?;
            Ok(lanes.max(1))
        }
        Err(_) => Ok(DEFAULT_LANES),
    }
}

/// Runs every binary as `<netns...> <binary> <args...>` in `dir` with `envs`
/// and `CONFAB_E2E_OUT=<out>/<name>`, `lanes` at a time; each one's output goes
/// to `<out>/<name>.out` and is printed once it ends. Every binary runs even if one fails; then the failed
/// ones are named.
pub(crate) fn run(
    binaries: Vec<TestBinary>,
    lanes: usize,
    netns: &[OsString],
    args: &[&str],
    dir: &Path,
    envs: &[(&str, OsString)],
    out: &Path,
) -> Result<()> {
    let started = Instant::now();
    let n_binaries = binaries.len();
    let queue = Mutex::new(in_order(binaries));
    let failed = Mutex::new(Vec::new());
    let print = Mutex::new(());
    let Some((program, netns_args)) = netns.split_first() else {
        bail!("no command to run the tests in");
    };
    println!("end-to-end: {n_binaries} test binaries, {lanes} at a time");
    std::thread::scope(|scope| {
        for _ in 0..lanes {
            scope.spawn(|| {
                // The queue's lock is let go before the binary runs.
                while let Some(binary) = pop(&queue) {
                    let log = out.join(format!("{}.out", binary.name));
                    let binary_started = Instant::now();
                    let outcome = run_one(program, netns_args, &binary, args, dir, envs, &log);
                    let secs = binary_started.elapsed().as_secs_f64();
                    let output = fs::read_to_string(&log).unwrap_or_default();
                    let _print = print.lock();
                    let verdict = match &outcome {
                        Ok(()) => "ok".to_owned(),
                        Err(err) => format!("FAILED: {err:#}"),
                    };
                    println!(
                        "     Running {} ({}) in {secs:.1}s: {verdict}",
                        binary.name,
                        binary.path.display()
                    );
                    print!("{output}");
                    if outcome.is_err() {
                        if let Ok(mut failed) = failed.lock() {
                            failed.push(binary.name.clone());
                        }
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap_or_default();
    println!(
        "end-to-end: {n_binaries} test binaries in {:.1}s, {lanes} at a time",
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!(
            "{} of {n_binaries} end-to-end test binaries failed: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

fn pop(queue: &Mutex<VecDeque<TestBinary>>) -> Option<TestBinary> {
    queue.lock().ok()?.pop_front()
}

fn run_one(
    program: &OsString,
    netns_args: &[OsString],
    binary: &TestBinary,
    args: &[&str],
    dir: &Path,
    envs: &[(&str, OsString)],
    log: &Path,
) -> Result<()> {
    let file = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let own_out = log.with_extension("");
    let _ = fs::remove_dir_all(&own_out);
    fs::create_dir_all(&own_out)?;
    let status = Command::new(program)
        .args(netns_args)
        .arg(&binary.path)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().map(|(key, value)| (key, value)))
        .env("CONFAB_E2E_OUT", &own_out)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("starting {}", binary.path.display()))?;
    if !status.success() {
        bail!("{status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{in_order, test_binaries};

    #[test]
    fn finds_the_test_executables_in_cargo_json() {
        let json = concat!(
            r#"{"reason":"compiler-artifact","package_id":"x","target":{"kind":["lib"],"name":"thirtyfour","src_path":"/r/lib.rs"},"executable":null,"fresh":true}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"e","target":{"kind":["test"],"crate_types":["bin"],"name":"a11y","src_path":"/w/tests/a11y.rs"},"profile":{"test":true},"executable":"/w/target/debug/deps/a11y-0f1e","fresh":false}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"e","target":{"kind":["test"],"name":"pwa","src_path":"/w/tests/pwa.rs"},"profile":{"opt_level":"0","test":true},"executable":"/w/target/debug/deps/pwa-99","fresh":false}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"e","target":{"kind":["bin"],"name":"bench","src_path":"/w/tests/bench/main.rs"},"profile":{"opt_level":"0","test":false},"executable":"/w/target/debug/bench","fresh":false}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        let binaries = test_binaries(json);
        let names: Vec<&str> = binaries.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["a11y", "pwa"]);
        assert_eq!(
            binaries[1].path,
            std::path::Path::new("/w/target/debug/deps/pwa-99")
        );
        let order: Vec<String> = in_order(binaries).into_iter().map(|b| b.name).collect();
        assert_eq!(order, ["pwa", "a11y"]);
    }
}
