//! `cargo xtask tidy`: repository rules that review would otherwise repeat.
//! The `tidy` test at the bottom makes `cargo test -p xtask` enforce them.
//!
//! - every `.rs` file opens with a `//!` line saying what it owns (STYLE 8);
//! - `confab-core` depends on nothing that does I/O (STYLE 1);
//! - no ignored or should-panic tests (STYLE 9).

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
    let manifest = fs::read_to_string(root.join(CORE_MANIFEST)).context(CORE_MANIFEST)?;
    for dep in forbidden_core_deps(&manifest).context(CORE_MANIFEST)? {
        violations.push(format!(
            "{CORE_MANIFEST}: confab-core must not depend on `{dep}` (it does no I/O)"
        ));
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

    use super::{banned_test_attributes, check, forbidden_core_deps, starts_with_module_doc};

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
