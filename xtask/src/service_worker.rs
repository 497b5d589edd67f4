//! Fills in `dist/sw.js` (from `assets/sw.js`) after the build: the app shell the service
//! worker keeps (every file of `dist/` but the worker itself, each with its SHA-256), the
//! build's fingerprint, which names the worker's cache and which the Security panel
//! shows, and the app's wasm-bindgen glue (a static `import`: service workers may not
//! `import()`) and wasm, which the worker runs to open a pushed message
//! (`src/platform/service_worker.rs`). Pure, so it is tested without a build.
//!
//! The fingerprint, precisely: the SHA-256 of the shell's `sha256sum` listing, i.e. of
//! the lines `<sha256 of the file, 64 lowercase hex>  <path inside dist/>\n`, one per
//! shell file, sorted by path (bytewise, `/` as separator). Anyone can recompute it:
//! `cd dist && find . -type f ! -path ./sw.js -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum`.

use anyhow::{Result, ensure};
use sha2::{Digest, Sha256};

/// The placeholder `assets/sw.js` holds where the fingerprint goes (a JS string literal).
pub(crate) const BUILD_PLACEHOLDER: &str = "\"__CONFAB_SW_BUILD__\"";
/// The placeholder `assets/sw.js` holds where the shell goes (a JS array of
/// `[path, sha256 hex]` pairs).
pub(crate) const SHELL_PLACEHOLDER: &str = "[\"__CONFAB_SW_SHELL__\"]";
/// The placeholder line `assets/sw.js` holds where the glue's import goes (unfilled, the
/// worker has no app: `app` is null).
pub(crate) const IMPORT_PLACEHOLDER: &str = "/* __CONFAB_SW_IMPORT__ */ const app = null;";
/// The placeholder `assets/sw.js` holds where the wasm's path goes (a JS string literal).
pub(crate) const WASM_PLACEHOLDER: &str = "\"__CONFAB_SW_WASM__\"";
/// The worker's own file name in `dist/` (not in the shell: browsers fetch it themselves,
/// and it holds the fingerprint).
pub(crate) const FILE_NAME: &str = "sw.js";

/// `template` (the worker as Trunk copied it) with the shell, fingerprint, glue and wasm
/// filled in. `files` are `(path inside dist with '/' separators, bytes)`, in any order;
/// the worker itself is left out. Errors if a placeholder is missing or repeated (the
/// worker and this code disagree), or if the shell lacks `index.html` or the app (one
/// `confab-<hash>.js` with its `confab-<hash>_bg.wasm`).
pub(crate) fn fill(template: &str, files: &[(String, Vec<u8>)]) -> Result<String> {
    for placeholder in [
        BUILD_PLACEHOLDER,
        SHELL_PLACEHOLDER,
        IMPORT_PLACEHOLDER,
        WASM_PLACEHOLDER,
    ] {
        ensure!(
            template.matches(placeholder).count() == 1,
            "{FILE_NAME} must hold {placeholder} exactly once (was it already filled in?)"
        );
    }
    let shell = shell(files);
    ensure!(
        shell.iter().any(|(path, _)| path == "index.html"),
        "no index.html among the built files"
    );
    let entries: Vec<String> = shell
        .iter()
        .map(|(path, sha256)| {
            format!(
                "[{}, {}]",
                js_string(&format!("/{path}")),
                js_string(sha256)
            )
        })
        .collect();
    let list = format!("[\n  {},\n]", entries.join(",\n  "));
    let (glue, wasm) = app_of(&shell)?;
    Ok(template
        .replace(BUILD_PLACEHOLDER, &js_string(&fingerprint_of(&shell)))
        .replace(SHELL_PLACEHOLDER, &list)
        .replace(
            IMPORT_PLACEHOLDER,
            &format!("import * as app from {};", js_string(&format!("/{glue}"))),
        )
        .replace(WASM_PLACEHOLDER, &js_string(&format!("/{wasm}"))))
}

/// The app's glue and wasm among the shell's files: `confab-<hash>.js` at the top, with
/// `confab-<hash>_bg.wasm` beside it, exactly one.
fn app_of(shell: &[(String, String)]) -> Result<(String, String)> {
    let names: Vec<&str> = shell.iter().map(|(path, _)| path.as_str()).collect();
    let glues: Vec<&str> = names
        .iter()
        .copied()
        .filter(|path| {
            path.strip_prefix("confab-")
                .and_then(|rest| rest.strip_suffix(".js"))
                .is_some_and(|hash| !hash.is_empty() && hash.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .collect();
    ensure!(
        glues.len() == 1,
        "the build must hold one app glue confab-<hash>.js, found {glues:?}"
    );
    let glue = glues[0].to_owned();
    let wasm = format!("{}_bg.wasm", glue.trim_end_matches(".js"));
    ensure!(names.contains(&wasm.as_str()), "no {wasm} beside {glue}");
    Ok((glue, wasm))
}

/// The build's fingerprint (see the module doc), 64 lowercase hex digits.
pub(crate) fn fingerprint(files: &[(String, Vec<u8>)]) -> String {
    fingerprint_of(&shell(files))
}

/// The shell's `sha256sum` listing (see the module doc).
pub(crate) fn listing(files: &[(String, Vec<u8>)]) -> String {
    listing_of(&shell(files))
}

/// `a1b2c3d4e5f6...` -> `a1b2 c3d4 e5f6 ...`, as the Security panel shows it.
pub(crate) fn grouped(fingerprint: &str) -> String {
    let chars: Vec<char> = fingerprint.chars().collect();
    let groups: Vec<String> = chars
        .chunks(4)
        .map(|group| group.iter().collect())
        .collect();
    groups.join(" ")
}

/// `(path, sha256 hex)` of every shell file, sorted by path.
fn shell(files: &[(String, Vec<u8>)]) -> Vec<(String, String)> {
    let mut shell: Vec<(String, String)> = files
        .iter()
        .filter(|(path, _)| path != FILE_NAME)
        .map(|(path, bytes)| (path.clone(), hex(&Sha256::digest(bytes))))
        .collect();
    shell.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    shell
}

fn listing_of(shell: &[(String, String)]) -> String {
    shell
        .iter()
        .map(|(path, sha256)| format!("{sha256}  {path}\n"))
        .collect()
}

fn fingerprint_of(shell: &[(String, String)]) -> String {
    hex(&Sha256::digest(listing_of(shell).as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
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
    use super::{
        BUILD_PLACEHOLDER, IMPORT_PLACEHOLDER, SHELL_PLACEHOLDER, WASM_PLACEHOLDER, fill,
        fingerprint, grouped, listing,
    };

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

    /// The shell as the filled worker spells it: `(path, sha256)`.
    fn shell_of(worker: &str) -> Vec<(String, String)> {
        let start = worker.find("const SHELL = [").expect("SHELL") + "const SHELL = [".len();
        let end = start + worker[start..].find("\n];").expect("];");
        worker[start..end]
            .split("],")
            .map(|item| item.trim().trim_start_matches('[').trim_end_matches(']'))
            .filter(|item| !item.is_empty())
            .map(|item| {
                let (path, sha256) = item.split_once(", ").expect("pair");
                (
                    path.trim_matches('"').to_owned(),
                    sha256.trim_matches('"').to_owned(),
                )
            })
            .collect()
    }

    fn build_of(worker: &str) -> String {
        let start = worker.find("const BUILD = \"").expect("BUILD") + 15;
        worker[start..start + 64].to_owned()
    }

    #[test]
    fn the_committed_worker_has_both_placeholders() {
        assert_eq!(TEMPLATE.matches(BUILD_PLACEHOLDER).count(), 1);
        assert_eq!(TEMPLATE.matches(SHELL_PLACEHOLDER).count(), 1);
        assert!(TEMPLATE.contains(&format!("const BUILD = {BUILD_PLACEHOLDER};")));
        assert!(TEMPLATE.contains(&format!("const SHELL = {SHELL_PLACEHOLDER};")));
        assert_eq!(TEMPLATE.matches(IMPORT_PLACEHOLDER).count(), 1);
        assert!(TEMPLATE.contains(&format!("const APP_WASM = {WASM_PLACEHOLDER};")));
    }

    #[test]
    fn imports_the_app_glue_and_names_its_wasm() {
        let worker = fill(TEMPLATE, &dist()).unwrap();
        assert!(
            worker.contains("\nimport * as app from \"/confab-acb03924f5b82540.js\";\n"),
            "{worker}"
        );
        assert!(worker.contains("const APP_WASM = \"/confab-acb03924f5b82540_bg.wasm\";"));
        // A build without the app (or with two) is refused.
        let without_wasm: Vec<_> = dist()
            .into_iter()
            .filter(|(path, _)| !path.ends_with(".wasm"))
            .collect();
        let err = fill(TEMPLATE, &without_wasm).unwrap_err().to_string();
        assert!(err.contains("_bg.wasm"), "{err}");
        let mut two = dist();
        two.push(("confab-0123.js".into(), b"glue".to_vec()));
        assert!(fill(TEMPLATE, &two).is_err());
    }

    #[test]
    fn lists_the_whole_shell_sorted_with_hashes_without_the_worker() {
        let worker = fill(TEMPLATE, &dist()).unwrap();
        let shell = shell_of(&worker);
        let paths: Vec<&str> = shell.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
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
        // `printf '<html>' | sha256sum`
        assert_eq!(
            shell[8].1,
            "b7d082ee12e91b756ea22e8513b8594eebcf5d39fab813da3cb55794dc888ad7"
        );
        assert!(!worker.contains("__CONFAB_SW_"), "{worker}");
        assert_eq!(build_of(&worker), fingerprint(&dist()));
        // Filled once, it cannot be filled again by mistake.
        assert!(fill(&worker, &dist()).is_err());
    }

    #[test]
    fn fingerprint_is_the_sha256_of_the_sha256sum_listing() {
        let files: Vec<(String, Vec<u8>)> = [("index.html", "a\n"), ("b/c.js", ""), ("sw.js", "x")]
            .into_iter()
            .map(|(path, bytes)| (path.to_owned(), bytes.as_bytes().to_vec()))
            .collect();
        // What `sha256sum b/c.js index.html` prints for these files.
        let expected_listing = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  b/c.js\n\
             87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7  index.html\n";
        assert_eq!(listing(&files), expected_listing);
        // `printf '%s' "$listing" | sha256sum`
        assert_eq!(
            fingerprint(&files),
            "cd432ad98f4508dc866aeeab66dc15cb822ac18483c474da3c956c1dcee75d6a"
        );
    }

    #[test]
    fn fingerprint_follows_every_byte_and_name_but_not_the_order() {
        let first = fingerprint(&dist());
        let mut reversed = dist();
        reversed.reverse();
        assert_eq!(first, fingerprint(&reversed));
        let mut changed = dist();
        changed[3].1.push(0);
        assert_ne!(first, fingerprint(&changed));
        let mut renamed = dist();
        renamed[4].0 = "main-0000000000000000.css".into();
        assert_ne!(first, fingerprint(&renamed));
        // The worker's own bytes do not count: the fingerprint is the shell's.
        let mut other_worker = dist();
        other_worker.last_mut().unwrap().1.push(b'\n');
        assert_eq!(first, fingerprint(&other_worker));
    }

    #[test]
    fn groups_of_four() {
        assert_eq!(grouped("0123456789abcdef01"), "0123 4567 89ab cdef 01");
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
