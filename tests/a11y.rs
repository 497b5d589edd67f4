//! The accessibility audit (issue 15, item 4): axe-core, pinned, runs in headless Chromium
//! on every screen and dialog Confab has, each in the light and the dark colour scheme,
//! in the desktop layout and in the phone layout (Chromium posing as a phone, 390×844),
//! and the test fails on any serious or critical violation, printing each (rule,
//! element, what is wrong). Audited: the start page (a new room), the menu (phone), a
//! notice (role alert), a room with a conversation and a file offered, the emoji picker
//! (a dialog), the incoming call (an alert dialog) and a call going on, the passphrase
//! prompt (and its "Wrong passphrase" alert), the other-tab screen, and the "Update
//! available" banner.

use confab_e2e::audit::{Axe, Scheme, Violation, check, emulate_scheme};
use confab_e2e::calls::{playing, wait_enabled};
use confab_e2e::shell::{is_controlled, next_build, wait_worker_active};
use confab_e2e::{Browser, ChatPage, Chromedriver, Env, Seat, Server, eventually, with_browsers};

const PASSPHRASE: &str = "correct horse battery";

/// Which layout the browsers have.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layout {
    Desktop,
    Phone,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_and_dialog_passes_the_audit_on_a_desktop() -> anyhow::Result<()> {
    audit_all(Layout::Desktop).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_and_dialog_passes_the_audit_on_a_phone() -> anyhow::Result<()> {
    audit_all(Layout::Phone).await
}

async fn audit_all(layout: Layout) -> anyhow::Result<()> {
    let axe = Axe::load()?;
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let seats = match layout {
        Layout::Desktop => [
            Seat::desktop("a11y-desktop", "alice"),
            Seat::desktop("a11y-desktop", "bob"),
        ],
        Layout::Phone => [Seat::phone("a11y", "alice"), Seat::phone("a11y", "bob")],
    };
    with_browsers(&env, &chromedriver, seats, async |browsers| {
        let mut found = Vec::new();
        screens(&env, &server, browsers, &axe, layout, &mut found).await?;
        check(&found)
    })
    .await
}

async fn screens(
    env: &Env,
    server: &Server,
    [alice, bob]: [&Browser; 2],
    axe: &Axe,
    layout: Layout,
    found: &mut Vec<Violation>,
) -> anyhow::Result<()> {
    let at = |what: &str| format!("{what}, {layout:?}").to_lowercase();
    let home = format!("{}/", server.url);
    let a = alice.open_chat(&home).await?;
    axe.check_finds_probe(alice).await?;
    found.extend(axe.audit(alice, &at("the start page")).await?);

    // The panels (behind "Menu" on a phone), and a notice: "Set passphrase" with the
    // field empty.
    open_menu(&a, layout).await?;
    let invite = a.invite_link().await?;
    if layout == Layout::Phone {
        found.extend(axe.audit(alice, &at("the menu")).await?);
    }
    a.click("button", "Set passphrase").await?;
    close_menu(&a, layout).await?;
    a.by_role("alert", "").await?;
    found.extend(axe.audit(alice, &at("a notice")).await?);

    let b = bob.open_chat(&invite).await?;
    a.send("hello Bob").await?;
    b.wait_for_messages(&["hello Bob"]).await?;
    b.send("hi Alice, **bold**, `code` and a link https://example.org")
        .await?;
    eventually("Bob's message at Alice", || async {
        Ok((a.messages().await?.len() == 2).then_some(()))
    })
    .await?;
    let offered = env.out.join("a11y-offer.txt");
    std::fs::write(&offered, "a file to audit")?;
    a.attach_file(&offered).await?;
    b.by_role("button", "Decline").await?;
    found.extend(axe.audit(alice, &at("a room (sender)")).await?);
    found.extend(axe.audit(bob, &at("a room with a file offered")).await?);
    screenshots(env, bob, &format!("a11y-room-bob-{layout:?}")).await?;

    // The emoji picker, a dialog.
    b.click("button", "Emoji").await?;
    b.by_role("dialog", "Emoji").await?;
    found.extend(axe.audit(bob, &at("the emoji picker")).await?);
    b.click("button", "Emoji").await?;

    // A call: the incoming call's alert dialog, then the call itself.
    let alice_name = display_name(&a, layout).await?;
    let bob_name = display_name(&b, layout).await?;
    wait_enabled(&a, "Video call").await?;
    a.click("button", "Video call").await?;
    b.by_role("alertdialog", &format!("{alice_name} is calling"))
        .await?;
    found.extend(axe.audit(bob, &at("the incoming call dialog")).await?);
    b.click("button", "Accept").await?;
    playing(alice, &bob_name).await?;
    found.extend(axe.audit(alice, &at("a call")).await?);
    screenshots(env, alice, &format!("a11y-call-alice-{layout:?}")).await?;
    a.click("button", "Hang up").await?;
    a.by_role("button", "Video call").await?;

    // The passphrase prompt, and what it says to a wrong passphrase.
    open_menu(&a, layout).await?;
    a.by_role("textbox", "Passphrase")
        .await?
        .send_keys(PASSPHRASE)
        .await?;
    a.click("button", "Set passphrase").await?;
    eventually("the passphrase to be set", || async {
        let text = alice
            .driver()
            .execute("return document.body.textContent;", Vec::new())
            .await?;
        Ok(text
            .json()
            .as_str()
            .is_some_and(|t| t.contains("Passphrase set"))
            .then_some(()))
    })
    .await?;
    alice.driver().refresh().await?;
    let locked = alice.open_page_current().await?;
    locked.by_role("button", "Unlock").await?;
    found.extend(axe.audit(alice, &at("the passphrase prompt")).await?);
    locked
        .by_role("textbox", "Passphrase")
        .await?
        .send_keys("wrong horse")
        .await?;
    locked.click("button", "Unlock").await?;
    locked.by_role("alert", "").await?;
    found.extend(axe.audit(alice, &at("a wrong passphrase")).await?);
    locked
        .by_role("textbox", "Passphrase")
        .await?
        .send_keys(PASSPHRASE)
        .await?;
    locked.click("button", "Unlock").await?;
    locked.by_role("textbox", "Message").await?;

    // A second tab of the same profile.
    let first = alice.driver().window().await?;
    let second = alice.driver().new_tab().await?;
    alice.driver().switch_to_window(second).await?;
    let other = alice.open_page(&home).await?;
    other.by_role("alert", "").await?;
    found.extend(axe.audit(alice, &at("the other-tab screen")).await?);
    alice.driver().close_window().await?;
    alice.driver().switch_to_window(first).await?;
    Ok(())
}

/// On a phone the panels are behind "Menu": opens it. Nothing to do on a desktop.
async fn open_menu(page: &ChatPage<'_>, layout: Layout) -> anyhow::Result<()> {
    if layout == Layout::Phone {
        page.click("button", "Menu").await?;
        page.by_role("button", "Close").await?;
    }
    Ok(())
}

/// On a phone, closes the menu [`open_menu`] opened.
async fn close_menu(page: &ChatPage<'_>, layout: Layout) -> anyhow::Result<()> {
    if layout == Layout::Phone {
        page.click("button", "Close").await?;
        page.by_role("button", "Menu").await?;
    }
    Ok(())
}

/// Our display name (in the panels, behind "Menu" on a phone).
async fn display_name(page: &ChatPage<'_>, layout: Layout) -> anyhow::Result<String> {
    open_menu(page, layout).await?;
    let name = page.display_name().await?;
    close_menu(page, layout).await?;
    Ok(name)
}

/// Saves `<name>-dark.png` of what `browser` shows, in the dark scheme.
async fn screenshots(env: &Env, browser: &Browser, name: &str) -> anyhow::Result<()> {
    emulate_scheme(browser, Scheme::Dark).await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let file = format!("{name}-dark.png").to_lowercase();
    browser.screenshot(env, &file).await?;
    emulate_scheme(browser, Scheme::Light).await
}

/// The "Update available" banner: the server serves a second build after the page kept
/// the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_banner_passes_the_audit() -> anyhow::Result<()> {
    let axe = Axe::load()?;
    let env = Env::from_env()?;
    let chromedriver = Chromedriver::start(&env).await?;
    let seats = [Seat::desktop("a11y-update", "alice")];
    with_browsers(&env, &chromedriver, seats, async |[alice]| {
        let mut found = Vec::new();
        update_banner(&env, alice, &axe, &mut found).await?;
        check(&found)
    })
    .await
}

async fn update_banner(
    env: &Env,
    alice: &Browser,
    axe: &Axe,
    found: &mut Vec<Violation>,
) -> anyhow::Result<()> {
    let next = next_build(env)?;
    let server = Server::start(env, false).await?;
    let port = server.port();
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    a.send("before the update").await?;
    wait_worker_active(alice).await?;
    alice.driver().refresh().await?;
    alice
        .open_page_current()
        .await?
        .by_role("textbox", "Message")
        .await?;
    anyhow::ensure!(is_controlled(alice).await?, "no worker controls the page");
    server.kill().await?;
    let env_b = Env {
        server_bin: env.server_bin.clone(),
        dist: next,
        out: env.out.clone(),
    };
    let server = Server::start_on(&env_b, port, false).await?;
    alice.driver().refresh().await?;
    let a = alice.open_page_current().await?;
    a.by_role("region", "Update available").await?;
    found.extend(axe.audit(alice, "the update banner").await?);
    drop(server);
    Ok(())
}
