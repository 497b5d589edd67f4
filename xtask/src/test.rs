//! `cargo xtask test`: every suite, in order: native tests, the governance
//! simulation's sweep (`sim.rs`: in the background from there on, waited for at the end),
//! confab-core on wasm32 (plus a check for `"env"`
//! imports), the app's browser tests, and (unless `--fast`) the end-to-end tests
//! against a release build and the reproducible-build check. Browser steps run in
//! a loopback-only network namespace.

use std::{
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use xshell::{Cmd, Shell, cmd};

use crate::{
    build,
    install::{self, Browser, CHROMEDRIVER, WASM_TARGET},
    lanes,
    steps::Steps,
    wasm_imports,
};

/// Chrome flags for WebRTC in a loopback-only namespace (RECIPE section 5):
/// loopback ICE candidates appear only once camera/mic permission is granted.
const CHROME_ARGS: &[&str] = &[
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

pub(crate) fn run(sh: &Shell, root: &Path, fast: bool) -> Result<()> {
    install::run(sh, root, Browser::Needed)?;
    let mut steps = Steps::new("test", if fast { 5 } else { 7 });
    let mut head_build = None;
    steps.run(
        "native: cargo test -p confab-core -p confab-server -p confab-load -p xtask",
        || {
            // The governance simulation's default seeds (`PASSING`, all below 137) are part
            // of the sweep's 0..TEST_SEEDS: not run twice.
            cmd!(
                sh,
                "cargo test --no-fail-fast -p confab-core -p confab-server -p confab-load -p xtask -- --skip governance::fifty_governed"
            )
            .run()?;
            Ok(())
        },
    );
    // After the native step, whose build of the simulation it reuses; beside the steps after
    // it, at the lowest priority; waited for at the end.
    let seeds = crate::sim::TEST_SEEDS;
    let mut sweep = None;
    steps.run(
        &format!("governance simulation: seeds 0..{seeds} start (cargo xtask sim --governance)"),
        || {
            sweep = Some(crate::sim::start(sh, root, seeds)?);
            Ok(())
        },
    );
    steps.run(
        "confab-core on wasm32: builds, imports nothing from \"env\"",
        || core_wasm(sh, root),
    );
    steps.run(
        "app browser tests: cargo test -p confab --target wasm32-unknown-unknown",
        || app_browser_tests(sh, root),
    );
    if !fast {
        steps.run(
            "end-to-end: release build, confab-e2e's test binaries side by side",
            || e2e(sh, root, &mut head_build),
        );
        // The end-to-end step's build of HEAD is the first of the two builds when the
        // workspace is exactly HEAD (CI's clean clone): one clean release build of the
        // app then, in a checkout of its own.
        steps.run(
            "reproducible: the workspace and a clean checkout of HEAD give one fingerprint",
            || crate::build::check_reproducible(sh, root, head_build.as_ref()),
        );
    }
    steps.run(
        &format!("governance simulation: seeds 0..{seeds}, waited for"),
        || match sweep {
            Some(sweep) => sweep.finish(),
            None => bail!("the sweep did not start"),
        },
    );
    steps.finish()
}

/// Unoptimized dependencies without debuginfo: the probe links in about 40 s
/// instead of 3.5 min, and no optimizer removes a call to a missing symbol.
const PROBE_PROFILE: &[&str] = &[
    "--config",
    r#"profile.dev.package."*".opt-level=0"#,
    "--config",
    "profile.dev.debug=false",
];

/// The release build must compile. Then, to see what core would import, link
/// it as a cdylib with all its code kept and exported (generic code is left
/// out: nothing instantiates it), in its own target dir so the normal builds
/// keep their artifacts. Imports from the `__wbindgen_*` modules are fine:
/// the wasm-bindgen CLI resolves them.
fn core_wasm(sh: &Shell, root: &Path) -> Result<()> {
    cmd!(
        sh,
        "cargo build -p confab-core --target {WASM_TARGET} --release"
    )
    .run()?;
    let probe_dir = root.join("target").join("wasm-env-check");
    cmd!(
        sh,
        "cargo rustc {PROBE_PROFILE...} -p confab-core --lib --target {WASM_TARGET}
         --target-dir {probe_dir} --crate-type cdylib -- -C link-dead-code -C link-arg=--export-all"
    )
    .run()?;
    let wasm_file = probe_dir
        .join(WASM_TARGET)
        .join("debug")
        .join("confab_core.wasm");
    let wasm = fs::read(&wasm_file).with_context(|| format!("reading {}", wasm_file.display()))?;
    let all =
        wasm_imports::imports(&wasm).with_context(|| format!("parsing {}", wasm_file.display()))?;
    let env: Vec<&str> = all
        .iter()
        .filter(|(module, _)| module == "env")
        .map(|(_, name)| name.as_str())
        .collect();
    println!(
        "confab-core.wasm: {} imports, {} from \"env\"",
        all.len(),
        env.len()
    );
    if !env.is_empty() {
        bail!(
            "confab-core's wasm imports from \"env\" (native-only code reached the wasm build): {}",
            env.join(", ")
        );
    }
    Ok(())
}

fn app_browser_tests(sh: &Shell, root: &Path) -> Result<()> {
    // A suite that vanished must fail loudly, not pass by running nothing.
    if !has_browser_tests(&root.join("src"))? {
        bail!("no `wasm_bindgen_test` under src/: the app's browser tests are missing");
    }
    let webdriver_json = write_webdriver_json(root)?;
    // Compile (and fetch crates) outside the namespace; it has no network.
    cmd!(sh, "cargo test -p confab --target {WASM_TARGET} --no-run").run()?;
    in_netns(
        sh,
        &[
            "cargo",
            "test",
            "-p",
            "confab",
            "--target",
            WASM_TARGET,
            "--offline",
        ],
    )?
    .env("CHROMEDRIVER", CHROMEDRIVER)
    .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", &webdriver_json)
    // The runner gives the whole suite 20 s by default; it takes about 30 on this machine
    // (a few tests wait for real timers, such as a leave going unheard for 10 s).
    .env("WASM_BINDGEN_TEST_TIMEOUT", "300")
    .run()?;
    Ok(())
}

/// Puts the release build it tests in `head_build` if that is of `HEAD` as committed.
fn e2e(sh: &Shell, root: &Path, head_build: &mut Option<build::HeadBuild>) -> Result<()> {
    *head_build = build::run_head(sh, root)?;
    e2e_tests(sh, root)
}

/// The end-to-end tests against the release build in `dist/` and `target/release/`.
pub(crate) fn e2e_tests(sh: &Shell, root: &Path) -> Result<()> {
    let out_dir = root.join("target").join("e2e");
    fs::create_dir_all(&out_dir)?;
    let listing = cmd!(
        sh,
        "cargo test -p confab-e2e --no-run --message-format=json-render-diagnostics"
    )
    .read()?;
    let binaries = lanes::test_binaries(&listing);
    // A suite that vanished must fail loudly: every `[[test]]` of tests/Cargo.toml is there.
    let manifest_path = root.join("tests").join("Cargo.toml");
    let manifest: toml::Table = fs::read_to_string(&manifest_path)?
        .parse()
        .with_context(|| format!("parsing {}", manifest_path.display()))?;
    let missing: Vec<&str> = manifest
        .get("test")
        .and_then(|tests| tests.as_array())
        .into_iter()
        .flatten()
        .filter_map(|test| test.get("name").and_then(|name| name.as_str()))
        .filter(|name| !binaries.iter().any(|binary| binary.name == *name))
        .collect();
    if !missing.is_empty() || binaries.is_empty() {
        bail!("end-to-end test binaries missing from cargo's list: {missing:?}");
    }
    let mut envs = vec![
        ("CONFAB_DIST", root.join("dist").into_os_string()),
        (
            "CONFAB_SERVER_BIN",
            root.join("target")
                .join("release")
                .join("confab-server")
                .into_os_string(),
        ),
        (
            "CONFAB_AXE",
            install::axe_script(&root.join(".tools")).into_os_string(),
        ),
        ("CHROMEDRIVER", CHROMEDRIVER.into()),
    ];
    // The tools `install::run` put on the shell's PATH (geckodriver among them).
    if let Some(path) = sh.var_os("PATH") {
        envs.push(("PATH", path));
    }
    let ran = lanes::run(
        binaries,
        lanes::lanes()?,
        &netns_argv(sh)?,
        &["--test-threads=1"],
        &root.join("tests"),
        &envs,
        &out_dir,
    );
    // The doctests, as `cargo test` would run them after the binaries.
    let mut doc = in_netns(
        sh,
        &["cargo", "test", "-p", "confab-e2e", "--offline", "--doc"],
    )?;
    for (key, value) in &envs {
        doc = doc.env(key, value);
    }
    doc = doc.env("CONFAB_E2E_OUT", &out_dir);
    let doc = doc.run();
    ran?;
    Ok(doc?)
}

/// The namespace's own address on `lo` (with a default route through `lo`): Firefox
/// gathers no ICE candidate where `lo` has only 127.0.0.1 (RECIPE.md, "Firefox"). It
/// exists only inside the namespace; nothing leaves it.
pub(crate) const NETNS_ADDRESS: &str = "10.200.0.1/24";

/// `args` run in a new network namespace whose only interface is `lo` (up, with
/// [`NETNS_ADDRESS`] and a default route).
/// As root that is `unshare --net`; otherwise a user namespace maps us to root.
pub(crate) fn in_netns<'a>(sh: &'a Shell, args: &[&str]) -> Result<Cmd<'a>> {
    let argv = netns_argv(sh)?;
    Ok(sh.cmd(&argv[0]).args(&argv[1..]).args(args))
}

/// The command line that [`in_netns`] puts before the command it runs.
fn netns_argv(sh: &Shell) -> Result<Vec<OsString>> {
    let Some(ip) = install::find_sbin_tool(sh, "ip") else {
        bail!("`ip` not found (apt package iproute2)")
    };
    let script = format!(
        r#""$0" link set lo up && "$0" addr add {NETNS_ADDRESS} dev lo && "$0" route add default dev lo && exec "$@""#
    );
    let mut argv: Vec<OsString> = vec!["unshare".into()];
    if !install::is_root(sh) {
        argv.extend(["--user".into(), "--map-root-user".into()]);
    }
    argv.extend([
        "--net".into(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        script.into(),
        ip.into_os_string(),
    ]);
    Ok(argv)
}

/// Whether any `.rs` file under `dir` mentions `wasm_bindgen_test`.
fn has_browser_tests(dir: &Path) -> Result<bool> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs")
                && fs::read_to_string(&path)?.contains("wasm_bindgen_test")
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Writes `target/webdriver.json` with [`CHROME_ARGS`]; wasm-bindgen-test-runner
/// adds `headless`, `no-sandbox` and `disable-dev-shm-usage` itself.
fn write_webdriver_json(root: &Path) -> Result<PathBuf> {
    let args: Vec<String> = CHROME_ARGS.iter().map(|arg| format!("\"{arg}\"")).collect();
    let json = format!(
        "{{\"goog:chromeOptions\":{{\"args\":[{}]}}}}\n",
        args.join(",")
    );
    let path = root.join("target").join("webdriver.json");
    fs::create_dir_all(root.join("target"))?;
    fs::write(&path, json)?;
    Ok(path)
}
