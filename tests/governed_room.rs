//! A governed room in real browsers (issue 17): Alice opens a new room (she owns it) and
//! Bob and Carol (on a phone) join by her link. Carol closes her tab; Alice presses "Reset
//! invite link": Bob's link changes to Alice's new one and they chat on both ways. Carol
//! opens Confab again (her saved room, at the old epoch): she follows the room through
//! the old epoch's mailbox, reads what was said after the reset, and posts (never told
//! her link is no longer valid). A fresh browser opening the old link never sees anything
//! said after the reset, and says "This invite link is no longer valid"; one opening the
//! new link joins and reads the chat. Screenshots: target/e2e/governed_room/governed-*.png.

use std::time::Duration;

use anyhow::Context as _;

use confab_e2e::{
    Browser, ChatPage, Chromedriver, Env, LINK_SUPERSEDED, Seat, Server, eventually, secret_of,
    wait_link_superseded, with_browsers,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resetting_the_link_moves_members_and_shuts_out_the_old_link() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let seats = [
        Seat::desktop("governed", "alice"),
        Seat::desktop("governed", "bob"),
        Seat::phone("governed", "carol"),
    ];
    with_browsers(&env, &chromedriver, seats, async |[alice, bob, carol]| {
        scenario(&env, &server, &chromedriver, alice, bob, carol).await
    })
    .await
}

async fn scenario(
    env: &Env,
    server: &Server,
    chromedriver: &Chromedriver,
    alice: &Browser,
    bob: &Browser,
    carol: &Browser,
) -> anyhow::Result<()> {
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let old = a.invite_link().await?;
    anyhow::ensure!(
        secret_of(&old)?.len() == 86,
        "a new room is governed: {old}"
    );
    let b = bob.open_chat(&old).await?;
    let c = carol.open_chat(&old).await?;
    // (Carol's phone shows the members behind "Menu": the others' lists say she is in.)
    for page in [&a, &b] {
        page.wait_online(2).await?;
    }
    a.send("before the reset").await?;
    said(&c, &["before the reset"]).await?;
    said(&b, &["before the reset"]).await?;
    anyhow::ensure!(b.invite_link().await? == old, "Bob's link is Alice's");

    // Carol closes her tab.
    carol.driver().goto("about:blank").await?;
    eventually("Carol gone at Alice", || async {
        let online = a.members().await?.iter().filter(|m| m.is_online()).count();
        Ok((online == 1).then_some(()))
    })
    .await?;

    // Alice resets the link: Bob follows without doing anything.
    a.click("button", "Reset invite link").await?;
    let new = eventually("a new invite link at Alice", || async {
        let link = a.invite_link().await?;
        Ok((link != old).then_some(link))
    })
    .await?;
    anyhow::ensure!(secret_of(&new)?.len() == 86, "the new link: {new}");
    eventually("Bob's invite link to follow Alice's", || async {
        Ok((b.invite_link().await? == new).then_some(()))
    })
    .await?;
    a.send("after the reset, from Alice").await?;
    said(&b, &["before the reset", "after the reset, from Alice"]).await?;
    let lines = b.room_lines().await?;
    anyhow::ensure!(
        lines
            .iter()
            .any(|line| line.contains("reset the invite link")),
        "Bob's page has no line for the reset: {lines:?}"
    );
    b.send("after the reset, from Bob").await?;
    let after = [
        "before the reset",
        "after the reset, from Alice",
        "after the reset, from Bob",
    ];
    said(&a, &after).await?;
    alice
        .screenshot(env, "governed-alice-after-reset.png")
        .await?;

    // Carol opens Confab again: her saved room, at the epoch she left in.
    let c = carol.open_chat(&format!("{}/", server.url)).await?;
    said(&c, &after).await?;
    c.send("Carol is back").await?;
    let carol_alerts = alert_text(carol).await?;
    anyhow::ensure!(
        !carol_alerts.contains(LINK_SUPERSEDED),
        "Carol, a member, was told her link is no longer valid: {carol_alerts:?}"
    );
    let all = [after[0], after[1], after[2], "Carol is back"];
    said(&a, &all).await?;
    said(&b, &all).await?;
    carol
        .screenshot(env, "governed-phone-carol-back.png")
        .await?;

    // A fresh browser with the old link: it reaches nobody, reads nothing said after the
    // reset, and says the link is no longer valid.
    let dave = Browser::open(chromedriver, env, "governed-dave").await?;
    let outcome = old_link(env, &dave, &old, &all).await;
    dave.screenshot(env, "governed-dave-old-link.png")
        .await
        .ok();
    dave.quit().await.ok();
    outcome?;

    // A fresh browser with the new link joins and reads the whole chat.
    let erin = Browser::open(chromedriver, env, "governed-erin").await?;
    let outcome = new_link(&erin, &new, &all).await;
    erin.screenshot(env, "governed-erin-new-link.png")
        .await
        .ok();
    erin.quit().await.ok();
    outcome?;
    for browser in [alice, bob, carol] {
        browser.assert_no_console_errors().await?;
    }
    Ok(())
}

/// Waits until `page` shows exactly `expected` said, in order (the reset's own line is a
/// line of the room, not a message).
async fn said(page: &ChatPage<'_>, expected: &[&str]) -> anyhow::Result<()> {
    eventually(&format!("messages {expected:?}"), || async {
        let texts = page.messages().await?;
        let said: Vec<&str> = texts
            .iter()
            .map(String::as_str)
            .filter(|t| !t.is_empty())
            .collect();
        Ok((said == expected).then_some(()))
    })
    .await
    .with_context(|| format!("in {}'s browser", page.browser().name))
}

async fn old_link(env: &Env, dave: &Browser, old: &str, said: &[&str]) -> anyhow::Result<()> {
    let d = dave.open_chat(old).await?;
    // Long enough to link to anyone left in the old room and read its mailbox.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let shown = d.messages().await?;
    anyhow::ensure!(
        !shown
            .iter()
            .any(|m| said[1..].iter().any(|text| m.contains(text))),
        "the old link shows what was said after the reset: {shown:?}"
    );
    // Nobody is in the old room at the server: not even a failed handshake is listed.
    let members = d.members().await?;
    anyhow::ensure!(
        members.is_empty(),
        "the old link reached members: {members:?}"
    );
    dave.screenshot(env, "governed-dave-waiting.png").await?;
    wait_link_superseded(&d).await
}

/// The text of every alert on the page, joined.
async fn alert_text(browser: &Browser) -> anyhow::Result<String> {
    use thirtyfour::prelude::*;
    let mut text = String::new();
    for alert in browser.driver().find_all(By::Css("[role=alert]")).await? {
        text.push_str(&alert.text().await.unwrap_or_default());
        text.push('\n');
    }
    Ok(text)
}

async fn new_link(erin: &Browser, new: &str, texts: &[&str]) -> anyhow::Result<()> {
    let e: ChatPage<'_> = erin.open_chat(new).await?;
    e.wait_online(3).await?;
    said(&e, texts).await?;
    Ok(())
}
