//! `cargo xtask build`: release `dist/` via trunk, the boot script moved out
//! of `index.html` (see [`crate::boot_script`]), the service worker's precache
//! list filled in (see [`crate::service_worker`]), then the release server.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, Result};
use flate2::{Compression, write::GzEncoder};
use xshell::{Shell, cmd};

use crate::{boot_script, service_worker};

/// Builds the app into `dist` (normally `<root>/dist`). Expects
/// [`crate::install::run`] to have set up `sh`.
pub(crate) fn run(sh: &Shell, root: &Path, dist: &Path) -> Result<()> {
    let started = Instant::now();
    // trunk's tool-download cache would land in ~/.cache/trunk (RECIPE pitfall 8).
    let cache = root.join("target").join("trunk-cache");
    cmd!(sh, "trunk build --release --dist {dist}")
        .env("XDG_CACHE_HOME", &cache)
        .run()
        .context("trunk build failed")?;

    let index = dist.join("index.html");
    let html =
        fs::read_to_string(&index).with_context(|| format!("reading {}", index.display()))?;
    let out = boot_script::externalize(&html)
        .with_context(|| format!("post-processing {}", index.display()))?;
    fs::write(dist.join(&out.script_name), &out.script)?;
    fs::write(&index, &out.html)?;
    println!(
        "build: moved the inline boot script to {}",
        dist.join(&out.script_name).display()
    );
    fill_service_worker(dist)?;

    cmd!(sh, "cargo build --release -p confab-server")
        .run()
        .context("building confab-server failed")?;
    println!("build: {}", page_size_summary(dist)?);
    println!("build: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Writes the precache list and version into `dist/sw.js`.
fn fill_service_worker(dist: &Path) -> Result<()> {
    let worker = dist.join(service_worker::FILE_NAME);
    let template =
        fs::read_to_string(&worker).with_context(|| format!("reading {}", worker.display()))?;
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
    let filled = service_worker::fill(&template, &files)
        .with_context(|| format!("filling in {}", worker.display()))?;
    fs::write(&worker, filled)?;
    println!(
        "build: the service worker precaches {} files",
        files.len() - 1
    );
    Ok(())
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
    use super::thousands;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
