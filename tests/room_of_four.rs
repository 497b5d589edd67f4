//! Four browsers in one room: everyone sees everyone online and the same messages in the
//! same order; typing shows in the others' browsers and stops by itself; the author sees
//! who read a message; one member closes the tab, the others go on, and when they come
//! back (same browser, same identity) they catch up with nothing missing.

use confab_e2e::{Browser, ChatPage, Chromedriver, Env, Server, eventually, open_room};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_browsers_share_one_room() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let mut browsers = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        browsers.push(Browser::open(&chromedriver, &env, name).await?);
    }
    let outcome = scenario(&env, &server, &browsers).await;
    for browser in browsers {
        browser
            .screenshot(&env, &format!("four-{}.png", browser.name))
            .await
            .ok();
        browser.quit().await.ok();
    }
    outcome
}

async fn scenario(env: &Env, server: &Server, browsers: &[Browser]) -> anyhow::Result<()> {
    let pages = open_room(server, browsers).await?;
    let invite = pages[0].invite_link().await?;

    // Everyone writes once, in turn; all show the same four in the same order.
    let mut script = Vec::new();
    for (idx, page) in pages.iter().enumerate() {
        let text = format!("hello from {}", browsers[idx].name);
        page.send(&text).await?;
        script.push(text);
        for other in &pages {
            wait_contains(other, &script).await?;
        }
    }
    let reference = pages[0].messages().await?;
    anyhow::ensure!(reference.len() == 4, "four messages: {reference:?}");
    for page in &pages[1..] {
        eventually("the same order everywhere", || async {
            Ok((page.messages().await? == reference).then_some(()))
        })
        .await?;
    }

    // Carol types: the others see it; when she clears the field it goes away.
    pages[2].type_draft("thinking").await?;
    for idx in [0, 1, 3] {
        eventually("Carol shown typing", || async {
            let line = pages[idx].typing_line().await?;
            Ok(line.contains("is typing").then_some(()))
        })
        .await?;
    }
    browsers[0].screenshot(env, "four-typing-alice.png").await?;
    pages[2].clear_draft().await?;
    eventually("the typing line to clear", || async {
        Ok(pages[0].typing_line().await?.is_empty().then_some(()))
    })
    .await?;

    // Alice's message was read by the three others (their pages are visible).
    eventually("Alice's first message read by 3", || async {
        let items = pages[0].message_items().await?;
        Ok(items
            .first()
            .is_some_and(|item| item.contains("Read by 3"))
            .then_some(()))
    })
    .await?;

    // Dave closes the tab (leaves the page); the others see him gone and go on.
    browsers[3].driver().goto("about:blank").await?;
    eventually("Dave shown as left", || async {
        Ok(pages[0]
            .members()
            .await?
            .iter()
            .any(|m| m.text.contains("left"))
            .then_some(()))
    })
    .await?;
    for (idx, text) in [(0, "while Dave was away"), (1, "he will see this")] {
        pages[idx].send(text).await?;
        script.push(text.to_owned());
    }
    for page in &pages[..3] {
        wait_contains(page, &script).await?;
    }

    // Dave comes back (the same browser, so the same identity, no link needed): he
    // catches up with everything, in order.
    let dave_fingerprint_before = pages[0]
        .members()
        .await?
        .iter()
        .find(|m| m.text.contains("left"))
        .map(|m| m.text.clone())
        .unwrap_or_default();
    let page = browsers[3].open_chat(&format!("{}/", server.url)).await?;
    anyhow::ensure!(
        page.invite_link().await? == invite,
        "Dave is back in the room"
    );
    let fingerprint = page.own_fingerprint().await?;
    anyhow::ensure!(
        dave_fingerprint_before.contains(&fingerprint),
        "Dave came back as someone else: {fingerprint} vs {dave_fingerprint_before:?}"
    );
    page.wait_online(3).await?;
    let everyone = pages[0].messages().await?;
    eventually("Dave caught up", || async {
        Ok((page.messages().await? == everyone).then_some(()))
    })
    .await?;
    browsers[3].screenshot(env, "four-dave-back.png").await?;
    browsers[3].assert_no_console_errors().await?;
    for browser in &browsers[..3] {
        browser.assert_no_console_errors().await?;
    }
    Ok(())
}

async fn wait_contains(page: &ChatPage<'_>, texts: &[String]) -> anyhow::Result<()> {
    eventually(&format!("messages {texts:?}"), || async {
        let shown = page.messages().await?;
        Ok(texts.iter().all(|t| shown.contains(t)).then_some(()))
    })
    .await
}
