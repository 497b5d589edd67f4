//! A 50 MiB file of random bytes goes from Alice to Bob over their direct link, end to end
//! encrypted: Bob accepts it, reloads his page at about half way, and the download
//! resumes from what he had stored instead of starting over; then "Save big.bin" saves a
//! file whose BLAKE3 hash equals the original's. And a 12 MiB file through the server's relay
//! (no direct path), paced under the relay's stated byte cap, arrives whole too. And when
//! the *sender* reloads mid-transfer, the download resumes from the encrypted copy her
//! page kept.

use std::time::Duration;

use anyhow::Context as _;
use confab_e2e::files::{random_file, save_and_compare, wait_progress, wait_received};
use confab_e2e::{ChatPage, Pair, eventually};

const SIZE: usize = 50 << 20;
const NAME: &str = "big.bin";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_arrives_whole_after_a_reload_mid_way() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("file-transfer", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let source = pair.env.out.join(NAME);
    let hash = random_file(&source, SIZE)?;

    let (a, b) = pair.meet("").await?;

    a.attach_file(&source).await?;
    // Alice's own message says it is offered; Bob's offers Accept and Decline.
    a.by_role("group", &format!("File {NAME}")).await?;
    b.by_role("group", &format!("File {NAME}")).await?;
    b.by_role("button", "Decline").await?;
    bob.screenshot(&pair.env, "file-offered-bob.png").await?;
    b.click("button", "Accept").await?;

    let label = format!("Receiving {NAME}");
    let before_reload = wait_progress(&b, &label, 40, Duration::from_secs(120)).await?;
    bob.screenshot(&pair.env, "file-receiving-bob.png").await?;
    bob.driver().refresh().await?;
    let b = bob.open_page_current().await?;
    b.by_role("textbox", "Message").await?;
    // Resumed, not restarted: the first progress shown after the reload is already far.
    let after_reload = wait_progress(&b, &label, 1, Duration::from_secs(60)).await?;
    anyhow::ensure!(
        after_reload + 15 >= before_reload,
        "progress went from {before_reload}% to {after_reload}% across the reload: restarted?"
    );

    wait_received(&b, NAME, Duration::from_secs(240)).await?;
    bob.screenshot(&pair.env, "file-received-bob.png").await?;
    alice.screenshot(&pair.env, "file-sent-alice.png").await?;
    // Alice sent the file about once: what Bob had stored before reloading was not resent.
    let sent = alice.published("bytesSent").await?.unwrap_or(0.0);
    anyhow::ensure!(
        sent < SIZE as f64 * 1.25,
        "Alice sent {sent} bytes for a {SIZE}-byte file"
    );
    save_and_compare(&b, NAME, SIZE, hash).await?;
    a.by_role("list", "Receivers").await?;
    // Both stored on their file workers (Bob the chunks, Alice her kept copy), not on the
    // page's thread.
    for (who, browser) in [("Alice", alice), ("Bob", bob)] {
        let console = browser.console_all().await?;
        anyhow::ensure!(
            console
                .iter()
                .any(|line| line.contains("file worker ready")),
            "{who}'s file worker never started: {console:?}"
        );
    }
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_through_the_relay_under_its_byte_cap() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = through_relay(&pair).await;
    pair.finish("file-relay", outcome).await
}

async fn through_relay(pair: &Pair) -> anyhow::Result<()> {
    const RELAYED: usize = 12 << 20;
    let (alice, bob) = (&pair.alice, &pair.bob);
    let source = pair.env.out.join("relayed.bin");
    let hash = random_file(&source, RELAYED)?;
    let (a, b) = open_on_relay(pair).await?;
    a.attach_file(&source).await?;
    b.click("button", "Accept").await?;
    wait_received(&b, "relayed.bin", Duration::from_secs(120)).await?;
    save_and_compare(&b, "relayed.bin", RELAYED, hash).await?;
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_reloads_mid_transfer_sends_the_rest_from_its_kept_copy() -> anyhow::Result<()>
{
    let pair = Pair::start(false).await?;
    let outcome = sender_reloads(&pair).await;
    pair.finish("file-sender-reload", outcome).await
}

async fn sender_reloads(pair: &Pair) -> anyhow::Result<()> {
    // Through the relay, whose byte cap (2 MiB/s after an 8 MiB burst) makes the transfer
    // last long enough to reload in the middle of it.
    const SENT: usize = 24 << 20;
    let (alice, bob) = (&pair.alice, &pair.bob);
    let source = pair.env.out.join("kept.bin");
    let hash = random_file(&source, SENT)?;
    let (a, b) = open_on_relay(pair).await?;
    a.attach_file(&source).await?;
    eventually("Alice's copy kept", || async {
        let card = a.by_role("group", "File kept.bin").await?;
        Ok(card
            .text()
            .await
            .unwrap_or_default()
            .contains("Kept on this device")
            .then_some(()))
    })
    .await?;
    b.click("button", "Accept").await?;
    let label = "Receiving kept.bin";
    let before = wait_progress(&b, label, 45, Duration::from_secs(60)).await?;
    alice.driver().refresh().await?;
    let a = alice.open_page_current().await?;
    a.by_role("textbox", "Message").await?;
    wait_received(&b, "kept.bin", Duration::from_secs(120))
        .await
        .with_context(|| format!("after Alice reloaded at {before}%"))?;
    alice
        .screenshot(&pair.env, "file-sender-reloaded-alice.png")
        .await?;
    // After her reload Alice sent only the rest (and what Bob had not yet stored).
    let resent = alice.published("bytesSent").await?.unwrap_or(0.0);
    anyhow::ensure!(
        resent < SENT as f64 * (1.0 - before as f64 / 100.0) + (8 << 20) as f64,
        "Alice sent {resent} bytes after her reload; {before}% had arrived before"
    );
    save_and_compare(&b, "kept.bin", SENT, hash).await?;
    bob.assert_no_console_errors().await
}

/// Alice and Bob in a room whose frames all go through the server's relay.
async fn open_on_relay(pair: &Pair) -> anyhow::Result<(ChatPage<'_>, ChatPage<'_>)> {
    let (a, b) = pair.meet("?relay=force").await?;
    let bob_at_alice = a.members().await?;
    anyhow::ensure!(
        bob_at_alice.iter().all(|m| m.text.contains("relay")),
        "{bob_at_alice:?}"
    );
    Ok((a, b))
}
