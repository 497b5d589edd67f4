//! What survives: Alice reloads and her identity and history are back at once; she closes
//! the tab, Bob writes, and opening the app again (no link needed) brings her back to the
//! room with what she missed. With a passphrase set, IndexedDB holds no readable message,
//! a reload asks for the passphrase, a wrong one is refused with a clear message, the
//! right one opens everything. Rooms are kept: after starting a new one, the first is one
//! click away in the rooms list. A second tab is told that the profile is open elsewhere.

use confab_e2e::{ChatPage, Pair, eventually};

const PASSPHRASE: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_history_and_passphrase_survive_reloads() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("persistence", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let home = format!("{}/", pair.server.url);
    let a = alice.open_chat(&home).await?;
    let invite = a.invite_link().await?;
    let fingerprint = a.own_fingerprint().await?;
    let b = bob.open_chat(&invite).await?;
    a.wait_for_member("Bob online", |m| m.is_online()).await?;
    a.send("kept across reloads").await?;
    b.send("me too").await?;
    a.wait_for_messages(&["kept across reloads", "me too"])
        .await?;

    // Reload: the same identity, the history at once, and Bob again.
    alice.driver().refresh().await?;
    let a = wait_chat(alice).await?;
    anyhow::ensure!(
        a.own_fingerprint().await? == fingerprint,
        "a new identity after reload"
    );
    a.wait_for_messages(&["kept across reloads", "me too"])
        .await?;
    a.wait_for_member("Bob online after reload", |m| m.is_online())
        .await?;

    // Away: Alice closes the tab, Bob writes; the app alone (no link) brings her back.
    alice.driver().goto("about:blank").await?;
    b.wait_for_member("Alice gone", |m| m.text.contains("left"))
        .await?;
    b.send("while you were away").await?;
    let a = alice.open_chat(&home).await?;
    anyhow::ensure!(
        a.invite_link().await? == invite,
        "not back in the same room"
    );
    a.wait_for_messages(&["kept across reloads", "me too", "while you were away"])
        .await?;

    // Rooms are kept: a new room, then back to the first one (named after Bob) from the
    // list, with its history.
    let bob_name = b.display_name().await?;
    a.by_role("link", "New room").await?.click().await?;
    let a = eventually("a new room", || async {
        let page = alice.open_page_current().await?;
        let link = page.invite_link().await?;
        Ok((link != invite).then_some(page))
    })
    .await?;
    let rooms = a.list_items("Rooms").await?;
    // The first room, the new one, and the one-to-one room with Bob.
    anyhow::ensure!(rooms.len() >= 3, "rooms kept: {rooms:?}");
    a.by_role("link", &bob_name).await?.click().await?;
    eventually("back in the first room", || async {
        Ok((a.invite_link().await? == invite).then_some(()))
    })
    .await?;
    a.wait_for_messages(&["kept across reloads", "me too", "while you were away"])
        .await?;

    // A passphrase: nothing readable at rest, asked for on reload, wrong one refused.
    a.by_role("textbox", "Passphrase")
        .await?
        .send_keys(PASSPHRASE)
        .await?;
    a.by_role("button", "Set passphrase").await?.click().await?;
    eventually("the passphrase to be set", || async {
        let text = a.by_role("region", "Conversation").await?.text().await?;
        Ok(text.contains("Passphrase set").then_some(()))
    })
    .await?;
    let raw = a.raw_indexeddb_values().await?;
    anyhow::ensure!(raw.len() >= 5, "too few records: {}", raw.len());
    for needle in ["kept across reloads", "while you were away", "me too"] {
        anyhow::ensure!(
            !raw.iter().any(|value| contains(value, needle.as_bytes())),
            "IndexedDB holds {needle:?} in the clear"
        );
    }

    alice.driver().refresh().await?;
    let locked = alice.open_page(&home).await?;
    let field = locked.by_role("textbox", "Passphrase").await?;
    field.send_keys("wrong horse").await?;
    locked.by_role("button", "Unlock").await?.click().await?;
    eventually("the wrong passphrase to be refused", || async {
        let alert = locked.by_role("alert", "").await.ok();
        Ok(match alert {
            Some(alert) => alert
                .text()
                .await?
                .contains("Wrong passphrase")
                .then_some(()),
            None => None,
        })
    })
    .await?;
    alice
        .screenshot(&pair.env, "persistence-locked.png")
        .await?;
    let field = locked.by_role("textbox", "Passphrase").await?;
    field.send_keys(PASSPHRASE).await?;
    locked.by_role("button", "Unlock").await?.click().await?;
    let a = wait_chat(alice).await?;
    a.wait_for_messages(&["kept across reloads", "me too", "while you were away"])
        .await?;
    anyhow::ensure!(
        a.own_fingerprint().await? == fingerprint,
        "identity changed"
    );

    // A second tab of the same profile is told why it cannot open.
    let first = alice.driver().window().await?;
    let second = alice.driver().new_tab().await?;
    alice.driver().switch_to_window(second).await?;
    let other = alice.open_page(&home).await?;
    let notice = other.by_role("alert", "").await?.text().await?;
    anyhow::ensure!(
        notice.to_lowercase().contains("open in another tab"),
        "second tab: {notice:?}"
    );
    alice
        .screenshot(&pair.env, "persistence-second-tab.png")
        .await?;
    alice.driver().close_window().await?;
    alice.driver().switch_to_window(first).await?;

    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

async fn wait_chat(browser: &confab_e2e::Browser) -> anyhow::Result<ChatPage<'_>> {
    let page = browser.open_page_current().await?;
    page.by_role("textbox", "Message").await?;
    Ok(page)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
