//! A governed room's move to a new epoch during a file transfer or a call (issue 17): it
//! ends or moves them cleanly, with a message, never a hang.
//!
//! Files (through the relay, whose byte cap keeps a 24 MiB transfer going long enough):
//! Alice sends a file; Bob accepts; at a fifth of the way Alice resets the invite link;
//! Bob's download goes on over the new room's link, completes and "Save moving.bin" saves
//! a file with the original's hash. Then Dave, on a phone, accepts it; Alice removes him
//! part way: his download stops with "you are no longer in this room", offers no Resume,
//! and nothing more arrives; Alice's list of receivers says he is no longer in the room.
//! His Cancel leaves the card "Not downloaded", with nothing to click.
//!
//! Calls (direct links, fake camera and microphone): Alice calls, Bob and Dave accept;
//! Alice removes Dave: Dave reads "The call ended: you are no longer in this room", Alice
//! and Bob "The call ended: the room moved" (its media rode the old room's links); Alice
//! calls Bob again in the new room, and each sees the other's video (and that notice no
//! more).
//!
//! Mailboxes: Bob closes his tab; Alice writes on alone through two resets and closes
//! hers; Bob, back, follows each epoch's mailbox to the current link and reads all.
//! Screenshots: target/e2e/governed_moves/moves-*.png.

use std::time::Duration;

use confab_e2e::calls::{playing, wait_enabled};
use confab_e2e::files::{random_file, save_and_compare, wait_progress, wait_received};
use confab_e2e::governed::{alert_text, wait_alert};
use confab_e2e::{Browser, ChatPage, Chromedriver, Env, Seat, Server, eventually, with_browsers};

const SIZE: usize = 24 << 20;
const NAME: &str = "moving.bin";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_goes_on_across_a_reset_and_ends_for_a_removed_member() -> anyhow::Result<()> {
    with_three("moves-files", files).await
}

async fn files(env: &Env, server: &Server, browsers: [&Browser; 3]) -> anyhow::Result<()> {
    let [alice, bob, dave] = browsers;
    let source = env.out.join(NAME);
    let hash = random_file(&source, SIZE)?;
    let (a, b) = meet(server, alice, bob, "?relay=force").await?;
    let first_link = a.invite_link().await?;
    let d = dave
        .open_chat(&first_link.replacen("/#", "/?relay=force#", 1))
        .await?;
    a.wait_online(2).await?;
    let dave_name = name_on_phone(&d).await?;

    a.attach_file(&source).await?;
    b.click("button", "Accept").await?;
    let label = format!("Receiving {NAME}");
    let before = wait_progress(&b, &label, 20, Duration::from_secs(60)).await?;
    anyhow::ensure!(
        before < 90,
        "the transfer was over before the reset ({before}%)"
    );
    a.click("button", "Reset invite link").await?;
    eventually("a new invite link at Alice", || async {
        let link = a.invite_link().await?;
        Ok((link != first_link).then_some(()))
    })
    .await?;
    bob.screenshot(env, "moves-bob-after-reset.png").await?;
    wait_received(&b, NAME, Duration::from_secs(180)).await?;
    eventually("Bob's link to follow Alice's", || async {
        Ok((b.invite_link().await? == a.invite_link().await?).then_some(()))
    })
    .await?;
    save_and_compare(&b, NAME, SIZE, hash).await?;
    bob.screenshot(env, "moves-bob-received.png").await?;

    // Dave takes the file too, and is removed part way.
    d.click("button", "Accept").await?;
    let part = wait_progress(&d, &label, 5, Duration::from_secs(60)).await?;
    anyhow::ensure!(
        part < 90,
        "Dave's transfer was over before the removal ({part}%)"
    );
    a.click_in_row("Members", &dave_name, "Remove from room")
        .await?;
    a.click("button", "Remove").await?;
    wait_alert(dave, "Stopped: you are no longer in this room").await?;
    // It can never go on: no Resume (or Retry) is offered.
    for again in ["Resume", "Retry"] {
        anyhow::ensure!(
            !d.has_role("button", again).await?,
            "Dave's card offers {again} for a file he can no longer get"
        );
    }
    eventually("Alice's receivers list to say Dave is gone", || async {
        let rows = a.list_items("Receivers").await?;
        Ok(rows
            .iter()
            .any(|row| row.contains(&dave_name) && row.contains("No longer in the room"))
            .then_some(()))
    })
    .await?;
    // Nothing spins: no progress bar at Dave, and what he kept stays as it is.
    let stopped = file_card(&d).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    anyhow::ensure!(
        d.progress(&label).await?.is_none(),
        "Dave's progress bar stayed"
    );
    let later = file_card(&d).await?;
    anyhow::ensure!(
        stopped == later,
        "Dave's file changed: {stopped:?} then {later:?}"
    );
    dave.screenshot(env, "moves-dave-removed.png").await?;
    // Cancel frees what he kept, and the card offers nothing more (it offered Accept,
    // which could only fail).
    d.click("button", "Cancel").await?;
    eventually("Dave's card to say it is not downloaded", || async {
        Ok(file_card(&d)
            .await?
            .contains("Not downloaded: you are no longer in this room.")
            .then_some(()))
    })
    .await?;
    for gone in ["Accept", "Decline", "Cancel"] {
        anyhow::ensure!(
            !d.has_role("button", gone).await?,
            "Dave's ended card offers {gone}"
        );
    }
    dave.screenshot(env, "moves-dave-cancelled.png").await?;
    alice.screenshot(env, "moves-alice-receivers.png").await?;
    for browser in [alice, bob] {
        browser.assert_no_console_errors().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_ends_with_the_move_and_is_placed_again() -> anyhow::Result<()> {
    with_three("moves-call", calls).await
}

async fn calls(env: &Env, server: &Server, browsers: [&Browser; 3]) -> anyhow::Result<()> {
    let [alice, bob, dave] = browsers;
    let (a, b) = meet(server, alice, bob, "").await?;
    let d = dave.open_chat(&a.invite_link().await?).await?;
    a.wait_online(2).await?;
    let dave_name = name_on_phone(&d).await?;
    let (alice_name, bob_name) = (a.display_name().await?, b.display_name().await?);

    // "Video call" is enabled once one link is checked for calls; give the other time.
    wait_enabled(&a, "Video call").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.click("button", "Video call").await?;
    for page in [&b, &d] {
        page.by_role("alertdialog", &format!("{alice_name} is calling"))
            .await?;
        page.click("button", "Accept").await?;
    }
    playing(alice, &bob_name).await?;
    playing(alice, &dave_name).await?;
    playing(bob, &alice_name).await?;
    alice.screenshot(env, "moves-call-of-three.png").await?;

    a.click_in_row("Members", &dave_name, "Remove from room")
        .await?;
    a.click("button", "Remove").await?;
    wait_alert(dave, "The call ended: you are no longer in this room").await?;
    wait_alert(alice, "The call ended: the room moved").await?;
    wait_alert(bob, "The call ended: the room moved").await?;
    alice.screenshot(env, "moves-call-ended-alice.png").await?;
    dave.screenshot(env, "moves-call-ended-dave.png").await?;

    // Placed again in the new room.
    wait_enabled(&a, "Video call").await?;
    a.click("button", "Video call").await?;
    b.by_role("alertdialog", &format!("{alice_name} is calling"))
        .await?;
    b.click("button", "Accept").await?;
    playing(alice, &bob_name).await?;
    playing(bob, &alice_name).await?;
    // Why the last call ended is old news once another starts (it stayed up).
    for browser in [alice, bob] {
        let alerts = alert_text(browser).await?;
        anyhow::ensure!(
            !alerts.contains("The call ended"),
            "{}: the last call's end still shows in the new call: {alerts:?}",
            browser.name
        );
    }
    bob.screenshot(env, "moves-call-again-bob.png").await?;
    a.click("button", "Hang up").await?;
    for browser in [alice, bob] {
        browser.assert_no_console_errors().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_closed_through_two_resets_reads_each_epoch_from_the_mailboxes()
-> anyhow::Result<()> {
    let (env, server, chromedriver) = start().await?;
    let seats = [
        Seat::desktop("moves-mailboxes", "alice"),
        Seat::desktop("moves-mailboxes", "bob"),
    ];
    with_browsers(&env, &chromedriver, seats, async |[alice, bob]| {
        mailboxes(&env, &server, alice, bob).await
    })
    .await
}

/// Bob closes his tab; Alice, alone, writes in three epochs, resetting the link twice,
/// and closes hers. Bob opens Confab again, alone with the server: each epoch's mailbox
/// holds what was said there and the rekey to the next; he follows them to the current
/// link and reads everything.
async fn mailboxes(
    env: &Env,
    server: &Server,
    alice: &Browser,
    bob: &Browser,
) -> anyhow::Result<()> {
    let (a, b) = meet(server, alice, bob, "").await?;
    b.send("Bob, before closing").await?;
    a.wait_for_messages(&["Bob, before closing"]).await?;
    bob.driver().goto("about:blank").await?;
    eventually("Bob gone at Alice", || async {
        let online = a.members().await?.iter().filter(|m| m.is_online()).count();
        Ok((online == 0).then_some(()))
    })
    .await?;
    let said = [
        "Bob, before closing",
        "said in the first epoch",
        "said in the second epoch",
        "said in the third epoch",
    ];
    let mut link = a.invite_link().await?;
    for (idx, text) in said.iter().enumerate().skip(1) {
        if idx > 1 {
            a.click("button", "Reset invite link").await?;
            let before = link.clone();
            link = eventually("a new invite link at Alice", || async {
                let now = a.invite_link().await?;
                Ok((now != before).then_some(now))
            })
            .await?;
        }
        a.send(text).await?;
    }
    a.wait_for_messages(&said).await?;
    // Deposits go out as each is written (Alice is alone); give the last one a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    alice.driver().goto("about:blank").await?;

    let b = bob.open_chat(&format!("{}/", server.url)).await?;
    b.wait_for_messages(&said).await?;
    eventually("Bob's link to be Alice's latest", || async {
        Ok((b.invite_link().await? == link).then_some(()))
    })
    .await?;
    bob.screenshot(env, "moves-bob-back.png").await?;
    bob.assert_no_console_errors().await
}

/// The server and chromedriver of one scenario.
async fn start() -> anyhow::Result<(Env, Server, Chromedriver)> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    Ok((env, server, chromedriver))
}

/// Runs `scenario` against its own server with Alice and Bob on desktops and Dave on a
/// phone (their screenshots named after `name`).
async fn with_three(
    name: &str,
    scenario: impl AsyncFnOnce(&Env, &Server, [&Browser; 3]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (env, server, chromedriver) = start().await?;
    let seats = [
        Seat::desktop(name, "alice"),
        Seat::desktop(name, "bob"),
        Seat::phone(name, "dave"),
    ];
    with_browsers(&env, &chromedriver, seats, async |browsers| {
        scenario(&env, &server, browsers).await
    })
    .await
}

/// Alice opens a new room, Bob its invite link (both with `query`, say `"?relay=force"`),
/// and each waits until the other is online.
async fn meet<'a>(
    server: &Server,
    alice: &'a Browser,
    bob: &'a Browser,
    query: &str,
) -> anyhow::Result<(ChatPage<'a>, ChatPage<'a>)> {
    let a = alice.open_chat(&format!("{}/{query}", server.url)).await?;
    let invite = a.invite_link().await?;
    let b = bob
        .open_chat(&invite.replacen("/#", &format!("/{query}#"), 1))
        .await?;
    a.wait_for_member("Bob online at Alice", |m| m.is_online())
        .await?;
    b.wait_for_member("Alice online at Bob", |m| m.is_online())
        .await?;
    Ok((a, b))
}

/// The display name on a phone page, behind "Menu".
async fn name_on_phone(page: &ChatPage<'_>) -> anyhow::Result<String> {
    page.click("button", "Menu").await?;
    let name = page.display_name().await?;
    page.click("button", "Close").await?;
    Ok(name)
}

/// What the file's card on `page` says.
async fn file_card(page: &ChatPage<'_>) -> anyhow::Result<String> {
    let group = page.by_role("group", &format!("File {NAME}")).await?;
    Ok(group.text().await.unwrap_or_default())
}
