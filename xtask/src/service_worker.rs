//! Fills in `dist/sw.js` (from `assets/sw.js`) after the build: the list of files the
//! service worker precaches (the app shell, whose hashed names exist only once Trunk
//! ran) and a version derived from their bytes, so every build that changes any of them
//! gets a new worker and a new cache. Pure, so it is tested without a build.

use anyhow::{Result, ensure};
use sha2::{Digest, Sha256};

/// The placeholder `assets/sw.js` holds where the version goes (a JS string literal).
pub(crate) const VERSION_PLACEHOLDER: &str = "\"__CONFAB_SW_VERSION__\"";
/// The placeholder `assets/sw.js` holds where the precache list goes (a JS array).
pub(crate) const SHELL_PLACEHOLDER: &str = "[\"__CONFAB_SW_SHELL__\"]";
/// The worker's own file name in `dist/` (never precached: browsers fetch it themselves).
pub(crate) const FILE_NAME: &str = "sw.js";

/// `template` (the worker as Trunk copied it) with the precache list and version filled
/// in. `files` are `(path inside dist with '/' separators, bytes)`, in any order; the
/// worker itself is left out of the list. Errors if a placeholder is missing or repeated
/// (the worker and this code disagree), or if the shell lacks `index.html`.
pub(crate) fn fill(template: &str, files: &[(String, Vec<u8>)]) -> Result<String> {
    for placeholder in [VERSION_PLACEHOLDER, SHELL_PLACEHOLDER] {
        ensure!(
            template.matches(placeholder).count() == 1,
            "{FILE_NAME} must hold {placeholder} exactly once (was it already filled in?)"
        );
    }
    let mut shell: Vec<&(String, Vec<u8>)> =
        files.iter().filter(|(path, _)| path != FILE_NAME).collect();
    shell.sort_by(|a, b| a.0.cmp(&b.0));
    ensure!(
        shell.iter().any(|(path, _)| path == "index.html"),
        "no index.html among the built files"
    );
    let mut hasher = Sha256::new();
    for (path, bytes) in &shell {
        hasher.update((path.len() as u64).to_be_bytes());
        hasher.update(path.as_bytes());
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    let version: String = hasher
        .finalize()
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let urls: Vec<String> = shell
        .iter()
        .map(|(path, _)| js_string(&format!("/{path}")))
        .collect();
    let list = format!("[\n  {},\n]", urls.join(",\n  "));
    Ok(template
        .replace(VERSION_PLACEHOLDER, &js_string(&version))
        .replace(SHELL_PLACEHOLDER, &list))
}

/// A double-quoted JS string literal (file names are plain, but be safe).
fn js_string(text: &str) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ch if (ch as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", ch as u32)),
            ch => out.push(ch),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::{SHELL_PLACEHOLDER, VERSION_PLACEHOLDER, fill};

    /// The real worker, as committed.
    const TEMPLATE: &str = include_str!("../../assets/sw.js");

    fn dist() -> Vec<(String, Vec<u8>)> {
        [
            ("index.html", "<html>"),
            ("boot-0f022d02ea5b184b.js", "import init"),
            ("confab-acb03924f5b82540.js", "glue"),
            ("confab-acb03924f5b82540_bg.wasm", "\0asm"),
            ("main-2ba6ac14a6bc603b.css", "body{}"),
            ("favicon-e5477a2c1cda911e.svg", "<svg/>"),
            ("file-worker.js", "worker"),
            ("manifest.webmanifest", "{}"),
            ("icons/icon-192.png", "png"),
            ("icons/icon-512.png", "png"),
            ("icons/icon-maskable-512.png", "png"),
            ("sw.js", TEMPLATE),
        ]
        .into_iter()
        .map(|(path, bytes)| (path.to_owned(), bytes.as_bytes().to_vec()))
        .collect()
    }

    /// The precache list as the filled worker spells it.
    fn shell_of(worker: &str) -> Vec<String> {
        let start = worker.find("const SHELL = [").expect("SHELL") + "const SHELL = [".len();
        let end = start + worker[start..].find(']').expect("]");
        worker[start..end]
            .split(',')
            .map(|item| item.trim().trim_matches('"').to_owned())
            .filter(|item| !item.is_empty())
            .collect()
    }

    fn version_of(worker: &str) -> String {
        let start = worker.find("const VERSION = \"").expect("VERSION") + 17;
        worker[start..start + 16].to_owned()
    }

    #[test]
    fn the_committed_worker_has_both_placeholders() {
        assert_eq!(TEMPLATE.matches(VERSION_PLACEHOLDER).count(), 1);
        assert_eq!(TEMPLATE.matches(SHELL_PLACEHOLDER).count(), 1);
        assert!(TEMPLATE.contains(&format!("const VERSION = {VERSION_PLACEHOLDER};")));
        assert!(TEMPLATE.contains(&format!("const SHELL = {SHELL_PLACEHOLDER};")));
    }

    #[test]
    fn lists_the_whole_shell_sorted_without_the_worker() {
        let worker = fill(TEMPLATE, &dist()).unwrap();
        let shell = shell_of(&worker);
        assert_eq!(
            shell,
            [
                "/boot-0f022d02ea5b184b.js",
                "/confab-acb03924f5b82540.js",
                "/confab-acb03924f5b82540_bg.wasm",
                "/favicon-e5477a2c1cda911e.svg",
                "/file-worker.js",
                "/icons/icon-192.png",
                "/icons/icon-512.png",
                "/icons/icon-maskable-512.png",
                "/index.html",
                "/main-2ba6ac14a6bc603b.css",
                "/manifest.webmanifest",
            ]
        );
        assert!(!worker.contains("__CONFAB_SW_"), "{worker}");
        let version = version_of(&worker);
        assert!(
            version.len() == 16 && version.chars().all(|c| c.is_ascii_hexdigit()),
            "{version}"
        );
        // Filled once, it cannot be filled again by mistake.
        assert!(fill(&worker, &dist()).is_err());
    }

    #[test]
    fn version_follows_every_byte_and_name_but_not_the_order() {
        let first = version_of(&fill(TEMPLATE, &dist()).unwrap());
        let mut reversed = dist();
        reversed.reverse();
        assert_eq!(first, version_of(&fill(TEMPLATE, &reversed).unwrap()));
        let mut changed = dist();
        changed[3].1.push(0);
        assert_ne!(first, version_of(&fill(TEMPLATE, &changed).unwrap()));
        let mut renamed = dist();
        renamed[4].0 = "main-0000000000000000.css".into();
        assert_ne!(first, version_of(&fill(TEMPLATE, &renamed).unwrap()));
        // The worker's own bytes do not count: the version is the shell's.
        let mut other_worker = dist();
        other_worker.last_mut().unwrap().1.push(b'\n');
        assert_eq!(first, version_of(&fill(TEMPLATE, &other_worker).unwrap()));
    }

    #[test]
    fn refuses_a_template_or_dist_that_does_not_fit() {
        let err = fill("const SHELL = [];", &dist()).unwrap_err().to_string();
        assert!(err.contains("exactly once"), "{err}");
        let twice = format!("{TEMPLATE}\n{SHELL_PLACEHOLDER}");
        assert!(fill(&twice, &dist()).is_err());
        let without_index: Vec<_> = dist()
            .into_iter()
            .filter(|(path, _)| path != "index.html")
            .collect();
        let err = fill(TEMPLATE, &without_index).unwrap_err().to_string();
        assert!(err.contains("index.html"), "{err}");
    }

    #[test]
    fn names_are_quoted_safely() {
        assert_eq!(super::js_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(super::js_string("a\nb"), r#""a\u000ab""#);
    }
}
