//! No direct path can form (both browsers withhold their ICE candidates, as behind NATs
//! without TURN): after the direct-path timeout the newcomer falls back to the relay, both
//! sides verify each other there, and they chat.

use confab_e2e::{Browser, Pair, Server, exchange};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_direct_path_falls_back_to_the_relay() -> anyhow::Result<()> {
    let pair = Pair::start(true).await?;
    let outcome = scenario(&pair.server, &pair.alice, &pair.bob).await;
    pair.finish("fallback", outcome).await
}

async fn scenario(server: &Server, alice: &Browser, bob: &Browser) -> anyhow::Result<()> {
    let a = alice
        .open_chat(&format!("{}/?ice=withhold", server.url))
        .await?;
    let invite = a.invite_link().await?;
    let b = bob
        .open_chat(&invite.replacen("/#", "/?ice=withhold#", 1))
        .await?;
    let bob_at_alice = a
        .wait_for_member("Bob online after the fallback", |m| m.is_online())
        .await?;
    let alice_at_bob = b
        .wait_for_member("Alice online after the fallback", |m| m.is_online())
        .await?;
    anyhow::ensure!(bob_at_alice.text.contains("relay"), "{bob_at_alice:?}");
    anyhow::ensure!(alice_at_bob.text.contains("relay"), "{alice_at_bob:?}");
    exchange(&a, &b).await?;
    anyhow::ensure!(
        !server.relayed_bytes()?.is_empty(),
        "the relay carried the chat"
    );
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}
