//! The composer in a real browser, typed into with real keys: Shift+Enter starts a new
//! line and Enter sends, so Bob sees one message on two lines; what Alice types and does
//! not send is still in her box after a reload, and gone once she sends it.

use std::time::Duration;

use confab_e2e::{Pair, eventually};
use thirtyfour::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_enter_makes_lines_and_drafts_survive_a_reload() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("composer", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let a = pair
        .alice
        .open_chat(&format!("{}/", pair.server.url))
        .await?;
    let b = pair.bob.open_chat(&a.invite_link().await?).await?;
    a.wait_for_member("Bob online", |m| m.is_online()).await?;

    let field = a.by_role("textbox", "Message").await?;
    field.send_keys("Shopping list:").await?;
    field.send_keys(Key::Shift + Key::Enter).await?;
    field.send_keys("- bread").await?;
    field.send_keys(Key::Shift + Key::Enter).await?;
    field.send_keys("- <b>cheese</b>").await?;
    field.send_keys(Key::Enter).await?;
    let text = "Shopping list:\n- bread\n- <b>cheese</b>";
    b.wait_for_messages(&[text]).await?;
    a.wait_for_messages(&[text]).await?;
    pair.bob
        .screenshot(&pair.env, "composer-lines-bob.png")
        .await?;

    // A draft: kept across a reload, forgotten once sent.
    a.type_draft("not sent yet").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    pair.alice.driver().refresh().await?;
    let a = pair.alice.open_page_current().await?;
    let value = || async {
        let field = a.by_role("textbox", "Message").await?;
        Ok::<_, anyhow::Error>(field.prop("value").await?.unwrap_or_default())
    };
    eventually("the draft back in the box", || async {
        Ok((value().await? == "not sent yet").then_some(()))
    })
    .await?;
    a.by_role("textbox", "Message")
        .await?
        .send_keys(Key::Enter)
        .await?;
    b.wait_for_messages(&[text, "not sent yet"]).await?;
    pair.alice.driver().refresh().await?;
    let a = pair.alice.open_page_current().await?;
    a.wait_for_messages(&[text, "not sent yet"]).await?;
    let field = a.by_role("textbox", "Message").await?;
    anyhow::ensure!(
        field.prop("value").await?.unwrap_or_default().is_empty(),
        "the sent draft came back"
    );
    pair.alice.assert_no_console_errors().await?;
    pair.bob.assert_no_console_errors().await
}
