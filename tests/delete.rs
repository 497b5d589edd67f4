//! Delete means delete (issue 17, item 6): Alice deletes a message Bob received, and its
//! text leaves Bob's browser. Read as a user could: Bob exports his profile (the real
//! Export, with a passphrase) and the test opens the file natively with confab-core and
//! searches every record; an export before the delete finds the text, so the search can
//! fail. The page's raw IndexedDB values are searched too.

use std::path::{Path, PathBuf};

use confab_e2e::{ChatPage, Pair, eventually};

const PASSPHRASE: &str = "nothing left behind";
/// Unique enough to be found only where the message is.
const TEXT: &str = "the vault code is 7341-quartz-heron";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_message_leaves_the_other_browser() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("delete", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let (a, b) = pair.meet("").await?;
    a.send(TEXT).await?;
    b.wait_for_messages(&[TEXT]).await?;
    anyhow::ensure!(
        export_holds(&b, &pair.bob.downloads()).await?,
        "Bob's export before the delete does not hold the message: the search below proves nothing"
    );

    a.click("button", "Delete").await?;
    a.wait_for_messages(&["This message was deleted."]).await?;
    b.wait_for_messages(&["This message was deleted."]).await?;
    anyhow::ensure!(
        !export_holds(&b, &pair.bob.downloads()).await?,
        "Bob's export after the delete still holds the message's text"
    );
    for (page, who) in [(&b, "Bob"), (&a, "Alice")] {
        let raw = page.raw_indexeddb_values().await?;
        anyhow::ensure!(!raw.is_empty(), "{who}'s IndexedDB is empty");
        anyhow::ensure!(
            !raw.iter().any(|value| contains(value, TEXT.as_bytes())),
            "{who}'s raw IndexedDB holds the message's text"
        );
    }
    pair.bob.screenshot(&pair.env, "delete-bob.png").await?;
    pair.bob.assert_no_console_errors().await?;
    pair.alice.assert_no_console_errors().await
}

/// Exports the profile on `page` (typing the passphrase into "Passphrase" and pressing
/// "Export profile"), opens the downloaded file with confab-core and says whether any
/// record holds [`TEXT`]. The file is removed after reading, so the next export is found.
async fn export_holds(page: &ChatPage<'_>, downloads: &Path) -> anyhow::Result<bool> {
    let field = page.by_role("textbox", "Passphrase").await?;
    field.clear().await?;
    field.send_keys(PASSPHRASE).await?;
    page.click("button", "Export profile").await?;
    let file: PathBuf = downloads.join("confab-profile.confab");
    let bytes = eventually("the exported file", || async {
        // The download is written under another name and renamed when complete.
        Ok(std::fs::read(&file).ok().filter(|bytes| bytes.len() > 100))
    })
    .await?;
    std::fs::remove_file(&file)?;
    let records = confab_core::vault::import_profile(&bytes, PASSPHRASE)?;
    anyhow::ensure!(
        records.iter().any(|record| record.store == "events"),
        "the export holds no events"
    );
    Ok(records
        .iter()
        .any(|record| contains(&record.value, TEXT.as_bytes())))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
