//! A contact link: Bob opens Alice's contact link (from her profile panel) while Alice is
//! looking at another room. Her contact room runs in the background, so they meet there
//! and become contacts; then Bob writes to her one-to-one, and Alice finds it under
//! "Message Bob" without anyone sharing another link.

use confab_e2e::{Pair, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_contact_link_makes_a_contact() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("contact-link", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let a = pair
        .alice
        .open_chat(&format!("{}/", pair.server.url))
        .await?;
    let alice_room = a.invite_link().await?;
    let link = a
        .by_role("textbox", "Contact link")
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    anyhow::ensure!(
        link.contains('#') && link != alice_room,
        "contact link {link:?}"
    );
    let alice_name = a.display_name().await?;

    let b = pair.bob.open_chat(&link).await?;
    b.wait_for_member("Alice met through her link", |m| {
        m.is_online() && m.text.contains(&alice_name)
    })
    .await?;
    let bob_name = b.display_name().await?;
    eventually("Bob in Alice's contacts", || async {
        let contacts = a.list_items("Contacts").await?;
        Ok(contacts.iter().any(|c| c.contains(&bob_name)).then_some(()))
    })
    .await?;
    anyhow::ensure!(a.invite_link().await? == alice_room, "Alice's screen moved");

    b.by_role("link", &format!("Message {alice_name}"))
        .await?
        .click()
        .await?;
    let b = eventually("Bob in the one-to-one room", || async {
        let page = pair.bob.open_page_current().await?;
        Ok((page.invite_link().await? != link).then_some(page))
    })
    .await?;
    b.wait_for_member("Alice in the one-to-one room", |m| m.is_online())
        .await?;
    b.send("hi, via your link").await?;

    a.by_role("link", &format!("Message {bob_name}"))
        .await?
        .click()
        .await?;
    let a = eventually("Alice in the one-to-one room", || async {
        let page = pair.alice.open_page_current().await?;
        Ok((page.invite_link().await? != alice_room).then_some(page))
    })
    .await?;
    a.wait_for_messages(&["hi, via your link"]).await?;
    pair.alice.assert_no_console_errors().await?;
    pair.bob.assert_no_console_errors().await
}
