//! `cargo xtask install`: makes sure the pinned tools are present, installs
//! the missing ones, and puts them first on the `PATH` of child commands.
//!
//! Pins (see `/work/shared/RECIPE.md`): trunk 0.21.14 (0.22 needs a newer
//! rustc), wasm-bindgen-cli 0.2.130 (equal to `Cargo.lock`; installed without
//! `--locked`, whose lockfile wants a crate this registry lacks), binaryen 132
//! from npm (Debian's 108 breaks the app at runtime), geckodriver 0.37.1 (for
//! Debian's firefox-esr in the end-to-end suite), axe-core 4.10.3 from npm (the
//! accessibility audit the end-to-end suite runs in the page).

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

pub(crate) const TRUNK_VERSION: &str = "0.21.14";
pub(crate) const WASM_BINDGEN_VERSION: &str = "0.2.130";
pub(crate) const BINARYEN_VERSION: &str = "132";
pub(crate) const WASM_TARGET: &str = "wasm32-unknown-unknown";
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub(crate) const FIREFOX: &str = "/usr/bin/firefox-esr";
pub(crate) const GECKODRIVER_VERSION: &str = "0.37.1";
pub(crate) const AXE_CORE_VERSION: &str = "4.10.3";

/// Whether the command about to run drives a browser.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Browser {
    Needed,
    NotNeeded,
}

/// Checks and installs everything; afterwards `sh` runs children with
/// `<repo>/.tools/node_modules/.bin` and `~/.cargo/bin` first on `PATH`.
pub(crate) fn run(sh: &Shell, root: &Path, browser: Browser) -> Result<()> {
    let started = Instant::now();
    let tools_dir = root.join(".tools");
    let npm_bin = tools_dir.join("node_modules").join(".bin");
    let cargo_bin = cargo_home()?.join("bin");
    let mut path = vec![npm_bin.clone(), cargo_bin];
    path.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
    sh.set_var(
        "PATH",
        env::join_paths(path).context("a PATH entry contains ':'")?,
    );

    install_apt_packages(sh, browser)?;
    install_wasm_target(sh)?;

    let trunk = cmd!(sh, "trunk --version")
        .quiet()
        .ignore_stderr()
        .read()
        .ok();
    if version_word(trunk.as_deref()) == Some(TRUNK_VERSION) {
        found(&format!("trunk {TRUNK_VERSION}"));
    } else {
        installing(
            &format!("trunk {TRUNK_VERSION}"),
            trunk.as_deref(),
            "about 8 min",
        );
        timed(|| cmd!(sh, "cargo install --locked trunk --version {TRUNK_VERSION}").run())?;
    }

    let bindgen = cmd!(sh, "wasm-bindgen --version")
        .quiet()
        .ignore_stderr()
        .read()
        .ok();
    let runner = find_on_path(sh, "wasm-bindgen-test-runner");
    if version_word(bindgen.as_deref()) == Some(WASM_BINDGEN_VERSION) && runner.is_some() {
        found(&format!("wasm-bindgen-cli {WASM_BINDGEN_VERSION}"));
    } else {
        installing(
            &format!("wasm-bindgen-cli {WASM_BINDGEN_VERSION}"),
            bindgen.as_deref(),
            "about 2.5 min",
        );
        // No `--locked`: the crate's lockfile pins webpki-roots 1.0.11, which
        // the registry here does not serve (RECIPE pitfall 2).
        timed(|| {
            cmd!(
                sh,
                "cargo install wasm-bindgen-cli --version {WASM_BINDGEN_VERSION}"
            )
            .run()
        })?;
    }

    let wasm_opt = npm_bin.join("wasm-opt");
    let have = cmd!(sh, "{wasm_opt} --version")
        .quiet()
        .ignore_stderr()
        .read()
        .ok();
    let want = format!("version_{BINARYEN_VERSION}");
    if have.as_deref().is_some_and(|v| v.contains(&want)) {
        found(&format!(
            "binaryen {BINARYEN_VERSION} (wasm-opt, npm, .tools/)"
        ));
    } else {
        installing(
            &format!("binaryen {BINARYEN_VERSION} (wasm-opt, npm, .tools/)"),
            have.as_deref(),
            "seconds",
        );
        let package = format!("binaryen@{BINARYEN_VERSION}");
        timed(|| {
            cmd!(
                sh,
                "npm install --prefix {tools_dir} --no-audit --no-fund --loglevel=error {package}"
            )
            .run()
        })?;
    }
    if browser == Browser::Needed {
        install_geckodriver(sh)?;
        install_axe_core(sh, &tools_dir)?;
    }
    println!("install: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `axe.min.js` of the pinned axe-core, under `tools_dir` (where [`install_axe_core`] puts it).
pub(crate) fn axe_script(tools_dir: &Path) -> PathBuf {
    tools_dir
        .join("node_modules")
        .join("axe-core")
        .join("axe.min.js")
}

/// axe-core from npm into `tools_dir`, unless the pinned version is there.
fn install_axe_core(sh: &Shell, tools_dir: &Path) -> Result<()> {
    let manifest = tools_dir
        .join("node_modules")
        .join("axe-core")
        .join("package.json");
    let have = std::fs::read_to_string(&manifest).ok();
    let pinned = format!("\"version\": \"{AXE_CORE_VERSION}\"");
    let tool = format!("axe-core {AXE_CORE_VERSION} (npm, .tools/)");
    if have.as_deref().is_some_and(|text| text.contains(&pinned)) && axe_script(tools_dir).exists()
    {
        found(&tool);
        return Ok(());
    }
    installing(&tool, None, "seconds");
    let package = format!("axe-core@{AXE_CORE_VERSION}");
    timed(|| {
        cmd!(
            sh,
            "npm install --prefix {tools_dir} --no-audit --no-fund --loglevel=error {package}"
        )
        .run()
    })
}

/// Installed by Debian's coturn (the TURN end-to-end test starts it).
pub(crate) const TURNSERVER: &str = "/usr/bin/turnserver";

/// Installed by Debian's nats-server.
const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// Installed by Debian's fonts-noto-color-emoji.
const EMOJI_FONT: &str = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf";

/// Debian packages: node/npm always, the browser and namespace tools only for
/// browser tests. One `apt-get update && apt-get install` for all of them.
fn install_apt_packages(sh: &Shell, browser: Browser) -> Result<()> {
    let mut wanted: Vec<(&str, bool, &str)> = vec![
        ("node", find_on_path(sh, "node").is_some(), "nodejs"),
        ("npm", find_on_path(sh, "npm").is_some(), "npm"),
    ];
    if browser == Browser::Needed {
        wanted.extend([
            ("chromium", Path::new(CHROMIUM).exists(), "chromium"),
            ("firefox-esr", Path::new(FIREFOX).exists(), "firefox-esr"),
            // The server's scale-out tests run a real NATS server (with JetStream).
            (
                "nats-server",
                Path::new(NATS_SERVER).exists() || find_on_path(sh, "nats-server").is_some(),
                "nats-server",
            ),
            (
                "chromedriver",
                Path::new(CHROMEDRIVER).exists(),
                "chromium-driver",
            ),
            ("ip", find_sbin_tool(sh, "ip").is_some(), "iproute2"),
            (
                "unshare",
                find_sbin_tool(sh, "unshare").is_some(),
                "util-linux",
            ),
            // Reactions are emoji: without a colour emoji font, screenshots show boxes.
            (
                "emoji font",
                Path::new(EMOJI_FONT).exists(),
                "fonts-noto-color-emoji",
            ),
            // The TURN test: a local coturn that WebRTC must go through.
            ("turnserver", Path::new(TURNSERVER).exists(), "coturn"),
        ]);
    }
    let mut missing = Vec::new();
    for (tool, present, package) in wanted {
        if present {
            found(tool);
        } else {
            println!("install: {tool:<40} missing (apt package {package})");
            missing.push(package);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root(sh) {
        bail!("missing system packages; as root, run: apt-get update && apt-get install -y {list}");
    }
    println!("install: apt-get install -y {list}");
    timed(|| {
        cmd!(sh, "apt-get update")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()?;
        cmd!(sh, "apt-get install -y {missing...}")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()
    })?;
    Ok(())
}

/// The WebDriver server for Firefox, from crates.io (Debian does not package it).
fn install_geckodriver(sh: &Shell) -> Result<()> {
    let have = cmd!(sh, "geckodriver --version")
        .quiet()
        .ignore_stderr()
        .read()
        .ok();
    if version_word(have.as_deref()) == Some(GECKODRIVER_VERSION) {
        found(&format!("geckodriver {GECKODRIVER_VERSION}"));
        return Ok(());
    }
    installing(
        &format!("geckodriver {GECKODRIVER_VERSION}"),
        have.as_deref().and_then(|out| out.lines().next()),
        "about 3 min",
    );
    timed(|| {
        cmd!(
            sh,
            "cargo install --locked geckodriver --version {GECKODRIVER_VERSION}"
        )
        .run()
    })
}

fn install_wasm_target(sh: &Shell) -> Result<()> {
    let sysroot = cmd!(sh, "rustc --print sysroot").quiet().read()?;
    let target_dir = Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET);
    if target_dir.exists() {
        found(&format!("rust target {WASM_TARGET}"));
    } else {
        installing(&format!("rust target {WASM_TARGET}"), None, "seconds");
        timed(|| cmd!(sh, "rustup target add {WASM_TARGET}").run())?;
    }
    Ok(())
}

/// Finds `name` on the `PATH` that `sh` gives its children.
pub(crate) fn find_on_path(sh: &Shell, name: &str) -> Option<PathBuf> {
    let path = sh.var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

/// Like [`find_on_path`], but also looks in the sbin directories, which a
/// non-root `PATH` often lacks (`ip` lives in `/usr/sbin`).
pub(crate) fn find_sbin_tool(sh: &Shell, name: &str) -> Option<PathBuf> {
    find_on_path(sh, name).or_else(|| {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|file| file.is_file())
    })
}

pub(crate) fn is_root(sh: &Shell) -> bool {
    cmd!(sh, "id -u")
        .quiet()
        .read()
        .is_ok_and(|uid| uid.trim() == "0")
}

pub(crate) fn cargo_home() -> Result<PathBuf> {
    if let Some(home) = env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home));
    }
    let home: OsString = env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cargo"))
}

/// `"trunk 0.21.14\n"` -> `Some("0.21.14")`.
fn version_word(output: Option<&str>) -> Option<&str> {
    output?.split_whitespace().nth(1)
}

fn found(tool: &str) {
    println!("install: {tool:<40} found");
}

fn installing(tool: &str, current: Option<&str>, expected_time: &str) {
    let current = match current {
        Some(version) => format!("have {}", version.trim()),
        None => "not found".to_owned(),
    };
    println!("install: {tool:<40} installing… ({current}; takes {expected_time})");
}

fn timed(f: impl FnOnce() -> xshell::Result<()>) -> Result<()> {
    let started = Instant::now();
    f()?;
    println!("install:   took {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::version_word;

    #[test]
    fn version_word_reads_tool_output() {
        assert_eq!(version_word(Some("trunk 0.21.14\n")), Some("0.21.14"));
        assert_eq!(version_word(Some("wasm-bindgen 0.2.130")), Some("0.2.130"));
        assert_eq!(version_word(Some("")), None);
        assert_eq!(version_word(None), None);
    }
}
