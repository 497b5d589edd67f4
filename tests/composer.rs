//! The composer in a real browser, typed into with real keys: Shift+Enter starts a new
//! line and Enter sends, so Bob sees one message on two lines; what Alice types and does
//! not send is still in her box after a reload (even one right after typing), and gone
//! once she sends it. Markdown reaches the other member as elements (bold is `<strong>`,
//! a `javascript:` link is text), and a reaction picked in the "Emoji" dialog shows on
//! the other member's screen. In a room Bob muted, a message that mentions him (picked
//! from the "@" autocomplete) notifies him, and one that does not stays quiet. A message
//! over the byte limit is not sent: an alert says why and the text stays (screenshots at
//! desktop and phone width: composer-too-long-*.png).

use std::time::Duration;

use confab_e2e::{
    Pair, eventually, spy_on_notifications, turn_on_notifications, wait_for_notifications,
};
use thirtyfour::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_enter_makes_lines_and_drafts_survive_a_reload() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("composer", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let (a, b) = pair.meet("").await?;

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

    // Typed and reloaded at once, before the pause that saves a draft: kept (pagehide).
    a.type_draft("typed in a hurry").await?;
    pair.alice.driver().refresh().await?;
    let a = pair.alice.open_page_current().await?;
    eventually("the hurried draft back in the box", || async {
        let field = a.by_role("textbox", "Message").await?;
        let value = field.prop("value").await?.unwrap_or_default();
        Ok((value == "typed in a hurry").then_some(()))
    })
    .await?;

    // Over the byte limit (4,097 emoji are 16,388 bytes of UTF-8): an alert says why, the
    // text stays in the box and nothing is sent; at a phone's width the page still fits.
    let long = "😀".repeat(4_097);
    let field = a.by_role("textbox", "Message").await?;
    let set_value = "const f = arguments[0]; f.value = arguments[1]; \
                     f.dispatchEvent(new Event('input', { bubbles: true }));";
    let driver = pair.alice.driver();
    driver
        .execute(set_value, vec![field.to_json()?, serde_json::json!(long)])
        .await?;
    field.send_keys(Key::Enter).await?;
    let alert = eventually("the too-long alert", || async {
        let found = driver.find_all(By::Id("message-too-long")).await?;
        Ok(found.into_iter().next())
    })
    .await?;
    anyhow::ensure!(
        alert.attr("role").await?.as_deref() == Some("alert")
            && alert.text().await?.starts_with("Too long to send"),
        "the alert says why: {:?}",
        alert.text().await?
    );
    anyhow::ensure!(
        field.prop("value").await?.unwrap_or_default() == long,
        "the long text was not kept"
    );
    pair.alice
        .screenshot(&pair.env, "composer-too-long-alice.png")
        .await?;
    let rect = driver.get_window_rect().await?;
    driver.set_window_rect(0, 0, 390, 844).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sideways = driver
        .execute(
            "return document.scrollingElement.scrollWidth - innerWidth;",
            vec![],
        )
        .await?;
    anyhow::ensure!(
        sideways.json().as_i64() == Some(0),
        "the page scrolls sideways at a phone's width: {}",
        sideways.json()
    );
    pair.alice
        .screenshot(&pair.env, "composer-too-long-phone-alice.png")
        .await?;
    driver
        .set_window_rect(
            rect.x,
            rect.y,
            u32::try_from(rect.width)?,
            u32::try_from(rect.height)?,
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    b.wait_for_messages(&[text, "not sent yet"]).await?;

    pair.alice.assert_no_console_errors().await?;
    pair.bob.assert_no_console_errors().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markdown_renders_and_a_picked_reaction_reaches_the_other_member() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = markdown_and_reactions(&pair).await;
    pair.finish("composer-markdown", outcome).await
}

async fn markdown_and_reactions(pair: &Pair) -> anyhow::Result<()> {
    let (a, b) = pair.meet("").await?;

    a.send("**bold** and *soft* [click](javascript:alert(1)) see https://example.org/x")
        .await?;
    let shown = "bold and soft [click](javascript:alert(1)) see https://example.org/x";
    b.wait_for_messages(&[shown]).await?;
    let list = b.by_role("list", "Messages").await?;
    let strong = list.find(By::Css("li .text strong")).await?;
    anyhow::ensure!(strong.text().await? == "bold", "bold is <strong>");
    let em = list.find(By::Css("li .text em")).await?;
    anyhow::ensure!(em.text().await? == "soft", "italic is <em>");
    // One link: the https one, shown as its target; the javascript: one is text.
    let links = list.find_all(By::Css("li .text a")).await?;
    anyhow::ensure!(links.len() == 1, "{} links", links.len());
    let link = b.by_role("link", "https://example.org/x").await?;
    anyhow::ensure!(
        link.attr("href").await?.as_deref() == Some("https://example.org/x")
            && link.attr("rel").await?.as_deref() == Some("noopener noreferrer")
            && link.attr("target").await?.as_deref() == Some("_blank"),
        "link attributes"
    );

    // Bob reacts from the picker; Alice sees it, and Bob's second pick takes it back.
    b.click("button", "Add reaction").await?;
    let dialog = b.by_role("dialog", "Emoji").await?;
    let search = b.by_role("searchbox", "Search emoji").await?;
    search.send_keys("heart").await?;
    pair.bob
        .screenshot(&pair.env, "composer-emoji-picker.png")
        .await?;
    dialog
        .find(By::Css("button[aria-label='red heart']"))
        .await?
        .click()
        .await?;
    a.by_role("button", "❤️ 1, react").await?;
    b.by_role("button", "❤️ 1, react").await?;
    pair.alice
        .screenshot(&pair.env, "composer-markdown-alice.png")
        .await?;
    b.click("button", "Add reaction").await?;
    b.by_role("searchbox", "Search emoji")
        .await?
        .send_keys("red heart")
        .await?;
    b.by_role("searchbox", "Search emoji")
        .await?
        .send_keys(Key::Enter)
        .await?;
    eventually("the reaction taken back at Alice's", || async {
        Ok((!a.has_role("button", "❤️ 1, react").await?).then_some(()))
    })
    .await?;
    pair.alice.assert_no_console_errors().await?;
    pair.bob.assert_no_console_errors().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_notifies_in_a_muted_room() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = muted_mention(&pair).await;
    pair.finish("composer-mention", outcome).await
}

async fn muted_mention(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let (a, b) = pair.meet("").await?;
    let (alice_name, bob_name) = (a.display_name().await?, b.display_name().await?);
    turn_on_notifications(bob, &b).await?;
    b.click("button", "Mute").await?;
    b.by_role("button", "Unmute").await?;
    spy_on_notifications(bob).await?;

    // Bob looks at another tab: Confab is hidden, and the room muted.
    let confab = bob.driver().window().await?;
    let other = bob.driver().new_tab().await?;
    bob.driver().switch_to_window(other).await?;
    a.send("nothing for Bob").await?;
    // Alice picks Bob from the autocomplete with real keys.
    let field = a.by_role("textbox", "Message").await?;
    field.send_keys(format!("@{}", &bob_name[..3])).await?;
    let option = a.by_role("option", &bob_name).await?;
    anyhow::ensure!(
        option.attr("aria-selected").await?.as_deref() == Some("true"),
        "the only member offered is active"
    );
    pair.alice
        .screenshot(&pair.env, "composer-mention-offer.png")
        .await?;
    field.send_keys(Key::Enter).await?;
    field.send_keys("look at this").await?;
    field.send_keys(Key::Enter).await?;
    let mention = format!("@{bob_name} look at this");
    a.wait_for_messages(&["nothing for Bob", &mention]).await?;

    // Both arrive while hidden (the background tab's title counts them); then, back in
    // Confab, one notification was made: the mention's.
    eventually("Bob's hidden tab to count two unread", || async {
        let targets = bob.cdp("Target.getTargets", serde_json::json!({})).await?;
        let counted = targets["targetInfos"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["type"] == "page" && t["title"] == "(2) Confab");
        Ok(counted.then_some(()))
    })
    .await?;
    bob.driver().close_window().await?;
    bob.driver().switch_to_window(confab).await?;
    let notified = wait_for_notifications(bob).await?;
    anyhow::ensure!(
        notified == serde_json::json!([[alice_name, mention]]),
        "only the mention notifies in a muted room: {notified}"
    );
    // The mute is kept: after a reload Bob's room still offers "Unmute".
    b.wait_for_messages(&["nothing for Bob", &mention]).await?;
    bob.driver().refresh().await?;
    let b = bob.open_page_current().await?;
    b.by_role("button", "Unmute").await?;
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}
