//! The four browsers in one governed room (issue 17): Alice (the owner) and Bob in
//! Chromium, Carol in Firefox, Dave on a phone. Alice makes Bob an admin. Carol closes her
//! tab; Alice removes Dave after confirming "Remove". Alice and Bob keep chatting; Dave
//! reads "You were removed from this room", keeps what was said before, reads nothing
//! said after, and opening his old link again shows him no more. Carol, closed during the
//! removal, opens Confab again, follows the room into its new epoch, reads what was said
//! and posts. Then Alice resets the link: a fifth browser with the link from before the
//! reset is told "This invite link is no longer valid" and reaches nobody, and with the
//! new link it joins and reads the chat.
//! Screenshots: target/e2e/governed_four/four-*.png.

use std::time::Duration;

use confab_e2e::governed::{row_says, wait_alert, wait_line};
use confab_e2e::{
    Browser, ChatPage, Chromedriver, Env, Seat, Server, eventually, wait_link_superseded,
    with_browsers,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_browsers_remove_a_member_and_reset_the_link() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let seats = [
        Seat::desktop("four", "alice"),
        Seat::desktop("four", "bob"),
        Seat::firefox("four", "carol"),
        Seat::phone("four", "dave"),
    ];
    with_browsers(&env, &chromedriver, seats, async |browsers| {
        scenario(&env, &server, &chromedriver, browsers).await
    })
    .await
}

async fn scenario(
    env: &Env,
    server: &Server,
    chromedriver: &Chromedriver,
    [alice, bob, carol, dave]: [&Browser; 4],
) -> anyhow::Result<()> {
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let first_link = a.invite_link().await?;
    let b = bob.open_chat(&first_link).await?;
    let c = carol.open_chat(&first_link).await?;
    let d = dave.open_chat(&first_link).await?;
    a.wait_online(3).await?;
    // Dave's phone keeps his name behind "Menu".
    let bob_name = b.display_name().await?;
    d.click("button", "Menu").await?;
    let dave_name = d.display_name().await?;
    d.click("button", "Close").await?;
    a.click_in_row("Members", &bob_name, "Make admin").await?;
    row_says(&c, &bob_name, "Admin").await?;
    wait_line(&b, &["made you an admin"]).await?;

    d.send("Dave, before").await?;
    for page in [&a, &b, &c] {
        said(page, &["Dave, before"]).await?;
    }

    // Carol closes her tab.
    carol.driver().goto("about:blank").await?;
    eventually("Carol gone at Alice", || async {
        let online = a.members().await?.iter().filter(|m| m.is_online()).count();
        Ok((online == 2).then_some(()))
    })
    .await?;

    // Alice removes Dave.
    a.click_in_row("Members", &dave_name, "Remove from room")
        .await?;
    a.click("button", "Remove").await?;
    for page in [&a, &b] {
        wait_line(page, &["removed", &dave_name]).await?;
    }
    wait_alert(dave, "You were removed from this room").await?;
    let second_link = eventually("a new invite link at Alice", || async {
        let link = a.invite_link().await?;
        Ok((link != first_link).then_some(link))
    })
    .await?;

    a.send("after Dave, from Alice").await?;
    b.send("after Dave, from Bob").await?;
    let after = [
        "Dave, before",
        "after Dave, from Alice",
        "after Dave, from Bob",
    ];
    said(&a, &after).await?;
    said(&b, &after).await?;
    alice.screenshot(env, "four-alice-removed-dave.png").await?;

    // Carol opens Confab again: her saved room, still in the epoch Dave was in.
    let c = carol.open_chat(&format!("{}/", server.url)).await?;
    said(&c, &after).await?;
    c.send("Carol is back").await?;
    let all = [after[0], after[1], after[2], "Carol is back"];
    said(&a, &all).await?;
    said(&b, &all).await?;
    eventually("Carol's link to follow Alice's", || async {
        Ok((c.invite_link().await? == second_link).then_some(()))
    })
    .await?;
    carol.screenshot(env, "four-carol-firefox-back.png").await?;

    // Dave reads nothing said after his removal, even opening his old link again.
    nothing_after(&d, "Dave's page").await?;
    dave.driver().goto("about:blank").await?;
    let d = dave.open_chat(&first_link).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    nothing_after(&d, "Dave's old link").await?;
    dave.screenshot(env, "four-phone-dave-old-link.png").await?;

    // Alice resets the link. A fifth browser with the link from before the reset reaches
    // nobody; with the new one it joins and reads the chat.
    a.click("button", "Reset invite link").await?;
    let third_link = eventually("a newer invite link at Alice", || async {
        let link = a.invite_link().await?;
        Ok((link != second_link).then_some(link))
    })
    .await?;
    let erin = Browser::open(chromedriver, env, "four-erin").await?;
    let outcome = fifth(&erin, &second_link, &third_link, &all).await;
    erin.screenshot(env, "four-erin.png").await.ok();
    erin.quit().await.ok();
    outcome?;
    for browser in [alice, bob, carol] {
        browser.assert_no_console_errors().await?;
    }
    Ok(())
}

/// Erin opens the link from before the reset: she is told it is no longer valid, and
/// nobody answers and nothing said shows.
/// Then she opens the new link and reads the whole chat.
async fn fifth(erin: &Browser, stale: &str, current: &str, all: &[&str]) -> anyhow::Result<()> {
    let e = erin.open_chat(stale).await?;
    wait_link_superseded(&e).await?;
    let shown = e.messages().await?;
    anyhow::ensure!(
        !shown.iter().any(|m| m.contains("Carol is back")),
        "the link from before the reset shows what was said: {shown:?}"
    );
    anyhow::ensure!(
        e.members().await?.is_empty(),
        "the link from before the reset reached members"
    );
    erin.driver().goto("about:blank").await?;
    let e = erin.open_chat(current).await?;
    e.wait_online(3).await?;
    said(&e, all).await
}

/// Dave's page still holds what he said before and nothing said after his removal.
async fn nothing_after(d: &ChatPage<'_>, what: &str) -> anyhow::Result<()> {
    let shown = d.messages().await?;
    anyhow::ensure!(
        shown.iter().any(|m| m == "Dave, before"),
        "{what} lost what was said before: {shown:?}"
    );
    anyhow::ensure!(
        !shown
            .iter()
            .any(|m| m.contains("after Dave") || m.contains("Carol is back")),
        "{what} shows what was said after the removal: {shown:?}"
    );
    Ok(())
}

/// Waits until `page` shows exactly `expected` said, in order.
async fn said(page: &ChatPage<'_>, expected: &[&str]) -> anyhow::Result<()> {
    page.wait_for_messages(expected).await.map(|_| ())
}
