//! Blocking, in real browsers (issue 17): Alice, Bob and Carol (on a phone) are in
//! Alice's room. Alice presses "Block" on Bob's row in the Members list: what Bob said
//! leaves her page, and what he says next never shows there, while Carol reads it all.
//! Bob's page shows nothing changed: Alice is still online and her messages still reach
//! him. Alice presses "Unblock" and reads everything Bob said meanwhile. Screenshots:
//! target/e2e/block/block-*.png.

use std::time::Duration;

use confab_e2e::{Browser, ChatPage, Chromedriver, Env, Seat, Server, eventually, with_browsers};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_member_is_hidden_from_the_blocker_alone_and_not_told() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let seats = [
        Seat::desktop("block", "alice"),
        Seat::desktop("block", "bob"),
        Seat::phone("block", "carol"),
    ];
    with_browsers(&env, &chromedriver, seats, async |[alice, bob, carol]| {
        scenario(&env, &server, alice, bob, carol).await
    })
    .await
}

async fn scenario(
    env: &Env,
    server: &Server,
    alice: &Browser,
    bob: &Browser,
    carol: &Browser,
) -> anyhow::Result<()> {
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let link = a.invite_link().await?;
    let b = bob.open_chat(&link).await?;
    let c = carol.open_chat(&link).await?;
    for page in [&a, &b] {
        page.wait_online(2).await?;
    }
    let (alice_name, bob_name) = (a.display_name().await?, b.display_name().await?);

    b.send("Bob, before").await?;
    for page in [&a, &c] {
        page.wait_for_messages(&["Bob, before"]).await?;
    }

    // Alice blocks Bob: his message leaves her page, and the button turns to "Unblock".
    a.click_in_row("Members", &bob_name, "Block").await?;
    a.wait_for_member("Bob's row offering Unblock", |row| {
        row.text.contains(&bob_name) && row.text.contains("Unblock")
    })
    .await?;
    shows_none_of(&a, &["Bob, before"]).await?;
    let contacts = a.list_items("Contacts").await?;
    anyhow::ensure!(
        contacts
            .iter()
            .any(|row| row.contains(&bob_name) && row.contains("blocked")),
        "Alice's contacts do not say Bob is blocked: {contacts:?}"
    );

    // Bob says more: Carol reads it, Alice does not.
    b.send("Bob, while blocked").await?;
    c.wait_for_messages(&["Bob, before", "Bob, while blocked"])
        .await?;
    a.send("Alice, after blocking").await?;
    // Bob is not told: Alice is still online on his page and her messages reach him.
    b.wait_for_messages(&["Bob, before", "Bob, while blocked", "Alice, after blocking"])
        .await?;
    let alice_row = b
        .wait_for_member("Alice's row", |row| row.text.contains(&alice_name))
        .await?;
    anyhow::ensure!(
        alice_row.text.contains("online"),
        "Bob's page shows Alice changed: {:?}",
        alice_row.text
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    shows_none_of(&a, &["Bob, before", "Bob, while blocked"]).await?;
    alice.screenshot(env, "block-alice-blocked-bob.png").await?;
    bob.screenshot(env, "block-bob-unaware.png").await?;
    carol
        .screenshot(env, "block-phone-carol-reads-all.png")
        .await?;

    // Alice unblocks Bob: what he said comes back.
    a.click_in_row("Members", &bob_name, "Unblock").await?;
    a.wait_for_messages(&["Bob, before", "Bob, while blocked", "Alice, after blocking"])
        .await?;
    alice.screenshot(env, "block-alice-unblocked.png").await?;

    // The one-to-one room: while Bob is blocked, Alice's contacts offer no "Message Bob",
    // and the one-to-one room Bob opens never connects to her (her browser keeps one
    // with each contact running, but not with someone blocked); unblocked, it does.
    a.click_in_row("Members", &bob_name, "Block").await?;
    a.wait_for_member("Bob's row offering Unblock again", |row| {
        row.text.contains(&bob_name) && row.text.contains("Unblock")
    })
    .await?;
    let message_bob = format!("Message {bob_name}");
    anyhow::ensure!(
        !a.has_role("link", &message_bob).await?,
        "Alice's contacts offer {message_bob:?} though she blocked him"
    );
    let group = b.invite_link().await?;
    b.by_role("link", &format!("Message {alice_name}"))
        .await?
        .click()
        .await?;
    let b = eventually("Bob in the one-to-one room", || async {
        let page = bob.open_page_current().await?;
        Ok((page.invite_link().await? != group).then_some(page))
    })
    .await?;
    // Unblocked, Alice's browser connects within a few seconds (below); blocked, never.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let members = b.members().await?;
    anyhow::ensure!(
        !members.iter().any(|m| m.is_online()),
        "the one-to-one room with Alice, who blocked Bob, connected: {members:?}"
    );
    bob.screenshot(env, "block-bob-one-to-one-refused.png")
        .await?;
    a.click_in_row("Contacts", &bob_name, "Unblock").await?;
    b.wait_for_member("Alice online in the one-to-one room", |m| m.is_online())
        .await?;
    eventually("Alice's contacts to offer Message Bob again", || async {
        Ok(a.has_role("link", &message_bob).await?.then_some(()))
    })
    .await?;
    for browser in [alice, bob, carol] {
        browser.assert_no_console_errors().await?;
    }
    Ok(())
}

/// `page` shows none of `texts` (now, after its messages settled).
async fn shows_none_of(page: &ChatPage<'_>, texts: &[&str]) -> anyhow::Result<()> {
    eventually(
        "the blocked member's messages to leave the page",
        || async {
            let shown = page.messages().await?;
            Ok((!shown.iter().any(|m| texts.contains(&m.as_str()))).then_some(()))
        },
    )
    .await
}
