//! The same chat with ICE skipped (`?relay=force`): every frame goes through the server's
//! WebSocket relay. The chat works the same, and the bytes the server relayed contain
//! neither any message text nor the room secret, in any encoding.

use confab_e2e::{Browser, Pair, Server, exchange};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_chat_through_the_relay() -> anyhow::Result<()> {
    let pair = Pair::start(true).await?;
    let outcome = scenario(&pair.server, &pair.alice, &pair.bob).await;
    pair.finish("relay", outcome).await
}

async fn scenario(server: &Server, alice: &Browser, bob: &Browser) -> anyhow::Result<()> {
    let a = alice
        .open_chat(&format!("{}/?relay=force", server.url))
        .await?;
    let invite = a.invite_link().await?;
    let secret = invite
        .split_once('#')
        .map(|(_, s)| s.to_owned())
        .unwrap_or_default();
    // Bob forces the relay too; the link itself is the same invite link.
    let b = bob
        .open_chat(&invite.replacen("/#", "/?relay=force#", 1))
        .await?;
    let bob_at_alice = a
        .wait_for_member("Bob online via relay", |m| m.is_online())
        .await?;
    let alice_at_bob = b
        .wait_for_member("Alice online via relay", |m| m.is_online())
        .await?;
    anyhow::ensure!(bob_at_alice.text.contains("relay"), "{bob_at_alice:?}");
    anyhow::ensure!(alice_at_bob.text.contains("relay"), "{alice_at_bob:?}");
    exchange(&a, &b).await?;
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await?;

    let relayed = server.relayed_bytes()?;
    // Handshake (3 frames) plus seven messages at least went through.
    anyhow::ensure!(
        relayed.len() > 7 * 40,
        "the relay carried only {} bytes",
        relayed.len()
    );
    let mut needles: Vec<Vec<u8>> = [
        "hello Bob",
        "how are you?",
        "fine, and you?",
        "good to hear",
        "<img src=x",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    needles.push(secret.as_bytes().to_vec());
    // A governed room's link holds its link secret and its genesis: neither may pass.
    needles.extend(base64url_decode(&secret)?.chunks(32).map(<[u8]>::to_vec));
    for needle in &needles {
        anyhow::ensure!(
            !relayed
                .windows(needle.len())
                .any(|w| w == needle.as_slice()),
            "the server saw {:?} in clear",
            String::from_utf8_lossy(needle)
        );
    }
    Ok(())
}

/// The raw bytes from the link's base64url fragment: 32 (a room secret), or 64 (a governed
/// room's link secret and genesis).
fn base64url_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n_bits = 0;
    let mut out = Vec::new();
    for byte in text.bytes() {
        let value = ALPHABET
            .iter()
            .position(|c| *c == byte)
            .ok_or_else(|| anyhow::anyhow!("bad base64url"))?;
        bits = (bits << 6) | value as u32;
        n_bits += 6;
        if n_bits >= 8 {
            n_bits -= 8;
            out.push((bits >> n_bits) as u8);
        }
    }
    anyhow::ensure!(
        out.len() == 32 || out.len() == 64,
        "secret decodes to {} bytes",
        out.len()
    );
    Ok(out)
}
