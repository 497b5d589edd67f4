//! Web Push end to end in Firefox, the whole path in real programs: the Confab server pushes
//! to a push service, the push service to Firefox's push client, Firefox decrypts and wakes
//! Confab's service worker, which shows the notification.
//!
//! The push service is the stand-in `confab_e2e::autopush` on loopback (Firefox speaks
//! Mozilla's autopush protocol to it over `dom.push.serverURL`; the Confab server POSTs to
//! the endpoints it hands out, `--dangerously-allow-any-push-endpoint`). It decrypts
//! nothing: Firefox does, and acks each push with what became of it.
//!
//! Bob (Firefox) turns notifications on in a room with Alice (Chromium) and closes Confab
//! (the tab stays, blank); Alice writes, which is deposited in the room's mailbox; the
//! server pushes; Bob's worker opens the message and shows it (Alice's name, her text),
//! read from a page of the origin that is not the app (`/healthz`, left to the network)
//! with `registration.getNotifications()`. Bob clicks it in Firefox's own alert window
//! (reached over WebDriver's chrome context; headless Firefox cannot reach the system's
//! notifications), which opens the room with the message. Then the push service expires
//! Bob's subscription (410): the server forgets it, and a later deposit is pushed no more.

use std::time::Duration;

use confab_e2e::autopush::PushService;
use confab_e2e::shell::{
    ensure_one_message_notification, wait_worker_active, wait_worker_notifications,
    worker_notifications,
};
use confab_e2e::{
    Browser, Chromedriver, Env, Seat, Server, address, eventually, in_room, metric, secret_of,
    with_browsers,
};

/// The server's `--push-interval` here: short, so the test need not wait 30 s between pushes.
const PUSH_INTERVAL: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_reaches_firefox_through_its_push_service() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let push_service = PushService::start().await?;
    let server = Server::start_with(
        &env,
        &[
            "--dangerously-allow-any-push-endpoint".to_owned(),
            "--push-interval".to_owned(),
            format!("{}ms", PUSH_INTERVAL.as_millis()),
        ],
    )
    .await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let seats = [
        Seat::desktop("firefox-push", "alice"),
        Seat::firefox_with_push("firefox-push", "bob", &push_service.ws_url),
    ];
    with_browsers(&env, &chromedriver, seats, async |[alice, bob]| {
        scenario(&server, &push_service, alice, bob).await
    })
    .await
}

async fn scenario(
    server: &Server,
    push_service: &PushService,
    alice: &Browser,
    bob: &Browser,
) -> anyhow::Result<()> {
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;
    let b = bob.open_chat(&invite).await?;
    a.wait_for_member("Bob online at Alice", |m| m.is_online())
        .await?;
    b.wait_for_member("Alice online at Bob", |m| m.is_online())
        .await?;
    wait_worker_active(bob).await?;
    let room_link = address(bob).await?;
    let room_address = room_link
        .rsplit_once("#room-")
        .map(|(_, address)| address.to_owned())
        .ok_or_else(|| anyhow::anyhow!("Bob's page is not at a room's address: {room_link}"))?;

    // Turning notifications on subscribes Firefox with its push service (one channel for
    // the browser) and registers that subscription with the server for each room.
    bob.set_permission("notifications", "granted").await?;
    b.click("button", "Turn on notifications").await?;
    let channel = eventually("Firefox registering with its push service", || async {
        let channels = push_service.channels();
        Ok((channels.len() == 1).then(|| channels[0].clone()))
    })
    .await?;
    let port = server.port();
    eventually("the server taking Bob's subscription", || async {
        Ok((metric(port, "confab_push_subscriptions").await? >= 1).then_some(()))
    })
    .await?;

    // Bob closes Confab; Alice writes while he is away (her message goes to the mailbox).
    bob.driver().goto("about:blank").await?;
    a.wait_for_member("Bob gone at Alice", |m| m.text.contains("left"))
        .await?;
    let alice_name = a.display_name().await?;
    a.send("while you were away").await?;

    let push = eventually("the server's push at the push service", || async {
        Ok(push_service
            .posts()
            .into_iter()
            .find(|post| post.channel == channel))
    })
    .await?;
    anyhow::ensure!(
        push.status == 201 && push.version.is_some(),
        "the push service refused the server's push: {push:?}"
    );
    // Firefox acks 100 once it decrypted the push and handed it to the worker (101: it
    // could not decrypt; a nack of 301 or more: the worker's push handler failed).
    let acks = eventually("Firefox's ack", || async {
        let acks = push_service.acks();
        Ok((!acks.is_empty()).then_some(acks))
    })
    .await?;
    anyhow::ensure!(
        acks.len() == 1 && Some(&acks[0].version) == push.version.as_ref() && acks[0].code == 100,
        "Firefox's answer to the push {push:?}: {acks:?}"
    );

    let origin = server.url.trim_end_matches('/').to_owned();
    bob.driver().goto(&format!("{origin}/healthz")).await?;
    let shown = serde_json::Value::from(wait_worker_notifications(bob).await?);
    println!("Firefox's worker shows: {shown}");
    ensure_one_message_notification(
        &shown,
        &alice_name,
        "while you were away",
        &room_address,
        &room_link,
    )?;
    anyhow::ensure!(
        !shown.to_string().contains(secret_of(&invite)?),
        "a room secret in the notification"
    );
    // Bob clicks it (Firefox's own alert window): the worker opens the room in the tab
    // that has the origin, with Alice's message, and the notification is gone.
    bob.click_firefox_notification(&alice_name).await?;
    let b = in_room(bob, "Bob back in the room", |_| true).await?;
    anyhow::ensure!(
        address(bob).await? == room_link,
        "the click opened {}",
        address(bob).await?
    );
    b.wait_for_messages(&["while you were away"]).await?;
    let left = worker_notifications(bob).await?.len();
    anyhow::ensure!(left == 0, "notifications left after the click: {left}");

    // The push service expires Bob's subscription: the next push is answered 410 and the
    // server forgets the subscription, so a later deposit reaches the push service no more.
    push_service.expire(&channel);
    bob.driver().goto("about:blank").await?;
    let gone_before = metric(port, "confab_push_subscriptions_gone_total").await?;
    a.send("are you there?").await?;
    eventually("the push answered 410", || async {
        Ok(push_service
            .posts()
            .iter()
            .any(|post| post.channel == channel && post.status == 410)
            .then_some(()))
    })
    .await?;
    eventually("the server forgetting the subscription", || async {
        Ok(
            (metric(port, "confab_push_subscriptions_gone_total").await? > gone_before)
                .then_some(()),
        )
    })
    .await?;
    let posts_before = push_service.posts().len();
    let puts_before = metric(port, "confab_mailbox_puts_total").await?;
    a.send("hello?").await?;
    eventually("Alice's deposit", || async {
        Ok((metric(port, "confab_mailbox_puts_total").await? > puts_before).then_some(()))
    })
    .await?;
    // Long enough for the push that a remembered subscription would get: the deposit is
    // pushed at once or at the end of the interval.
    tokio::time::sleep(PUSH_INTERVAL * 4).await;
    let posts = push_service.posts();
    anyhow::ensure!(
        posts.len() == posts_before,
        "a push after the subscription expired: {:?}",
        &posts[posts_before..]
    );
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}
