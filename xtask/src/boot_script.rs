//! Moves Trunk's inline boot `<script>` out of `dist/index.html` into its own
//! file, because the server's CSP (`script-src 'self' 'wasm-unsafe-eval'`)
//! forbids inline script, and pins what it loads with Subresource Integrity:
//! the `<script>` tag carries the boot file's SHA-384, and the boot script
//! fetches the wasm with its SHA-384 (Trunk 0.21 puts `integrity` only on its
//! `<link>` preloads, which the glue import uses but wasm-bindgen's own fetch
//! of the wasm does not). Pure string work, so it is tested on Trunk's real
//! output; it fails loudly when that output changes shape.

use anyhow::{Result, bail, ensure};
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384};

/// `index.html` rewritten, plus the script file it now references.
#[derive(Debug)]
pub(crate) struct Externalized {
    /// The new `index.html`.
    pub(crate) html: String,
    /// File name inside `dist/`, `boot-<16 hex digits of sha256>.js`.
    pub(crate) script_name: String,
    /// The former inline script body.
    pub(crate) script: String,
}

/// Replaces the one inline module script that imports Trunk's wasm-bindgen
/// glue (`import init ... from '<base>confab-<hash>.js'`) with
/// `<script type="module" src="<base>boot-<hash>.js" integrity="sha384-...">`,
/// makes that script fetch the wasm with its integrity (`file` reads a file
/// of the build by its URL path, e.g. `/confab-<hash>_bg.wasm`), and strips
/// every `nonce="..."` attribute. Errors if the boot script is missing or
/// ambiguous, or if any other inline script remains (the CSP would block it).
pub(crate) fn externalize(
    html: &str,
    file: &dyn Fn(&str) -> Result<Vec<u8>>,
) -> Result<Externalized> {
    let html = strip_nonces(html)?;
    let scripts = find_scripts(&html)?;
    let mut boot = None;
    for script in &scripts {
        if script.has_src {
            continue;
        }
        let body = &html[script.body.clone()];
        ensure!(
            body.contains("import init"),
            "dist/index.html has an inline <script> that is not Trunk's boot script; the CSP would block it:\n{}",
            &html[script.whole.clone()]
        );
        ensure!(
            boot.is_none(),
            "dist/index.html has more than one inline boot <script>"
        );
        boot = Some(script);
    }
    let Some(boot) = boot else {
        bail!(
            "no inline `<script type=\"module\">import init ...</script>` in dist/index.html: \
             did Trunk change its output? Update xtask/src/boot_script.rs"
        );
    };
    let open_tag = &html[boot.whole.start..boot.body.start];
    ensure!(
        open_tag.contains(r#"type="module""#),
        "Trunk's boot script is not a module script: {open_tag}"
    );

    let script = pin_wasm(&(html[boot.body.clone()].trim().to_owned() + "\n"), file)?;
    let base = glue_base(&script)?;
    let digest = Sha256::digest(script.as_bytes());
    let hash: String = digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let script_name = format!("boot-{hash}.js");
    let integrity = sri(script.as_bytes());
    let tag = format!(
        r#"<script type="module" src="{base}{script_name}" integrity="{integrity}"></script>"#
    );
    let html = format!(
        "{}{tag}{}",
        &html[..boot.whole.start],
        &html[boot.whole.end..]
    );
    Ok(Externalized {
        html,
        script_name,
        script,
    })
}

/// The Subresource Integrity value of `bytes`: `sha384-<base64>`.
pub(crate) fn sri(bytes: &[u8]) -> String {
    let digest = Sha384::digest(bytes);
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// `init({ module_or_path: '/x_bg.wasm' })` ->
/// `init({ module_or_path: new Request('/x_bg.wasm', { integrity: 'sha384-...' }) })`:
/// wasm-bindgen's glue fetches a `Request` as given, so the browser checks the bytes.
fn pin_wasm(script: &str, file: &dyn Fn(&str) -> Result<Vec<u8>>) -> Result<String> {
    const KEY: &str = "module_or_path: '";
    ensure!(
        script.matches(KEY).count() == 1,
        "Trunk's boot script does not pass `{KEY}...'` to init exactly once:\n{script}"
    );
    let Some(start) = script.find(KEY).map(|at| at + KEY.len()) else {
        bail!("unreachable: {KEY} counted once")
    };
    let Some(len) = script[start..].find('\'') else {
        bail!("unterminated wasm path in Trunk's boot script")
    };
    let path = &script[start..start + len];
    ensure!(
        path.starts_with('/') && path.ends_with(".wasm") && !path.contains(['\\', '"']),
        "unexpected wasm path {path:?} in Trunk's boot script"
    );
    let integrity = sri(&file(path)?);
    Ok(format!(
        "{}module_or_path: new Request('{path}', {{ integrity: '{integrity}' }}){}",
        &script[..start - KEY.len()],
        &script[start + len + 1..]
    ))
}

/// One `<script ...>...</script>` element, as byte ranges into the document.
struct Script {
    whole: std::ops::Range<usize>,
    body: std::ops::Range<usize>,
    has_src: bool,
}

fn find_scripts(html: &str) -> Result<Vec<Script>> {
    let mut scripts = Vec::new();
    let mut from = 0;
    while let Some(offset) = html[from..].find("<script") {
        let start = from + offset;
        let body_start = tag_end(html, start)?;
        let Some(body_len) = html[body_start..].find("</script>") else {
            bail!("<script> without </script>")
        };
        let body_end = body_start + body_len;
        let end = body_end + "</script>".len();
        let has_src = html[start + "<script".len()..body_start]
            .split_ascii_whitespace()
            .any(|attr| attr.starts_with("src="));
        scripts.push(Script {
            whole: start..end,
            body: body_start..body_end,
            has_src,
        });
        from = end;
    }
    Ok(scripts)
}

/// Removes `nonce` attributes from every tag. Trunk adds them only with
/// `create_nonce`; a static page cannot use them. Text, comments and the
/// bodies of `<script>`/`<style>` are copied unchanged.
fn strip_nonces(html: &str) -> Result<String> {
    let mut out = String::with_capacity(html.len());
    let mut pos = 0;
    while let Some(offset) = html[pos..].find('<') {
        let start = pos + offset;
        out.push_str(&html[pos..start]);
        if html[start..].starts_with("<!--") {
            let Some(len) = html[start..].find("-->") else {
                bail!("unterminated HTML comment")
            };
            let end = start + len + "-->".len();
            out.push_str(&html[start..end]);
            pos = end;
            continue;
        }
        let end = tag_end(html, start)?;
        let tag = &html[start..end];
        out.push_str(&strip_nonce_attrs(tag));
        pos = end;
        let name: String = tag[1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if name == "script" || name == "style" {
            let Some(len) = html[pos..].find(&format!("</{name}")) else {
                bail!("<{name}> is not closed")
            };
            out.push_str(&html[pos..pos + len]);
            pos += len;
        }
    }
    out.push_str(&html[pos..]);
    Ok(out)
}

/// The index just past the `>` that closes the tag starting at `start`,
/// skipping `>` inside quoted attribute values.
fn tag_end(html: &str, start: usize) -> Result<usize> {
    let mut quote = None;
    for (offset, byte) in html.as_bytes()[start..].iter().enumerate() {
        match (quote, byte) {
            (None, b'"' | b'\'') => quote = Some(*byte),
            (Some(open), _) if open == *byte => quote = None,
            (None, b'>') => return Ok(start + offset + 1),
            _ => {}
        }
    }
    bail!("unterminated tag at byte {start}")
}

/// `<script type="module" nonce="x">` -> `<script type="module">`.
fn strip_nonce_attrs(tag: &str) -> String {
    let bytes = tag.as_bytes();
    let mut out = String::with_capacity(tag.len());
    let mut copied = 0;
    let mut quote = None;
    let mut idx = 0;
    while idx < bytes.len() {
        let byte = bytes[idx];
        match quote {
            Some(open) if open == byte => quote = None,
            Some(_) => {}
            None if byte == b'"' || byte == b'\'' => quote = Some(byte),
            None if byte.is_ascii_whitespace() && tag[idx..].trim_start().starts_with("nonce=") => {
                let value_start =
                    idx + (tag[idx..].len() - tag[idx..].trim_start().len()) + "nonce=".len();
                let value_end = match bytes.get(value_start) {
                    Some(&open @ (b'"' | b'\'')) => tag[value_start + 1..]
                        .find(open as char)
                        .map_or(bytes.len(), |len| value_start + 1 + len + 1),
                    _ => tag[value_start..]
                        .find(|c: char| c.is_ascii_whitespace() || c == '>')
                        .map_or(bytes.len(), |len| value_start + len),
                };
                out.push_str(&tag[copied..idx]);
                copied = value_end;
                idx = value_end;
                continue;
            }
            None => {}
        }
        idx += 1;
    }
    out.push_str(&tag[copied..]);
    out
}

/// The directory prefix of the glue import: `from '/confab-1a2b.js'` -> `/`.
fn glue_base(script: &str) -> Result<&str> {
    let Some(from) = script.find(" from '") else {
        bail!("Trunk's boot script has no `from '...'` import")
    };
    let specifier = &script[from + " from '".len()..];
    let Some(end) = specifier.find('\'') else {
        bail!("unterminated import specifier in Trunk's boot script")
    };
    let specifier = &specifier[..end];
    let base_len = specifier.rfind('/').map_or(0, |slash| slash + 1);
    Ok(&specifier[..base_len])
}

#[cfg(test)]
mod tests {
    use super::{externalize, sri};

    /// The wasm file of the build, as `externalize` reads it.
    fn wasm(path: &str) -> anyhow::Result<Vec<u8>> {
        anyhow::ensure!(path == "/confab-b7434c1d1304434d_bg.wasm", "{path}");
        Ok(b"\0asm the wasm".to_vec())
    }

    /// `dist/index.html` as trunk 0.21.14 wrote it for this repo's index.html
    /// (with a Leptos counter as the app).
    const TRUNK_OUTPUT: &str = include_str!("../testdata/trunk-0.21.14-index.html");
    /// The same with `create_nonce = true` in Trunk.toml.
    const TRUNK_OUTPUT_NONCE: &str = include_str!("../testdata/trunk-0.21.14-index-nonce.html");

    #[test]
    fn moves_boot_script_out() {
        let out = externalize(TRUNK_OUTPUT, &wasm).unwrap();
        assert!(out.script_name.starts_with("boot-") && out.script_name.ends_with(".js"));
        assert_eq!(out.script_name.len(), "boot-".len() + 16 + ".js".len());
        assert!(
            out.script
                .starts_with("import init, * as bindings from '/confab-"),
            "{}",
            out.script
        );
        // The wasm is fetched with its integrity.
        let pinned = format!(
            "module_or_path: new Request('/confab-b7434c1d1304434d_bg.wasm', {{ integrity: '{}' }})",
            sri(b"\0asm the wasm")
        );
        assert!(out.script.contains(&pinned), "{}", out.script);
        // The tag carries the boot script's own integrity.
        let tag = format!(
            r#"<script type="module" src="/{}" integrity="{}"></script>"#,
            out.script_name,
            sri(out.script.as_bytes())
        );
        assert!(out.html.contains(&tag), "{}", out.html);
        assert!(!out.html.contains("import init"));
        assert_eq!(out.html.matches("<script").count(), 1);
        // The preload links and the stylesheet survive untouched.
        assert!(out.html.contains(r#"rel="modulepreload""#));
        assert!(out.html.contains(r#"rel="stylesheet""#));
    }

    #[test]
    fn sri_is_sha384_in_base64() {
        // `printf abc | openssl dgst -sha384 -binary | base64`
        assert_eq!(
            sri(b"abc"),
            "sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn"
        );
    }

    #[test]
    fn fails_when_the_wasm_is_missing() {
        let missing = |path: &str| -> anyhow::Result<Vec<u8>> { anyhow::bail!("no {path}") };
        let err = externalize(TRUNK_OUTPUT, &missing).unwrap_err().to_string();
        assert!(err.contains("no /confab-"), "{err}");
    }

    #[test]
    fn same_script_same_name() {
        let first = externalize(TRUNK_OUTPUT, &wasm).unwrap();
        let second = externalize(TRUNK_OUTPUT, &wasm).unwrap();
        assert_eq!(first.script_name, second.script_name);
        let changed =
            externalize(&TRUNK_OUTPUT.replace("wasmBindings", "otherName"), &wasm).unwrap();
        assert_ne!(first.script_name, changed.script_name);
    }

    #[test]
    fn strips_nonces() {
        assert_eq!(TRUNK_OUTPUT_NONCE.matches("nonce=").count(), 3);
        let out = externalize(TRUNK_OUTPUT_NONCE, &wasm).unwrap();
        assert!(!out.html.contains("nonce"), "{}", out.html);
        let plain = externalize(TRUNK_OUTPUT, &wasm).unwrap();
        assert_eq!(out.html, plain.html);
        assert_eq!(out.script, plain.script);
    }

    #[test]
    fn nonce_attribute_forms() {
        assert_eq!(
            super::strip_nonce_attrs(r#"<a nonce='x' b="1">"#),
            r#"<a b="1">"#
        );
        assert_eq!(super::strip_nonce_attrs("<a\n  nonce=x>"), "<a>");
        let in_value = r#"<meta content="a nonce=x">"#;
        assert_eq!(super::strip_nonce_attrs(in_value), in_value);
    }

    #[test]
    fn nonce_in_text_is_kept() {
        let html = TRUNK_OUTPUT.replace("<body>", r#"<body><p>a nonce="x" in text</p>"#);
        let out = externalize(&html, &wasm).unwrap();
        assert!(out.html.contains(r#"<p>a nonce="x" in text</p>"#));
    }

    #[test]
    fn fails_without_boot_script() {
        let without = TRUNK_OUTPUT.replace("import init", "import start");
        let err = externalize(&without, &wasm).unwrap_err().to_string();
        assert!(err.contains("not Trunk's boot script"), "{err}");
        let processed = externalize(TRUNK_OUTPUT, &wasm).unwrap().html;
        let err = externalize(&processed, &wasm).unwrap_err().to_string();
        assert!(err.contains("did Trunk change its output"), "{err}");
    }

    #[test]
    fn fails_on_other_inline_script() {
        let html = TRUNK_OUTPUT.replace("</head>", "<script>alert(1)</script></head>");
        let err = externalize(&html, &wasm).unwrap_err().to_string();
        assert!(err.contains("alert(1)"), "{err}");
    }
}
