//! Files as the tests see them: a file of known content to offer, the progress a
//! receiver shows, and the saved download checked byte for byte (by hash).

use std::path::Path;
use std::time::Duration;

use confab_core::transfer::FileDigest;

use crate::{ChatPage, eventually};

/// Writes `len` pseudo-random bytes (xorshift, fixed seed) to `path`; returns their BLAKE3
/// hash as the app computes it.
pub fn random_file(path: &Path, len: usize) -> anyhow::Result<[u8; 32]> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut bytes = vec![0u8; len];
    for chunk in bytes.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let word = x.to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    std::fs::write(path, &bytes)?;
    Ok(blake3(&bytes))
}

/// The BLAKE3 hash of `bytes`, as the app computes it for a file.
pub fn blake3(bytes: &[u8]) -> [u8; 32] {
    let mut digest = FileDigest::new();
    digest.update(bytes);
    digest.finish()
}

/// Waits until the progress bar `label` shows at least `percent`; returns what it shows.
pub async fn wait_progress(
    page: &ChatPage<'_>,
    label: &str,
    percent: u64,
    within: Duration,
) -> anyhow::Result<u64> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(shown) = page.progress(label).await?
            && shown >= percent
        {
            return Ok(shown);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{label} never reached {percent}%"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `name` is received whole ("Save <name>" is offered).
pub async fn wait_received(
    page: &ChatPage<'_>,
    name: &str,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    while !page.has_role("button", &format!("Save {name}")).await? {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{name} did not arrive (progress {:?})",
            page.progress(&format!("Receiving {name}")).await?
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// Clicks "Save <name>" and checks the downloaded file: `len` bytes hashing to `hash`.
pub async fn save_and_compare(
    page: &ChatPage<'_>,
    name: &str,
    len: usize,
    hash: [u8; 32],
) -> anyhow::Result<()> {
    page.click("button", &format!("Save {name}")).await?;
    let saved = page.browser().downloads().join(name);
    let bytes = eventually("the saved file", || {
        let saved = saved.clone();
        async move { Ok(std::fs::read(&saved).ok().filter(|b| b.len() == len)) }
    })
    .await?;
    anyhow::ensure!(
        blake3(&bytes) == hash,
        "the saved {name} differs from the sent one"
    );
    Ok(())
}
