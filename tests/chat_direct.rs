//! Two browsers chat end-to-end encrypted over a direct WebRTC data channel: A opens the
//! app, B opens A's invite link, both see each other verified with matching fingerprints,
//! three messages flow each way in order, and markup in a message stays text. The
//! signals that set up the direct link went through the server sealed: it forwarded no
//! SDP, ICE candidate or DTLS fingerprint.

use confab_e2e::{Browser, Pair, Server, exchange};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_chat_directly() -> anyhow::Result<()> {
    let pair = Pair::start(true).await?;
    let outcome = scenario(&pair.server, &pair.alice, &pair.bob).await;
    pair.finish("direct", outcome).await
}

async fn scenario(server: &Server, alice: &Browser, bob: &Browser) -> anyhow::Result<()> {
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;
    anyhow::ensure!(
        invite.starts_with(&format!("{}/#", server.url)),
        "invite link {invite}"
    );
    let secret = invite
        .split_once('#')
        .map(|(_, s)| s.to_owned())
        .unwrap_or_default();
    // A new room is governed: its 256-bit link secret and its 256-bit genesis.
    anyhow::ensure!(
        secret.len() == 86,
        "a governed room's link is 86 base64url characters: {secret}"
    );

    let b = bob.open_chat(&invite).await?;
    let bob_seen_by_alice = a
        .wait_for_member("Bob online at Alice", |m| m.is_online())
        .await?;
    let alice_seen_by_bob = b
        .wait_for_member("Alice online at Bob", |m| m.is_online())
        .await?;
    anyhow::ensure!(
        bob_seen_by_alice.text.contains("direct"),
        "direct path: {:?}",
        bob_seen_by_alice
    );
    anyhow::ensure!(
        alice_seen_by_bob.text.contains("direct"),
        "direct path: {:?}",
        alice_seen_by_bob
    );
    // Each side shows the other's fingerprint, equal to what the other shows for itself.
    let alice_fp = a.own_fingerprint().await?;
    let bob_fp = b.own_fingerprint().await?;
    anyhow::ensure!(
        alice_fp != bob_fp && alice_fp.len() == 35,
        "fingerprints {alice_fp} / {bob_fp}"
    );
    anyhow::ensure!(
        bob_seen_by_alice.text.contains(&bob_fp),
        "{:?} lacks {bob_fp}",
        bob_seen_by_alice
    );
    anyhow::ensure!(
        alice_seen_by_bob.text.contains(&alice_fp),
        "{:?} lacks {alice_fp}",
        alice_seen_by_bob
    );

    exchange(&a, &b).await?;
    // The offer, answer and candidates crossed the server, sealed.
    let signalled = String::from_utf8(server.signalled_bytes()?)?;
    anyhow::ensure!(
        signalled.len() > 200,
        "the server forwarded only {} bytes of signals",
        signalled.len()
    );
    // (None of these can occur in unpadded base64url by chance: it has no `=`, `:` or space,
    // and nine given characters are one in 2^54.)
    for needle in ["v=0", "a=fingerprint", "candidate:", "ice-ufrag"] {
        anyhow::ensure!(
            !signalled.contains(needle),
            "the server read {needle:?} in a signal"
        );
    }
    // No CSP violation, panic or failed load anywhere.
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}
