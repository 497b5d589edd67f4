//! Joining a governed room that needs approval, and leaving one, in real browsers (issue 17,
//! items 4 and 5): Alice opens a new room (she owns it), Bob joins by her link and she
//! makes him an admin. Alice sets "Who can join" to "An admin approves each newcomer":
//! both read the line that says so. Erin (on a phone) opens the link: she reads "Waiting
//! for an admin to let you in" with her composer disabled, and nothing said in the room.
//! Bob sees "Erin wants to join" in the "Join requests" region and approves: Erin reads the
//! chat and writes. Then Erin leaves ("Leave room", confirmed with "Leave"): Alice and Bob
//! read "Erin left", and Erin's rooms list no longer has the room. Screenshots:
//! target/e2e/governed_join/join-*.png.

use anyhow::Context as _;
use thirtyfour::prelude::*;

use confab_e2e::{Browser, ChatPage, Chromedriver, Env, Seat, Server, eventually, with_browsers};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_waits_for_approval_and_a_member_leaves() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let seats = [
        Seat::desktop("join", "alice"),
        Seat::desktop("join", "bob"),
        Seat::phone("join", "erin"),
    ];
    with_browsers(&env, &chromedriver, seats, async |[alice, bob, erin]| {
        scenario(&env, &server, alice, bob, erin).await
    })
    .await
}

async fn scenario(
    env: &Env,
    server: &Server,
    alice: &Browser,
    bob: &Browser,
    erin: &Browser,
) -> anyhow::Result<()> {
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let link = a.invite_link().await?;
    let b = bob.open_chat(&link).await?;
    for page in [&a, &b] {
        page.wait_online(1).await?;
    }
    let bob_name = b.display_name().await?;
    a.click_in_row("Members", &bob_name, "Make admin").await?;
    b.by_role("button", "Reset invite link")
        .await
        .context("Bob an admin")?;

    // Alice turns on approval; everyone reads it.
    choose(&a, "Who can join", "An admin approves each newcomer").await?;
    for page in [&a, &b] {
        line_holds(page, "turned on approval for newcomers").await?;
    }
    a.send("before Erin came").await?;
    said(&b, &["before Erin came"]).await?;

    // Erin asks to join: she waits, and reads nothing.
    let e = erin.open_chat(&link).await?;
    eventually("Erin told she waits", || async {
        Ok(status_text(erin)
            .await?
            .contains("Waiting for an admin to let you in")
            .then_some(()))
    })
    .await?;
    let field = e.by_role("textbox", "Message").await?;
    anyhow::ensure!(
        field.prop("disabled").await?.as_deref() == Some("true"),
        "Erin's composer is enabled before she is let in"
    );
    // Erin's phone shows her name behind "Menu".
    e.click("button", "Menu").await?;
    let erin_name = e.display_name().await?;
    e.click("button", "Close").await?;
    let request = format!("{erin_name} wants to join");
    // Bob, an admin, sees her request; so does Alice.
    for page in [&b, &a] {
        eventually("Erin's join request", || async {
            let region = page.by_role("region", "Join requests").await?;
            Ok(region.text().await?.contains(&request).then_some(()))
        })
        .await
        .with_context(|| format!("in {}'s browser", page.browser().name))?;
    }
    erin.screenshot(env, "join-phone-erin-waiting.png").await?;
    bob.screenshot(env, "join-bob-request.png").await?;
    let shown = e.messages().await?;
    anyhow::ensure!(
        !shown.iter().any(|m| m.contains("before Erin came")),
        "Erin reads the room before she is let in: {shown:?}"
    );

    // Bob approves: Erin reads the chat and writes; the request is gone.
    click_in_region(&b, "Join requests", &request, "Approve").await?;
    said(&e, &["before Erin came"]).await?;
    eventually("Erin's composer enabled", || async {
        let field = e.by_role("textbox", "Message").await?;
        Ok((field.prop("disabled").await?.as_deref() != Some("true")).then_some(()))
    })
    .await?;
    e.send("Erin, let in").await?;
    said(&a, &["before Erin came", "Erin, let in"]).await?;
    anyhow::ensure!(
        !b.has_role("region", "Join requests").await?,
        "the request is still shown after Bob approved it"
    );
    erin.screenshot(env, "join-phone-erin-in.png").await?;

    // Erin leaves, after confirming: the others are told, and her browser forgets the room.
    e.click("button", "Menu").await?;
    let room_href = current_room_href(&e).await?;
    e.click("button", "Leave room").await?;
    erin.screenshot(env, "join-phone-erin-leave.png").await?;
    e.click("button", "Leave").await?;
    for page in [&a, &b] {
        line_holds(page, &format!("{erin_name} left")).await?;
    }
    eventually("the room gone from Erin's rooms list", || async {
        // The page opens another room: its rooms list is behind "Menu" again.
        let menu = e.by_role("button", "Menu").await?;
        if menu.attr("aria-expanded").await?.as_deref() == Some("false") {
            menu.click().await?;
        }
        let Ok(href) = current_room_href(&e).await else {
            return Ok(None);
        };
        let hrefs = room_hrefs(&e).await?;
        Ok((href != room_href && !hrefs.contains(&room_href)).then_some(()))
    })
    .await?;
    erin.screenshot(env, "join-phone-erin-left.png").await?;
    alice.screenshot(env, "join-alice-erin-left.png").await?;
    for browser in [alice, bob] {
        browser.assert_no_console_errors().await?;
    }
    Ok(())
}

/// The link of the room on screen in the "Rooms" list.
async fn current_room_href(page: &ChatPage<'_>) -> anyhow::Result<String> {
    let list = page.by_role("list", "Rooms").await?;
    let link = list.find(By::Css("a[aria-current=page]")).await?;
    link.attr("href")
        .await?
        .context("the current room's link has no href")
}

/// The links of every room in the "Rooms" list.
async fn room_hrefs(page: &ChatPage<'_>) -> anyhow::Result<Vec<String>> {
    let list = page.by_role("list", "Rooms").await?;
    let mut hrefs = Vec::new();
    for link in list.find_all(By::Css("a[href]")).await? {
        hrefs.extend(link.attr("href").await?);
    }
    Ok(hrefs)
}

/// Chooses `option` in the select named `name` (the room's settings).
async fn choose(page: &ChatPage<'_>, name: &str, option: &str) -> anyhow::Result<()> {
    let select = page.by_role("combobox", name).await?;
    for candidate in select.find_all(By::Tag("option")).await? {
        if candidate.text().await? == option {
            candidate.click().await?;
            return Ok(());
        }
    }
    anyhow::bail!("no option {option:?} in {name:?}")
}

/// Clicks `button` on the item of the region named `region` whose text holds `row`.
async fn click_in_region(
    page: &ChatPage<'_>,
    region: &str,
    row: &str,
    button: &str,
) -> anyhow::Result<()> {
    eventually(&format!("{button:?} on {row:?}"), || async move {
        let section = page.by_role("region", region).await?;
        for item in section.find_all(By::Tag("li")).await? {
            if !item.text().await.unwrap_or_default().contains(row) {
                continue;
            }
            for candidate in item.find_all(By::Tag("button")).await? {
                if candidate.text().await? == button {
                    return Ok(candidate.click().await.ok());
                }
            }
        }
        Ok(None)
    })
    .await
}

/// Waits until a governance line of `page` holds `text`.
async fn line_holds(page: &ChatPage<'_>, text: &str) -> anyhow::Result<()> {
    eventually(&format!("a line {text:?}"), || async {
        let lines = page.room_lines().await?;
        Ok(lines.iter().any(|line| line.contains(text)).then_some(()))
    })
    .await
    .with_context(|| format!("in {}'s browser", page.browser().name))
}

/// The text of every status on the page, joined.
async fn status_text(browser: &Browser) -> anyhow::Result<String> {
    let mut text = String::new();
    for status in browser.driver().find_all(By::Css("[role=status]")).await? {
        text.push_str(&status.text().await.unwrap_or_default());
        text.push('\n');
    }
    Ok(text)
}

/// Waits until `page` shows exactly `expected` said, in order.
async fn said(page: &ChatPage<'_>, expected: &[&str]) -> anyhow::Result<()> {
    page.wait_for_messages(expected).await.map(|_| ())
}
