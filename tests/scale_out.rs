//! Two `confab-server` nodes behind one address, sharing rooms through NATS, as an operator
//! scales out: Alice's browser is pinned to one node and Bob's to the other (a sticky
//! balancer), and they chat through the relay, so every frame crosses from node to node.
//! Then Alice's node is killed mid-chat: her page reconnects by itself, the balancer sends
//! it to the node still up, and nothing either of them wrote meanwhile is lost or shown
//! twice.

use confab_e2e::{
    Balancer, Browser, ChatPage, Chromedriver, Env, NODE_COOKIE, Nats, Server, eventually, metric,
};
use thirtyfour::Cookie;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_chat_loses_nothing() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let nats = Nats::start(&env).await?;
    let nodes = [
        Server::start_node(&env, &nats).await?,
        Server::start_node(&env, &nats).await?,
    ];
    let balancer = Balancer::start(nodes.iter().map(Server::port).collect()).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let alice = Browser::open(&chromedriver, &env, "alice").await?;
    let bob = Browser::open(&chromedriver, &env, "bob").await?;
    let [node_a, node_b] = nodes;
    let outcome = scenario(&balancer, node_a, &node_b, &alice, &bob).await;
    if outcome.is_err() {
        for browser in [&alice, &bob] {
            let console = browser.console_all().await.unwrap_or_default();
            eprintln!("{}'s console: {console:#?}", browser.name);
        }
    }
    alice.screenshot(&env, "scale-out-alice.png").await.ok();
    bob.screenshot(&env, "scale-out-bob.png").await.ok();
    alice.quit().await.ok();
    bob.quit().await.ok();
    outcome
}

async fn scenario(
    balancer: &Balancer,
    node_a: Server,
    node_b: &Server,
    alice: &Browser,
    bob: &Browser,
) -> anyhow::Result<()> {
    pin(alice, balancer, 0).await?;
    pin(bob, balancer, 1).await?;
    let a = alice
        .open_chat(&format!("{}/?relay=force", balancer.url))
        .await?;
    let invite = a.invite_link().await?;
    anyhow::ensure!(invite.starts_with(&balancer.url), "{invite}");
    let b = bob
        .open_chat(&invite.replacen("/#", "/?relay=force#", 1))
        .await?;
    a.wait_for_member("Bob online via relay", |m| m.is_online())
        .await?;
    b.wait_for_member("Alice online via relay", |m| m.is_online())
        .await?;
    // Each is on their own node, so everything relayed crosses between the nodes.
    for (node, who) in [(&node_a, "Alice"), (node_b, "Bob")] {
        let connections = metric(node.port(), "confab_connections").await?;
        anyhow::ensure!(connections >= 1, "{who}'s node has no connection");
    }
    anyhow::ensure!(
        metric(node_a.port(), "confab_remote_room_members").await? >= 1,
        "Alice's node does not see Bob's"
    );
    a.send("hello from node A").await?;
    b.wait_for_messages(&["hello from node A"]).await?;
    b.send("hello from node B").await?;
    let before = ["hello from node A", "hello from node B"];
    a.wait_for_messages(&before).await?;

    // Alice's node dies. Both write before her page has found the other node.
    let b_connections = metric(node_b.port(), "confab_connections").await?;
    node_a.kill().await?;
    a.send("written as my node died").await?;
    b.send("written while Alice moves").await?;
    eventually("Alice's page to reach the node still up", || async {
        let moved = metric(node_b.port(), "confab_connections").await? > b_connections;
        Ok((moved && a.server_status().await? == "Connected").then_some(()))
    })
    .await?;
    a.wait_for_member("Bob online again", |m| m.is_online())
        .await?;
    a.send("back, through node B").await?;
    let all = [
        "hello from node A",
        "hello from node B",
        "written as my node died",
        "written while Alice moves",
        "back, through node B",
    ];
    // One history: every message once, in the same order on both pages (the two written
    // apart are concurrent; the room order places them the same way for both).
    let at_alice = wait_for_all(&a, &all).await?;
    let at_bob = wait_for_all(&b, &all).await?;
    anyhow::ensure!(at_alice == at_bob, "{at_alice:?} != {at_bob:?}");
    // Alice's new node listed her old connection until it noticed the dead node (3.5 s of
    // silence); the attempt to reach it ends there, and the list settles on Bob alone.
    eventually(
        "Alice's list to stop connecting to her old self",
        || async {
            let text = alice.members_text().await?;
            Ok((!text.contains("Connecting to")).then_some(()))
        },
    )
    .await?;
    no_errors_but_the_lost_node(&a).await?;
    no_errors_but_the_lost_node(&b).await
}

/// Waits until the page shows exactly `expected`, each once, in whatever order; returns
/// them in the page's order.
async fn wait_for_all(page: &ChatPage<'_>, expected: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut want: Vec<&str> = expected.to_vec();
    want.sort_unstable();
    eventually(&format!("each of {want:?} once"), || async {
        let shown = page.messages().await?;
        let mut sorted: Vec<&str> = shown.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        Ok((sorted == want).then_some(shown.clone()))
    })
    .await
}

/// Pins a browser to node `n` behind the balancer, with the balancer's cookie.
async fn pin(browser: &Browser, balancer: &Balancer, n: usize) -> anyhow::Result<()> {
    browser
        .driver()
        .goto(&format!("{}/healthz", balancer.url))
        .await?;
    let mut cookie = Cookie::new(NODE_COOKIE, n.to_string());
    cookie.set_path("/");
    browser.driver().add_cookie(cookie).await?;
    Ok(())
}

/// The console may report the lost WebSocket and the icon `/healthz` (where the cookie
/// was set) does not have, nothing else.
async fn no_errors_but_the_lost_node(page: &ChatPage<'_>) -> anyhow::Result<()> {
    let errors: Vec<String> = page
        .browser()
        .console_errors()
        .await?
        .into_iter()
        .filter(|e| !e.contains("WebSocket") && !e.contains("/favicon.ico"))
        .collect();
    anyhow::ensure!(errors.is_empty(), "console errors: {errors:?}");
    Ok(())
}
