//! Headless Chromium and Firefox sessions and the chat page object. Elements are found by accessible
//! role and name, computed by the browser itself (WebDriver `computedrole` and
//! `computedlabel`), so the tests see the page as a screen reader does.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use thirtyfour::common::capabilities::firefox::FirefoxPreferences;
use thirtyfour::common::command::{Command, ExtensionCommand};
use thirtyfour::prelude::*;

use crate::{Chromedriver, Env, Geckodriver, eventually};

/// One headless browser process with its own profile.
pub struct Browser {
    driver: WebDriver,
    /// A short name for screenshots ("alice").
    pub name: String,
    profile: PathBuf,
    engine: Engine,
}

/// Which browser runs, and what only that one has.
enum Engine {
    Chromium,
    Firefox {
        /// Its own driver, ended after the session.
        geckodriver: Box<Geckodriver>,
        /// How much of the driver's log the console readers have already seen.
        console_seen: std::sync::Mutex<usize>,
    },
}

/// The user agent of the phone [`Browser::open_phone`] poses as (Chromium on Android).
const PHONE_USER_AGENT: &str = "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36";

/// Firefox prefs for WebRTC in the test namespace (RECIPE.md, "Firefox"): fake media and no
/// permission prompts, loopback and host candidates in the clear. Firefox also needs a
/// non-127 address in the namespace (`in_netns` in xtask gives `lo` one).
const FIREFOX_PREFS: &[(&str, bool)] = &[
    ("media.navigator.streams.fake", true),
    ("media.navigator.permission.disabled", true),
    ("media.peerconnection.ice.loopback", true),
    ("media.peerconnection.ice.obfuscate_host_addresses", false),
    ("media.peerconnection.ice.no_host", false),
    ("media.peerconnection.ice.default_address_only", false),
    // The page's console goes to the driver's log, where `console_errors` reads it.
    ("devtools.console.stdout.content", true),
    ("devtools.console.stdout.chrome", false),
    ("browser.dom.window.dump.enabled", true),
    ("browser.download.useDownloadDir", true),
    ("browser.shell.checkDefaultBrowser", false),
    // `navigator.storage.persist()` answered as by a user who allows it, without a prompt
    // nobody could click here.
    ("dom.storageManager.prompt.testing", true),
    ("dom.storageManager.prompt.testing.allow", true),
];

impl Browser {
    /// Opens a new Chromium process through `chromedriver`.
    pub async fn open(
        chromedriver: &Chromedriver,
        env: &Env,
        name: &str,
    ) -> anyhow::Result<Browser> {
        Browser::open_chromium(chromedriver, env, name, None).await
    }

    /// Opens a new Chromium process that poses as a phone held upright: a 390×844 CSS px
    /// screen at device scale 3, touch, a mobile user agent (chromedriver's
    /// `mobileEmulation`). [`Browser::turn_phone`] turns it on its side.
    pub async fn open_phone(
        chromedriver: &Chromedriver,
        env: &Env,
        name: &str,
    ) -> anyhow::Result<Browser> {
        let emulation = serde_json::json!({
            "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 3.0, "touch": true, "mobile": true },
            "userAgent": PHONE_USER_AGENT,
        });
        Browser::open_chromium(chromedriver, env, name, Some(emulation)).await
    }

    /// A phone's screen upright (390×844) or on its side (844×390), as the screen turns.
    pub async fn turn_phone(&self, landscape: bool) -> anyhow::Result<()> {
        if landscape {
            self.set_screen(844, 390, 3.0).await
        } else {
            self.set_screen(390, 844, 3.0).await
        }
    }

    /// A touch screen of `width`×`height` CSS px at device scale `scale` (a phone or a
    /// tablet), over DevTools; Firefox resizes its window (its scale stays as it opened).
    pub async fn set_screen(&self, width: u32, height: u32, scale: f64) -> anyhow::Result<()> {
        if self.is_firefox() {
            self.driver
                .set_window_rect(0, 0, width, height)
                .await
                .context("resizing Firefox's window")?;
            return Ok(());
        }
        let (angle, orientation) = if width > height {
            (90, "landscapePrimary")
        } else {
            (0, "portraitPrimary")
        };
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({
                "width": width, "height": height, "deviceScaleFactor": scale, "mobile": true,
                "screenOrientation": { "type": orientation, "angle": angle },
            }),
        )
        .await?;
        Ok(())
    }

    /// The page's `prefers-color-scheme` as dark or light (Chromium, over DevTools).
    pub async fn set_dark(&self, dark: bool) -> anyhow::Result<()> {
        let scheme = if dark { "dark" } else { "light" };
        self.cdp(
            "Emulation.setEmulatedMedia",
            serde_json::json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        )
        .await?;
        Ok(())
    }

    /// Chromium with the harness's flags, posing as a phone if `mobile_emulation` says how.
    async fn open_chromium(
        chromedriver: &Chromedriver,
        env: &Env,
        name: &str,
        mobile_emulation: Option<serde_json::Value>,
    ) -> anyhow::Result<Browser> {
        let profile = env
            .out
            .join(format!("profile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile)?;
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary("/usr/lib/chromium/chromium")?;
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            // WebRTC in a loopback-only namespace: loopback candidates, and the media
            // permission without which Chromium hides host candidates (RECIPE.md §6).
            "--allow-loopback-in-peer-connection",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            "--window-size=1100,760",
        ] {
            caps.add_arg(arg)?;
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.display()))?;
        let downloads = profile.join("downloads");
        std::fs::create_dir_all(&downloads)?;
        caps.add_experimental_option(
            "prefs",
            serde_json::json!({
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
            }),
        )?;
        if let Some(emulation) = mobile_emulation {
            caps.add_experimental_option("mobileEmulation", emulation)?;
        }
        caps.set("goog:loggingPrefs", serde_json::json!({ "browser": "ALL" }))?;
        let driver = WebDriver::new(&chromedriver.url, caps)
            .await
            .context("starting a Chromium session")?;
        Ok(Browser {
            driver,
            name: name.to_owned(),
            profile,
            engine: Engine::Chromium,
        })
    }

    /// Opens a new headless Firefox (`/usr/bin/firefox-esr`) under its own geckodriver.
    pub async fn open_firefox(env: &Env, name: &str) -> anyhow::Result<Browser> {
        Browser::open_firefox_with(env, name, &[], &[], None).await
    }

    /// Opens a new headless Firefox that poses as a phone held upright, as far as desktop
    /// Firefox can: a 390×844 CSS px window at 3 device pixels per CSS px, with touch
    /// events (W3C touch actions reach the page as touches; see [`ChatPage::tap`]).
    pub async fn open_firefox_phone(env: &Env, name: &str) -> anyhow::Result<Browser> {
        let prefs = [
            ("layout.css.devPixelsPerPx", serde_json::json!("3.0")),
            ("dom.w3c_touch_events.enabled", serde_json::json!(1)),
            (
                "dom.w3c_touch_events.legacy_apis.enabled",
                serde_json::json!(true),
            ),
            ("dom.maxtouchpoints.testing.value", serde_json::json!(5)),
            // For the userChrome.css that `open_firefox_with` writes for a phone.
            (
                "toolkit.legacyUserProfileCustomizations.stylesheets",
                serde_json::json!(true),
            ),
        ];
        Browser::open_firefox_with(env, name, &prefs, &[], Some((390, 844))).await
    }

    /// Opens a headless Firefox whose push client talks to the autopush service at
    /// `push_server` (`ws://`, such as [`crate::autopush::PushService`]):
    /// the Web Push path of a real browser, offline. Notifications are allowed as in
    /// Chromium, per site: [`Browser::set_permission`].
    pub async fn open_firefox_with_push(
        env: &Env,
        name: &str,
        push_server: &str,
    ) -> anyhow::Result<Browser> {
        let prefs = [
            ("dom.push.enabled", serde_json::json!(true)),
            ("dom.push.connection.enabled", serde_json::json!(true)),
            ("dom.push.serverURL", serde_json::json!(push_server)),
            // ws:// is taken only with this (`getServiceForServerURI` in PushService.sys.mjs).
            (
                "dom.push.testing.allowInsecureServerURL",
                serde_json::json!(true),
            ),
            ("dom.serviceWorkers.enabled", serde_json::json!(true)),
            ("dom.webnotifications.enabled", serde_json::json!(true)),
            // Firefox's own notification windows: the system's (libnotify over D-Bus) are
            // out of reach here, and `showNotification` rejects without them.
            ("alerts.useSystemBackend", serde_json::json!(false)),
        ];
        // The chrome context, for `click_firefox_notification`.
        Browser::open_firefox_with(env, name, &prefs, &["--allow-system-access"], None).await
    }

    /// Firefox with the harness's prefs and `extra` ones, under a geckodriver started with
    /// `geckodriver_args`; a window of `phone` CSS px if given, all of it the page's.
    async fn open_firefox_with(
        env: &Env,
        name: &str,
        extra: &[(&str, serde_json::Value)],
        geckodriver_args: &[&str],
        phone: Option<(u32, u32)>,
    ) -> anyhow::Result<Browser> {
        let geckodriver = Geckodriver::start_with(env, name, geckodriver_args).await?;
        let profile = env
            .out
            .join(format!("profile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let downloads = profile.join("downloads");
        std::fs::create_dir_all(&downloads)?;
        let mut caps = DesiredCapabilities::firefox();
        caps.set_firefox_binary("/usr/bin/firefox-esr")?;
        caps.set_headless()?;
        let (width, height) = phone.unwrap_or((1100, 760));
        if phone.is_some() {
            // No toolbars (the page gets the whole window), and a profile of our own whose
            // userChrome.css lifts the browser window's minimum width (500 px), which only
            // Firefox's popups are spared.
            caps.add_arg("--kiosk")?;
            let chrome = profile.join("firefox").join("chrome");
            std::fs::create_dir_all(&chrome)?;
            std::fs::write(
                chrome.join("userChrome.css"),
                ":root, #main-window { min-width: 0 !important; min-height: 0 !important; }\n",
            )?;
            caps.add_arg("-profile")?;
            caps.add_arg(&profile.join("firefox").display().to_string())?;
        }
        caps.add_arg(&format!("--width={width}"))?;
        caps.add_arg(&format!("--height={height}"))?;
        let mut prefs = FirefoxPreferences::new();
        for (pref, value) in FIREFOX_PREFS {
            prefs.set(pref, *value)?;
        }
        prefs.set("browser.download.folderList", 2)?;
        prefs.set("browser.download.dir", downloads.display().to_string())?;
        for (pref, value) in extra {
            prefs.set(pref, value)?;
        }
        caps.set_preferences(prefs)?;
        let driver = WebDriver::new(&geckodriver.url, caps)
            .await
            .context("starting a Firefox session")?;
        if phone.is_some() {
            driver.set_window_rect(0, 0, width, height).await?;
        }
        Ok(Browser {
            driver,
            name: name.to_owned(),
            profile,
            engine: Engine::Firefox {
                geckodriver: Box::new(geckodriver),
                console_seen: std::sync::Mutex::new(0),
            },
        })
    }

    /// Loads `url` and returns the page without waiting for the chat (it may ask for a
    /// passphrase, or say that another tab has the profile).
    pub async fn open_page(&self, url: &str) -> anyhow::Result<ChatPage<'_>> {
        self.driver.goto(url).await?;
        Ok(ChatPage { browser: self })
    }

    /// The page currently loaded (after a reload), without navigating.
    pub async fn open_page_current(&self) -> anyhow::Result<ChatPage<'_>> {
        Ok(ChatPage { browser: self })
    }

    /// Loads `url` and returns the chat page once the app has rendered.
    pub async fn open_chat(&self, url: &str) -> anyhow::Result<ChatPage<'_>> {
        self.driver.goto(url).await?;
        let page = ChatPage { browser: self };
        page.by_role("textbox", "Message").await?;
        Ok(page)
    }

    /// Reloads the page as the browser's reload button does. geckodriver's Refresh
    /// reloads past the service worker, as Shift+Reload does (the page it loads has no
    /// controller, checked in Firefox 153), so Firefox reloads from a script.
    pub async fn reload(&self) -> anyhow::Result<()> {
        if !self.is_firefox() {
            self.driver.refresh().await?;
            return Ok(());
        }
        let before = self
            .driver
            .execute("return performance.timeOrigin;", Vec::new())
            .await?
            .json()
            .clone();
        self.driver
            .execute("setTimeout(() => location.reload(), 0);", Vec::new())
            .await?;
        eventually("the page to reload", || {
            let before = before.clone();
            async move {
                let now = self
                    .driver
                    .execute(
                        "return document.readyState === 'complete' ? performance.timeOrigin : null;",
                        Vec::new(),
                    )
                    .await
                    .ok()
                    .map(|ret| ret.json().clone());
                Ok(now.filter(|now| !now.is_null() && *now != before).map(|_| ()))
            }
        })
        .await
    }

    /// Gives the page focus back. In Firefox, Tab past the page's last control moves focus
    /// into the browser's own window, and the page, no longer focused, then ignores keys
    /// (Enter on a button does nothing); WebDriver's Switch To Window focuses it again.
    pub async fn focus_page(&self) -> anyhow::Result<()> {
        let window = self.driver.window().await?;
        self.driver.switch_to_window(window).await?;
        Ok(())
    }

    /// Where this browser saves downloads.
    pub fn downloads(&self) -> PathBuf {
        self.profile.join("downloads")
    }

    /// Saves a PNG screenshot as `<out>/<file>`.
    pub async fn screenshot(&self, env: &Env, file: &str) -> anyhow::Result<PathBuf> {
        let path = env.out.join(file);
        self.driver.screenshot(&path).await?;
        Ok(path)
    }

    /// Ends the session and the browser process (and a Firefox's geckodriver after it).
    pub async fn quit(self) -> anyhow::Result<()> {
        self.driver.quit().await?;
        Ok(())
    }

    /// Whether this is Firefox (for the few steps that differ).
    pub fn is_firefox(&self) -> bool {
        matches!(self.engine, Engine::Firefox { .. })
    }

    /// A number the page published for tests and benchmarks (`window.confab[key]`).
    pub async fn published(&self, key: &str) -> anyhow::Result<Option<f64>> {
        let ret = self
            .driver
            .execute(
                "const c = window.confab; return c && typeof c[arguments[0]] === 'number' ? c[arguments[0]] : null;",
                vec![serde_json::json!(key)],
            )
            .await?;
        Ok(ret.json().as_f64())
    }

    /// The underlying WebDriver, for scenario-specific scripts.
    pub fn driver(&self) -> &WebDriver {
        &self.driver
    }

    /// Sets a permission of the page's origin (`"notifications"`, `"granted"`) as a user
    /// would, with WebDriver's Set Permission (the Permissions spec's extension; Firefox
    /// and Chromium both take it).
    pub async fn set_permission(&self, name: &str, state: &str) -> anyhow::Result<()> {
        self.driver
            .handle()
            .cmd(Command::ExtensionCommand(Box::new(SetPermission {
                descriptor: serde_json::json!({ "name": name }),
                state: state.to_owned(),
            })))
            .await
            .with_context(|| format!("setting the permission {name} to {state}"))?;
        Ok(())
    }

    /// Clicks, as a user would, the notification titled `title` that Firefox shows in its
    /// own alert window ([`Browser::open_firefox_with_push`] turns the system's off):
    /// WebDriver's chrome context reaches that window (geckodriver runs with
    /// `--allow-system-access` for such a Firefox) and the click goes to the alert's box.
    /// The window lasts 20 s (alert.css), so click soon after the notification shows.
    /// Returns to the page's context and window, whatever the outcome.
    pub async fn click_firefox_notification(&self, title: &str) -> anyhow::Result<()> {
        let page_window = self.driver.window().await?;
        self.set_firefox_context("chrome").await?;
        let clicked = eventually(&format!("Firefox's alert {title:?}"), || async {
            for window in self.driver.windows().await? {
                self.driver.switch_to_window(window).await?;
                let url = self.driver.current_url().await?;
                if url.as_str() != "chrome://global/content/alerts/alert.xhtml" {
                    continue;
                }
                let label = self.driver.find(By::Id("alertTitleLabel")).await?;
                if label.attr("value").await?.as_deref() == Some(title) {
                    self.driver.find(By::Id("alertBox")).await?.click().await?;
                    return Ok(Some(()));
                }
            }
            Ok(None)
        })
        .await;
        self.set_firefox_context("content").await?;
        self.driver.switch_to_window(page_window).await?;
        clicked
    }

    /// Marionette's context for the commands that follow: `"chrome"` (the browser's own
    /// windows) or `"content"` (pages).
    async fn set_firefox_context(&self, context: &'static str) -> anyhow::Result<()> {
        self.driver
            .handle()
            .cmd(Command::ExtensionCommand(Box::new(FirefoxContext {
                context,
            })))
            .await
            .with_context(|| format!("switching Firefox to its {context} context"))?;
        Ok(())
    }

    /// A DevTools command (`goog/cdp/execute`), e.g. `Browser.setPermission`.
    pub async fn cdp(
        &self,
        cmd: &'static str,
        params: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let response = self
            .driver
            .handle()
            .cmd(Command::ExtensionCommand(Box::new(Cdp { cmd, params })))
            .await
            .with_context(|| format!("DevTools {cmd}"))?;
        Ok(response.value::<serde_json::Value>()?)
    }

    /// Every console entry since the last call, as JSON (for debugging a failing scenario).
    pub async fn console_all(&self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .console_entries()
            .await?
            .into_iter()
            .map(|entry| entry.to_string())
            .collect())
    }

    /// Console entries at level SEVERE (errors, CSP violations, panics) since the last call.
    ///
    /// Firefox has no console endpoint in WebDriver classic; with the pref
    /// `devtools.console.stdout.content` it writes the page's `console.*` calls to its
    /// output (geckodriver's log), and this reads the `console.error` lines there. Errors
    /// the page never passes to `console.error` (an uncaught exception, a CSP violation)
    /// are not among them in Firefox.
    pub async fn console_errors(&self) -> anyhow::Result<Vec<String>> {
        if let Engine::Firefox { .. } = self.engine {
            return Ok(self
                .firefox_console_lines()?
                .into_iter()
                .filter_map(|line| line.strip_prefix("console.error: ").map(str::to_owned))
                // Firefox's own experiment loader (Nimbus), not the page: it fails
                // offline, whatever the prefs say (Firefox Labs is on by policy).
                .filter(|error| !error.starts_with("RSLoader:"))
                .collect());
        }
        Ok(self
            .console_entries()
            .await?
            .into_iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// Firefox's console lines (`console.<level>: ...`) written since the last call.
    fn firefox_console_lines(&self) -> anyhow::Result<Vec<String>> {
        let Engine::Firefox {
            geckodriver,
            console_seen,
        } = &self.engine
        else {
            anyhow::bail!("{} is not Firefox", self.name);
        };
        let log = std::fs::read(&geckodriver.log)?;
        let mut seen = console_seen
            .lock()
            .map_err(|_| anyhow::anyhow!("console reader poisoned"))?;
        let new = String::from_utf8_lossy(log.get(*seen..).unwrap_or_default()).into_owned();
        // Only whole lines: a line still being written is read next time.
        let complete = new.rfind('\n').map_or(0, |end| end + 1);
        *seen += complete;
        Ok(new[..complete]
            .lines()
            .filter(|line| line.starts_with("console."))
            .map(str::to_owned)
            .collect())
    }

    /// The console entries since the last call (ChromeDriver hands each out once).
    async fn console_entries(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        if self.is_firefox() {
            return Ok(self
                .firefox_console_lines()?
                .into_iter()
                .map(serde_json::Value::String)
                .collect());
        }
        let response = self
            .driver
            .handle()
            .cmd(Command::ExtensionCommand(Box::new(BrowserLog)))
            .await?;
        Ok(response.value()?)
    }

    /// The text of the page's member list panel (rows and the line under them, such as
    /// "Connecting to 1 more…"); empty when there is none.
    pub async fn members_text(&self) -> anyhow::Result<String> {
        let ret = self
            .driver
            .execute(
                "const panel = document.querySelector('section.members');
                 return panel ? panel.innerText : '';",
                Vec::new(),
            )
            .await?;
        Ok(ret.json().as_str().unwrap_or_default().to_owned())
    }

    /// Fails if the console logged any error.
    pub async fn assert_no_console_errors(&self) -> anyhow::Result<()> {
        let errors = self.console_errors().await?;
        anyhow::ensure!(
            errors.is_empty(),
            "{}'s console logged errors: {errors:#?}",
            self.name
        );
        Ok(())
    }
}

/// A member row as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    /// Full text of the list item.
    pub text: String,
}

impl MemberRow {
    /// Shown as online with an encrypted, verified channel.
    pub fn is_online(&self) -> bool {
        self.text.contains("online, encrypted")
    }
}

/// The Confab chat page, seen by role and name.
pub struct ChatPage<'a> {
    browser: &'a Browser,
}

impl ChatPage<'_> {
    /// The browser showing this page.
    pub fn browser(&self) -> &Browser {
        self.browser
    }

    /// The element with this accessible role and name (waits for it).
    pub async fn by_role(&self, role: &str, name: &str) -> anyhow::Result<WebElement> {
        let driver = &self.browser.driver;
        let css = candidates_for(role);
        eventually(&format!("{role} named {name:?}"), || async move {
            for element in driver.find_all(By::Css(css)).await? {
                if computed(&element, "computedrole").await? == role
                    && computed(&element, "computedlabel").await? == name
                {
                    return Ok(Some(element));
                }
            }
            Ok(None)
        })
        .await
    }

    /// The invite link shown in the textbox named "Invite link".
    pub async fn invite_link(&self) -> anyhow::Result<String> {
        let field = self.by_role("textbox", "Invite link").await?;
        eventually("a non-empty invite link", || {
            let field = field.clone();
            async move { Ok(field.prop("value").await?.filter(|v| v.contains('#'))) }
        })
        .await
    }

    /// Types `text` into the "Message" textbox and presses Enter.
    pub async fn send(&self, text: &str) -> anyhow::Result<()> {
        let field = self.by_role("textbox", "Message").await?;
        field.send_keys(text).await?;
        field.send_keys(Key::Enter).await?;
        Ok(())
    }

    /// Every value in the page's IndexedDB database `confab`, as it lies on disk (sealed or
    /// not), read by a script in the page itself.
    pub async fn raw_indexeddb_values(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        const SCRIPT: &str = r#"
            const done = arguments[0];
            const open = indexedDB.open("confab");
            open.onerror = () => done({ error: String(open.error) });
            open.onsuccess = () => {
              const db = open.result;
              const names = Array.from(db.objectStoreNames);
              const tx = db.transaction(names, "readonly");
              const out = [];
              let pending = names.length;
              for (const name of names) {
                const req = tx.objectStore(name).getAll();
                req.onsuccess = () => {
                  for (const value of req.result) {
                    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value)
                      : ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
                      : new TextEncoder().encode(JSON.stringify(value));
                    out.push(Array.from(bytes));
                  }
                  if (--pending === 0) { db.close(); done({ values: out }); }
                };
              }
              if (names.length === 0) done({ values: [] });
            };
        "#;
        let ret = self
            .browser
            .driver
            .execute_async(SCRIPT, Vec::new())
            .await?;
        let json = ret.json();
        if let Some(error) = json.get("error") {
            anyhow::bail!("reading IndexedDB: {error}");
        }
        Ok(serde_json::from_value(json["values"].clone())?)
    }

    /// Types `text` into the "Message" textbox without sending it.
    pub async fn type_draft(&self, text: &str) -> anyhow::Result<()> {
        self.by_role("textbox", "Message")
            .await?
            .send_keys(text)
            .await?;
        Ok(())
    }

    /// Empties the "Message" textbox (as select-all and delete would).
    pub async fn clear_draft(&self) -> anyhow::Result<()> {
        let field = self.by_role("textbox", "Message").await?;
        field.send_keys(Key::Control + "a").await?;
        field.send_keys(Key::Backspace).await?;
        Ok(())
    }

    /// Our display name, as the "Display name" field shows it.
    pub async fn display_name(&self) -> anyhow::Result<String> {
        let field = self.by_role("textbox", "Display name").await?;
        Ok(field.prop("value").await?.unwrap_or_default())
    }

    /// Chooses `path` in the page's file input (the profile import).
    pub async fn choose_file(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let input = self
            .browser
            .driver
            .find(By::Css("input[type=file]"))
            .await?;
        input.send_keys(path.display().to_string()).await?;
        Ok(())
    }

    /// Offers the file at `path` to the room through the composer's chooser (the one the
    /// "Attach file" button opens).
    pub async fn attach_file(&self, path: &std::path::Path) -> anyhow::Result<()> {
        self.by_role("button", "Attach file").await?;
        let input = self
            .browser
            .driver
            .find(By::Css("form.composer input[type=file]"))
            .await?;
        input.send_keys(path.display().to_string()).await?;
        Ok(())
    }

    /// The percentage the progress bar named `name` shows, if it is shown now.
    pub async fn progress(&self, name: &str) -> anyhow::Result<Option<u64>> {
        // Elements redrawn while we look are skipped: the caller polls again.
        for element in self.browser.driver.find_all(By::Css("progress")).await? {
            if computed(&element, "computedlabel").await.ok().as_deref() == Some(name) {
                let value = element
                    .prop("value")
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                return Ok(value.parse::<f64>().ok().map(|v| v as u64));
            }
        }
        Ok(None)
    }

    /// Clicks the element with this role and name, finding it again if it was redrawn
    /// between finding and clicking.
    pub async fn click(&self, role: &str, name: &str) -> anyhow::Result<()> {
        eventually(&format!("a click on {role} {name:?}"), || async move {
            let element = self.by_role(role, name).await?;
            Ok(element.click().await.ok())
        })
        .await
    }

    /// Taps the element with this role and name with a finger (touch events at its
    /// centre as a touch screen sends them: over DevTools in Chromium, a W3C touch pointer
    /// in Firefox), after scrolling it into view;
    /// fails if something else is drawn on top of it there.
    pub async fn tap(&self, role: &str, name: &str) -> anyhow::Result<()> {
        let element = self.by_role(role, name).await?;
        let centre = self
            .browser
            .driver
            .execute(
                "const el = arguments[0];
                 el.scrollIntoView({ block: 'nearest', inline: 'nearest' });
                 const r = el.getBoundingClientRect();
                 const x = r.left + r.width / 2, y = r.top + r.height / 2;
                 const hit = document.elementFromPoint(x, y);
                 return { x, y, on_top: !!hit && (hit === el || el.contains(hit)) };",
                vec![element.to_json()?],
            )
            .await?;
        let centre = centre.json();
        anyhow::ensure!(
            centre["on_top"] == true,
            "{role} {name:?} is covered where a finger would tap it"
        );
        if self.browser.is_firefox() {
            // geckodriver has no DevTools; a W3C pointer of type "touch" sends touches.
            let finger = serde_json::json!([{
                "type": "pointer", "id": "finger", "parameters": { "pointerType": "touch" },
                "actions": [
                    { "type": "pointerMove", "origin": "viewport", "duration": 0,
                      "x": centre["x"].as_f64().unwrap_or(0.0).floor() as i64,
                      "y": centre["y"].as_f64().unwrap_or(0.0).floor() as i64 },
                    { "type": "pointerDown", "button": 0 },
                    { "type": "pointerUp", "button": 0 },
                ],
            }]);
            self.browser
                .driver
                .handle()
                .cmd(Command::PerformActions(finger.into()))
                .await?;
            return Ok(());
        }
        let point = serde_json::json!([{ "x": centre["x"], "y": centre["y"] }]);
        self.browser
            .cdp(
                "Input.dispatchTouchEvent",
                serde_json::json!({ "type": "touchStart", "touchPoints": point }),
            )
            .await?;
        self.browser
            .cdp(
                "Input.dispatchTouchEvent",
                serde_json::json!({ "type": "touchEnd", "touchPoints": [] }),
            )
            .await?;
        Ok(())
    }

    /// Whether an element with this role and name is shown now (no waiting).
    pub async fn has_role(&self, role: &str, name: &str) -> anyhow::Result<bool> {
        for element in self
            .browser
            .driver
            .find_all(By::Css(candidates_for(role)))
            .await?
        {
            if computed(&element, "computedrole").await.ok().as_deref() == Some(role)
                && computed(&element, "computedlabel").await.ok().as_deref() == Some(name)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The accessible role and name of the element that has focus.
    pub async fn focused(&self) -> anyhow::Result<(String, String)> {
        let focused = self.browser.driver.active_element().await?;
        Ok((
            computed(&focused, "computedrole").await?,
            computed(&focused, "computedlabel").await?,
        ))
    }

    /// The text of the status line named "Typing".
    pub async fn typing_line(&self) -> anyhow::Result<String> {
        Ok(self.by_role("status", "Typing").await?.text().await?)
    }

    /// Types `text` and clicks the "Send" button.
    pub async fn send_with_button(&self, text: &str) -> anyhow::Result<()> {
        let field = self.by_role("textbox", "Message").await?;
        field.send_keys(text).await?;
        self.by_role("button", "Send").await?.click().await?;
        Ok(())
    }

    /// Keyboard only: types `text`, presses Tab until focus lands on the button named
    /// "Send" (past the composer's other buttons, such as "Emoji"; it must get there
    /// within the composer), then Enter.
    pub async fn send_with_keyboard_via_button(&self, text: &str) -> anyhow::Result<()> {
        let field = self.by_role("textbox", "Message").await?;
        field.send_keys(text).await?;
        let mut passed = Vec::new();
        loop {
            self.browser
                .driver
                .action_chain()
                .send_keys(Key::Tab)
                .perform()
                .await?;
            let focused = self.browser.driver.active_element().await?;
            let (role, name) = self.focused().await?;
            if (role.as_str(), name.as_str()) == ("button", "Send") {
                focused.send_keys(Key::Enter).await?;
                return Ok(());
            }
            passed.push(format!("{role} {name:?}"));
            let in_composer = self
                .browser
                .driver
                .execute(
                    "return !!arguments[0].closest('form.composer');",
                    vec![focused.to_json()?],
                )
                .await?
                .json()
                .as_bool()
                == Some(true);
            anyhow::ensure!(
                in_composer && passed.len() < 5,
                "Tab left the composer before \"Send\": {passed:?}"
            );
        }
    }

    /// The body of every message in the list named "Messages", in order (lines saying
    /// what someone did to the room are not messages: see [`ChatPage::room_lines`]).
    pub async fn messages(&self) -> anyhow::Result<Vec<String>> {
        let list = self.by_role("list", "Messages").await?;
        let mut texts = Vec::new();
        for item in list
            .find_all(By::Css(":scope > li:not(.governance-line)"))
            .await?
        {
            texts.push(item.find(By::Css(".text")).await?.text().await?);
        }
        Ok(texts)
    }

    /// The lines of the list named "Messages" that say what someone did to the room
    /// ("Alice removed Dave"), in order.
    pub async fn room_lines(&self) -> anyhow::Result<Vec<String>> {
        let list = self.by_role("list", "Messages").await?;
        let mut texts = Vec::new();
        for item in list
            .find_all(By::Css(":scope > li.governance-line"))
            .await?
        {
            texts.push(item.text().await?);
        }
        Ok(texts)
    }

    /// The whole text of every item in the list named "Messages" (author and time on the
    /// first line, then the body, reactions, receipt and actions), in order.
    pub async fn message_items(&self) -> anyhow::Result<Vec<String>> {
        self.list_items("Messages").await
    }

    /// Waits until the list named "Messages" holds exactly `expected` (by body), in order;
    /// returns the whole items.
    pub async fn wait_for_messages(&self, expected: &[&str]) -> anyhow::Result<Vec<String>> {
        let want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        eventually(&format!("messages {want:?}"), || {
            let want = want.clone();
            async move {
                let texts = self.messages().await?;
                if texts != want {
                    return Ok(None);
                }
                Ok(Some(self.message_items().await?))
            }
        })
        .await
        .with_context(|| format!("in {}'s browser", self.browser.name))
    }

    /// The rows of the list named "Members".
    pub async fn members(&self) -> anyhow::Result<Vec<MemberRow>> {
        Ok(self
            .list_items("Members")
            .await?
            .into_iter()
            .map(|text| MemberRow { text })
            .collect())
    }

    /// Waits until at least `n` members are shown online.
    pub async fn wait_online(&self, n: usize) -> anyhow::Result<()> {
        eventually(&format!("{n} members online"), || async {
            let members = self.members().await?;
            Ok((members.iter().filter(|m| m.is_online()).count() >= n).then_some(()))
        })
        .await
        .with_context(|| format!("in {}'s browser", self.browser.name))
    }

    /// Waits until some member row satisfies `pred`; returns it.
    pub async fn wait_for_member(
        &self,
        what: &str,
        pred: impl Fn(&MemberRow) -> bool,
    ) -> anyhow::Result<MemberRow> {
        let pred = &pred;
        eventually(what, || async move {
            Ok(self.members().await?.into_iter().find(|row| pred(row)))
        })
        .await
        .with_context(|| format!("in {}'s browser", self.browser.name))
    }

    /// Our own key fingerprint from the header ("12345 67890 …").
    pub async fn own_fingerprint(&self) -> anyhow::Result<String> {
        let header = self
            .browser
            .driver
            .find(By::Css("header .fingerprint"))
            .await?;
        Ok(header
            .text()
            .await?
            .trim_start_matches("Key ")
            .trim()
            .to_owned())
    }

    /// The status line (role `status`) in the header.
    pub async fn server_status(&self) -> anyhow::Result<String> {
        let status = self
            .browser
            .driver
            .find(By::Css("header [role=status]"))
            .await?;
        Ok(status.text().await?)
    }

    /// How many elements of `tag` are inside the "Messages" list (to prove markup stayed text).
    pub async fn count_in_messages(&self, tag: &str) -> anyhow::Result<usize> {
        let list = self.by_role("list", "Messages").await?;
        Ok(list.find_all(By::Tag(tag)).await?.len())
    }

    /// The captions of the videos in the region named `region` (a call's tiles).
    pub async fn list_items_in(&self, region: &str) -> anyhow::Result<Vec<String>> {
        let section = self.by_role("region", region).await?;
        let mut texts = Vec::new();
        for caption in section.find_all(By::Css("figcaption")).await? {
            texts.push(caption.text().await.unwrap_or_default());
        }
        Ok(texts)
    }

    /// Clicks the button named `button` on the row of the list named `list_name` whose
    /// text holds `row` (per-row actions share a name: the row says whom they are about).
    pub async fn click_in_row(
        &self,
        list_name: &str,
        row: &str,
        button: &str,
    ) -> anyhow::Result<()> {
        let what = format!("a button {button:?} on the {list_name:?} row of {row:?}");
        eventually(&what, || async move {
            let list = self.by_role("list", list_name).await?;
            for item in list.find_all(By::Css(":scope > li")).await? {
                if !item.text().await.unwrap_or_default().contains(row) {
                    continue;
                }
                for candidate in item.find_all(By::Css(candidates_for("button"))).await? {
                    if computed(&candidate, "computedlabel").await.ok().as_deref() == Some(button) {
                        return Ok(candidate.click().await.ok());
                    }
                }
            }
            Ok(None)
        })
        .await
        .with_context(|| format!("in {}'s browser", self.browser.name))
    }

    /// The text of each item of the list named `list_name`.
    pub async fn list_items(&self, list_name: &str) -> anyhow::Result<Vec<String>> {
        let list = self.by_role("list", list_name).await?;
        let mut texts = Vec::new();
        for item in list.find_all(By::Css(":scope > li")).await? {
            texts.push(item.text().await?);
        }
        Ok(texts)
    }
}

fn candidates_for(role: &str) -> &'static str {
    match role {
        "textbox" => "input, textarea, [role=textbox]",
        "button" => "button, input[type=submit], input[type=button], [role=button]",
        "list" => "ul, ol, [role=list]",
        "listitem" => "li, [role=listitem]",
        "status" => "[role=status], output",
        "alert" => "[role=alert]",
        "link" => "a[href], [role=link]",
        "region" => "section[aria-label], [role=region]",
        "progressbar" => "progress, [role=progressbar]",
        "group" => "[role=group], fieldset",
        // Chromium names the role "image" (ARIA 1.3) where older versions said "img".
        "img" | "image" => "img, [role=img], [role=image]",
        "alertdialog" => "[role=alertdialog]",
        "combobox" => "select, [role=combobox]",
        "dialog" => "dialog, [role=dialog]",
        "searchbox" => "input[type=search], [role=searchbox]",
        "listbox" => "select, [role=listbox]",
        "option" => "option, [role=option]",
        "checkbox" => "input[type=checkbox], [role=checkbox]",
        _ => "*",
    }
}

/// ChromeDriver's console log endpoint (`goog:loggingPrefs` must be set).
#[derive(Debug)]
struct BrowserLog;

/// `POST /session/{id}/goog/cdp/execute`: a raw DevTools command.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl ExtensionCommand for Cdp {
    fn parameters_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({"cmd": self.cmd, "params": self.params}))
    }
    fn method(&self) -> http::Method {
        http::Method::POST
    }
    fn endpoint(&self) -> Arc<str> {
        "/goog/cdp/execute".into()
    }
}

/// `POST /session/{id}/moz/context` (geckodriver).
#[derive(Debug)]
struct FirefoxContext {
    context: &'static str,
}

impl ExtensionCommand for FirefoxContext {
    fn parameters_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "context": self.context }))
    }
    fn method(&self) -> http::Method {
        http::Method::POST
    }
    fn endpoint(&self) -> Arc<str> {
        "/moz/context".into()
    }
}

/// `POST /session/{id}/permissions`: WebDriver's Set Permission.
#[derive(Debug)]
struct SetPermission {
    descriptor: serde_json::Value,
    state: String,
}

impl ExtensionCommand for SetPermission {
    fn parameters_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "descriptor": self.descriptor, "state": self.state }))
    }
    fn method(&self) -> http::Method {
        http::Method::POST
    }
    fn endpoint(&self) -> Arc<str> {
        "/permissions".into()
    }
}

impl ExtensionCommand for BrowserLog {
    fn parameters_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "type": "browser" }))
    }
    fn method(&self) -> http::Method {
        http::Method::POST
    }
    fn endpoint(&self) -> Arc<str> {
        "/se/log".into()
    }
}

#[derive(Debug)]
struct Computed {
    element_id: String,
    what: &'static str,
}

impl ExtensionCommand for Computed {
    fn parameters_json(&self) -> Option<serde_json::Value> {
        None
    }
    fn method(&self) -> http::Method {
        http::Method::GET
    }
    fn endpoint(&self) -> Arc<str> {
        format!("/element/{}/{}", self.element_id, self.what).into()
    }
}

/// The browser-computed accessible role or name of an element.
async fn computed(element: &WebElement, what: &'static str) -> anyhow::Result<String> {
    let command = Computed {
        element_id: element.element_id().to_string(),
        what,
    };
    let response = element
        .handle()
        .cmd(Command::ExtensionCommand(Box::new(command)))
        .await?;
    Ok(response.value::<String>()?)
}
