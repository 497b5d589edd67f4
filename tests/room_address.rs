//! The room secret never stays in the address bar or the tab's history: an invite link's
//! fragment is read once and replaced by the room's address (`#room-…`, which opens
//! nothing elsewhere), after opening it, reloading, switching rooms and going back. The
//! invite, copied with "Copy", still lets someone else join.

use confab_e2e::{Browser, Pair, address, eventually, in_room, secret_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_secret_leaves_the_address_bar_and_history() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("room-address", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let a = alice.open_chat(&format!("{}/", pair.server.url)).await?;
    let group = a.invite_link().await?;
    let group_secret = secret_of(&group)?;
    check_no_secret(alice, &[group_secret], "Alice's new room").await?;

    // "Copy" puts the invite on the clipboard; Bob opens what was copied.
    alice
        .cdp(
            "Browser.grantPermissions",
            serde_json::json!({ "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"] }),
        )
        .await?;
    a.click("button", "Copy").await?;
    let copied = eventually("the invite on the clipboard", || async {
        let text = alice
            .driver()
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 navigator.clipboard.readText().then(done, () => done(''));",
                Vec::new(),
            )
            .await?;
        Ok(text
            .json()
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned))
    })
    .await?;
    anyhow::ensure!(
        copied == group,
        "copied {copied:?}, the invite is {group:?}"
    );
    let b = bob.open_chat(&copied).await?;
    a.wait_for_member("Bob online at Alice", |m| m.is_online())
        .await?;
    b.wait_for_member("Alice online at Bob", |m| m.is_online())
        .await?;
    anyhow::ensure!(b.invite_link().await? == group, "Bob is in another room");
    let address = check_no_secret(bob, &[group_secret], "Bob's page after the invite").await?;
    anyhow::ensure!(address.contains("#room-"), "Bob's address: {address}");
    b.send("joined by a copied link").await?;
    a.wait_for_messages(&["joined by a copied link"]).await?;

    // A reload opens the same room, by its address.
    bob.driver().refresh().await?;
    let b = in_room(bob, "the group room after a reload", |room| room == group).await?;
    b.wait_for_messages(&["joined by a copied link"]).await?;
    anyhow::ensure!(
        check_no_secret(bob, &[group_secret], "Bob's page after a reload").await? == address,
        "the reload changed the address"
    );

    // A new room, then back to the group room from the rooms list.
    b.click("link", "New room").await?;
    let b = in_room(bob, "a new room", |room| room != group).await?;
    let other = b.invite_link().await?;
    let secrets = [group_secret, secret_of(&other)?];
    check_no_secret(bob, &secrets, "Bob's new room").await?;
    let alice_name = a.display_name().await?;
    b.click("link", &alice_name).await?;
    let b = in_room(bob, "the group room from the list", |room| room == group).await?;
    b.wait_for_messages(&["joined by a copied link"]).await?;
    check_no_secret(bob, &secrets, "Bob's page after a room switch").await?;

    // Back: the new room again (the rooms' addresses are the tab's history).
    bob.driver().back().await?;
    in_room(bob, "the new room after going back", |room| room == other).await?;
    check_no_secret(bob, &secrets, "Bob's page after going back").await?;
    bob.screenshot(&pair.env, "room-address-back-bob.png")
        .await?;
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

/// Checks that neither the address bar (`location.href`) nor any entry of the tab's
/// history (DevTools' navigation history: every entry, not only this document's) holds
/// one of `secrets`; returns the address.
async fn check_no_secret(
    browser: &Browser,
    secrets: &[&str],
    what: &str,
) -> anyhow::Result<String> {
    let href = address(browser).await?;
    let history = browser
        .cdp("Page.getNavigationHistory", serde_json::json!({}))
        .await?;
    let urls: Vec<&str> = history["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["url"].as_str())
        .collect();
    println!("{what}: address {href}, history {urls:?}");
    anyhow::ensure!(!urls.is_empty(), "{what}: no history read: {history}");
    for secret in secrets {
        anyhow::ensure!(
            !href.contains(secret),
            "{what}: the address holds a room secret: {href}"
        );
        anyhow::ensure!(
            !urls.iter().any(|url| url.contains(secret)),
            "{what}: the history holds a room secret: {urls:?}"
        );
    }
    Ok(href)
}
