//! Steps shared by the governed-room scenarios (`governed_*.rs`): ranks on the Members
//! list's rows and what the page announces.

use thirtyfour::prelude::*;

use crate::{Browser, ChatPage};

/// The text of `name`'s row in the Members list, once there is one.
pub async fn row_of(page: &ChatPage<'_>, name: &str) -> anyhow::Result<String> {
    let row = page
        .wait_for_member(&format!("{name}'s row"), |row| row.text.contains(name))
        .await?;
    Ok(row.text)
}

/// Waits until `name`'s row in the Members list shows `rank` after the name.
pub async fn row_says(page: &ChatPage<'_>, name: &str, rank: &str) -> anyhow::Result<()> {
    page.wait_for_member(&format!("{name} shown as {rank}"), |row| {
        row.text.contains(&format!("{name} {rank}"))
    })
    .await
    .map(|_| ())
}

/// The text of every alert on the page, joined.
pub async fn alert_text(browser: &Browser) -> anyhow::Result<String> {
    let mut text = String::new();
    for alert in browser.driver().find_all(By::Css("[role=alert]")).await? {
        text.push_str(&alert.text().await.unwrap_or_default());
        text.push('\n');
    }
    Ok(text)
}

/// Waits until one of the page's alerts says `words`.
pub async fn wait_alert(browser: &Browser, words: &str) -> anyhow::Result<()> {
    crate::eventually(&format!("an alert saying {words:?}"), || async {
        Ok(alert_text(browser).await?.contains(words).then_some(()))
    })
    .await
}

/// Waits until a line of the room (not a message) names everything in `words`.
pub async fn wait_line(page: &ChatPage<'_>, words: &[&str]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    crate::eventually(&format!("a line of the room naming {words:?}"), || async {
        let lines = page.room_lines().await?;
        Ok(lines
            .iter()
            .any(|line| words.iter().all(|w| line.contains(w)))
            .then_some(()))
    })
    .await
    .with_context(|| format!("in {}'s browser", page.browser().name))
}
