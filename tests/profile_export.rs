//! Moving to another browser: Alice exports her profile as one file encrypted with a
//! passphrase (a very weak one is refused first, saying why; the file is protected with
//! the export's Argon2id costs, 64 MiB and 3 passes); a fresh browser, which says what
//! importing means, imports it (a wrong passphrase is refused first) and is Alice, with
//! her room and its history.

use std::time::Duration;

use confab_e2e::{Pair, eventually};

const PASSPHRASE: &str = "moving day";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_moves_to_another_browser() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("export", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let home = format!("{}/", pair.server.url);
    let a = pair.alice.open_chat(&home).await?;
    let invite = a.invite_link().await?;
    let fingerprint = a.own_fingerprint().await?;
    let b = pair.bob.open_chat(&invite).await?;
    a.wait_for_member("Bob online", |m| m.is_online()).await?;
    b.send("see you on the other side").await?;
    a.wait_for_messages(&["see you on the other side"]).await?;

    // Export, encrypted with a passphrase typed in "This device"; a very weak one first.
    let field = a.by_role("textbox", "Passphrase").await?;
    field.send_keys("password1").await?;
    a.by_role("button", "Export profile").await?.click().await?;
    eventually("the weak passphrase refused with the reason", || async {
        let text = a.by_role("region", "Conversation").await?.text().await?;
        Ok(text
            .contains("Could not export the profile: a passphrase needs at least 10 characters")
            .then_some(()))
    })
    .await?;
    pair.alice
        .screenshot(&pair.env, "export-weak-passphrase.png")
        .await?;
    field.clear().await?;
    field.send_keys(PASSPHRASE).await?;
    a.by_role("button", "Export profile").await?.click().await?;
    let file = pair.alice.downloads().join("confab-profile.confab");
    eventually("the exported file", || async {
        Ok(std::fs::metadata(&file)
            .ok()
            .filter(|m| m.len() > 100)
            .map(|_| ()))
    })
    .await?;
    let bytes = std::fs::read(&file)?;
    // version, "confab-profile", then Argon2id's m (KiB), t and p as u32be.
    let cost = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    anyhow::ensure!(
        (cost(15), cost(19), cost(23)) == (Some(65_536), Some(3), Some(1)),
        "the export's Argon2id costs: {:?}",
        (cost(15), cost(19), cost(23))
    );
    anyhow::ensure!(
        !bytes.windows(b"see you".len()).any(|w| w == b"see you"),
        "the export holds a message in the clear"
    );
    // Alice leaves this browser.
    pair.alice.driver().goto("about:blank").await?;

    // A fresh browser (Bob's machine stands in for Alice's new one): wrong passphrase
    // first, then the right one.
    pair.bob.driver().goto("about:blank").await?;
    let other = confab_e2e::Browser::open(&pair.chromedriver, &pair.env, "alice-new").await?;
    let outcome = async {
        let n = other.open_chat(&home).await?;
        anyhow::ensure!(n.own_fingerprint().await? != fingerprint, "not fresh");
        let page = other
            .driver()
            .execute("return document.body.innerText;", Vec::new())
            .await?;
        let page = page.json().as_str().unwrap_or_default().to_owned();
        anyhow::ensure!(
            page.contains("Importing makes this browser your device for that profile")
                && page.contains("Stop using the profile in the browser it came from"),
            "the import control does not say what importing means"
        );
        n.choose_file(&file).await?;
        let field = n.by_role("textbox", "Passphrase").await?;
        field.send_keys("wrong").await?;
        n.by_role("button", "Import profile").await?.click().await?;
        eventually("the wrong passphrase refused", || async {
            let text = n.by_role("region", "Conversation").await?.text().await?;
            Ok(text.contains("wrong passphrase").then_some(()))
        })
        .await?;
        field.clear().await?;
        field.send_keys(PASSPHRASE).await?;
        n.by_role("button", "Import profile").await?.click().await?;
        // The page reloads as Alice.
        let n = eventually("Alice's identity in the new browser", || async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let page = other.open_page_current().await?;
            Ok((page.own_fingerprint().await? == fingerprint).then_some(page))
        })
        .await?;
        anyhow::ensure!(n.invite_link().await? == invite, "Alice's room is back");
        n.wait_for_messages(&["see you on the other side"]).await?;
        other
            .screenshot(&pair.env, "export-new-browser.png")
            .await?;
        other.assert_no_console_errors().await
    }
    .await;
    other.quit().await.ok();
    outcome
}
