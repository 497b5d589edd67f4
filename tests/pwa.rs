//! The installable app: the web app manifest is served and parsed (name, icons that load),
//! Chromium finds the app installable and "Install Confab" appears, the invite shows as a
//! QR code, the service worker keeps the app shell, and with the server stopped the app still opens
//! from the worker and shows the history kept in IndexedDB, saying the server is
//! unreachable; when the server is back, the page reconnects by itself.

use confab_e2e::{Browser, Chromedriver, Env, Pair, Server, eventually};

const MESSAGES: [&str; 2] = ["written before going offline", "and kept on this device"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_offline_from_the_service_worker_with_history() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let chromedriver = Chromedriver::start(&env).await?;
    let alice = Browser::open(&chromedriver, &env, "alice").await?;
    let outcome = scenario(&env, &alice).await;
    alice.screenshot(&env, "pwa-alice.png").await.ok();
    alice.quit().await.ok();
    outcome
}

async fn scenario(env: &Env, alice: &Browser) -> anyhow::Result<()> {
    let server = Server::start(env, false).await?;
    let port = server.port();
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;
    for text in MESSAGES {
        a.send(text).await?;
    }
    a.wait_for_messages(&MESSAGES).await?;
    let title = alice.driver().title().await?;
    anyhow::ensure!(title == "Confab", "title {title:?}");

    check_manifest(alice).await?;
    // The invite as a QR code, to open it on a phone.
    a.click("button", "Show QR code").await?;
    a.by_role("image", "QR code of the invite link").await?;
    alice.screenshot(env, "pwa-qr.png").await?;
    a.click("button", "Show QR code").await?;

    // The worker installs (precaching the shell) and activates; after a reload it
    // controls the page.
    let state = eventually("the service worker to be active", || async {
        let state = run_async(
            alice,
            "navigator.serviceWorker.ready.then(r => done(r.active ? r.active.state : null))",
        )
        .await?;
        Ok((state == "activated").then_some(state))
    })
    .await?;
    println!("service worker: {state}");
    alice.driver().refresh().await?;
    let a = alice.open_page_current().await?;
    a.wait_for_messages(&MESSAGES).await?;
    let controlled = alice
        .driver()
        .execute("return !!navigator.serviceWorker.controller;", Vec::new())
        .await?;
    anyhow::ensure!(
        controlled.json() == &serde_json::json!(true),
        "the page is not controlled by the service worker after a reload"
    );
    // Installable (and controlled by the worker), so Chromium offers to install the app
    // and the header shows the offer.
    a.by_role("button", "Install Confab").await?;
    let cached = run_async(
        alice,
        "caches.keys().then(async names => {
           const name = names.find(n => n.startsWith('confab-shell-'));
           if (!name) return done([]);
           const requests = await (await caches.open(name)).keys();
           done(requests.map(r => new URL(r.url).pathname));
         })",
    )
    .await?;
    let cached: Vec<String> = serde_json::from_value(cached)?;
    println!("precached: {cached:?}");
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
    alice.assert_no_console_errors().await?;

    // The server stops. The app opens anyway, from the worker, with its history.
    server.kill().await?;
    alice.driver().refresh().await?;
    let a = alice.open_page_current().await?;
    a.by_role("textbox", "Message").await?;
    a.wait_for_messages(&MESSAGES).await?;
    anyhow::ensure!(
        a.invite_link().await? == invite,
        "offline, the app opened another room"
    );
    eventually("the page to say the server is unreachable", || async {
        Ok(a.server_status()
            .await?
            .contains("unreachable")
            .then_some(()))
    })
    .await?;
    let from_worker = alice
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
            && from_worker["workerStart"].as_f64().unwrap_or(0.0) > 0.0,
        "the offline page did not come from the service worker: {from_worker}"
    );
    alice.screenshot(env, "pwa-offline.png").await?;
    // The only errors allowed: the WebSocket (and nothing else) failing to connect.
    let errors = alice.console_errors().await?;
    let unexpected: Vec<&String> = errors
        .iter()
        .filter(|error| !is_expected_offline_error(error, port))
        .collect();
    anyhow::ensure!(
        unexpected.is_empty(),
        "offline console errors: {unexpected:#?}"
    );

    // The server is back where it was: the page reconnects by itself.
    let server = Server::start_on(env, port, false).await?;
    eventually("the page to reconnect", || async {
        Ok((a.server_status().await? == "Connected").then_some(()))
    })
    .await?;
    a.send("back online").await?;
    a.wait_for_messages(&[MESSAGES[0], MESSAGES[1], "back online"])
        .await?;
    drop(server);
    Ok(())
}

/// While Alice's Confab tab is in the background, Bob's message makes the title "(1)
/// Confab" and, since she turned them on, a notification with Bob's name and the text;
/// back in front, the count is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_count_and_notification_while_hidden() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = hidden_scenario(&pair).await;
    pair.finish("pwa-unread", outcome).await
}

async fn hidden_scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let (a, b) = pair.meet("").await?;
    let bob_name = b.display_name().await?;

    // Alice turns notifications on (the browser is told to say yes when asked); a spy
    // records the notifications the page makes.
    alice
        .cdp(
            "Browser.grantPermissions",
            serde_json::json!({ "permissions": ["notifications"] }),
        )
        .await?;
    a.click("button", "Turn on notifications").await?;
    eventually("notifications to be on", || async {
        Ok((!a.has_role("button", "Turn on notifications").await?).then_some(()))
    })
    .await?;
    alice
        .driver()
        .execute(
            "window.notified = [];
             const Real = window.Notification;
             window.Notification = class extends Real {
               constructor(title, options) {
                 super(title, options);
                 window.notified.push([title, options && options.body]);
               }
             };",
            Vec::new(),
        )
        .await?;

    // Alice switches to another tab: Confab is hidden.
    let confab = alice.driver().window().await?;
    let other = alice.driver().new_tab().await?;
    alice.driver().switch_to_window(other).await?;
    b.send("while you look elsewhere").await?;
    eventually("the background tab's title to count one unread", || async {
        let targets = alice
            .cdp("Target.getTargets", serde_json::json!({}))
            .await?;
        let titles: Vec<String> = targets["targetInfos"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["type"] == "page")
            .filter_map(|t| t["title"].as_str().map(str::to_owned))
            .collect();
        Ok(titles.iter().any(|t| t == "(1) Confab").then_some(()))
    })
    .await?;

    // Back to Confab: the message is there, the count gone, one notification made.
    alice.driver().close_window().await?;
    alice.driver().switch_to_window(confab).await?;
    a.wait_for_messages(&["while you look elsewhere"]).await?;
    eventually("the title without a count", || async {
        Ok((alice.driver().title().await? == "Confab").then_some(()))
    })
    .await?;
    let notified = alice
        .driver()
        .execute("return window.notified;", Vec::new())
        .await?;
    anyhow::ensure!(
        notified.json() == &serde_json::json!([[bob_name, "while you look elsewhere"]]),
        "notifications: {}",
        notified.json()
    );
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

/// The WebSocket to the stopped server failing, as Chromium logs it.
fn is_expected_offline_error(error: &str, port: u16) -> bool {
    error.contains(&format!(
        "WebSocket connection to 'ws://127.0.0.1:{port}/ws' failed"
    ))
}

/// The manifest is served with its media type, names the app, has the icon sizes browsers
/// ask for (and they load), and Chromium parses it without errors.
async fn check_manifest(alice: &Browser) -> anyhow::Result<()> {
    let fetched = run_async(
        alice,
        "(async () => {
           const link = document.querySelector('link[rel=manifest]');
           const response = await fetch(link.href);
           const manifest = await response.json();
           const icons = [];
           for (const icon of manifest.icons) {
             const got = await fetch(new URL(icon.src, link.href));
             icons.push({ sizes: icon.sizes, purpose: icon.purpose || 'any', status: got.status,
                          type: got.headers.get('content-type') });
           }
           done({ type: response.headers.get('content-type'), manifest, icons });
         })().catch(e => done({ error: String(e) }))",
    )
    .await?;
    println!("manifest: {fetched}");
    anyhow::ensure!(fetched.get("error").is_none(), "{fetched}");
    anyhow::ensure!(
        fetched["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("application/manifest+json")),
        "manifest served as {}",
        fetched["type"]
    );
    let manifest = &fetched["manifest"];
    anyhow::ensure!(
        manifest["name"] == "Confab"
            && manifest["display"] == "standalone"
            && manifest["start_url"] == "/",
        "{manifest}"
    );
    let icons = fetched["icons"].as_array().cloned().unwrap_or_default();
    for (sizes, purpose) in [
        ("192x192", "any"),
        ("512x512", "any"),
        ("512x512", "maskable"),
    ] {
        anyhow::ensure!(
            icons.iter().any(|icon| icon["sizes"] == sizes
                && icon["purpose"] == purpose
                && icon["status"] == 200
                && icon["type"] == "image/png"),
            "no loadable {sizes} {purpose} PNG icon: {icons:?}"
        );
    }

    // Chromium's own reading of it (DevTools protocol): no parse errors.
    let parsed = alice
        .cdp("Page.getAppManifest", serde_json::json!({}))
        .await?;
    anyhow::ensure!(
        parsed["url"]
            .as_str()
            .is_some_and(|url| url.ends_with("/manifest.webmanifest")),
        "{parsed}"
    );
    anyhow::ensure!(
        parsed["errors"].as_array().is_some_and(Vec::is_empty),
        "Chromium found errors in the manifest: {}",
        parsed["errors"]
    );
    let installable = alice
        .cdp("Page.getInstallabilityErrors", serde_json::json!({}))
        .await?;
    println!("installability: {installable}");
    anyhow::ensure!(
        installable["installabilityErrors"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "Chromium would not install the app: {installable}"
    );
    Ok(())
}

/// Runs `script` as an async WebDriver script (it calls `done(value)`); returns the value.
async fn run_async(browser: &Browser, script: &str) -> anyhow::Result<serde_json::Value> {
    let wrapped = format!("const done = arguments[arguments.length - 1];\n{script}");
    let ret = browser.driver().execute_async(&wrapped, Vec::new()).await?;
    Ok(ret.json().clone())
}
