//! `cargo xtask tidy`: repository rules that review would otherwise repeat.
//! The `tidy` test at the bottom makes `cargo test -p xtask` enforce them.
//!
//! - every `.rs` file opens with a `//!` line saying what it owns (STYLE 8);
//! - `confab-core` depends on nothing that does I/O (STYLE 1);
//! - no ignored or should-panic tests (STYLE 9);
//! - no `web_sys`/`js_sys` outside `src/platform/` (STYLE 1), tests aside;
//! - no component (`src/components/`) naming `platform`: views reach the browser through
//!   `view_api` (the `Device` handle), tests aside;
//! - no file over its size limit ([`line_limit`]);
//! - no import circle between the modules of a crate (`circles.rs`).
//!
//! Each rule has a short list of known exceptions, each with the reason; an exception that
//! no longer applies is itself a violation, so the lists only shrink.

mod circles;

use std::{fs, path::Path};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

/// Crates that mean I/O or a platform; `confab-core` must not depend on them.
/// A trailing `*` matches any suffix.
const CORE_FORBIDDEN_DEPS: &[&str] = &[
    "web-sys",
    "js-sys",
    "wasm-bindgen",
    "gloo*",
    "tokio",
    "getrandom",
    "reqwest",
];
const CORE_MANIFEST: &str = "crates/confab-core/Cargo.toml";
/// This file spells the banned attributes; it is exempt from that search.
const THIS_FILE: &str = "xtask/src/tidy.rs";

/// Files over their [`line_limit`], each with the reason it may be for now.
const OVERSIZED: &[(&str, &str)] = &[(
    "src/components/tests.rs",
    "split with the views (issue 16, items 6 and 9)",
)];

/// App files outside `src/platform/` that still name `web_sys`/`js_sys`, with the reason.
const BROWSER_API_OUTSIDE_PLATFORM: &[(&str, &str)] = &[];

/// Components that still name `platform` paths, with the reason.
const PLATFORM_IN_COMPONENTS: &[(&str, &str)] = &[];

/// Root files of the crates whose module graphs must have no circle.
const CRATE_ROOTS: &[&str] = &[
    "src/lib.rs",
    "crates/confab-core/src/lib.rs",
    "crates/confab-server/src/lib.rs",
    "crates/confab-load/src/lib.rs",
    "tests/src/lib.rs",
    "xtask/src/main.rs",
];

/// Known import circles, `(crate root, "a ↔ b", reason)`.
const CIRCLES: &[(&str, &str, &str)] = &[];

/// The most lines a file may have: 800 in the app (`src/`, its tests too: STYLE 8 splits
/// at ~600 lines of code), 1200 for test files elsewhere (`tests.rs`, `*_tests.rs`,
/// anything under a `tests/` or `benches/` directory), 1000 for other code (core,
/// server, load, xtask, fuzz).
fn line_limit(path: &str) -> usize {
    if path.starts_with("src/") {
        800
    } else if is_test_file(path) {
        1200
    } else {
        1000
    }
}

/// Test code: browser tests may use the DOM, and tests are allowed a larger size.
fn is_test_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == "tests.rs"
        || name.ends_with("_tests.rs")
        || path
            .split('/')
            .any(|dir| dir == "tests" || dir == "benches")
}

/// Whether (comment- and literal-free) code names `web_sys` or `js_sys` paths.
fn names_browser_api(text: &str) -> bool {
    let code = circles::strip(text);
    ["web_sys", "js_sys"].iter().any(|krate| {
        code.match_indices(krate).any(|(at, _)| {
            let before = code[..at].chars().next_back();
            !before.is_some_and(is_ident_char) && code[at + krate.len()..].starts_with("::")
        })
    })
}

/// Whether (comment- and literal-free) code names the `platform` module: the word as a
/// path segment, followed by `::` (`platform::pwa`) or after it (`use crate::platform;`).
fn names_platform(text: &str) -> bool {
    const WORD: &str = "platform";
    let code = circles::strip(text);
    code.match_indices(WORD).any(|(at, _)| {
        let (before, after) = (&code[..at], &code[at + WORD.len()..]);
        let whole = !before.chars().next_back().is_some_and(is_ident_char)
            && !after.chars().next().is_some_and(is_ident_char);
        whole && (before.trim_end().ends_with("::") || after.trim_start().starts_with("::"))
    })
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

pub(crate) fn run(sh: &Shell, root: &Path) -> Result<()> {
    let violations = check(sh, root)?;
    if violations.is_empty() {
        println!("tidy: ok");
        return Ok(());
    }
    for violation in &violations {
        eprintln!("tidy: {violation}");
    }
    bail!("tidy: {} violation(s)", violations.len())
}

/// Every violation, as `path: what is wrong`.
fn check(sh: &Shell, root: &Path) -> Result<Vec<String>> {
    let _in_root = sh.push_dir(root);
    // Tracked files plus new ones not yet added (but not ignored ones), so a
    // file fails tidy before it is committed.
    let listing = cmd!(
        sh,
        "git ls-files --cached --others --exclude-standard -- *.rs"
    )
    .quiet()
    .read()
    .context("`git ls-files` failed: tidy needs a git checkout")?;
    let mut violations = Vec::new();
    for path in listing.lines() {
        let file = root.join(path);
        if !file.is_file() {
            continue; // deleted in the work tree
        }
        let text = fs::read_to_string(&file).with_context(|| format!("reading {path}"))?;
        if !starts_with_module_doc(&text) {
            violations.push(format!(
                "{path}: the first non-empty line must be a `//!` doc comment"
            ));
        }
        if path != THIS_FILE {
            for (line_idx, attr) in banned_test_attributes(&text) {
                violations.push(format!(
                    "{path}:{}: `{attr}` is not allowed (STYLE 9)",
                    line_idx + 1
                ));
            }
        }
    }
    violations.extend(check_sizes_and_browser_apis(root, listing.lines())?);
    violations.extend(check_circles(root)?);
    let manifest = fs::read_to_string(root.join(CORE_MANIFEST)).context(CORE_MANIFEST)?;
    for dep in forbidden_core_deps(&manifest).context(CORE_MANIFEST)? {
        violations.push(format!(
            "{CORE_MANIFEST}: confab-core must not depend on `{dep}` (it does no I/O)"
        ));
    }
    Ok(violations)
}

/// Files over their limit, browser APIs outside `src/platform/` and components naming
/// `platform`, against the lists of exceptions.
fn check_sizes_and_browser_apis<'a>(
    root: &Path,
    paths: impl Iterator<Item = &'a str>,
) -> Result<Vec<String>> {
    let mut violations = Vec::new();
    let mut oversized = Vec::new();
    let mut browser = Vec::new();
    let mut components = Vec::new();
    for path in paths {
        let file = root.join(path);
        if !file.is_file() {
            continue;
        }
        let text = fs::read_to_string(&file).with_context(|| format!("reading {path}"))?;
        let lines = text.lines().count();
        if lines > line_limit(path) {
            oversized.push(path);
            if !OVERSIZED.iter().any(|(listed, _)| *listed == path) {
                violations.push(format!(
                    "{path}: {lines} lines, over the limit of {} (split it by responsibility)",
                    line_limit(path)
                ));
            }
        }
        let in_platform = path.starts_with("src/platform/");
        if !in_platform && !is_test_file(path) && path != THIS_FILE && names_browser_api(&text) {
            browser.push(path);
            if !BROWSER_API_OUTSIDE_PLATFORM
                .iter()
                .any(|(listed, _)| *listed == path)
            {
                violations.push(format!(
                    "{path}: uses web_sys/js_sys outside src/platform/ (put the browser API \
                     behind a platform type)"
                ));
            }
        }
        if path.starts_with("src/components/") && !is_test_file(path) && names_platform(&text) {
            components.push(path);
            if !PLATFORM_IN_COMPONENTS
                .iter()
                .any(|(listed, _)| *listed == path)
            {
                violations.push(format!(
                    "{path}: a component names platform (reach the browser through \
                     crate::view_api)"
                ));
            }
        }
    }
    for (listed, _) in OVERSIZED {
        if !oversized.contains(listed) {
            violations.push(format!(
                "{listed}: within its size limit now; remove it from tidy's OVERSIZED"
            ));
        }
    }
    for (listed, _) in BROWSER_API_OUTSIDE_PLATFORM {
        if !browser.contains(listed) {
            violations.push(format!(
                "{listed}: no web_sys/js_sys any more; remove it from tidy's \
                 BROWSER_API_OUTSIDE_PLATFORM"
            ));
        }
    }
    for (listed, _) in PLATFORM_IN_COMPONENTS {
        if !components.contains(listed) {
            violations.push(format!(
                "{listed}: names no platform path any more; remove it from tidy's \
                 PLATFORM_IN_COMPONENTS"
            ));
        }
    }
    Ok(violations)
}

/// Import circles in every crate, against [`CIRCLES`].
fn check_circles(root: &Path) -> Result<Vec<String>> {
    let mut violations = Vec::new();
    for crate_root in CRATE_ROOTS {
        let found = circles::circles(root, &root.join(crate_root))?;
        for circle in &found {
            let name = circle.name();
            if CIRCLES
                .iter()
                .any(|(listed_root, listed, _)| listed_root == crate_root && *listed == name)
            {
                continue;
            }
            let uses: Vec<String> = circle
                .edges
                .iter()
                .map(|(from, to, at)| {
                    format!("{from} → {to} ({}:{} {})", at.file, at.line, at.path)
                })
                .collect();
            violations.push(format!(
                "{crate_root}: import circle {name}: {}",
                uses.join("; ")
            ));
        }
        for (listed_root, listed, _) in CIRCLES {
            if listed_root == crate_root && !found.iter().any(|c| c.name() == *listed) {
                violations.push(format!(
                    "{crate_root}: the circle {listed} is cut; remove it from tidy's CIRCLES"
                ));
            }
        }
    }
    Ok(violations)
}

fn starts_with_module_doc(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .is_some_and(|line| line.starts_with("//!"))
}

/// `(line index, attribute)` for each `#[ignore...]` or `#[should_panic...]`.
fn banned_test_attributes(text: &str) -> Vec<(usize, &'static str)> {
    let banned = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
    let mut found = Vec::new();
    for (line_idx, line) in text.lines().enumerate() {
        for attr in banned {
            if line.contains(attr) {
                found.push((line_idx, attr));
            }
        }
    }
    found
}

/// Names (crate names, after `package = ` renames) from every dependency
/// table, target-specific ones included, that match [`CORE_FORBIDDEN_DEPS`].
fn forbidden_core_deps(manifest: &str) -> Result<Vec<String>> {
    let manifest: toml::Table = manifest.parse()?;
    let mut tables = Vec::new();
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    tables.extend(kinds.iter().filter_map(|kind| manifest.get(*kind)));
    if let Some(toml::Value::Table(targets)) = manifest.get("target") {
        for target in targets.values() {
            tables.extend(kinds.iter().filter_map(|kind| target.get(*kind)));
        }
    }
    let mut found = Vec::new();
    for table in tables {
        let Some(table) = table.as_table() else {
            continue;
        };
        for (key, spec) in table {
            let name = spec
                .get("package")
                .and_then(toml::Value::as_str)
                .unwrap_or(key);
            let forbidden =
                CORE_FORBIDDEN_DEPS
                    .iter()
                    .any(|pattern| match pattern.strip_suffix('*') {
                        Some(prefix) => name.starts_with(prefix),
                        None => name == *pattern,
                    });
            if forbidden {
                found.push(name.to_owned());
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use xshell::Shell;

    use super::{
        BROWSER_API_OUTSIDE_PLATFORM, OVERSIZED, PLATFORM_IN_COMPONENTS, banned_test_attributes,
        check, check_sizes_and_browser_apis, forbidden_core_deps, line_limit, names_platform,
        starts_with_module_doc,
    };

    /// The rules themselves, on this repository.
    #[test]
    fn tidy() {
        let sh = Shell::new().unwrap();
        let violations = check(&sh, &crate::project_root()).unwrap();
        assert!(
            violations.is_empty(),
            "tidy violations:\n{}",
            violations.join("\n")
        );
    }

    /// Seeded violations in a scratch tree: an app file one line over 800, one naming
    /// `web_sys` outside `src/platform/`, a component naming `platform`; the same in a
    /// test file or in platform/ pass.
    #[test]
    fn sizes_and_browser_apis() {
        let dir = std::env::temp_dir().join(format!("tidy-sizes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/platform")).unwrap();
        std::fs::create_dir_all(dir.join("src/components")).unwrap();
        let write = |path: &str, text: String| std::fs::write(dir.join(path), text).unwrap();
        write("src/big.rs", "//! Big.\n".repeat(801));
        write("src/fits.rs", "//! Fits.\n".repeat(800));
        write("src/big_tests.rs", "//! Tests.\n".repeat(900));
        write(
            "src/view.rs",
            "//! View.\nfn f(e: web_sys::Element) {}\n".into(),
        );
        write(
            "src/said.rs",
            "//! Only says web_sys::Element in a comment.\n".into(),
        );
        write(
            "src/platform/page.rs",
            "//! Page.\nuse js_sys::Array;\n".into(),
        );
        write(
            "src/view_tests.rs",
            "//! Tests.\nuse web_sys::Element;\n".into(),
        );
        write(
            "src/components/view.rs",
            "//! View.\nuse crate::platform::pwa::Permission;\n".into(),
        );
        write(
            "src/components/view_tests.rs",
            "//! Tests.\nuse crate::platform::clock;\n".into(),
        );
        let paths = [
            "src/big.rs",
            "src/fits.rs",
            "src/big_tests.rs",
            "src/view.rs",
            "src/said.rs",
            "src/platform/page.rs",
            "src/view_tests.rs",
            "src/components/view.rs",
            "src/components/view_tests.rs",
        ];
        let violations = check_sizes_and_browser_apis(&dir, paths.into_iter()).unwrap();
        let seeded: Vec<&String> = violations
            .iter()
            .filter(|v| !v.contains("remove it from tidy"))
            .collect();
        assert_eq!(seeded.len(), 4, "{seeded:?}");
        assert!(seeded[0].starts_with("src/big.rs: 801 lines, over the limit of 800"));
        assert!(seeded[1].starts_with("src/big_tests.rs: 900 lines, over the limit of 800"));
        assert!(seeded[2].starts_with("src/view.rs: uses web_sys/js_sys outside src/platform/"));
        assert!(seeded[3].starts_with("src/components/view.rs: a component names platform"));
        // The listed exceptions are absent here, so each is reported as stale.
        let stale = violations.len() - seeded.len();
        assert_eq!(
            stale,
            OVERSIZED.len() + BROWSER_API_OUTSIDE_PLATFORM.len() + PLATFORM_IN_COMPONENTS.len()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn platform_paths() {
        assert!(names_platform("use crate::platform::pwa::Permission;"));
        assert!(names_platform("use crate::platform;"));
        assert!(names_platform("use super::super::platform as p;"));
        assert!(names_platform("platform::clock::sleep(d)"));
        assert!(!names_platform("// the platform:: module\nfn f() {}"));
        assert!(!names_platform("let s = \"platform::x\";"));
        assert!(!names_platform(
            "my_platform::x(); platforms::y(); let platform = 1;"
        ));
    }

    #[test]
    fn limits() {
        assert_eq!(line_limit("src/driver.rs"), 800);
        assert_eq!(line_limit("src/platform/store/tests.rs"), 800);
        assert_eq!(line_limit("crates/confab-core/src/client/tests.rs"), 1200);
        assert_eq!(line_limit("crates/confab-core/tests/sim/files.rs"), 1200);
        assert_eq!(line_limit("tests/src/browser.rs"), 1200);
        assert_eq!(line_limit("crates/confab-server/src/hub.rs"), 1000);
        assert_eq!(line_limit("xtask/src/tidy.rs"), 1000);
    }

    #[test]
    fn module_doc() {
        assert!(starts_with_module_doc("//! Owns things.\nfn main() {}\n"));
        assert!(starts_with_module_doc("\n\n  //! Indented.\n"));
        assert!(!starts_with_module_doc("/// Item doc.\n"));
        assert!(!starts_with_module_doc("#![allow(dead_code)]\n//! Late.\n"));
        assert!(!starts_with_module_doc(""));
    }

    #[test]
    fn test_attributes() {
        let text = concat!(
            "#[test]\n#[",
            "ignore]\nfn a() {}\n#[",
            "should_panic(expected = \"x\")]\nfn b() {}\n"
        );
        let found: Vec<usize> = banned_test_attributes(text)
            .into_iter()
            .map(|(line_idx, _)| line_idx)
            .collect();
        assert_eq!(found, [1, 3]);
        assert!(banned_test_attributes("#[test]\nfn ignored_input_is_dropped() {}\n").is_empty());
    }

    #[test]
    fn core_dependencies() {
        let manifest = r#"
            [package]
            name = "confab-core"
            [dependencies]
            snow = "0.10"
            web-sys = { version = "0.3" }
            [dev-dependencies]
            gloo-timers = "0.3"
            wasm-bindgen-test = "0.3"
            [target.'cfg(target_arch = "wasm32")'.dependencies]
            web-time = "1"
            rng = { package = "getrandom", version = "0.3" }
        "#;
        assert_eq!(
            forbidden_core_deps(manifest).unwrap(),
            ["web-sys", "gloo-timers", "getrandom"]
        );
        assert!(
            forbidden_core_deps("[package]\nname = \"x\"\n")
                .unwrap()
                .is_empty()
        );
    }
}
