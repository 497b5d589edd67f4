//! Firefox in the suite: Alice in headless Chromium and Bob in headless Firefox meet in one
//! room over a direct WebRTC data channel (Firefox's host candidate is the namespace's own
//! address on `lo`) and chat both ways, each side showing every message once, in the same
//! order; then two Firefoxes do the same on their own. In the same two pairings a file goes
//! each way (saved byte-identical) and a video call plays both ways (frames and sound, from
//! Firefox's fake camera and microphone and Chromium's). And Firefox keeps the installable
//! app: its service worker precaches the shell, the page it serves opens the room with its
//! history while the server is down, and the room secret leaves the address bar; the first
//! message written (not the page opening) asks Firefox to keep the site's storage.
//! Screenshots of every browser go to `target/e2e/firefox/firefox-*.png`.

use std::time::Duration;

use confab_e2e::calls::{hears, playing, ring_and_answer};
use confab_e2e::files::{random_file, save_and_compare, wait_received};
use confab_e2e::shell::{
    check_integrity, check_shell_cached, is_controlled, open_offline, reconnect, run_async,
    wait_worker_active,
};
use confab_e2e::{
    Browser, ChatPage, Chromedriver, Env, Server, address, eventually, exchange, secret_of,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_firefox_chat_directly() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let alice = Browser::open(&chromedriver, &env, "alice").await?;
    let bob = Browser::open_firefox(&env, "bob-firefox").await?;
    let outcome = scenario(&server, &alice, &bob).await;
    finish(&env, "firefox-with-chromium", [alice, bob], outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_firefoxes_chat_directly() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let alice = Browser::open_firefox(&env, "alice-firefox").await?;
    let bob = Browser::open_firefox(&env, "bob-firefox").await?;
    let outcome = scenario(&server, &alice, &bob).await;
    finish(&env, "firefox-pair", [alice, bob], outcome).await
}

/// Alice opens a room, Bob its invite link; both see each other online over the direct
/// path, then run the common conversation; neither console logged an error.
async fn scenario(server: &Server, alice: &Browser, bob: &Browser) -> anyhow::Result<()> {
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;
    let b = bob.open_chat(&invite).await?;
    expect_no_secret(bob, &invite).await?;
    expect_direct(&a, "Bob online at Alice").await?;
    expect_direct(&b, "Alice online at Bob").await?;
    exchange(&a, &b).await?;
    for browser in [alice, bob] {
        if browser.is_firefox() {
            expect_console_is_read(browser).await?;
        }
        browser.assert_no_console_errors().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_firefox_send_files_and_call() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let alice = Browser::open(&chromedriver, &env, "alice").await?;
    let bob = Browser::open_firefox(&env, "bob-firefox").await?;
    let outcome = files_and_call(&env, &server, &alice, &bob).await;
    finish(
        &env,
        "firefox-file-call-with-chromium",
        [alice, bob],
        outcome,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_firefoxes_send_files_and_call() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let alice = Browser::open_firefox(&env, "alice-firefox").await?;
    let bob = Browser::open_firefox(&env, "bob-firefox").await?;
    let outcome = files_and_call(&env, &server, &alice, &bob).await;
    finish(&env, "firefox-file-call-pair", [alice, bob], outcome).await
}

/// Alice and Bob meet over the direct path; a 6 MiB file goes from Alice to Bob and
/// another from Bob to Alice, each accepted, received whole and saved byte-identical;
/// then Alice video-calls Bob, he accepts, each sees (frames, time advancing) and hears
/// (a level above 0) the other, and his hang-up ends the call for both.
async fn files_and_call(
    env: &Env,
    server: &Server,
    alice: &Browser,
    bob: &Browser,
) -> anyhow::Result<()> {
    const SIZE: usize = 6 << 20;
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let b = bob.open_chat(&a.invite_link().await?).await?;
    expect_direct(&a, "Bob online at Alice").await?;
    expect_direct(&b, "Alice online at Bob").await?;
    for (sender, receiver) in [(&a, &b), (&b, &a)] {
        // Named after both browsers: each pairing's files differ on disk.
        let name = format!(
            "{}-to-{}.bin",
            sender.browser().name,
            receiver.browser().name
        );
        let source = env.out.join(&name);
        let hash = random_file(&source, SIZE)?;
        sender.attach_file(&source).await?;
        receiver.click("button", "Accept").await?;
        wait_received(receiver, &name, Duration::from_secs(120)).await?;
        save_and_compare(receiver, &name, SIZE, hash).await?;
    }
    bob.screenshot(env, &format!("firefox-file-received-{}.png", bob.name))
        .await?;

    let (alice_name, bob_name) = (a.display_name().await?, b.display_name().await?);
    ring_and_answer(&a, &b, "Video call", &alice_name).await?;
    for (browser, label) in [(alice, &bob_name), (bob, &alice_name)] {
        playing(browser, label).await?;
        hears(browser, label).await?;
    }
    bob.screenshot(env, &format!("firefox-call-live-{}.png", bob.name))
        .await?;
    b.click("button", "Hang up").await?;
    a.by_role("button", "Video call").await?;
    b.by_role("button", "Video call").await?;
    for browser in [alice, bob] {
        browser.assert_no_console_errors().await?;
    }
    Ok(())
}

/// Firefox keeps the installable app: the page it opens runs the wasm the boot script
/// fetched with its integrity value (Firefox refuses a mismatch), the worker activates
/// and precaches the whole shell, and after a reload it controls the page. With the server
/// stopped a reload still opens the room, served by the worker, with the history kept on
/// the device; when the server is back the page reconnects by itself. The room secret is
/// never in the address bar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_keeps_the_app_and_opens_it_offline() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let alice = Browser::open_firefox(&env, "alice-firefox").await?;
    let outcome = installable_app(&env, &alice).await;
    alice
        .screenshot(&env, "firefox-pwa-alice-firefox.png")
        .await
        .ok();
    alice.quit().await.ok();
    outcome
}

async fn installable_app(env: &Env, alice: &Browser) -> anyhow::Result<()> {
    const MESSAGES: [&str; 2] = ["kept by Firefox", "and shown offline"];
    check_integrity(&env.dist)?;
    let server = Server::start(env, false).await?;
    let port = server.port();
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;
    expect_no_secret(alice, &invite).await?;
    // Opening the page asks nothing; the first message written asks to keep the storage
    // (Firefox would prompt, and here its testing prefs answer yes).
    tokio::time::sleep(Duration::from_secs(1)).await;
    anyhow::ensure!(
        !storage_persisted(alice).await?,
        "storage persisted before anything was written"
    );
    for text in MESSAGES {
        a.send(text).await?;
    }
    a.wait_for_messages(&MESSAGES).await?;
    eventually("the storage kept (persisted)", || async {
        Ok(storage_persisted(alice).await?.then_some(()))
    })
    .await?;
    println!("service worker: {}", wait_worker_active(alice).await?);
    alice.reload().await?;
    let a = alice.open_page_current().await?;
    a.wait_for_messages(&MESSAGES).await?;
    anyhow::ensure!(
        is_controlled(alice).await?,
        "the page is not controlled by the service worker after a reload"
    );
    println!("precached: {:?}", check_shell_cached(alice).await?);
    alice.assert_no_console_errors().await?;

    let a = open_offline(alice, server, &invite, &MESSAGES).await?;
    expect_no_secret(alice, &invite).await?;
    alice.screenshot(env, "firefox-pwa-offline.png").await?;
    let server = reconnect(env, port, &a, &MESSAGES).await?;
    alice.assert_no_console_errors().await?;
    drop(server);
    Ok(())
}

/// Whether the browser keeps this site's storage (`navigator.storage.persisted()`).
async fn storage_persisted(browser: &Browser) -> anyhow::Result<bool> {
    let persisted = run_async(browser, "navigator.storage.persisted().then(done)").await?;
    Ok(persisted == serde_json::json!(true))
}

/// The page shows the room of `invite` by its address (`#room-…`): its secret is not in
/// the address bar.
async fn expect_no_secret(browser: &Browser, invite: &str) -> anyhow::Result<()> {
    let secret = secret_of(invite)?;
    let href = eventually("the room's address in the address bar", || async {
        let href = address(browser).await?;
        Ok(href.contains("#room-").then_some(href))
    })
    .await?;
    anyhow::ensure!(
        !href.contains(secret) && href.contains("#room-"),
        "{}'s address holds the room secret: {href}",
        browser.name
    );
    Ok(())
}

async fn expect_direct(page: &ChatPage<'_>, what: &str) -> anyhow::Result<()> {
    let row = page.wait_for_member(what, |m| m.is_online()).await?;
    anyhow::ensure!(row.text.contains("direct"), "direct path: {row:?}");
    Ok(())
}

/// Firefox's console is read from its output, not from a WebDriver endpoint: an error the
/// page logs must come back from `console_errors`, or the check after it proves nothing.
async fn expect_console_is_read(browser: &Browser) -> anyhow::Result<()> {
    // Anything logged before the probe is reported by the check that follows this one.
    let earlier = browser.console_errors().await?;
    anyhow::ensure!(
        earlier.is_empty(),
        "{}'s console logged errors: {earlier:#?}",
        browser.name
    );
    browser
        .driver()
        .execute("console.error('confab-e2e console probe');", Vec::new())
        .await?;
    eventually("the console probe in Firefox's output", || async move {
        let errors = browser.console_errors().await?;
        anyhow::ensure!(
            errors
                .iter()
                .all(|e| e.contains("confab-e2e console probe")),
            "{}'s console logged errors: {errors:#?}",
            browser.name
        );
        Ok((!errors.is_empty()).then_some(()))
    })
    .await
}

/// Saves `<name>-<browser>.png` for each browser, quits them all, returns `outcome`.
async fn finish(
    env: &Env,
    name: &str,
    browsers: [Browser; 2],
    outcome: anyhow::Result<()>,
) -> anyhow::Result<()> {
    for browser in &browsers {
        browser
            .screenshot(env, &format!("{name}-{}.png", browser.name))
            .await
            .ok();
    }
    for browser in browsers {
        browser.quit().await.ok();
    }
    outcome
}
