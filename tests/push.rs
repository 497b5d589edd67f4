//! Web Push, the worker's side: a push delivered to Bob's real service worker while no
//! Confab page of his is open shows a notification for the right room, and clicking it
//! opens that room with the message left there.
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

use confab_e2e::shell::{run_async, wait_worker_notifications, worker_notifications};
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

    // Bob closes Confab (the tab stays, blank: the WebDriver session and the DevTools
    // permission override, which ends with the tab's session, need it).
    bob.driver().goto("about:blank").await?;
    a.wait_for_member("Bob gone at Alice", |m| m.text.contains("left"))
        .await?;
    a.send("while you were away").await?;

    // A page of the origin that is not the app (the worker leaves /healthz to the
    // network) reads the worker's notifications. DevTools answers ServiceWorker commands
    // only once the domain is enabled.
    bob.driver().goto(&format!("{origin}/healthz")).await?;
    bob.cdp("ServiceWorker.enable", serde_json::json!({}))
        .await?;
    // DevTools permission overrides are the session's: set again on this page.
    bob.cdp(
        "Browser.grantPermissions",
        serde_json::json!({ "origin": origin, "permissions": ["notifications"] }),
    )
    .await?;
    deliver_push(bob, &origin, &tag).await?;
    let shown = serde_json::Value::from(wait_worker_notifications(bob).await?);
    println!("the worker's notifications: {shown}");
    // The plain /healthz page makes the browser ask for /favicon.ico (404): the only
    // error allowed, read now so the final check sees what came after.
    let healthz_errors = bob.console_errors().await?;
    anyhow::ensure!(
        healthz_errors
            .iter()
            .all(|error| error.contains("/favicon.ico")),
        "console errors while the app was closed: {healthz_errors:?}"
    );
    let shown_one = &shown[0];
    anyhow::ensure!(
        shown.as_array().map(Vec::len) == Some(1)
            && shown_one["title"] == "New message"
            && shown_one["tag"] == format!("confab-message-{room_address}").as_str()
            && shown_one["data"]["url"] == room_link.as_str(),
        "the worker's notification: {shown} (the room's link: {room_link})"
    );
    // A push with a tag this browser never made shows nothing.
    bob.cdp("ServiceWorker.enable", serde_json::json!({}))
        .await?;
    deliver_push(bob, &origin, &"00".repeat(16)).await?;

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
    let invite = b.invite_link().await?;
    let secret = secret_of(&invite)?;
    anyhow::ensure!(
        !shown.to_string().contains(secret),
        "a room secret in the notification"
    );
    let left = worker_notifications(bob).await?.len();
    anyhow::ensure!(left == 0, "notifications left after the click: {left}");

    // Bob mutes the room and closes Confab again: a push for it shows nothing (the worker
    // cannot read the message to see a mention, so a muted room stays silent).
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
    bob.driver().goto(&format!("{origin}/healthz")).await?;
    bob.cdp("ServiceWorker.enable", serde_json::json!({}))
        .await?;
    deliver_push(bob, &origin, &tag).await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let shown_muted = worker_notifications(bob).await?.len();
    anyhow::ensure!(
        shown_muted == 0,
        "a muted room's push showed {shown_muted} notification(s)"
    );
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

/// Delivers a push carrying `data` to the origin's service worker over DevTools (the
/// domain enabled on the current page). Its registration id is not exposed to pages:
/// unknown ids are ignored, so the first few are tried and the one registration takes it.
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
