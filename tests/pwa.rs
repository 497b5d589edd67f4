//! The installable app: the web app manifest is served and parsed (name, icons that load),
//! Chromium finds the app installable and "Install Confab" appears, the invite shows as a
//! QR code, the service worker keeps the app shell, and with the server stopped the app still opens
//! from the worker and shows the history kept in IndexedDB, saying the server is
//! unreachable; when the server is back, the page reconnects by itself. Also: the unread
//! count and notifications of the room on screen and of rooms kept in the background (whose
//! counts outlive opening another room), a click on the service worker's notification, the
//! "Share invite" and "Install Confab" clicks reaching the browser's APIs, what the
//! member list says to someone who comes back to a room where nobody else is, and the app
//! shell: a new build the server offers runs only after "Update", the Security panel shows
//! the running build's fingerprint, and the boot script and wasm carry their integrity.

use std::time::Duration;

use confab_e2e::shell::{
    check_integrity, check_shell_cached, fingerprint, is_controlled, next_build, open_offline,
    reconnect, run_async, wait_worker_active, wait_worker_notifications, worker_notifications,
};
use confab_e2e::{
    Browser, ChatPage, Chromedriver, Env, Pair, Server, address, eventually, in_room,
    in_service_worker, secret_of, spy_on_notifications, turn_on_notifications,
    wait_for_notifications,
};

const MESSAGES: [&str; 2] = ["written before going offline", "and kept on this device"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_offline_from_the_service_worker_with_history() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let chromedriver = Chromedriver::start(&env).await?;
    let alice = Browser::open(&chromedriver, &env, "alice").await?;
    let outcome = scenario(&env, &alice).await;
    alice.screenshot(&env, "pwa-alice.png").await.ok();
    alice.quit().await.ok();
    outcome
}

async fn scenario(env: &Env, alice: &Browser) -> anyhow::Result<()> {
    let server = Server::start(env, false).await?;
    let port = server.port();
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;
    for text in MESSAGES {
        a.send(text).await?;
    }
    a.wait_for_messages(&MESSAGES).await?;
    let title = alice.driver().title().await?;
    anyhow::ensure!(title == "Confab", "title {title:?}");

    check_manifest(alice).await?;
    // The invite as a QR code, to open it on a phone.
    a.click("button", "Show QR code").await?;
    a.by_role("image", "QR code of the invite link").await?;
    alice.screenshot(env, "pwa-qr.png").await?;
    a.click("button", "Show QR code").await?;

    // The worker installs (precaching the shell) and activates; after a reload it
    // controls the page.
    let state = wait_worker_active(alice).await?;
    println!("service worker: {state}");
    alice.driver().refresh().await?;
    let a = alice.open_page_current().await?;
    a.wait_for_messages(&MESSAGES).await?;
    anyhow::ensure!(
        is_controlled(alice).await?,
        "the page is not controlled by the service worker after a reload"
    );
    // Installable (and controlled by the worker), so Chromium offers to install the app
    // and the header shows the offer.
    a.by_role("button", "Install Confab").await?;
    let cached = check_shell_cached(alice).await?;
    println!("precached: {cached:?}");
    alice.assert_no_console_errors().await?;

    // The server stops. The app opens anyway, from the worker, with its history.
    let a = open_offline(alice, server, &invite, &MESSAGES).await?;
    alice.screenshot(env, "pwa-offline.png").await?;
    // The only errors allowed: the WebSocket (and nothing else) failing to connect.
    let errors = alice.console_errors().await?;
    let unexpected: Vec<&String> = errors
        .iter()
        .filter(|error| !is_expected_offline_error(error, port))
        .collect();
    anyhow::ensure!(
        unexpected.is_empty(),
        "offline console errors: {unexpected:#?}"
    );

    // The server is back where it was: the page reconnects by itself.
    let server = reconnect(env, port, &a, &MESSAGES).await?;
    drop(server);
    Ok(())
}

/// While Alice's Confab tab is in the background, Bob's message makes the title "(1)
/// Confab" and, since she turned them on, a notification with Bob's name and the text;
/// back in front, the count is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_count_and_notification_while_hidden() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = hidden_scenario(&pair).await;
    pair.finish("pwa-unread", outcome).await
}

async fn hidden_scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let (a, b) = pair.meet("").await?;
    let bob_name = b.display_name().await?;

    // Alice turns notifications on (the browser is told to say yes when asked); a spy
    // records the notifications the page makes.
    turn_on_notifications(alice, &a).await?;
    spy_on_notifications(alice).await?;

    // Alice switches to another tab: Confab is hidden.
    let confab = alice.driver().window().await?;
    let other = alice.driver().new_tab().await?;
    alice.driver().switch_to_window(other).await?;
    b.send("while you look elsewhere").await?;
    eventually("the background tab's title to count one unread", || async {
        let targets = alice
            .cdp("Target.getTargets", serde_json::json!({}))
            .await?;
        let titles: Vec<String> = targets["targetInfos"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["type"] == "page")
            .filter_map(|t| t["title"].as_str().map(str::to_owned))
            .collect();
        Ok(titles.iter().any(|t| t == "(1) Confab").then_some(()))
    })
    .await?;

    // Back to Confab: the message is there, the count gone, one notification made.
    alice.driver().close_window().await?;
    alice.driver().switch_to_window(confab).await?;
    a.wait_for_messages(&["while you look elsewhere"]).await?;
    eventually("the title without a count", || async {
        Ok((alice.driver().title().await? == "Confab").then_some(()))
    })
    .await?;
    let notified = alice
        .driver()
        .execute("return window.notified;", Vec::new())
        .await?;
    anyhow::ensure!(
        notified.json() == &serde_json::json!([[bob_name, "while you look elsewhere"]]),
        "notifications: {}",
        notified.json()
    );
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

/// Bob has two rooms with Alice: the one they met in (on his screen) and their one-to-one
/// room, kept connected in the background. Alice writes in the one-to-one room: Bob's rooms
/// list shows it with "1 unread", his title counts it although the page is in front, and a
/// notification names Alice. The count is kept per room: it is still there after Bob opens
/// a new room and goes back (each a reload), and goes once he opens the one-to-one room.
/// When Alice writes again, only that message counts, and clicking its notification opens
/// that room, where both messages are, and the counts are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_room_counts_unread_and_notifies() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = background_scenario(&pair).await;
    pair.finish("pwa-background", outcome).await
}

async fn background_scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let (a, b) = pair.meet("").await?;
    let group = b.invite_link().await?;
    let alice_name = a.display_name().await?;
    let bob_name = b.display_name().await?;
    turn_on_notifications(bob, &b).await?;
    spy_on_notifications(bob).await?;
    // Bob's one-to-one room with Alice runs in the background and is listed, nothing unread.
    let direct_title = format!("Direct: {alice_name}");
    b.by_role("link", &direct_title).await?;

    let a = write_in_direct_room(alice, a, &bob_name, &group, "in our own room").await?;
    let unread_link = format!("{direct_title}, 1 unread");
    b.by_role("link", &unread_link)
        .await?
        .scroll_into_view()
        .await?;
    wait_for_title(bob, "(1) Confab").await?;
    let notified = wait_for_notifications(bob).await?;
    anyhow::ensure!(
        notified == serde_json::json!([[alice_name, "in our own room"]]),
        "notifications: {notified}"
    );
    // Bob still looks at the room they met in; it has nothing new.
    anyhow::ensure!(b.invite_link().await? == group, "Bob left the group room");
    bob.screenshot(&pair.env, "pwa-background-unread-bob.png")
        .await?;

    // Bob opens a new room (the page reloads into it): Alice's message is still unread.
    b.click("link", "New room").await?;
    let b = in_room(bob, "a new room", |room| room != group).await?;
    b.by_role("link", &unread_link)
        .await?
        .scroll_into_view()
        .await?;
    wait_for_title(bob, "(1) Confab").await?;
    bob.screenshot(&pair.env, "pwa-background-unread-new-room-bob.png")
        .await?;
    // And back in the group room (titled after Alice), still.
    b.click("link", &alice_name).await?;
    let b = in_room(bob, "the group room", |room| room == group).await?;
    b.by_role("link", &unread_link).await?;
    wait_for_title(bob, "(1) Confab").await?;

    // He opens the one-to-one room from the list: the message is there, nothing is unread.
    b.click("link", &unread_link).await?;
    let b = in_room(bob, "the one-to-one room", |room| room != group).await?;
    b.wait_for_messages(&["in our own room"]).await?;
    wait_for_title(bob, "Confab").await?;
    // Back in the group room, the one-to-one room has nothing unread once it runs again.
    b.click("link", &alice_name).await?;
    let b = in_room(bob, "the group room", |room| room == group).await?;
    b.by_role("link", &direct_title).await?;
    tokio::time::sleep(BACKGROUND_STARTED).await;
    anyhow::ensure!(
        b.has_role("link", &direct_title).await? && !b.has_role("link", &unread_link).await?,
        "the one-to-one room shows unread messages after it was opened"
    );
    anyhow::ensure!(
        bob.driver().title().await? == "Confab",
        "unread in the title"
    );

    // Alice writes again: that one message is unread (not the one Bob saw).
    spy_on_notifications(bob).await?;
    a.send("once more").await?;
    b.by_role("link", &unread_link).await?;
    wait_for_title(bob, "(1) Confab").await?;
    let notified = wait_for_notifications(bob).await?;
    anyhow::ensure!(
        notified == serde_json::json!([[alice_name, "once more"]]),
        "notifications: {notified}"
    );

    // A click on the notification opens the one-to-one room: the messages are there and
    // nothing counts as unread any more.
    let direct_link = b
        .by_role("link", &unread_link)
        .await?
        .prop("href")
        .await?
        .unwrap_or_default();
    // Its link (`data.url`) is the room's address, never its secret (read before the
    // click: the page reloads into the room).
    let urls = bob
        .driver()
        .execute("return window.notifiedUrls;", Vec::new())
        .await?;
    bob.driver()
        .execute("window.notifications[0].onclick();", Vec::new())
        .await?;
    let b = in_room(bob, "the one-to-one room", |room| room != group).await?;
    let invite = b.invite_link().await?;
    let secret = secret_of(&invite)?;
    anyhow::ensure!(
        urls.json() == &serde_json::json!([direct_link]) && !direct_link.contains(secret),
        "notification links {} (the room's address {direct_link})",
        urls.json()
    );
    b.wait_for_messages(&["in our own room", "once more"])
        .await?;
    b.wait_for_member("Alice online in the one-to-one room", |m| m.is_online())
        .await?;
    wait_for_title(bob, "Confab").await?;
    anyhow::ensure!(
        !b.has_role("link", &unread_link).await?,
        "the room still shows as unread"
    );
    bob.screenshot(&pair.env, "pwa-background-opened-bob.png")
        .await?;
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

/// Where pages cannot make notifications themselves (Android), the app asks its service
/// worker to show them, and a click reaches the worker's `notificationclick`, which must
/// bring the Confab tab forward and open the room the notification is about.
///
/// Bob's page here cannot construct a `Notification` (as on Android), so the notification
/// of Alice's message in their one-to-one room is the worker's, a real one
/// (`registration.getNotifications()` lists it). Headless Chromium shows no notification
/// to click and DevTools has no command that clicks one, so the test dispatches the click
/// inside the worker itself (attached over DevTools): a `NotificationEvent` carrying that
/// notification, through the worker's own listener. Such an event is not trusted, which
/// changes two things: `waitUntil` would throw (the test's event records the promise
/// instead), and the browser refuses to let the worker focus a window (a real click allows
/// it; the handler opens the room either way). Everything else is real: the notification
/// is closed, the worker finds Bob's tab and navigates it to the room's link, and the page
/// reloads into that room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_worker_notification_click_opens_the_room() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = worker_click_scenario(&pair).await;
    pair.finish("pwa-worker-click", outcome).await
}

async fn worker_click_scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let (a, b) = pair.meet("").await?;
    let group = b.invite_link().await?;
    let alice_name = a.display_name().await?;
    let bob_name = b.display_name().await?;
    eventually("the service worker to control Bob's page", || async {
        let controlled = bob
            .driver()
            .execute("return !!navigator.serviceWorker.controller;", Vec::new())
            .await?;
        Ok((controlled.json() == &serde_json::json!(true)).then_some(()))
    })
    .await?;
    turn_on_notifications(bob, &b).await?;
    // As on Android: the page may not construct notifications.
    bob.driver()
        .execute(
            "const Real = window.Notification;
             window.Notification = class extends Real {
               constructor() {
                 throw new TypeError(\"Failed to construct 'Notification': Illegal constructor. Use ServiceWorkerRegistration.showNotification() instead.\");
               }
             };",
            Vec::new(),
        )
        .await?;
    let direct_title = format!("Direct: {alice_name}");
    b.by_role("link", &direct_title).await?;

    write_in_direct_room(alice, a, &bob_name, &group, "for your worker").await?;
    let unread_link = format!("{direct_title}, 1 unread");
    let unread = b.by_role("link", &unread_link).await?;
    unread.scroll_into_view().await?;
    let direct_link = unread.prop("href").await?.unwrap_or_default();
    let shown = serde_json::Value::from(wait_worker_notifications(bob).await?);
    println!("worker notifications: {shown}");
    let shown = &shown[0];
    anyhow::ensure!(
        shown["title"] == alice_name.as_str()
            && shown["body"] == "for your worker"
            && shown["data"]["url"] == direct_link.as_str()
            && shown["tag"]
                .as_str()
                .is_some_and(|tag| tag.starts_with("confab-message-")),
        "the worker's notification: {shown} (the room's link: {direct_link})"
    );
    bob.screenshot(&pair.env, "pwa-worker-click-before-bob.png")
        .await?;

    // The click, in the worker. Spies (calling through) note what the handler asks of the
    // browser and what it answers.
    in_service_worker(
        bob,
        "self.clickLog = [];
         const note = (entry) => self.clickLog.push(entry);
         for (const [name, proto] of [['focus', WindowClient.prototype],
                                      ['navigate', WindowClient.prototype],
                                      ['openWindow', Clients.prototype]]) {
           const real = proto[name];
           proto[name] = function (...args) {
             return real.apply(this, args).then(
               (result) => { note([name, ...args, 'done']); return result; },
               (error) => { note([name, ...args, error.name]); throw error; });
           };
         }
         self.registration.getNotifications().then((notifications) => {
           const click = new NotificationEvent('notificationclick', { notification: notifications[0] });
           click.waitUntil = (promise) => promise.then(() => note(['handled']), (e) => note(['failed', String(e)]));
           self.dispatchEvent(click);
         });",
    )
    .await?;

    // Bob's tab is now in the one-to-one room: the message is there, nothing is unread.
    // The notification, the list's link and the address bar name the room by its address,
    // never by its secret.
    let b = in_room(bob, "the one-to-one room", |room| room != group).await?;
    anyhow::ensure!(
        address(bob).await? == direct_link,
        "the click opened another room"
    );
    let invite = b.invite_link().await?;
    let secret = secret_of(&invite)?;
    for url in [
        &direct_link,
        &address(bob).await?,
        &shown["data"]["url"].to_string(),
    ] {
        anyhow::ensure!(!url.contains(secret), "a room secret in {url}");
    }
    b.wait_for_messages(&["for your worker"]).await?;
    b.wait_for_member("Alice online in the one-to-one room", |m| m.is_online())
        .await?;
    wait_for_title(bob, "Confab").await?;
    let log = eventually("the worker's handler to finish", || async {
        let log = ask_service_worker(bob, "self.clickLog").await?;
        let finished = log.as_array().is_some_and(|log| {
            log.iter()
                .any(|entry| entry[0] == "handled" || entry[0] == "failed")
        });
        Ok(finished.then_some(log))
    })
    .await?;
    println!("the worker's click: {log}");
    anyhow::ensure!(
        log == serde_json::json!([
            ["focus", "InvalidAccessError"],
            ["navigate", direct_link, "done"],
            ["handled"]
        ]),
        "the worker's click: {log}"
    );
    let left = worker_notifications(bob).await?.len();
    anyhow::ensure!(left == 0, "the notification is still shown: {left}");
    bob.screenshot(&pair.env, "pwa-worker-click-after-bob.png")
        .await?;
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

/// How long after a page opens its background rooms have surely started (the app starts
/// them 1.5 s after the room on screen).
const BACKGROUND_STARTED: Duration = Duration::from_secs(4);

/// Alice (on the group room's page `a`) opens her one-to-one room with Bob and writes
/// `text` there once he is online in it; returns her page in that room.
async fn write_in_direct_room<'a>(
    alice: &'a Browser,
    a: ChatPage<'a>,
    bob_name: &str,
    group: &str,
    text: &str,
) -> anyhow::Result<ChatPage<'a>> {
    a.click("link", &format!("Message {bob_name}")).await?;
    let a = in_room(alice, "Alice in the one-to-one room", |room| room != group).await?;
    a.wait_for_member("Bob in the one-to-one room", |m| m.is_online())
        .await?;
    a.send(text).await?;
    Ok(a)
}

/// Waits until the page title is `title`.
async fn wait_for_title(browser: &Browser, title: &str) -> anyhow::Result<()> {
    eventually(&format!("the title {title:?}"), || async {
        Ok((browser.driver().title().await? == title).then_some(()))
    })
    .await
}

/// The value of `expression` in the service worker of `browser`'s page, which the worker
/// posts to its pages.
async fn ask_service_worker(
    browser: &Browser,
    expression: &str,
) -> anyhow::Result<serde_json::Value> {
    browser
        .driver()
        .execute(
            "window.fromWorker = new Promise((resolve) =>
               navigator.serviceWorker.addEventListener('message', (e) => resolve(e.data), { once: true }));",
            Vec::new(),
        )
        .await?;
    in_service_worker(
        browser,
        &format!(
            "Promise.resolve({expression}).then((value) =>
               self.clients.matchAll({{ includeUncontrolled: true }})
                 .then((pages) => pages.forEach((page) => page.postMessage(value))))"
        ),
    )
    .await?;
    run_async(browser, "window.fromWorker.then(done)").await
}

/// "Share invite" hands the invite link to the Web Share API, and "Install Confab" appears
/// when the browser offers to install, calls the offer's `prompt()` when clicked, and goes
/// away once the app is installed.
///
/// Headless Chromium on Linux has no share sheet and makes no install offer on demand, so a
/// script installed before the page loads stands in for `navigator.share` (it records the
/// call and resolves, as a share sheet does when the user shares), and the test dispatches
/// `beforeinstallprompt` itself (an `Event` with `prompt()` and `userChoice`, as Chromium
/// makes it). What this checks is our side: the clicks reach the browser's APIs with the
/// right data and the page follows what they answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_and_install_clicks_reach_the_browser() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let chromedriver = Chromedriver::start(&env).await?;
    let alice = Browser::open(&chromedriver, &env, "alice").await?;
    let outcome = share_install_scenario(&env, &alice).await;
    alice.screenshot(&env, "pwa-share-alice.png").await.ok();
    alice.quit().await.ok();
    outcome
}

async fn share_install_scenario(env: &Env, alice: &Browser) -> anyhow::Result<()> {
    let server = Server::start(env, false).await?;
    alice
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            serde_json::json!({ "source":
                "window.shared = [];
                 Object.defineProperty(Navigator.prototype, 'share', {
                   configurable: true,
                   writable: true,
                   value: function (data) {
                     window.shared.push({ title: data.title, text: data.text, url: data.url });
                     return Promise.resolve();
                   },
                 });"
            }),
        )
        .await?;
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;

    a.click("button", "Share invite").await?;
    let shared = eventually("the invite to reach navigator.share", || async {
        let shared = alice
            .driver()
            .execute("return window.shared;", Vec::new())
            .await?;
        let shared = shared.json().clone();
        Ok((shared != serde_json::json!([])).then_some(shared))
    })
    .await?;
    anyhow::ensure!(
        shared
            == serde_json::json!([{ "title": "Confab", "text": "Join me on Confab", "url": invite }]),
        "shared: {shared}"
    );
    eventually("the page to say it was shared", || async {
        Ok(page_text(alice).await?.contains("Shared").then_some(()))
    })
    .await?;

    // The browser offers to install: the button appears (the browser's own bar is kept
    // away), a click shows the offer's dialog, and accepting it takes the button away.
    let offer = offer_install(alice, "accepted").await?;
    anyhow::ensure!(offer["defaultPrevented"] == true, "{offer}");
    a.by_role("button", "Install Confab").await?;
    alice.screenshot(env, "pwa-install-offered.png").await?;
    a.click("button", "Install Confab").await?;
    eventually("prompt() to be called", || async {
        let prompted = alice
            .driver()
            .execute("return window.prompted;", Vec::new())
            .await?;
        Ok((prompted.json() == &serde_json::json!(1)).then_some(()))
    })
    .await?;
    eventually("the button to go once accepted", || async {
        Ok((!a.has_role("button", "Install Confab").await?).then_some(()))
    })
    .await?;

    // A new offer, then the browser says the app was installed (from its own menu, say).
    offer_install(alice, "dismissed").await?;
    a.by_role("button", "Install Confab").await?;
    alice
        .driver()
        .execute(
            "window.dispatchEvent(new Event('appinstalled'));",
            Vec::new(),
        )
        .await?;
    eventually("the button to go once installed", || async {
        Ok((!a.has_role("button", "Install Confab").await?).then_some(()))
    })
    .await?;
    anyhow::ensure!(
        alice
            .driver()
            .execute("return window.prompted;", Vec::new())
            .await?
            .json()
            == &serde_json::json!(1),
        "prompt() called again"
    );
    alice.screenshot(env, "pwa-install-gone.png").await?;
    alice.assert_no_console_errors().await
}

/// Bob comes back to a room where nobody else is (Alice wrote and left): the member list
/// says so plainly and does not claim to be connecting to anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alone_in_the_room_says_so() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = alone_scenario(&pair).await;
    pair.finish("pwa-alone", outcome).await
}

async fn alone_scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let (a, b) = pair.meet("").await?;
    a.send("see you later").await?;
    b.wait_for_messages(&["see you later"]).await?;
    bob.driver().goto("about:blank").await?;
    a.wait_for_member("Bob gone", |m| m.text.contains("left"))
        .await?;
    eventually("Alice's list to say she is alone", || async {
        Ok(alice.members_text().await?.contains(ALONE).then_some(()))
    })
    .await?;
    alice.driver().goto("about:blank").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let b = bob.open_chat(&format!("{}/", pair.server.url)).await?;
    b.wait_for_messages(&["see you later"]).await?;
    // The server lists nobody else in the room (Alice's page closed its connection when
    // it went, even into the back/forward cache), so nothing is "connecting".
    let text = bob.members_text().await?;
    anyhow::ensure!(!text.contains("Connecting to"), "{text}");
    let said = eventually("Bob's list to say he is alone", || async {
        let text = bob.members_text().await?;
        Ok(text.contains(ALONE).then_some(text))
    })
    .await;
    if said.is_err() {
        for entry in bob.console_all().await? {
            println!("bob console: {entry}");
        }
    }
    let said = said?;
    anyhow::ensure!(!said.contains("Connecting to"), "{said}");
    // And it stays true.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let text = bob.members_text().await?;
    anyhow::ensure!(
        text.contains(ALONE) && !text.contains("Connecting to"),
        "{text}"
    );
    bob.screenshot(&pair.env, "pwa-alone-bob.png").await?;
    bob.assert_no_console_errors().await
}

/// The text of the whole page, as shown.
async fn page_text(browser: &Browser) -> anyhow::Result<String> {
    let ret = browser
        .driver()
        .execute("return document.body.innerText;", Vec::new())
        .await?;
    Ok(ret.json().as_str().unwrap_or_default().to_owned())
}

/// What the member list says when nobody else is online.
const ALONE: &str = "Nobody else is here right now";

/// Dispatches an install offer as Chromium makes it; its `prompt()` counts calls in
/// `window.prompted` and its `userChoice` resolves with `outcome`. Returns whether the page
/// prevented the browser's default handling.
async fn offer_install(browser: &Browser, outcome: &str) -> anyhow::Result<serde_json::Value> {
    let ret = browser
        .driver()
        .execute(
            "window.prompted = window.prompted || 0;
             const offer = new Event('beforeinstallprompt', { cancelable: true });
             offer.prompt = () => { window.prompted += 1; return Promise.resolve(); };
             offer.userChoice = Promise.resolve({ outcome: arguments[0], platform: 'web' });
             window.dispatchEvent(offer);
             return { defaultPrevented: offer.defaultPrevented };",
            vec![serde_json::json!(outcome)],
        )
        .await?;
    Ok(ret.json().clone())
}

/// The WebSocket to the stopped server failing, as Chromium logs it.
fn is_expected_offline_error(error: &str, port: u16) -> bool {
    error.contains(&format!(
        "WebSocket connection to 'ws://127.0.0.1:{port}/ws' failed"
    ))
}

/// The manifest is served with its media type, names the app, has the icon sizes browsers
/// ask for (and they load), and Chromium parses it without errors.
async fn check_manifest(alice: &Browser) -> anyhow::Result<()> {
    let fetched = run_async(
        alice,
        "(async () => {
           const link = document.querySelector('link[rel=manifest]');
           const response = await fetch(link.href);
           const manifest = await response.json();
           const icons = [];
           for (const icon of manifest.icons) {
             const got = await fetch(new URL(icon.src, link.href));
             icons.push({ sizes: icon.sizes, purpose: icon.purpose || 'any', status: got.status,
                          type: got.headers.get('content-type') });
           }
           done({ type: response.headers.get('content-type'), manifest, icons });
         })().catch(e => done({ error: String(e) }))",
    )
    .await?;
    println!("manifest: {fetched}");
    anyhow::ensure!(fetched.get("error").is_none(), "{fetched}");
    anyhow::ensure!(
        fetched["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("application/manifest+json")),
        "manifest served as {}",
        fetched["type"]
    );
    let manifest = &fetched["manifest"];
    anyhow::ensure!(
        manifest["name"] == "Confab"
            && manifest["display"] == "standalone"
            && manifest["start_url"] == "/",
        "{manifest}"
    );
    let icons = fetched["icons"].as_array().cloned().unwrap_or_default();
    for (sizes, purpose) in [
        ("192x192", "any"),
        ("512x512", "any"),
        ("512x512", "maskable"),
    ] {
        anyhow::ensure!(
            icons.iter().any(|icon| icon["sizes"] == sizes
                && icon["purpose"] == purpose
                && icon["status"] == 200
                && icon["type"] == "image/png"),
            "no loadable {sizes} {purpose} PNG icon: {icons:?}"
        );
    }

    // Chromium's own reading of it (DevTools protocol): no parse errors.
    let parsed = alice
        .cdp("Page.getAppManifest", serde_json::json!({}))
        .await?;
    anyhow::ensure!(
        parsed["url"]
            .as_str()
            .is_some_and(|url| url.ends_with("/manifest.webmanifest")),
        "{parsed}"
    );
    anyhow::ensure!(
        parsed["errors"].as_array().is_some_and(Vec::is_empty),
        "Chromium found errors in the manifest: {}",
        parsed["errors"]
    );
    let installable = alice
        .cdp("Page.getInstallabilityErrors", serde_json::json!({}))
        .await?;
    println!("installability: {installable}");
    anyhow::ensure!(
        installable["installabilityErrors"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "Chromium would not install the app: {installable}"
    );
    Ok(())
}

/// The installed app runs the build it keeps. Build A is served, opened and kept; then
/// the server serves build B (A with a changed `index.html`, its worker filled in for it).
/// On reload the page still runs A (A's fingerprint in the Security panel, no trace of B's
/// page) and says "Update available"; B runs only after a click on "Update", which shows
/// B's fingerprint, and A's files are gone. A network-first worker would run B at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_build_runs_only_after_update() -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let chromedriver = Chromedriver::start(&env).await?;
    let alice = Browser::open(&chromedriver, &env, "alice").await?;
    let outcome = update_scenario(&env, &alice).await;
    alice.screenshot(&env, "pwa-update-alice.png").await.ok();
    alice.quit().await.ok();
    outcome
}

async fn update_scenario(env: &Env, alice: &Browser) -> anyhow::Result<()> {
    check_integrity(&env.dist)?;
    let next = next_build(env)?;
    let (build_a, build_b) = (fingerprint(&env.dist)?, fingerprint(&next)?);
    println!("build A {build_a}, build B {build_b}");
    anyhow::ensure!(build_a != build_b, "build B has A's fingerprint");

    let server = Server::start(env, false).await?;
    let port = server.port();
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    a.send("kept across the update").await?;
    // The worker keeps build A and takes the page; the panel shows A's fingerprint.
    shows_fingerprint(alice, &build_a).await?;
    anyhow::ensure!(
        !a.has_role("region", "Update available").await?,
        "an update before any"
    );

    // The server now serves build B.
    server.kill().await?;
    let env_b = Env {
        server_bin: env.server_bin.clone(),
        dist: next.clone(),
        out: env.out.clone(),
    };
    let server = Server::start_on(&env_b, port, false).await?;
    alice.driver().refresh().await?;
    let a = alice.open_page_current().await?;
    a.by_role("textbox", "Message").await?;
    a.by_role("region", "Update available").await?;
    // Still build A: its page, its fingerprint.
    shows_fingerprint(alice, &build_a).await?;
    anyhow::ensure!(
        !page_is_next(alice).await?,
        "build B runs before the update"
    );
    a.wait_for_messages(&["kept across the update"]).await?;
    screenshots(env, alice, &a, "pwa-update-available").await?;

    a.click("button", "Update").await?;
    // The page reloads into build B.
    eventually("build B to run", || async {
        Ok(page_is_next(alice).await.unwrap_or(false).then_some(()))
    })
    .await?;
    let a = alice.open_page_current().await?;
    a.by_role("textbox", "Message").await?;
    shows_fingerprint(alice, &build_b).await?;
    anyhow::ensure!(
        !a.has_role("region", "Update available").await?,
        "still an update"
    );
    a.wait_for_messages(&["kept across the update"]).await?;
    let kept = run_async(
        alice,
        "caches.keys().then(names => done(names.filter(n => n.startsWith('confab-shell-'))))",
    )
    .await?;
    anyhow::ensure!(
        kept == serde_json::json!([format!("confab-shell-{build_b}")]),
        "kept after the update: {kept}"
    );
    screenshots(env, alice, &a, "pwa-updated").await?;
    alice.assert_no_console_errors().await?;
    drop(server);
    Ok(())
}

/// Waits until the Security panel shows `build` as the running build's fingerprint.
async fn shows_fingerprint(browser: &Browser, build: &str) -> anyhow::Result<()> {
    let page = browser.open_page_current().await?;
    let wanted = grouped(build);
    eventually(&format!("the fingerprint {wanted}"), || async {
        let shown = page
            .by_role("status", "App fingerprint")
            .await?
            .text()
            .await?;
        Ok((shown.trim() == wanted).then_some(()))
    })
    .await
}

/// Whether the page running is build B's (its `index.html` has [`NEXT_BUILD_MARK`](confab_e2e::shell::NEXT_BUILD_MARK)).
async fn page_is_next(browser: &Browser) -> anyhow::Result<bool> {
    let found = browser
        .driver()
        .execute(
            "return !!document.querySelector('meta[name=confab-test-build]');",
            Vec::new(),
        )
        .await?;
    Ok(found.json() == &serde_json::json!(true))
}

/// Desktop and phone-sized screenshots of the banner and the Security panel.
async fn screenshots(
    env: &Env,
    browser: &Browser,
    page: &ChatPage<'_>,
    name: &str,
) -> anyhow::Result<()> {
    browser
        .screenshot(env, &format!("{name}-desktop.png"))
        .await?;
    let fingerprint = page.by_role("status", "App fingerprint").await?;
    fingerprint.scroll_into_view().await?;
    browser
        .screenshot(env, &format!("{name}-desktop-security.png"))
        .await?;
    browser
        .cdp(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({ "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true }),
        )
        .await?;
    browser
        .driver()
        .execute("window.scrollTo(0, 0); document.querySelectorAll('.sidebar').forEach(s => s.scrollTo(0, 0));", Vec::new())
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    browser
        .screenshot(env, &format!("{name}-phone.png"))
        .await?;
    fingerprint.scroll_into_view().await?;
    browser
        .screenshot(env, &format!("{name}-phone-security.png"))
        .await?;
    browser
        .cdp(
            "Emulation.clearDeviceMetricsOverride",
            serde_json::json!({}),
        )
        .await?;
    Ok(())
}

/// `a1b2c3d4...` -> `a1b2 c3d4 ...`, as the Security panel shows it.
fn grouped(fingerprint: &str) -> String {
    let chars: Vec<char> = fingerprint.chars().collect();
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}
