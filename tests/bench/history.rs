//! History figures for `confab-browser-bench`, in two fresh browsers of their own:
//!
//! - **catch-up**: Bob leaves; Alice writes `n` messages; Bob opens the app again (his
//!   profile remembers the room). Measured: time from Bob's navigation start until he holds
//!   all of them, and the frame bytes Alice sent meanwhile against the bare size of the
//!   messages' text.
//! - **open**: Bob reloads; time from navigation start to history restored from IndexedDB
//!   and to the first frame painted with it.

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use confab_e2e::{Browser, Chromedriver, Env, Server};
use serde_json::{Value, json};

/// The text the app's `confab-bench-fill` hook posts, per message.
const FILL_TEXT_LEN: u64 = "bench message 00000: a typical sentence of chat.".len() as u64;

/// What was measured.
pub struct HistoryFigures {
    pub messages: u32,
    pub fill_ms: f64,
    pub catch_up_ms: f64,
    pub catch_up_bytes: u64,
    pub bare_bytes: u64,
    pub restored_ms: f64,
    pub rendered_ms: f64,
    pub rows_rendered: u64,
}

impl HistoryFigures {
    pub fn print(&self) {
        println!(
            "\nHistory ({} messages of {FILL_TEXT_LEN} bytes of text)",
            self.messages
        );
        println!(
            "  Alice writes them (sign, store):      {:>9.0} ms",
            self.fill_ms
        );
        println!(
            "  Bob catches up after an absence:      {:>9.0} ms from navigation start",
            self.catch_up_ms
        );
        println!(
            "  bytes Alice sent for it:              {:>9} ({:.2}x the bare text, {} B)",
            self.catch_up_bytes,
            self.catch_up_bytes as f64 / self.bare_bytes as f64,
            self.bare_bytes
        );
        println!(
            "  Bob reopens the room: restored at    {:>9.0} ms, first paint at {:.0} ms ({} rows)",
            self.restored_ms, self.rendered_ms, self.rows_rendered
        );
    }

    pub fn json(&self) -> Value {
        json!({
            "messages": self.messages,
            "text_bytes_per_message": FILL_TEXT_LEN,
            "fill_ms": self.fill_ms,
            "catch_up_ms": self.catch_up_ms,
            "catch_up_bytes": self.catch_up_bytes,
            "bare_bytes": self.bare_bytes,
            "catch_up_bytes_ratio": self.catch_up_bytes as f64 / self.bare_bytes as f64,
            "open_restored_ms": self.restored_ms,
            "open_first_paint_ms": self.rendered_ms,
            "open_rows_rendered": self.rows_rendered,
        })
    }
}

pub async fn measure(
    env: &Env,
    server: &Server,
    chromedriver: &Chromedriver,
    messages: u32,
) -> anyhow::Result<HistoryFigures> {
    let alice = Browser::open(chromedriver, env, "bench-history-alice").await?;
    let bob = Browser::open(chromedriver, env, "bench-history-bob").await?;
    let outcome = scenario(server, &alice, &bob, messages).await;
    alice.quit().await.ok();
    bob.quit().await.ok();
    outcome
}

async fn scenario(
    server: &Server,
    alice: &Browser,
    bob: &Browser,
    messages: u32,
) -> anyhow::Result<HistoryFigures> {
    let home = format!("{}/", server.url);
    let a = alice.open_chat(&home).await?;
    let invite = a.invite_link().await?;
    let b = bob.open_chat(&invite).await?;
    a.wait_for_member("Bob online", |m| m.is_online()).await?;
    b.wait_for_member("Alice online", |m| m.is_online()).await?;
    bob.driver().goto("about:blank").await?;
    a.wait_for_member("Bob gone", |m| m.text.contains("left"))
        .await?;

    let before = number(alice, "historyLen").await?.unwrap_or(0.0);
    let started = Instant::now();
    alice
        .driver()
        .execute(
            "window.dispatchEvent(new CustomEvent('confab-bench-fill', {detail: [arguments[0]]}));",
            vec![json!(messages)],
        )
        .await?;
    let target = before + f64::from(messages);
    wait_number(alice, "historyLen", target, Duration::from_secs(120)).await?;
    let fill_ms = started.elapsed().as_secs_f64() * 1000.0;
    let sent_before = number(alice, "bytesSent").await?.unwrap_or(0.0);

    bob.driver().goto(&home).await?;
    let catch_up_ms = wait_number(bob, "historyLen", target, Duration::from_secs(300))
        .await
        .context("Bob catching up")?;
    // Let the last frames and receipts settle before reading Alice's counter.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent_after = number(alice, "bytesSent").await?.unwrap_or(0.0);

    bob.driver().refresh().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (restored_ms, rendered_ms) = loop {
        let restored = number(bob, "restoredAt").await?;
        let rendered = number(bob, "renderedAt").await?;
        if let (Some(restored), Some(rendered)) = (restored, rendered) {
            break (restored, rendered);
        }
        ensure!(
            Instant::now() < deadline,
            "Bob's reopened room never rendered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let rows = bob
        .driver()
        .execute(
            "return document.querySelectorAll('ul[aria-label=Messages] > li').length;",
            Vec::new(),
        )
        .await?
        .json()
        .as_u64()
        .unwrap_or(0);
    Ok(HistoryFigures {
        messages,
        fill_ms,
        catch_up_ms,
        catch_up_bytes: (sent_after - sent_before).max(0.0) as u64,
        bare_bytes: u64::from(messages) * FILL_TEXT_LEN,
        restored_ms,
        rendered_ms,
        rows_rendered: rows,
    })
}

/// `window.confab[key]` if it is a number.
async fn number(browser: &Browser, key: &str) -> anyhow::Result<Option<f64>> {
    let ret = browser
        .driver()
        .execute(
            "const c = window.confab; return c && typeof c[arguments[0]] === 'number' ? c[arguments[0]] : null;",
            vec![json!(key)],
        )
        .await?;
    Ok(ret.json().as_f64())
}

/// Polls until `window.confab[key] >= target`; returns the page's `performance.now()` then.
async fn wait_number(
    browser: &Browser,
    key: &str,
    target: f64,
    patience: Duration,
) -> anyhow::Result<f64> {
    let deadline = Instant::now() + patience;
    loop {
        let ret = browser
            .driver()
            .execute(
                "const c = window.confab; const v = c && c[arguments[0]];\
                 return typeof v === 'number' && v >= arguments[1] ? performance.now() : null;",
                vec![json!(key), json!(target)],
            )
            .await?;
        if let Some(at) = ret.json().as_f64() {
            return Ok(at);
        }
        let now = number(browser, key).await?;
        ensure!(
            Instant::now() < deadline,
            "{key} reached {now:?}, not {target}, within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
