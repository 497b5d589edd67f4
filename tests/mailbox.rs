//! The offline mailbox: Alice writes while Bob is away and then closes her tab too; Bob
//! opens the app again with nobody online and reads everything from the server's mailbox,
//! in order, from Alice. And the same when Alice writes while the server is down and
//! reloads before it is back: her tab deposits after the reload, once.

use std::time::Duration;

use confab_e2e::{Browser, ChatPage, Chromedriver, Env, Pair, Server, eventually, metric};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_written_while_away_arrive_from_the_mailbox() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("mailbox", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let (a, b) = pair.meet("").await?;
    let invite = a.invite_link().await?;
    let alice_name = a.display_name().await?;
    a.send("before you go").await?;
    b.wait_for_messages(&["before you go"]).await?;

    // Bob closes his tab; Alice, alone, writes three messages.
    bob.driver().goto("about:blank").await?;
    a.wait_for_member("Bob gone", |m| m.text.contains("left"))
        .await?;
    let away = [
        "first, while you were away",
        "second, while you were away",
        "third, while you were away",
    ];
    for text in away {
        a.send(text).await?;
    }
    let all = ["before you go", away[0], away[1], away[2]];
    a.wait_for_messages(&all).await?;
    alice
        .screenshot(&pair.env, "mailbox-alice-alone.png")
        .await?;
    // The deposits left with each send; give the socket a moment to flush them before the
    // tab goes (nothing on screen says "stored").
    tokio::time::sleep(Duration::from_millis(500)).await;
    alice.assert_no_console_errors().await?;

    // Alice closes her tab too: nobody is online (give the server a moment to see her
    // socket close, so Bob is not even offered a link to her).
    alice.driver().goto("about:blank").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Bob opens the app again (no link: his last room), alone, and reads the mailbox.
    let b = back_in_the_room(bob, &pair.server, &invite, &all, &alice_name).await?;
    // Nobody was linked to Bob (online, or online and then gone): the mailbox it was.
    let members = b.members().await?;
    anyhow::ensure!(
        !members
            .iter()
            .any(|m| m.is_online() || m.text.contains("left")),
        "Bob met someone: {members:?}"
    );
    // And they stay in order and stay once (a repeated fetch changes nothing).
    tokio::time::sleep(Duration::from_secs(1)).await;
    eventually("the same four messages", || async {
        Ok((b.messages().await? == all).then_some(()))
    })
    .await?;
    bob.screenshot(&pair.env, "mailbox-bob-back.png").await?;
    bob.assert_no_console_errors().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_written_offline_are_deposited_after_a_reload() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let chromedriver = Chromedriver::start(&env).await?;
    let alice = Browser::open(&chromedriver, &env, "alice").await?;
    let bob = Browser::open(&chromedriver, &env, "bob").await?;
    let outcome = offline_reload_scenario(&env, &alice, &bob).await;
    alice
        .screenshot(&env, "mailbox-reload-alice.png")
        .await
        .ok();
    bob.screenshot(&env, "mailbox-reload-bob.png").await.ok();
    alice.quit().await.ok();
    bob.quit().await.ok();
    outcome
}

async fn offline_reload_scenario(env: &Env, alice: &Browser, bob: &Browser) -> anyhow::Result<()> {
    let server = Server::start(env, false).await?;
    let port = server.port();
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;
    let alice_name = a.display_name().await?;
    let b = bob.open_chat(&invite).await?;
    a.wait_for_member("Bob online", |m| m.is_online()).await?;
    b.wait_for_member("Alice online", |m| m.is_online()).await?;
    a.send("before the outage").await?;
    b.wait_for_messages(&["before the outage"]).await?;
    // Bob's receipts reach Alice (his page is visible, so he reads it), then he closes
    // his tab.
    eventually("Bob's read receipt", || async {
        Ok(a.message_items()
            .await?
            .first()
            .is_some_and(|item| item.contains("Read by 1"))
            .then_some(()))
    })
    .await?;
    bob.driver().goto("about:blank").await?;
    a.wait_for_member("Bob gone", |m| m.text.contains("left"))
        .await?;

    // Alice's page is controlled by the service worker after a reload, so it opens
    // while the server is down.
    eventually("the service worker to be active", || async {
        let script = "const done = arguments[arguments.length - 1];
            navigator.serviceWorker.ready.then(r => done(r.active ? r.active.state : null));";
        let state = alice.driver().execute_async(script, Vec::new()).await?;
        Ok((state.json() == "activated").then_some(()))
    })
    .await?;
    alice.driver().refresh().await?;
    let a = alice.open_page_current().await?;
    a.wait_for_messages(&["before the outage"]).await?;
    // Receipts are kept: alone after the reload, she still sees Bob read it.
    read_by_one(&a, "before the outage").await?;
    alice
        .screenshot(env, "mailbox-reload-alice-receipts-kept.png")
        .await?;

    // The server dies; Alice, alone, writes three messages: her tab can deposit nothing.
    server.kill().await?;
    wait_status(&a, "unreachable").await?;
    let offline = [
        "first, with the server down",
        "second, with the server down",
        "third, with the server down",
    ];
    for text in offline {
        a.send(text).await?;
    }
    let all = ["before the outage", offline[0], offline[1], offline[2]];
    a.wait_for_messages(&all).await?;
    alice
        .screenshot(env, "mailbox-reload-alice-offline.png")
        .await?;

    // She reloads (the page comes from the service worker): what her tab held is gone,
    // her history is not.
    alice.driver().refresh().await?;
    let a = alice.open_page_current().await?;
    a.wait_for_messages(&all).await?;
    wait_status(&a, "unreachable").await?;
    read_by_one(&a, "before the outage").await?;
    let items = a.message_items().await?;
    for text in offline {
        anyhow::ensure!(
            items
                .iter()
                .any(|item| item.contains(text) && item.contains("Pending")),
            "{text:?} is not shown as pending: {items:#?}"
        );
    }
    alice
        .screenshot(env, "mailbox-reload-alice-reloaded.png")
        .await?;

    // The server comes back (with its mailbox): Alice's tab deposits the three, and only
    // those ("before the outage" is in Bob's hands).
    let server = Server::start_on(env, port, false).await?;
    wait_status(&a, "Connected").await?;
    eventually("three deposits", || async {
        Ok((metric(port, "confab_mailbox_puts_total").await? >= 3).then_some(()))
    })
    .await?;
    // Her tab's other rooms (her contact room, her room with Bob) may deposit their own
    // first events too: wait until nothing more goes, 3 s without a deposit.
    let mut settled = metric(port, "confab_mailbox_puts_total").await?;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = metric(port, "confab_mailbox_puts_total").await?;
        if now == settled {
            break;
        }
        settled = now;
    }
    // Confirmed and remembered: another reload deposits nothing again.
    alice.driver().refresh().await?;
    let a = alice.open_page_current().await?;
    a.wait_for_messages(&all).await?;
    wait_status(&a, "Connected").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let puts = metric(port, "confab_mailbox_puts_total").await?;
    anyhow::ensure!(
        puts == settled,
        "deposited again after a reload: {puts} deposits, {settled} before it"
    );
    // The only errors allowed: the WebSocket failing to connect while the server was down.
    let errors = alice.console_errors().await?;
    let unexpected: Vec<&String> = errors
        .iter()
        .filter(|error| {
            !error.contains(&format!(
                "WebSocket connection to 'ws://127.0.0.1:{port}/ws' failed"
            ))
        })
        .collect();
    anyhow::ensure!(unexpected.is_empty(), "Alice's console: {unexpected:#?}");

    // Alice closes her tab; Bob comes back alone and reads everything.
    alice.driver().goto("about:blank").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let b = back_in_the_room(bob, &server, &invite, &all, &alice_name).await?;
    let members = b.members().await?;
    anyhow::ensure!(
        !members.iter().any(|m| m.is_online()),
        "Bob met someone: {members:?}"
    );
    bob.screenshot(env, "mailbox-reload-bob-back.png").await?;
    bob.assert_no_console_errors().await
}

/// Bob opens the app again (no link: his last room) and it is the room of `invite`, showing
/// `all` as messages from `alice_name`.
async fn back_in_the_room<'a>(
    bob: &'a Browser,
    server: &Server,
    invite: &str,
    all: &[&str],
    alice_name: &str,
) -> anyhow::Result<ChatPage<'a>> {
    let b = bob.open_chat(&format!("{}/", server.url)).await?;
    anyhow::ensure!(
        b.invite_link().await? == invite,
        "Bob is not back in the same room"
    );
    let items = b.wait_for_messages(all).await?;
    for (item, text) in items.iter().zip(all) {
        anyhow::ensure!(
            item.contains(alice_name),
            "{text:?} is not shown as Alice's: {item:?}"
        );
    }
    Ok(b)
}

/// Waits until the message `text` shows as read by one member (not pending).
async fn read_by_one(page: &ChatPage<'_>, text: &str) -> anyhow::Result<()> {
    eventually(&format!("{text:?} to show \"Read by 1\""), || async {
        Ok(page
            .message_items()
            .await?
            .iter()
            .any(|item| {
                item.contains(text) && item.contains("Read by 1") && !item.contains("Pending")
            })
            .then_some(()))
    })
    .await
}

/// Waits until the header's status line contains `text`.
async fn wait_status(page: &confab_e2e::ChatPage<'_>, text: &str) -> anyhow::Result<()> {
    eventually(&format!("the status to say {text:?}"), || async {
        Ok(page.server_status().await?.contains(text).then_some(()))
    })
    .await
}
