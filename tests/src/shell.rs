//! The installed app's shell, as the tests see it from outside: the service worker and
//! what it keeps (the `confab-shell-*` cache), whether a page came from it, the integrity
//! values the boot script carries, and a second build (B) to serve after the first.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384};

use crate::{Browser, ChatPage, Env, Server, eventually};

/// Waits until the service worker is installed (the shell precached) and active;
/// returns its state (`activated`).
pub async fn wait_worker_active(browser: &Browser) -> anyhow::Result<String> {
    eventually("the service worker to be active", || async {
        let state = run_async(
            browser,
            "navigator.serviceWorker.ready.then(r => done(r.active ? r.active.state : null))",
        )
        .await?;
        Ok((state == "activated").then(|| state.as_str().unwrap_or_default().to_owned()))
    })
    .await
}

/// Whether a service worker controls the page now.
pub async fn is_controlled(browser: &Browser) -> anyhow::Result<bool> {
    let controlled = browser
        .driver()
        .execute("return !!navigator.serviceWorker.controller;", Vec::new())
        .await?;
    Ok(controlled.json() == &serde_json::json!(true))
}

/// The paths the worker keeps in its `confab-shell-*` cache; fails unless they are the
/// whole shell (page, boot script, app script and wasm, style, icons, manifest, file
/// worker) and nothing that must come from the network (`/sw.js`, `/ws`).
pub async fn check_shell_cached(browser: &Browser) -> anyhow::Result<Vec<String>> {
    let cached = run_async(
        browser,
        "caches.keys().then(async names => {
           const name = names.find(n => n.startsWith('confab-shell-'));
           if (!name) return done([]);
           const requests = await (await caches.open(name)).keys();
           done(requests.map(r => new URL(r.url).pathname));
         })",
    )
    .await?;
    let cached: Vec<String> = serde_json::from_value(cached)?;
    for wanted in ["/index.html", "/file-worker.js", "/manifest.webmanifest"] {
        anyhow::ensure!(
            cached.iter().any(|path| path == wanted),
            "{wanted} not precached: {cached:?}"
        );
    }
    for (prefix, suffix) in [
        ("/boot-", ".js"),
        ("/confab-", ".js"),
        ("/confab-", "_bg.wasm"),
        ("/main-", ".css"),
        ("/icons/", ".png"),
    ] {
        anyhow::ensure!(
            cached
                .iter()
                .any(|path| path.starts_with(prefix) && path.ends_with(suffix)),
            "no {prefix}*{suffix} precached: {cached:?}"
        );
    }
    anyhow::ensure!(
        !cached.iter().any(|path| path == "/sw.js" || path == "/ws"),
        "{cached:?}"
    );
    Ok(cached)
}

/// Fails unless the page now shown was served by the service worker (it controls the
/// page and, in Chromium, the navigation timing shows the worker starting; Firefox 153
/// leaves `workerStart` at 0 for a navigation its worker serves).
pub async fn check_served_by_worker(browser: &Browser) -> anyhow::Result<()> {
    let from_worker = browser
        .driver()
        .execute(
            "const nav = performance.getEntriesByType('navigation')[0];
             return { controlled: !!navigator.serviceWorker.controller, workerStart: nav ? nav.workerStart : 0 };",
            Vec::new(),
        )
        .await?;
    let from_worker = from_worker.json();
    anyhow::ensure!(
        from_worker["controlled"] == true
            && (browser.is_firefox() || from_worker["workerStart"].as_f64().unwrap_or(0.0) > 0.0),
        "the page did not come from the service worker: {from_worker}"
    );
    Ok(())
}

/// The server stops; a reload still opens the app, served by the worker, in the room of
/// `invite` with the history `messages` kept in IndexedDB, and the page says the server
/// is unreachable. Returns the page.
pub async fn open_offline<'a>(
    browser: &'a Browser,
    server: Server,
    invite: &str,
    messages: &[&str],
) -> anyhow::Result<ChatPage<'a>> {
    server.kill().await?;
    browser.reload().await?;
    let page = browser.open_page_current().await?;
    page.by_role("textbox", "Message").await?;
    page.wait_for_messages(messages).await?;
    anyhow::ensure!(
        page.invite_link().await? == invite,
        "offline, the app opened another room"
    );
    eventually("the page to say the server is unreachable", || async {
        Ok(page
            .server_status()
            .await?
            .contains("unreachable")
            .then_some(()))
    })
    .await?;
    check_served_by_worker(browser).await?;
    Ok(page)
}

/// The server starts again on `port`: the page reconnects by itself and a message sent
/// then joins the history `messages`. Returns the server.
pub async fn reconnect(
    env: &Env,
    port: u16,
    page: &ChatPage<'_>,
    messages: &[&str],
) -> anyhow::Result<Server> {
    let server = Server::start_on(env, port, false).await?;
    eventually("the page to reconnect", || async {
        Ok((page.server_status().await? == "Connected").then_some(()))
    })
    .await?;
    page.send("back online").await?;
    let mut all = messages.to_vec();
    all.push("back online");
    page.wait_for_messages(&all).await?;
    Ok(server)
}

/// Runs `script` as an async WebDriver script (it calls `done(value)`); returns the value.
pub async fn run_async(browser: &Browser, script: &str) -> anyhow::Result<serde_json::Value> {
    let wrapped = format!("const done = arguments[arguments.length - 1];\n{script}");
    let ret = browser.driver().execute_async(&wrapped, Vec::new()).await?;
    Ok(ret.json().clone())
}

/// The notifications the origin's service worker shows now (`registration.getNotifications()`),
/// each as `{title, body, tag, data}`.
pub async fn worker_notifications(browser: &Browser) -> anyhow::Result<Vec<serde_json::Value>> {
    let shown = run_async(
        browser,
        "navigator.serviceWorker.ready
           .then(r => r.getNotifications())
           .then(ns => done(ns.map(n => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }))))",
    )
    .await?;
    Ok(shown.as_array().cloned().unwrap_or_default())
}

/// Checks that `shown` (from [`worker_notifications`]) is exactly one notification for a
/// message in the room at `room_address`: `title` and `body`, the room's tag (the page's
/// notifications for the room replace it) and its link `room_link`.
pub fn ensure_one_message_notification(
    shown: &serde_json::Value,
    title: &str,
    body: &str,
    room_address: &str,
    room_link: &str,
) -> anyhow::Result<()> {
    let one = &shown[0];
    anyhow::ensure!(
        shown.as_array().map(Vec::len) == Some(1)
            && one["title"] == title
            && one["body"] == body
            && one["tag"] == format!("confab-message-{room_address}").as_str()
            && one["data"]["url"] == room_link,
        "the worker's notification: {shown} (the room's link: {room_link})"
    );
    Ok(())
}

/// Waits until the service worker shows a notification; returns what it shows then.
pub async fn wait_worker_notifications(
    browser: &Browser,
) -> anyhow::Result<Vec<serde_json::Value>> {
    crate::eventually("the worker's notification", || async {
        let shown = worker_notifications(browser).await?;
        Ok((!shown.is_empty()).then_some(shown))
    })
    .await
}

/// The `<meta>` that only build B's page has.
pub const NEXT_BUILD_MARK: &str = r#"<meta name="confab-test-build" content="next" />"#;

/// Build B: a copy of `env.dist` whose `index.html` has one more `<meta>`, with its
/// service worker's shell and fingerprint changed to match (as `cargo xtask build` would
/// have filled them in; the worker checks both before it keeps anything).
pub fn next_build(env: &Env) -> anyhow::Result<PathBuf> {
    let next = env.out.join("dist-next");
    let _ = std::fs::remove_dir_all(&next);
    copy_dir(&env.dist, &next)?;
    let index = next.join("index.html");
    let old_index = std::fs::read(&index)?;
    let html = String::from_utf8(old_index.clone())?;
    anyhow::ensure!(html.contains("<head>"), "no <head> in index.html");
    std::fs::write(
        &index,
        html.replacen("<head>", &format!("<head>{NEXT_BUILD_MARK}"), 1),
    )?;
    let worker = next.join("sw.js");
    let text = std::fs::read_to_string(&worker)?;
    let (old_hash, new_hash) = (sha256_hex(&old_index), sha256_hex(&std::fs::read(&index)?));
    let old_entry = format!(r#"["/index.html", "{old_hash}"]"#);
    anyhow::ensure!(text.contains(&old_entry), "sw.js lacks {old_entry}");
    let old_build = fingerprint(&env.dist)?;
    anyhow::ensure!(
        text.contains(&format!(r#"const BUILD = "{old_build}";"#)),
        "sw.js does not hold the fingerprint of {}",
        env.dist.display()
    );
    let text = text
        .replace(&old_entry, &format!(r#"["/index.html", "{new_hash}"]"#))
        .replace(&old_build, &fingerprint(&next)?);
    std::fs::write(&worker, text)?;
    Ok(next)
}

/// The fingerprint of the build in `dist`, as README defines it: the SHA-256 of the
/// `sha256sum` listing (`<hex>  <path>\n`, sorted by path) of every file but `sw.js`.
pub fn fingerprint(dist: &Path) -> anyhow::Result<String> {
    let mut files = Vec::new();
    list_files(dist, dist, &mut files)?;
    files.sort();
    let listing: String = files
        .iter()
        .filter(|path| path.as_str() != "sw.js")
        .map(|path| {
            Ok(format!(
                "{}  {path}\n",
                sha256_hex(&std::fs::read(dist.join(path))?)
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(sha256_hex(listing.as_bytes()))
}

/// The boot `<script>` of `index.html` names the boot file's SHA-384, and the boot
/// script fetches the wasm with the wasm's SHA-384 (Chromium refuses either if it
/// differs; the app running at all in these tests shows they match what is served).
pub fn check_integrity(dist: &Path) -> anyhow::Result<()> {
    let html = std::fs::read_to_string(dist.join("index.html"))?;
    let sri = |bytes: &[u8]| {
        format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes))
        )
    };
    let boot_name = between(&html, r#"<script type="module" src="/"#, "\"")?;
    let boot = std::fs::read(dist.join(boot_name))?;
    let tag = format!(
        r#"<script type="module" src="/{boot_name}" integrity="{}"></script>"#,
        sri(&boot)
    );
    anyhow::ensure!(html.contains(&tag), "index.html lacks {tag}:\n{html}");
    let script = String::from_utf8(boot)?;
    let wasm_name = between(&script, "new Request('/", "'")?;
    let wasm = std::fs::read(dist.join(wasm_name))?;
    let pinned = format!(
        "new Request('/{wasm_name}', {{ integrity: '{}' }})",
        sri(&wasm)
    );
    anyhow::ensure!(
        script.contains(&pinned),
        "the boot script lacks {pinned}:\n{script}"
    );
    println!("integrity: {tag}; {pinned}");
    Ok(())
}

/// The text between the first `start` and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> anyhow::Result<&'a str> {
    let from = text
        .find(start)
        .map(|at| at + start.len())
        .ok_or_else(|| anyhow::anyhow!("no {start:?}"))?;
    let len = text[from..]
        .find(end)
        .ok_or_else(|| anyhow::anyhow!("no {end:?} after {start:?}"))?;
    Ok(&text[from..from + len])
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Paths of the files under `dir`, relative to `root`, with `/` separators.
fn list_files(root: &Path, dir: &Path, files: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            list_files(root, &path, files)?;
        } else {
            let relative = path.strip_prefix(root)?;
            let parts: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)?;
        }
    }
    Ok(())
}
