//! Contacts and key changes: Alice meets Bob, and Bob is in her contacts with his safety
//! number. Later someone with another key (Bob on a fresh browser, or an impostor) joins
//! using Bob's name: Alice's member list warns that this is not the Bob she knows.

use confab_e2e::{Browser, Pair, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_name_with_another_key_is_flagged() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("key-change", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let a = pair
        .alice
        .open_chat(&format!("{}/", pair.server.url))
        .await?;
    let invite = a.invite_link().await?;
    let b = pair.bob.open_chat(&invite).await?;
    a.wait_for_member("Bob online", |m| m.is_online()).await?;
    let bob_name = b.display_name().await?;
    let bob_fingerprint = b.own_fingerprint().await?;
    eventually("Bob in Alice's contacts", || async {
        let contacts = a.list_items("Contacts").await?;
        Ok(contacts
            .iter()
            .any(|c| c.contains(&bob_name) && c.contains(&bob_fingerprint))
            .then_some(()))
    })
    .await?;

    // Someone with another key takes Bob's name.
    let other = Browser::open(&pair.chromedriver, &pair.env, "not-bob").await?;
    let outcome = async {
        let o = other.open_chat(&invite).await?;
        let field = o.by_role("textbox", "Display name").await?;
        field.clear().await?;
        field.send_keys(&bob_name).await?;
        o.by_role("button", "Save name").await?.click().await?;
        let row = a
            .wait_for_member("a warning on the new Bob", |m| {
                m.text.contains("Not the") && m.text.contains(&bob_name)
            })
            .await?;
        anyhow::ensure!(
            row.text.contains(&bob_fingerprint),
            "the warning should name the known safety number: {row:?}"
        );
        anyhow::ensure!(
            a.by_role("alert", "").await.is_ok(),
            "the warning is an alert for screen readers"
        );
        pair.alice
            .screenshot(&pair.env, "key-change-alice.png")
            .await?;
        // The real Bob's row carries no warning.
        let members = a.members().await?;
        anyhow::ensure!(
            members
                .iter()
                .any(|m| m.text.contains(&bob_fingerprint) && !m.text.contains("Not the")),
            "{members:?}"
        );
        other.assert_no_console_errors().await
    }
    .await;
    other.quit().await.ok();
    outcome?;
    pair.alice.assert_no_console_errors().await
}
