//! Harness for Confab's end-to-end tests: starts a `confab-server` and a chromedriver (or
//! a geckodriver per Firefox) on loopback, opens headless Chromium and Firefox processes,
//! and offers page objects that find
//! elements by accessible role and name, as a screen reader would.
//!
//! Run through `cargo xtask test`, which builds the app and server and runs these tests in
//! a network namespace that has only `lo` (plus 10.200.0.1 on it, for Firefox's ICE).
//!
//! One scenario per file in `tests/`; shared steps here (`calls`, `files`, `shell`).
//! `adversary` is a malicious member built on core that attacks from inside its verified
//! sessions; `audit` runs a pinned axe-core on every screen and dialog (`a11y.rs`);
//! `autopush` is a push service stand-in that speaks Mozilla's autopush protocol to
//! Firefox and takes the server's RFC 8030 POSTs (`firefox_push.rs`).

mod adversary;
pub mod audit;
pub mod autopush;
mod balancer;
mod browser;
pub mod calls;
pub mod files;
pub mod governed;
mod process;
pub mod scenario;
pub mod shell;

pub use adversary::{Adversary, Mallory, Member};
pub use balancer::{Balancer, NODE_COOKIE};
pub use browser::{Browser, ChatPage, MemberRow};
pub use process::{Chromedriver, Geckodriver, Nats, Server, metric};
pub use scenario::{Seat, with_browsers};

use std::path::PathBuf;
use std::time::Duration;

/// How long any single condition may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(25);

/// Paths handed over by `cargo xtask test`.
pub struct Env {
    /// The built `confab-server` binary.
    pub server_bin: PathBuf,
    /// The built app (`dist/`).
    pub dist: PathBuf,
    /// Where screenshots and logs go.
    pub out: PathBuf,
}

impl Env {
    /// Reads the environment; fails with instructions when run outside `cargo xtask test`.
    pub fn from_env() -> anyhow::Result<Env> {
        let var = |name: &str| {
            std::env::var_os(name).map(PathBuf::from).ok_or_else(|| {
                anyhow::anyhow!(
                    "{name} is not set: run the end-to-end tests with `cargo xtask test`"
                )
            })
        };
        let env = Env {
            server_bin: var("CONFAB_SERVER_BIN")?,
            dist: var("CONFAB_DIST")?,
            out: var("CONFAB_E2E_OUT")?,
        };
        std::fs::create_dir_all(&env.out)?;
        anyhow::ensure!(
            env.server_bin.exists(),
            "no server binary at {}",
            env.server_bin.display()
        );
        anyhow::ensure!(
            env.dist.join("index.html").exists(),
            "no built app at {}",
            env.dist.display()
        );
        Ok(env)
    }
}

/// The usual shape of a test: a server, one chromedriver and two browsers, Alice and Bob.
pub struct Pair {
    /// Paths.
    pub env: Env,
    /// The Confab server.
    pub server: Server,
    /// The chromedriver both browsers run under (open more with it).
    pub chromedriver: Chromedriver,
    /// First browser.
    pub alice: Browser,
    /// Second browser.
    pub bob: Browser,
}

impl Pair {
    /// Starts everything; `record_relay` makes the server keep what it relays.
    pub async fn start(record_relay: bool) -> anyhow::Result<Pair> {
        let env = Env::from_env()?;
        let server = Server::start(&env, record_relay).await?;
        let chromedriver = Chromedriver::start(&env).await?;
        let alice = Browser::open(&chromedriver, &env, "alice").await?;
        let bob = Browser::open(&chromedriver, &env, "bob").await?;
        Ok(Pair {
            env,
            server,
            chromedriver,
            alice,
            bob,
        })
    }

    /// Alice opens a new room, Bob opens its invite link, and both wait until each shows
    /// the other online (encrypted and verified). `query` (say `"?relay=force"`) is added
    /// to both pages' URLs.
    pub async fn meet(&self, query: &str) -> anyhow::Result<(ChatPage<'_>, ChatPage<'_>)> {
        let a = self
            .alice
            .open_chat(&format!("{}/{query}", self.server.url))
            .await?;
        let invite = a.invite_link().await?;
        let b = self
            .bob
            .open_chat(&invite.replacen("/#", &format!("/{query}#"), 1))
            .await?;
        a.wait_for_member("Bob online at Alice", |m| m.is_online())
            .await?;
        b.wait_for_member("Alice online at Bob", |m| m.is_online())
            .await?;
        Ok((a, b))
    }

    /// Saves `<name>-alice.png` and `<name>-bob.png`, quits both browsers (whatever the
    /// outcome), and returns `outcome`.
    pub async fn finish(self, name: &str, outcome: anyhow::Result<()>) -> anyhow::Result<()> {
        self.alice
            .screenshot(&self.env, &format!("{name}-alice.png"))
            .await
            .ok();
        self.bob
            .screenshot(&self.env, &format!("{name}-bob.png"))
            .await
            .ok();
        self.alice.quit().await.ok();
        self.bob.quit().await.ok();
        outcome
    }
}

/// Polls `check` until it returns `Some`, or fails after [`PATIENCE`] saying `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(error) => last_error = Some(error),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(match last_error {
                Some(error) => error.context(format!("timed out waiting for {what}")),
                None => anyhow::anyhow!("timed out waiting for {what}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The page once `browser` shows a room whose invite link passes `wanted` (after a
/// navigation, a reload or a click brought the page there).
pub async fn in_room<'a>(
    browser: &'a Browser,
    what: &str,
    wanted: impl Fn(&str) -> bool,
) -> anyhow::Result<ChatPage<'a>> {
    let wanted = &wanted;
    eventually(what, || async move {
        let page = browser.open_page_current().await?;
        Ok(wanted(&page.invite_link().await?).then_some(page))
    })
    .await
}

/// The room secret of an invite link: what follows `#` (43 base64url characters; 86 for a
/// governed room: its link secret, then its genesis).
pub fn secret_of(invite: &str) -> anyhow::Result<&str> {
    let (_, secret) = invite
        .split_once('#')
        .ok_or_else(|| anyhow::anyhow!("no fragment in {invite}"))?;
    anyhow::ensure!(
        secret.len() == 43 || secret.len() == 86,
        "not a room secret: {secret}"
    );
    Ok(secret)
}

/// The page's address (`location.href`).
pub async fn address(browser: &Browser) -> anyhow::Result<String> {
    let href = browser
        .driver()
        .execute("return location.href;", Vec::new())
        .await?;
    Ok(href.json().as_str().unwrap_or_default().to_owned())
}

/// The conversation every chat scenario runs: three messages each way, strictly
/// alternating (each awaited by the other side); Alice sends her second with a click on
/// "Send" and her third by keyboard alone (Tab to "Send", Enter); then a message full of
/// markup. Checks that both sides show all seven in the
/// same order, with author and time, and that the markup stayed text.
pub async fn exchange(a: &ChatPage<'_>, b: &ChatPage<'_>) -> anyhow::Result<()> {
    const XSS: &str = "<img src=x onerror=alert(1)>";
    let script = [
        "hello Bob",
        "hi Alice",
        "how are you?",
        "fine, and you?",
        "very well",
        "good to hear",
        XSS,
    ];
    for (msg_idx, text) in script.iter().enumerate() {
        let (sender, receiver) = if msg_idx % 2 == 0 { (a, b) } else { (b, a) };
        match msg_idx {
            2 => sender.send_with_button(text).await?,
            4 => sender.send_with_keyboard_via_button(text).await?,
            _ => sender.send(text).await?,
        }
        receiver.wait_for_messages(&script[..=msg_idx]).await?;
    }
    let shown_a = a.wait_for_messages(&script).await?;
    let shown_b = b.wait_for_messages(&script).await?;
    for item in shown_a.iter().chain(&shown_b) {
        let meta = item.lines().next().unwrap_or_default();
        anyhow::ensure!(
            meta.starts_with("Guest ") || meta.starts_with("You "),
            "author shown: {item:?}"
        );
        anyhow::ensure!(
            meta.trim_end().len() >= 5 && meta.contains(':'),
            "time shown: {item:?}"
        );
    }
    anyhow::ensure!(
        a.count_in_messages("img").await? == 0,
        "markup was rendered at Alice"
    );
    anyhow::ensure!(
        b.count_in_messages("img").await? == 0,
        "markup was rendered at Bob"
    );
    Ok(())
}

/// Opens one room in every browser (a slice of them, or the array
/// [`with_browsers`] hands a scenario): the first makes it, the others open its invite
/// link; returns once each page shows all the others online.
pub async fn open_room<'a>(
    server: &Server,
    browsers: impl IntoIterator<Item = &'a Browser>,
) -> anyhow::Result<Vec<ChatPage<'a>>> {
    let mut browsers = browsers.into_iter();
    let Some(first) = browsers.next() else {
        return Ok(Vec::new());
    };
    let creator = first.open_chat(&format!("{}/", server.url)).await?;
    let invite = creator.invite_link().await?;
    let mut pages = vec![creator];
    for browser in browsers {
        pages.push(browser.open_chat(&invite).await?);
    }
    let others = pages.len() - 1;
    for page in &pages {
        page.wait_online(others).await?;
    }
    Ok(pages)
}

/// Grants `browser` the notification permission and clicks "Turn on notifications".
pub async fn turn_on_notifications(browser: &Browser, page: &ChatPage<'_>) -> anyhow::Result<()> {
    browser
        .cdp(
            "Browser.grantPermissions",
            serde_json::json!({ "permissions": ["notifications"] }),
        )
        .await?;
    page.click("button", "Turn on notifications").await?;
    eventually("notifications to be on", || async {
        Ok((!page.has_role("button", "Turn on notifications").await?).then_some(()))
    })
    .await
}

/// Records the notifications the page makes: `window.notified` holds `[title, body]` of
/// each, `window.notifiedUrls` the links of those that have one (`data.url`),
/// `window.notifications` the notifications themselves.
pub async fn spy_on_notifications(browser: &Browser) -> anyhow::Result<()> {
    browser
        .driver()
        .execute(
            "window.notified = [];
             window.notifiedUrls = [];
             window.notifications = [];
             const Real = window.Notification;
             window.Notification = class extends Real {
               constructor(title, options) {
                 super(title, options);
                 window.notified.push([title, options && options.body]);
                 const data = options && options.data;
                 if (data) window.notifiedUrls.push(data.url);
                 window.notifications.push(this);
               }
             };",
            Vec::new(),
        )
        .await?;
    Ok(())
}

/// The notifications the spy recorded ([`spy_on_notifications`]), once there is one.
pub async fn wait_for_notifications(browser: &Browser) -> anyhow::Result<serde_json::Value> {
    eventually("a notification", || async {
        let notified = browser
            .driver()
            .execute("return window.notified;", Vec::new())
            .await?;
        let notified = notified.json().clone();
        Ok((notified != serde_json::json!([])).then_some(notified))
    })
    .await
}

/// Runs `script` in the service worker of `browser`'s page: DevTools attaches to the
/// worker's target and sends it `Runtime.evaluate` (chromedriver passes DevTools commands
/// to the page's target only, so the worker's answer is not read; see
/// `ask_service_worker` in `pwa.rs`).
pub async fn in_service_worker(browser: &Browser, script: &str) -> anyhow::Result<()> {
    let targets = browser
        .cdp("Target.getTargets", serde_json::json!({}))
        .await?;
    let worker = targets["targetInfos"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["type"] == "service_worker")
        .ok_or_else(|| anyhow::anyhow!("no service worker target: {targets}"))?;
    let attached = browser
        .cdp(
            "Target.attachToTarget",
            serde_json::json!({ "targetId": worker["targetId"], "flatten": false }),
        )
        .await?;
    let message = serde_json::json!({
        "id": 1,
        "method": "Runtime.evaluate",
        "params": { "expression": script },
    });
    browser
        .cdp(
            "Target.sendMessageToTarget",
            serde_json::json!({
                "sessionId": attached["sessionId"],
                "message": message.to_string(),
            }),
        )
        .await?;
    Ok(())
}

/// What a page opened with a superseded invite link says (an alert named so).
pub const LINK_SUPERSEDED: &str = "This invite link is no longer valid";

/// Waits until `page` says the invite link it was opened with is no longer valid (an alert
/// named [`LINK_SUPERSEDED`]) instead of "Nobody else is here yet", its message box disabled.
pub async fn wait_link_superseded(page: &ChatPage<'_>) -> anyhow::Result<()> {
    page.by_role("alert", LINK_SUPERSEDED).await?;
    let members = page.browser().members_text().await?;
    anyhow::ensure!(
        !members.contains("Nobody else is here yet"),
        "the superseded link still says the room is empty: {members:?}"
    );
    let field = page.by_role("textbox", "Message").await?;
    anyhow::ensure!(
        !field.is_enabled().await?,
        "the superseded link's message box takes messages"
    );
    Ok(())
}
