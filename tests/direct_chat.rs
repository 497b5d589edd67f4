//! One-to-one conversations with a contact, without a link: Alice and Bob meet in a room;
//! Alice opens "Message Bob" from her contacts and writes. Bob, still looking at the
//! group room, receives it in the background (his one-to-one room with Alice stays
//! connected). Alice leaves; Bob opens "Message Alice" and finds the message there.

use confab_e2e::{Pair, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_reach_each_other_without_a_link() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("direct", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let a = pair
        .alice
        .open_chat(&format!("{}/", pair.server.url))
        .await?;
    let group = a.invite_link().await?;
    let b = pair.bob.open_chat(&group).await?;
    a.wait_for_member("Bob online", |m| m.is_online()).await?;
    b.wait_for_member("Alice online", |m| m.is_online()).await?;
    let alice_name = a.display_name().await?;
    let bob_name = b.display_name().await?;

    // Alice opens the one-to-one room from her contacts.
    a.by_role("link", &format!("Message {bob_name}"))
        .await?
        .click()
        .await?;
    let a = eventually("Alice in the one-to-one room", || async {
        let page = pair.alice.open_page_current().await?;
        Ok((page.invite_link().await? != group).then_some(page))
    })
    .await?;
    let direct = a.invite_link().await?;
    // Bob is there already: his one-to-one room with Alice runs in the background.
    a.wait_for_member("Bob in the one-to-one room", |m| m.is_online())
        .await?;
    a.send("just between us").await?;
    eventually("Bob's browser to hold it", || async {
        let items = a.message_items().await?;
        Ok(items
            .first()
            .is_some_and(|item| item.contains("Delivered to 1") || item.contains("Read by 1"))
            .then_some(()))
    })
    .await?;
    // Bob still shows the group room, and nothing of the private message there.
    anyhow::ensure!(b.invite_link().await? == group, "Bob left the group room");
    anyhow::ensure!(
        !b.messages().await?.iter().any(|m| m == "just between us"),
        "the private message leaked into the group room"
    );

    // Alice goes away; Bob opens "Message Alice" and finds it, kept on his device.
    pair.alice.driver().goto("about:blank").await?;
    b.by_role("link", &format!("Message {alice_name}"))
        .await?
        .click()
        .await?;
    let b = eventually("Bob in the one-to-one room", || async {
        let page = pair.bob.open_page_current().await?;
        Ok((page.invite_link().await? == direct).then_some(page))
    })
    .await?;
    let items = b.wait_for_messages(&["just between us"]).await?;
    anyhow::ensure!(
        items[0].starts_with(&alice_name),
        "the author's name is known from history: {items:?}"
    );
    pair.bob.assert_no_console_errors().await
}
