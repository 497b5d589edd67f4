//! `cargo xtask build`: release `dist/` via trunk, the boot script moved out
//! of `index.html` with Subresource Integrity (see [`crate::boot_script`]), the
//! service worker's shell and the build's fingerprint filled in (see
//! [`crate::service_worker`]), then the release server.
//!
//! Reproducible: the same commit gives the same `dist/`, byte for byte, in any
//! directory. Workspace paths reach rustc relative; the one absolute path that
//! would end up in the wasm (panic locations of dependencies, under
//! `CARGO_HOME`) is remapped to `/cargo`; trunk names files by content; nothing
//! records a time. `--check-reproducible` proves it: two clean checkouts of
//! `HEAD` in different directories, each built with its own target directory,
//! must give the same fingerprint, and no file may name either directory.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, Result, bail, ensure};
use flate2::{Compression, write::GzEncoder};
use xshell::{Shell, cmd};

use crate::{boot_script, install, service_worker};

/// Builds the app into `dist` (normally `<root>/dist`), then the server.
/// Expects [`crate::install::run`] to have set up `sh`.
pub(crate) fn run(sh: &Shell, root: &Path, dist: &Path) -> Result<()> {
    run_with(sh, root, dist, Hooks::Release).map(|_| ())
}

/// A release build of the committed `HEAD` in the workspace itself, into
/// `<root>/dist`: nothing uncommitted or untracked was there before or after
/// it. The reproducible check takes it as the first of its two builds (the
/// second is a clean checkout elsewhere, with its own empty target directory).
pub(crate) struct HeadBuild {
    commit: String,
    fingerprint: String,
}

/// [`run`] into `<root>/dist`; also returns that build as a [`HeadBuild`] if the
/// workspace was exactly `HEAD` before and after.
pub(crate) fn run_head(sh: &Shell, root: &Path) -> Result<Option<HeadBuild>> {
    let before = clean_head(sh, root)?;
    let fingerprint = run_with(sh, root, &root.join("dist"), Hooks::Release)?;
    let after = clean_head(sh, root)?;
    Ok(match (before, after) {
        (Some(before), Some(after)) if before == after => Some(HeadBuild {
            commit: before,
            fingerprint,
        }),
        _ => None,
    })
}

/// `HEAD`'s commit if the workspace has no change to a tracked file and no
/// untracked file that `.gitignore` does not name; `None` otherwise.
fn clean_head(sh: &Shell, root: &Path) -> Result<Option<String>> {
    let status = cmd!(sh, "git -C {root} status --porcelain")
        .quiet()
        .read()?;
    if !status.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(
        cmd!(sh, "git -C {root} rev-parse HEAD").quiet().read()?,
    ))
}

/// Whether a build has the benchmark harness's page events (the app's `bench-hooks`
/// feature): only `cargo xtask bench`'s do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hooks {
    Release,
    Bench,
}

/// [`run`], for a release or a benchmark build; returns the app's fingerprint.
pub(crate) fn run_with(sh: &Shell, root: &Path, dist: &Path, hooks: Hooks) -> Result<String> {
    let started = Instant::now();
    let fingerprint = app(sh, root, dist, hooks)?;
    cmd!(sh, "cargo build --release -p confab-server")
        .run()
        .context("building confab-server failed")?;
    println!("build: {}", page_size_summary(dist)?);
    println!(
        "build: fingerprint {} (sha256 of `sha256sum` over dist/ but sw.js; see xtask/src/service_worker.rs)",
        service_worker::grouped(&fingerprint)
    );
    println!("build: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(fingerprint)
}

/// `cargo xtask build --check-reproducible`: builds the committed `HEAD` twice,
/// from clean checkouts under `<root>/target/reproducible/` in directories of
/// different depth, each with its own (empty) target directory, and fails
/// unless both `dist/`s have the same fingerprint and neither names its
/// checkout or `CARGO_HOME`. With `first`, a build of this same `HEAD` in the
/// workspace whose `dist/` is unchanged since, that build is the first one and
/// only the deeper checkout is built.
pub(crate) fn check_reproducible(sh: &Shell, root: &Path, first: Option<&HeadBuild>) -> Result<()> {
    let started = Instant::now();
    let dirty = cmd!(sh, "git -C {root} status --porcelain --untracked-files=no")
        .quiet()
        .read()?;
    if !dirty.trim().is_empty() {
        println!("build: note: uncommitted changes are not part of the check (it builds HEAD)");
    }
    let commit = cmd!(sh, "git -C {root} rev-parse HEAD").quiet().read()?;
    let base = root.join("target").join("reproducible");
    let _ = fs::remove_dir_all(&base);
    let checkouts = [base.join("one"), base.join("two").join("deeper")];
    let archive = base.join("head.tar");
    fs::create_dir_all(&base)?;
    cmd!(
        sh,
        "git -C {root} archive --format=tar -o {archive} {commit}"
    )
    .run()?;
    let mut results = Vec::new();
    let mut to_build = &checkouts[..];
    if let Some(first) = first {
        let dist = root.join("dist");
        let still = service_worker::fingerprint(&dist_files(&dist)?);
        if clean_head(sh, root)?.as_deref() != Some(&*commit) || first.commit != commit {
            println!("build: the workspace's build is not of HEAD as committed: two clean builds");
        } else if still != first.fingerprint {
            println!(
                "build: {} changed since it was built: two clean builds",
                dist.display()
            );
        } else {
            println!(
                "build: first build: the workspace's own, {} gave {}",
                root.display(),
                service_worker::grouped(&still)
            );
            results.push((root.to_path_buf(), dist, still));
            to_build = &checkouts[1..];
        }
    }
    for checkout in to_build {
        let build_started = Instant::now();
        fs::create_dir_all(checkout)?;
        cmd!(sh, "tar -xf {archive} -C {checkout}").run()?;
        let dist = checkout.join("dist");
        let _dir = sh.push_dir(checkout);
        let _target = sh.push_env("CARGO_TARGET_DIR", checkout.join("target"));
        let fingerprint = app(sh, checkout, &dist, Hooks::Release)
            .with_context(|| format!("building in {}", checkout.display()))?;
        println!(
            "build: {} gave {} in {:.0}s",
            checkout.display(),
            service_worker::grouped(&fingerprint),
            build_started.elapsed().as_secs_f64()
        );
        results.push((checkout.clone(), dist, fingerprint));
    }
    let cargo_home = install::cargo_home()?;
    for (checkout, dist, _) in &results {
        for (path, bytes) in dist_files(dist)? {
            for leak in [&**checkout, root, &cargo_home] {
                let leak = leak.to_string_lossy();
                ensure!(
                    !contains(&bytes, leak.as_bytes()),
                    "{path} of the build in {} names {leak}: a path reached the build",
                    checkout.display()
                );
            }
        }
    }
    let (first, second) = (&results[0], &results[1]);
    if first.2 != second.2 {
        let (one, two) = (dist_files(&first.1)?, dist_files(&second.1)?);
        let one_listing = service_worker::listing(&one);
        let two_listing = service_worker::listing(&two);
        let differ: Vec<&str> = one_listing
            .lines()
            .filter(|line| !two_listing.lines().any(|other| other == *line))
            .collect();
        bail!(
            "not reproducible: {} and {} differ in\n{}\n(other side:\n{})",
            first.1.display(),
            second.1.display(),
            differ.join("\n"),
            two_listing
                .lines()
                .filter(|line| !one_listing.lines().any(|other| other == *line))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    println!(
        "build: reproducible: {} of {} give fingerprint {} ({:.0}s)",
        if to_build.len() == 1 {
            "the workspace and a clean checkout"
        } else {
            "two clean checkouts"
        },
        &commit[..12.min(commit.len())],
        service_worker::grouped(&first.2),
        started.elapsed().as_secs_f64()
    );
    // Kept for a look when the check fails; 1.3 GB of checkouts otherwise.
    let _ = fs::remove_dir_all(&base);
    Ok(())
}

/// The app alone: trunk into `dist`, then the post-processing. Returns the
/// build's fingerprint. `root` is the checkout `sh` runs in.
fn app(sh: &Shell, root: &Path, dist: &Path, hooks: Hooks) -> Result<String> {
    // trunk's tool-download cache would land in ~/.cache/trunk (RECIPE pitfall 8).
    let cache = root.join("target").join("trunk-cache");
    let features: &[&str] = match hooks {
        Hooks::Release => &[],
        Hooks::Bench => &["--features", "bench-hooks"],
    };
    cmd!(sh, "trunk build --release --dist {dist} {features...}")
        .env("XDG_CACHE_HOME", &cache)
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            wasm_rustflags(root)?.join("\x1f"),
        )
        .run()
        .context("trunk build failed")?;
    if hooks == Hooks::Release {
        check_no_bench_hooks(dist)?;
    }

    let index = dist.join("index.html");
    let html =
        fs::read_to_string(&index).with_context(|| format!("reading {}", index.display()))?;
    let read = |url_path: &str| -> Result<Vec<u8>> {
        let path = dist.join(url_path.trim_start_matches('/'));
        fs::read(&path).with_context(|| format!("reading {}", path.display()))
    };
    let out = boot_script::externalize(&html, &read)
        .with_context(|| format!("post-processing {}", index.display()))?;
    fs::write(dist.join(&out.script_name), &out.script)?;
    fs::write(&index, &out.html)?;
    println!(
        "build: moved the inline boot script to {} (with integrity)",
        dist.join(&out.script_name).display()
    );
    fill_service_worker(dist)
}

/// The benchmark harness's page events let any script of the origin make the app work
/// (one posts 100,000 signed messages): a release build must not name them.
fn check_no_bench_hooks(dist: &Path) -> Result<()> {
    let mut files = Vec::new();
    collect_files(dist, &mut files)?;
    for file in files {
        let bytes = fs::read(&file)?;
        if contains(&bytes, BENCH_EVENT_PREFIX) {
            anyhow::bail!(
                "{} names the benchmark hooks ({}…) in a release build",
                file.display(),
                String::from_utf8_lossy(BENCH_EVENT_PREFIX)
            );
        }
    }
    Ok(())
}

/// How every benchmark event's name starts (src/driver.rs, `listen_to_bench`).
const BENCH_EVENT_PREFIX: &[u8] = b"confab-bench";

/// The rustflags of the wasm build: those `.cargo/config.toml` gives the wasm
/// target (`CARGO_ENCODED_RUSTFLAGS` replaces them, so they are repeated), and
/// `CARGO_HOME` remapped to `/cargo` (the same string in every checkout, so
/// cargo's hashes do not depend on the checkout either).
fn wasm_rustflags(root: &Path) -> Result<Vec<String>> {
    let config_path = root.join(".cargo").join("config.toml");
    let config: toml::Table = fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?
        .parse()
        .with_context(|| format!("parsing {}", config_path.display()))?;
    let mut flags: Vec<String> = config
        .get("target")
        .and_then(|target| target.get(install::WASM_TARGET))
        .and_then(|wasm| wasm.get("rustflags"))
        .and_then(|flags| flags.as_array())
        .into_iter()
        .flatten()
        .filter_map(|flag| flag.as_str().map(str::to_owned))
        .collect();
    let cargo_home = install::cargo_home()?;
    let real = fs::canonicalize(&cargo_home).unwrap_or_else(|_| cargo_home.clone());
    for home in [&cargo_home, &real] {
        let flag = format!("--remap-path-prefix={}=/cargo", home.display());
        if !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    Ok(flags)
}

/// Writes the shell and fingerprint into `dist/sw.js`; returns the fingerprint.
fn fill_service_worker(dist: &Path) -> Result<String> {
    let worker = dist.join(service_worker::FILE_NAME);
    let template =
        fs::read_to_string(&worker).with_context(|| format!("reading {}", worker.display()))?;
    let files = dist_files(dist)?;
    let filled = service_worker::fill(&template, &files)
        .with_context(|| format!("filling in {}", worker.display()))?;
    fs::write(&worker, filled)?;
    println!("build: the service worker keeps {} files", files.len() - 1);
    Ok(service_worker::fingerprint(&files))
}

/// Every file under `dist` as `(path with '/' separators, bytes)`.
fn dist_files(dist: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut paths = Vec::new();
    collect_files(dist, &mut paths)?;
    let mut files = Vec::new();
    for path in paths {
        let Ok(relative) = path.strip_prefix(dist) else {
            continue;
        };
        let name: Vec<String> = relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy().into_owned())
            .collect();
        files.push((name.join("/"), fs::read(&path)?));
    }
    Ok(files)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// One line with the raw and `gzip -9` sizes of what a browser downloads for
/// the page: HTML, JS, wasm and CSS under `dist/`.
fn page_size_summary(dist: &Path) -> Result<String> {
    let mut files = Vec::new();
    collect_files(dist, &mut files)?;
    files.sort();
    let (mut raw_total, mut gzip_total) = (0, 0);
    let mut parts = Vec::new();
    for file in files {
        let Some(ext) = file.extension().and_then(|ext| ext.to_str()) else {
            continue;
        };
        if !["html", "js", "wasm", "css", "svg"].contains(&ext) {
            continue;
        }
        let bytes = fs::read(&file)?;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(&bytes)?;
        let gzip = encoder.finish()?.len();
        raw_total += bytes.len();
        gzip_total += gzip;
        let name = file
            .strip_prefix(dist)
            .unwrap_or(&file)
            .display()
            .to_string();
        parts.push(format!("{name} {}", thousands(gzip)));
    }
    Ok(format!(
        "page downloads {} B gzip -9 ({} B raw): {}",
        thousands(gzip_total),
        thousands(raw_total),
        parts.join(", ")
    ))
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// `1234567` -> `"1,234,567"`.
#[allow(
    clippy::manual_is_multiple_of,
    reason = "is_multiple_of is newer than our rust-version, 1.85"
)]
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (idx, digit) in digits.chars().enumerate() {
        if idx > 0 && (digits.len() - idx) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{check_no_bench_hooks, contains, thousands};

    #[test]
    fn finds_a_path_in_bytes() {
        assert!(contains(b"at /root/.cargo/registry/x.rs", b"/root/.cargo"));
        assert!(!contains(b"at /cargo/registry/x.rs", b"/root/.cargo"));
        assert!(!contains(b"anything", b""));
    }

    #[test]
    fn a_release_dist_naming_the_bench_hooks_is_refused() {
        let dist = std::env::temp_dir().join(format!("confab-xtask-hooks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dist);
        std::fs::create_dir_all(dist.join("snippets")).unwrap();
        std::fs::write(dist.join("index.html"), "<html>confab</html>").unwrap();
        std::fs::write(
            dist.join("snippets").join("app_bg.wasm"),
            b"\0asm..bench message",
        )
        .unwrap();
        assert!(check_no_bench_hooks(&dist).is_ok());
        std::fs::write(
            dist.join("snippets").join("app_bg.wasm"),
            b"\0asm..confab-bench-fill..",
        )
        .unwrap();
        let refused = check_no_bench_hooks(&dist).unwrap_err().to_string();
        assert!(refused.contains("app_bg.wasm"), "{refused}");
        std::fs::remove_dir_all(&dist).unwrap();
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
