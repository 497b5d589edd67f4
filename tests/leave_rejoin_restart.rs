//! Faults a user meets: the server restarts mid-chat (the direct chat goes on and both
//! reconnect to the server), a peer closes its browser (shown as gone), and reopening the
//! invite link brings it back.

use std::time::Duration;

use confab_e2e::{Browser, Chromedriver, Env, Server, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_leave_and_rejoin() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let chromedriver = Chromedriver::start(&env).await?;
    let alice = Browser::open(&chromedriver, &env, "alice").await?;
    let outcome = scenario(&env, &chromedriver, &alice).await;
    alice.screenshot(&env, "rejoin-alice.png").await.ok();
    alice.quit().await.ok();
    outcome
}

async fn scenario(env: &Env, chromedriver: &Chromedriver, alice: &Browser) -> anyhow::Result<()> {
    let server = Server::start(env, false).await?;
    let port = server.port();
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;

    let bob = Browser::open(chromedriver, env, "bob").await?;
    {
        let b = bob.open_chat(&invite).await?;
        a.wait_for_member("Bob online", |m| m.is_online()).await?;
        b.wait_for_member("Alice online", |m| m.is_online()).await?;
        a.send("before restart").await?;
        b.wait_for_messages(&["before restart"]).await?;

        // The server dies. The direct chat does not.
        server.kill().await?;
        eventually("Alice to notice the server is gone", || async {
            Ok(a.server_status()
                .await?
                .contains("unreachable")
                .then_some(()))
        })
        .await?;
        b.send("while the server is down").await?;
        a.wait_for_messages(&["before restart", "while the server is down"])
            .await?;

        // It comes back where it was; both reconnect by themselves, still one Bob.
        let server = Server::start_on(env, port, false).await?;
        for page in [&a, &b] {
            eventually("reconnected to the server", || async {
                Ok((page.server_status().await? == "Connected").then_some(()))
            })
            .await?;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let members = a.members().await?;
        anyhow::ensure!(
            members.iter().filter(|m| m.is_online()).count() == 1,
            "one Bob after reconnect: {members:?}"
        );
        a.send("after restart").await?;
        b.wait_for_messages(&[
            "before restart",
            "while the server is down",
            "after restart",
        ])
        .await?;
        bob.screenshot(env, "rejoin-bob-before-leaving.png").await?;

        // Bob closes his browser: Alice sees him gone.
        let _ = b;
        bob.quit().await?;
        a.wait_for_member("Bob shown as gone", |m| m.text.contains("left"))
            .await?;

        // Bob opens the link again (a new browser): they reconnect and chat.
        let bob_again = Browser::open(chromedriver, env, "bob2").await?;
        let outcome = async {
            let b = bob_again.open_chat(&invite).await?;
            a.wait_for_member("Bob back online", |m| m.is_online())
                .await?;
            b.wait_for_member("Alice online for the new Bob", |m| m.is_online())
                .await?;
            b.send("I'm back").await?;
            eventually("Alice to get Bob's return message", || async {
                Ok(a.messages()
                    .await?
                    .last()
                    .is_some_and(|m| m.ends_with("I'm back"))
                    .then_some(()))
            })
            .await?;
            bob_again.screenshot(env, "rejoin-bob-again.png").await?;
            anyhow::Ok(())
        }
        .await;
        bob_again.quit().await.ok();
        drop(server);
        outcome
    }
}
