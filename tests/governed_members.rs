//! Members a governed room's owner manages, in real browsers (issue 17): Alice opens a new
//! room (she owns it) and Bob and Dave (on a phone) join by her link. Alice makes Bob an
//! admin: every page shows "Admin" after his name and "Owner" after hers. Alice removes
//! Dave after confirming "Remove": Alice and Bob read "… removed …", Dave reads "You were
//! removed from this room", keeps what was said before, and never sees what Alice and Bob
//! say afterwards. Dave's old link, opened in a fresh browser, says "This invite link is no
//! longer valid". Screenshots: target/e2e/governed_members/members-*.png.

use std::time::Duration;

use anyhow::Context as _;

use confab_e2e::governed::{alert_text, row_of, row_says};
use confab_e2e::{
    Browser, ChatPage, Chromedriver, Env, Seat, Server, eventually, wait_link_superseded,
    with_browsers,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_promotes_and_removes_and_the_removed_member_reads_nothing_more()
-> anyhow::Result<()> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let seats = [
        Seat::desktop("members", "alice"),
        Seat::desktop("members", "bob"),
        Seat::phone("members", "dave"),
    ];
    let link = with_browsers(&env, &chromedriver, seats, async |[alice, bob, dave]| {
        scenario(&env, &server, alice, bob, dave).await
    })
    .await?;

    // Dave's old link, on a fresh phone: it says the link is no longer valid.
    let fresh = [Seat::phone("members", "dave-old-link")];
    with_browsers(&env, &chromedriver, fresh, async |[fresh]| {
        let page = fresh.open_chat(&link).await?;
        wait_link_superseded(&page).await
    })
    .await
}

async fn scenario(
    env: &Env,
    server: &Server,
    alice: &Browser,
    bob: &Browser,
    dave: &Browser,
) -> anyhow::Result<String> {
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let link = a.invite_link().await?;
    let b = bob.open_chat(&link).await?;
    let d = dave.open_chat(&link).await?;
    for page in [&a, &b] {
        page.wait_online(2).await?;
    }
    // Dave's phone shows the panels (his name, the members) behind "Menu".
    d.click("button", "Menu").await?;
    let (alice_name, bob_name, dave_name) = (
        a.display_name().await?,
        b.display_name().await?,
        d.display_name().await?,
    );

    // Alice owns the room; she makes Bob an admin, and every page says so.
    a.click_in_row("Members", &bob_name, "Make admin").await?;
    for page in [&a, &d] {
        row_says(page, &bob_name, "Admin").await?;
    }
    for page in [&b, &d] {
        row_says(page, &alice_name, "Owner").await?;
    }
    dave.screenshot(env, "members-phone-dave-menu.png").await?;
    d.click("button", "Close").await?;
    // An admin may not remove the owner: Bob's page offers nothing on Alice's row.
    let alice_row = row_of(&b, &alice_name).await?;
    anyhow::ensure!(
        !alice_row.contains("Remove from room"),
        "Bob may remove the owner: {alice_row:?}"
    );

    d.send("Dave, before").await?;
    said(&a, &["Dave, before"]).await?;
    said(&b, &["Dave, before"]).await?;

    // Alice removes Dave, after confirming.
    a.click_in_row("Members", &dave_name, "Remove from room")
        .await?;
    a.click("button", "Remove").await?;
    for page in [&a, &b] {
        eventually("the removal's line", || async {
            let lines = page.room_lines().await?;
            Ok(lines
                .iter()
                .any(|line| line.contains("removed") && line.contains(&dave_name))
                .then_some(()))
        })
        .await
        .with_context(|| format!("in {}'s browser", page.browser().name))?;
    }
    eventually("Dave told he was removed", || async {
        let text = alert_text(dave).await?;
        Ok(text
            .contains("You were removed from this room")
            .then_some(()))
    })
    .await?;
    alice
        .screenshot(env, "members-alice-removed-dave.png")
        .await?;

    // Alice and Bob carry on; Dave keeps what was said before and reads nothing more.
    a.send("after Dave left, from Alice").await?;
    said(&b, &["Dave, before", "after Dave left, from Alice"]).await?;
    b.send("after Dave left, from Bob").await?;
    said(
        &a,
        &[
            "Dave, before",
            "after Dave left, from Alice",
            "after Dave left, from Bob",
        ],
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let shown = d.messages().await?;
    anyhow::ensure!(
        shown.iter().any(|m| m == "Dave, before"),
        "Dave lost what was said before: {shown:?}"
    );
    anyhow::ensure!(
        !shown.iter().any(|m| m.contains("after Dave left")),
        "Dave reads what was said after his removal: {shown:?}"
    );
    dave.screenshot(env, "members-phone-dave-removed.png")
        .await?;
    for browser in [alice, bob] {
        browser.assert_no_console_errors().await?;
    }
    Ok(link)
}

/// Waits until `page` shows exactly `expected` said, in order.
async fn said(page: &ChatPage<'_>, expected: &[&str]) -> anyhow::Result<()> {
    page.wait_for_messages(expected).await.map(|_| ())
}
