//! The offline mailbox: Alice writes while Bob is away and then closes her tab too; Bob
//! opens the app again with nobody online and reads everything from the server's mailbox,
//! in order, from Alice.

use std::time::Duration;

use confab_e2e::{Pair, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_written_while_away_arrive_from_the_mailbox() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("mailbox", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let (a, b) = pair.meet("").await?;
    let invite = a.invite_link().await?;
    let alice_name = a.display_name().await?;
    a.send("before you go").await?;
    b.wait_for_messages(&["before you go"]).await?;

    // Bob closes his tab; Alice, alone, writes three messages.
    bob.driver().goto("about:blank").await?;
    a.wait_for_member("Bob gone", |m| m.text.contains("left"))
        .await?;
    let away = [
        "first, while you were away",
        "second, while you were away",
        "third, while you were away",
    ];
    for text in away {
        a.send(text).await?;
    }
    let all = ["before you go", away[0], away[1], away[2]];
    a.wait_for_messages(&all).await?;
    alice
        .screenshot(&pair.env, "mailbox-alice-alone.png")
        .await?;
    // The deposits left with each send; give the socket a moment to flush them before the
    // tab goes (nothing on screen says "stored").
    tokio::time::sleep(Duration::from_millis(500)).await;
    alice.assert_no_console_errors().await?;

    // Alice closes her tab too: nobody is online (give the server a moment to see her
    // socket close, so Bob is not even offered a link to her).
    alice.driver().goto("about:blank").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Bob opens the app again (no link: his last room), alone, and reads the mailbox.
    let b = bob.open_chat(&format!("{}/", pair.server.url)).await?;
    anyhow::ensure!(
        b.invite_link().await? == invite,
        "Bob is not back in the same room"
    );
    let items = b.wait_for_messages(&all).await?;
    for (item, text) in items.iter().zip(all) {
        anyhow::ensure!(
            item.contains(&alice_name),
            "{text:?} is not shown as Alice's: {item:?}"
        );
    }
    // Nobody was linked to Bob (online, or online and then gone): the mailbox it was.
    let members = b.members().await?;
    anyhow::ensure!(
        !members
            .iter()
            .any(|m| m.is_online() || m.text.contains("left")),
        "Bob met someone: {members:?}"
    );
    // And they stay in order and stay once (a repeated fetch changes nothing).
    tokio::time::sleep(Duration::from_secs(1)).await;
    eventually("the same four messages", || async {
        Ok((b.messages().await? == all).then_some(()))
    })
    .await?;
    bob.screenshot(&pair.env, "mailbox-bob-back.png").await?;
    bob.assert_no_console_errors().await
}
