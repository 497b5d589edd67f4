//! Issue 14's adversarial test: three honest browsers (Alice, Bob, Carol) and Mallory, a
//! malicious member built on core and driven from the test, in one room. Mallory joins
//! over the relay as a verified member, posts one honest message, then attacks from inside
//! its sessions: forged signalling, a Lamport bomb, a flood of held events beyond the
//! caps, fake delivery and read receipts for Alice's chain (twice), and a fork (one event
//! at Alice, everywhere, then another with the same number at Bob). Meanwhile the honest
//! members keep chatting. Every honest browser ends with the same messages in the same
//! order: every honest message, Mallory's message from before its fork and nothing else
//! of Mallory's; nobody honest is stopped from posting; receipts name Mallory for nothing;
//! each forged signal was refused; and no console logged an error.

use std::time::{Duration, Instant};

use confab_core::client::HEAD_WAIT;
use confab_e2e::{
    Adversary, Browser, ChatPage, Chromedriver, Env, Member, Seat, Server, eventually, open_room,
    with_browsers,
};

const NAMES: [&str; 3] = ["alice", "bob", "carol"];
const PRE_FORK: &str = "Mallory, before the fork";
const FORK_ONE: &str = "Mallory's fork, one";
const FORK_OTHER: &str = "Mallory's fork, the other";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_member_cannot_break_the_room() -> anyhow::Result<()> {
    let started = Instant::now();
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let seats = NAMES.map(|name| Seat::desktop("adversary", name));
    let outcome = with_browsers(&env, &chromedriver, seats, async |browsers| {
        scenario(&server, browsers).await
    })
    .await;
    println!(
        "adversary scenario: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    outcome
}

async fn scenario(server: &Server, browsers: [&Browser; 3]) -> anyhow::Result<()> {
    let pages = open_room(server, browsers).await?;
    let mut said = Vec::new();
    say(&pages, 0, "hello from Alice", &mut said).await?;

    // Mallory joins over the relay and is verified by everyone.
    let invite = pages[0].invite_link().await?;
    let adversary = Adversary::join(&server.url, &invite, "Mallory").await?;
    for page in &pages {
        page.wait_for_member("Mallory online via relay", |m| {
            m.is_online() && m.text.contains("Mallory") && m.text.contains("relay")
        })
        .await?;
    }
    let members = eventually("Mallory to verify all three", || async {
        let members = adversary.with(|m| m.verified()).await?;
        Ok((members.len() == 3).then_some(members))
    })
    .await?;
    let mut honest = Vec::new();
    for page in &pages {
        let name = page.display_name().await?;
        let member = members
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| anyhow::anyhow!("Mallory does not know {name}: {members:?}"))?;
        honest.push(member.clone());
    }
    let (a, b, c) = (honest[0].peer, honest[1].peer, honest[2].peer);
    adversary.with(|m| m.post(PRE_FORK)).await??;
    wait_all_contain(&pages, &[PRE_FORK.to_owned()]).await?;
    say(&pages, 1, "Bob, before the attacks", &mut said).await?;

    // 1. Forged signalling to each of them: unsealed, garbage, sealed for another, replayed.
    adversary
        .with(move |m| -> anyhow::Result<()> {
            m.forge_signals(a, b)?;
            m.forge_signals(b, c)?;
            m.forge_signals(c, a)
        })
        .await??;
    say(&pages, 2, "Carol, after the forged signals", &mut said).await?;

    // 2. A Lamport bomb: everyone can still post, and order, after it.
    adversary.with(|m| m.lamport_bomb()).await??;
    for (idx, text) in [
        "Alice after the bomb",
        "Bob after the bomb",
        "Carol after the bomb",
    ]
    .into_iter()
    .enumerate()
    {
        say(&pages, idx, text, &mut said).await?;
    }

    // 3. Held events: 1,100 of 1 KB after a gap of 8, beyond the 1 MiB an author may hold.
    adversary.with(|m| m.flood_held(8, 1100, 1000)).await??;
    eventually("the flood to go out", || async {
        Ok((adversary.with(|m| m.n_paced()).await? == 0).then_some(()))
    })
    .await?;
    say(&pages, 1, "Bob after the flood", &mut said).await?;

    // 4. Fake receipts for Alice's chain: the first claim may hold her posts back for
    // HEAD_WAIT while she asks for the events claimed; after that she posts, and a second
    // claim holds nothing back.
    let alice_key = honest[0].key;
    adversary.with(move |m| m.fake_receipts(alice_key)).await?;
    tokio::time::sleep(HEAD_WAIT + Duration::from_secs(1)).await;
    say(&pages, 0, "Alice after the fake receipts", &mut said).await?;
    adversary.with(move |m| m.fake_receipts(alice_key)).await?;
    say(&pages, 0, "Alice again at once", &mut said).await?;

    // 5. A fork: one event at Alice, which all three accept and show; then another event
    // with the same number at Bob, who holds the first: proof of the fork, which must
    // reach everyone and remove both, but nothing from before it.
    let (members_now, other) = adversary
        .with(move |m| -> anyhow::Result<(Vec<Member>, Vec<u8>)> {
            Ok((m.verified(), m.fork(a, FORK_ONE, FORK_OTHER)?))
        })
        .await??;
    anyhow::ensure!(
        members_now.len() == 3,
        "the attacks cost Mallory its sessions before the fork: {members_now:?}"
    );
    wait_all_contain(&pages, &[FORK_ONE.to_owned()]).await?;
    adversary
        .with(move |m| {
            m.send_events(b, &[other]);
            // From here on Mallory receives nothing: no receipt of it can be true.
            m.go_deaf();
        })
        .await?;
    for page in &pages {
        eventually("the fork gone, what came before kept", || async {
            let shown = page.messages().await?;
            let forked = shown.iter().any(|t| t == FORK_ONE || t == FORK_OTHER);
            Ok((!forked && shown.iter().any(|t| t == PRE_FORK)).then_some(()))
        })
        .await?;
    }

    // The honest members go on.
    for (idx, text) in [
        "Alice after the fork",
        "Bob after the fork",
        "Carol after the fork",
    ]
    .into_iter()
    .enumerate()
    {
        say(&pages, idx, text, &mut said).await?;
    }
    check_same_history(&pages, &said).await?;
    check_receipts(&pages[0]).await?;
    for (page, browser) in pages.iter().zip(browsers) {
        anyhow::ensure!(
            !page.has_role("alert", "Posting stopped").await?,
            "{} was stopped from posting",
            browser.name
        );
        let text = page_text(browser).await?;
        anyhow::ensure!(
            !text.contains("Not sent"),
            "{} was refused a post: {text}",
            browser.name
        );
        check_console(browser).await?;
    }
    let server_errors = adversary.with(|m| m.server_errors.clone()).await?;
    anyhow::ensure!(
        server_errors.is_empty(),
        "the server refused some of Mallory's attacks: {server_errors:?}"
    );
    adversary.stop().await
}

/// `pages[idx]` posts `text`; every page shows it.
async fn say(
    pages: &[ChatPage<'_>],
    idx: usize,
    text: &str,
    said: &mut Vec<String>,
) -> anyhow::Result<()> {
    pages[idx].send(text).await?;
    said.push(text.to_owned());
    wait_all_contain(pages, said).await
}

async fn wait_all_contain(pages: &[ChatPage<'_>], texts: &[String]) -> anyhow::Result<()> {
    for page in pages {
        let waited = eventually(&format!("messages {texts:?}"), || async {
            let shown = page.messages().await?;
            Ok(texts.iter().all(|t| shown.contains(t)).then_some(()))
        })
        .await;
        if let Err(error) = waited {
            let browser = page.browser();
            let shown = page.messages().await.unwrap_or_default();
            let text = page_text(browser).await.unwrap_or_default();
            let console = browser.console_all().await.unwrap_or_default();
            return Err(error.context(format!(
                "in {}'s browser, which shows {shown:?}; page text {text:?}; console {console:#?}",
                browser.name
            )));
        }
    }
    Ok(())
}

/// Every page shows the same messages in the same order: each honest one once, Mallory's
/// from before its fork, and nothing else.
async fn check_same_history(pages: &[ChatPage<'_>], said: &[String]) -> anyhow::Result<()> {
    let reference = pages[0].messages().await?;
    let mut expected: Vec<&str> = said.iter().map(String::as_str).collect();
    expected.push(PRE_FORK);
    expected.sort_unstable();
    let mut shown: Vec<&str> = reference.iter().map(String::as_str).collect();
    shown.sort_unstable();
    anyhow::ensure!(
        shown == expected,
        "Alice shows {reference:?}, expected (in some order) {expected:?}"
    );
    for page in &pages[1..] {
        eventually("the same history in the same order everywhere", || async {
            Ok((page.messages().await? == reference).then_some(()))
        })
        .await?;
    }
    Ok(())
}

/// Mallory never read anything, and received nothing Alice wrote after it went deaf:
/// none of Alice's receipts may name it, whatever it claimed. Her last message is read by
/// Bob and Carol.
async fn check_receipts(alice: &ChatPage<'_>) -> anyhow::Result<()> {
    let titles = eventually("Alice's last message read by Bob and Carol", || async {
        let titles = receipt_titles(alice).await?;
        let last_read = titles.last().is_some_and(|t| {
            t.lines()
                .find(|line| line.starts_with("Read by:"))
                .is_some_and(|line| line.matches(", ").count() >= 1)
        });
        Ok(last_read.then_some(titles))
    })
    .await?;
    for title in &titles {
        let read = title
            .lines()
            .find(|line| line.starts_with("Read by:"))
            .unwrap_or_default();
        anyhow::ensure!(
            !read.contains("Mallory"),
            "Mallory shown as a reader: {title}"
        );
    }
    let last = titles.last().cloned().unwrap_or_default();
    anyhow::ensure!(
        !last.contains("Mallory"),
        "a message written after Mallory went deaf shows it: {last}"
    );
    Ok(())
}

/// The receipt tooltips ("Delivered to: …\nRead by: …") of our own messages, in order.
async fn receipt_titles(page: &ChatPage<'_>) -> anyhow::Result<Vec<String>> {
    let titles = page
        .browser()
        .driver()
        .execute(
            "return [...document.querySelectorAll('ul.messages > li .receipt')]
                 .map(p => p.getAttribute('title') || '');",
            Vec::new(),
        )
        .await?;
    Ok(serde_json::from_value(titles.json().clone())?)
}

async fn page_text(browser: &Browser) -> anyhow::Result<String> {
    let text = browser
        .driver()
        .execute("return document.body.innerText;", Vec::new())
        .await?;
    Ok(text.json().as_str().unwrap_or_default().to_owned())
}

/// No console error; each attack reached the browser and was refused by the mechanism
/// meant for it (each refusal is logged as a warning): every kind of forged signal, the
/// Lamport bomb (beyond the clock's horizon) and the flood (beyond the held caps).
async fn check_console(browser: &Browser) -> anyhow::Result<()> {
    let entries = browser.console_all().await?;
    let errors: Vec<&String> = entries
        .iter()
        .filter(|e| e.contains("\"SEVERE\""))
        .collect();
    anyhow::ensure!(
        errors.is_empty(),
        "{}'s console logged errors: {errors:#?}",
        browser.name
    );
    let n_dropped = entries
        .iter()
        .filter(|e| e.contains("dropped a frame from"))
        .count();
    println!(
        "{}: {} console entries, {n_dropped} dropped frames",
        browser.name,
        entries.len()
    );
    let bomb = format!("event lamport time {} is ahead of the clock", u64::MAX - 1);
    for refusal in [
        "refused signal: unsealed or malformed signal",
        "refused signal: signal failed authentication",
        "refused signal: replayed signal",
        &bomb,
        "no room to hold event",
    ] {
        anyhow::ensure!(
            entries.iter().any(|e| e.contains(refusal)),
            "{} did not log {refusal:?}: {entries:#?}",
            browser.name
        );
    }
    Ok(())
}
