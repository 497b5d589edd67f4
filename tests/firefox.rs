//! Firefox in the suite: Alice in headless Chromium and Bob in headless Firefox meet in one
//! room over a direct WebRTC data channel (Firefox's host candidate is the namespace's own
//! address on `lo`) and chat both ways, each side showing every message once, in the same
//! order; then two Firefoxes do the same on their own. Screenshots of every browser go to
//! `target/e2e/firefox-*.png`.

use confab_e2e::{Browser, ChatPage, Chromedriver, Env, Server, exchange};

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
    confab_e2e::eventually("the console probe in Firefox's output", || async move {
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
