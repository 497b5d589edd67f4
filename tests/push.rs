//! Web Push, the worker's side: a push delivered to Bob's real service worker while no
//! Confab page of his is open makes the worker fetch the room's mailbox itself and open
//! the message: the notification reads "Alice" (the room is titled with her name) and
//! her text, and clicking it opens that room with the message there. A muted room stays
//! silent until a message mentions Bob; a push for a room Bob's profile does not know, or
//! with a tag he never made, shows nothing.
//!
//! Bob turns notifications on, which gives his room a push tag (kept on the device for the
//! worker). The push service of headless Chromium is out of reach in the test's network
//! namespace, so the push comes over DevTools (`ServiceWorker.deliverPushMessage`, the
//! path a real push takes into the worker), carrying the tag as the server would. The
//! registration's DevTools id is not readable over chromedriver (it comes in events), so
//! the push goes to the first few ids; only the one registration there is receives it.
//! Headless Chromium shows no notification to click and DevTools cannot click one, so the
//! click is dispatched inside the worker as in `pwa.rs`
//! (`service_worker_notification_click_opens_the_room`).

use confab_e2e::shell::{ensure_one_message_notification, run_async, worker_notifications};
use confab_e2e::{Pair, address, eventually, in_room, in_service_worker, metric, secret_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_with_the_page_closed_notifies_and_the_click_opens_the_room() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    pair.finish("push", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let (a, b) = pair.meet("").await?;
    let room_link = address(bob).await?;
    let room_address = room_link
        .rsplit_once("#room-")
        .map(|(_, address)| address.to_owned())
        .ok_or_else(|| anyhow::anyhow!("Bob's page is not at a room's address: {room_link}"))?;
    eventually("the service worker to control Bob's page", || async {
        let controlled = bob
            .driver()
            .execute("return !!navigator.serviceWorker.controller;", Vec::new())
            .await?;
        Ok((controlled.json() == &serde_json::json!(true)).then_some(()))
    })
    .await?;
    // Bob's one-to-one room with Alice runs in the background: wait until it is connected
    // (both rooms have both members, and nobody joins for 2 s), so that its welcome has
    // come and gone before notifications are turned on.
    let port = pair.server.port();
    let mut members = 0;
    for _ in 0..30 {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let now = metric(port, "confab_room_members").await?;
        if now >= 4 && now == members {
            break;
        }
        members = now;
    }
    bob.cdp(
        "Browser.grantPermissions",
        serde_json::json!({ "permissions": ["notifications"] }),
    )
    .await?;
    b.click("button", "Turn on notifications").await?;
    // Every room of Bob's tab subscribes at once, the background one too (not at its
    // next welcome): each has its tag. (The subscription itself needs the browser's push
    // service, out of reach here; the tag is kept before it is asked.)
    eventually("both of Bob's rooms subscribing", || async {
        let rooms = run_async(
            bob,
            "caches.open('confab-push')
               .then((cache) => cache.keys())
               .then((keys) => done(keys.filter((k) => new URL(k.url).pathname.startsWith('/room/')).length), () => done(0))",
        )
        .await?;
        Ok((rooms.as_u64() >= Some(2)).then_some(()))
    })
    .await?;
    let tag = eventually("the room's push tag", || async {
        let tag = run_async(
            bob,
            &format!(
                "caches.open('confab-push')
                   .then((cache) => cache.match('/room/{room_address}'))
                   .then((kept) => (kept ? kept.text() : null))
                   .then(done, () => done(null))"
            ),
        )
        .await?;
        Ok(tag.as_str().map(str::to_owned))
    })
    .await?;
    anyhow::ensure!(
        tag.len() == 32 && tag.bytes().all(|b| b.is_ascii_hexdigit()),
        "tag {tag:?}"
    );
    let origin = pair.server.url.trim_end_matches('/').to_owned();

    let (alice_name, bob_name) = (a.display_name().await?, b.display_name().await?);

    // Bob closes Confab (the tab stays, blank: the WebDriver session and the DevTools
    // permission override, which ends with the tab's session, need it).
    bob.driver().goto("about:blank").await?;
    a.wait_for_member("Bob gone at Alice", |m| m.text.contains("left"))
        .await?;
    send_deposited(pair, &a, "while you were away").await?;

    open_worker_page(bob, &origin).await?;
    // First, pushes that must show nothing: a tag Bob never made, and one the worker maps
    // to a room his profile does not know (as after the room is forgotten).
    deliver_push(bob, &origin, &"00".repeat(16)).await?;
    let unknown_tag = "ff".repeat(16);
    run_async(
        bob,
        &format!(
            "caches.open('confab-push')
               .then((cache) => cache.put('/tag/{unknown_tag}', new Response('0123456789abcdef')))
               .then(() => done(true))"
        ),
    )
    .await?;
    deliver_push(bob, &origin, &unknown_tag).await?;
    let shown = serde_json::Value::from(wait_opened(bob, &origin, &tag).await?);
    println!("the worker's notifications: {shown}");
    // Give the pushes that must show nothing time to have shown something.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let shown = serde_json::Value::from(worker_notifications(bob).await?);
    // The plain /healthz page makes the browser ask for /favicon.ico (404): the only
    // error allowed, read now so the final check sees what came after.
    let healthz_errors = bob.console_errors().await?;
    anyhow::ensure!(
        healthz_errors
            .iter()
            .all(|error| error.contains("/favicon.ico")),
        "console errors while the app was closed: {healthz_errors:?}"
    );
    ensure_one_message_notification(
        &shown,
        &alice_name,
        "while you were away",
        &room_address,
        &room_link,
    )?;
    in_service_worker(
        bob,
        "self.registration.getNotifications().then((notifications) => {
           const click = new NotificationEvent('notificationclick', { notification: notifications[0] });
           click.waitUntil = (promise) => promise;
           self.dispatchEvent(click);
         });",
    )
    .await?;
    let b = in_room(bob, "Bob back in the room", |_| true).await?;
    anyhow::ensure!(
        address(bob).await? == room_link,
        "the click opened {}",
        address(bob).await?
    );
    b.wait_for_messages(&["while you were away"]).await?;
    pair.bob.screenshot(&pair.env, "push-opened.png").await?;
    let invite = b.invite_link().await?;
    let secret = secret_of(&invite)?;
    anyhow::ensure!(
        !shown.to_string().contains(secret),
        "a room secret in the notification"
    );
    let left = worker_notifications(bob).await?.len();
    anyhow::ensure!(left == 0, "notifications left after the click: {left}");

    // Bob mutes the room and closes Confab again: a push for a message in it shows
    // nothing, but one for a message that mentions him does.
    a.wait_for_member("Bob back at Alice", |m| m.is_online())
        .await?;
    b.click("button", "Mute").await?;
    eventually("the worker told of the mute", || async {
        let marked = run_async(
            bob,
            &format!(
                "caches.open('confab-push')
                   .then((cache) => cache.match('/muted/{room_address}'))
                   .then((kept) => done(!!kept), () => done(false))"
            ),
        )
        .await?;
        Ok((marked == serde_json::json!(true)).then_some(()))
    })
    .await?;
    open_worker_page(bob, &origin).await?;
    a.wait_for_member("Bob gone again at Alice", |m| m.text.contains("left"))
        .await?;
    send_deposited(pair, &a, "nothing for Bob").await?;
    deliver_push(bob, &origin, &tag).await?;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let shown_muted = worker_notifications(bob).await?;
    anyhow::ensure!(
        shown_muted.is_empty(),
        "a muted room's push showed {shown_muted:?}"
    );
    let mention = format!("look, @{bob_name} here");
    send_deposited(pair, &a, &mention).await?;
    let shown = serde_json::Value::from(wait_opened(bob, &origin, &tag).await?);
    anyhow::ensure!(
        shown.as_array().map(Vec::len) == Some(1)
            && shown[0]["title"] == alice_name.as_str()
            && shown[0]["body"] == mention.as_str(),
        "the mention's notification in the muted room: {shown}"
    );

    // Bob turns off "Show names and text in notifications": a push then reads "New
    // message", with neither name nor text.
    bob.driver().goto(&room_link).await?;
    let b = in_room(bob, "Bob back to turn previews off", |_| true).await?;
    b.wait_for_messages(&["while you were away", "nothing for Bob", mention.as_str()])
        .await?;
    a.wait_for_member("Bob back at Alice again", |m| m.is_online())
        .await?;
    let choice = b
        .by_role("checkbox", "Show names and text in notifications")
        .await?;
    anyhow::ensure!(
        choice.prop("checked").await?.as_deref() == Some("true"),
        "previews are on by default"
    );
    b.click("checkbox", "Show names and text in notifications")
        .await?;
    bob.driver()
        .execute(
            "arguments[0].scrollIntoView({block: 'center'});",
            vec![choice.to_json()?],
        )
        .await?;
    pair.bob
        .screenshot(&pair.env, "push-previews-off.png")
        .await?;
    eventually("the worker told previews are off", || async {
        let marked = run_async(
            bob,
            "caches.open('confab-push')
               .then((cache) => cache.match('/previews-off'))
               .then((kept) => done(!!kept), () => done(false))",
        )
        .await?;
        Ok((marked == serde_json::json!(true)).then_some(()))
    })
    .await?;
    open_worker_page(bob, &origin).await?;
    a.wait_for_member("Bob gone a third time at Alice", |m| {
        m.text.contains("left")
    })
    .await?;
    let private = format!("private, @{bob_name} only");
    send_deposited(pair, &a, &private).await?;
    // The mention's notification is still up: closed first, as the user would.
    run_async(
        bob,
        "navigator.serviceWorker.ready
           .then((r) => r.getNotifications())
           .then((ns) => { ns.forEach((n) => n.close()); done(ns.length); })",
    )
    .await?;
    let shown = wait_opened(bob, &origin, &tag).await?;
    let shown = serde_json::Value::from(shown);
    anyhow::ensure!(
        shown.as_array().map(Vec::len) == Some(1)
            && shown[0]["title"] == "New message"
            && shown[0]["body"] == ""
            && !shown.to_string().contains(&alice_name)
            && !shown.to_string().contains("private"),
        "with previews off: {shown}"
    );
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

/// Waits (up to a minute: the worker first loads the app's wasm, then fetches the mailbox)
/// until Bob's worker shows a notification; returns what it shows then. The push carrying
/// `tag` goes again every 5 s, as the server pushes again after a later deposit: a push
/// that came before the deposit was stored rightly shows nothing.
async fn wait_opened(
    bob: &confab_e2e::Browser,
    origin: &str,
    tag: &str,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let start = tokio::time::Instant::now();
    let mut pushed = start;
    deliver_push(bob, origin, tag).await?;
    loop {
        let shown = worker_notifications(bob).await?;
        if !shown.is_empty() {
            return Ok(shown);
        }
        anyhow::ensure!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "timed out waiting for the worker's notification"
        );
        if pushed.elapsed() >= std::time::Duration::from_secs(5) {
            deliver_push(bob, origin, tag).await?;
            pushed = tokio::time::Instant::now();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Alice sends `text` while Bob is away, and waits until the server has stored it in the
/// room's mailbox.
async fn send_deposited(
    pair: &Pair,
    a: &confab_e2e::ChatPage<'_>,
    text: &str,
) -> anyhow::Result<()> {
    let port = pair.server.port();
    let puts_before = metric(port, "confab_mailbox_puts_total").await?;
    a.send(text).await?;
    let mut puts = eventually("Alice's message deposited", || async {
        let puts = metric(port, "confab_mailbox_puts_total").await?;
        Ok((puts > puts_before).then_some(puts))
    })
    .await?;
    // Until no more deposits come for a second (Alice may deposit older events too).
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let now = metric(port, "confab_mailbox_puts_total").await?;
        if now == puts {
            return Ok(());
        }
        puts = now;
    }
}

/// Delivers a push carrying `data` to the origin's service worker over DevTools (the
/// domain enabled on the current page). Its registration id is not exposed to pages:
/// unknown ids are ignored, so the first few are tried and the one registration takes it.
/// Opens a page of the origin that is not the app (the worker leaves /healthz to the
/// network), from which the test reads the worker's notifications and delivers pushes.
/// DevTools answers ServiceWorker commands only once the domain is enabled, and its
/// permission overrides are the page's session's: granted again here.
async fn open_worker_page(bob: &confab_e2e::Browser, origin: &str) -> anyhow::Result<()> {
    bob.driver().goto(&format!("{origin}/healthz")).await?;
    bob.cdp("ServiceWorker.enable", serde_json::json!({}))
        .await?;
    bob.cdp(
        "Browser.grantPermissions",
        serde_json::json!({ "origin": origin, "permissions": ["notifications"] }),
    )
    .await?;
    Ok(())
}

async fn deliver_push(bob: &confab_e2e::Browser, origin: &str, data: &str) -> anyhow::Result<()> {
    for registration in 0..4 {
        bob.cdp(
            "ServiceWorker.deliverPushMessage",
            serde_json::json!({
                "origin": origin,
                "registrationId": registration.to_string(),
                "data": data,
            }),
        )
        .await?;
    }
    Ok(())
}
