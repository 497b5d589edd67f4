//! A scenario over named browsers: [`with_browsers`] opens one browser per [`Seat`], runs
//! the scenario on them and then, whatever its outcome, screenshots each and quits each.

use crate::{Browser, Chromedriver, Env};

/// One browser of a scenario: how it runs, its profile's name and its last screenshot.
pub struct Seat {
    kind: Kind,
    profile: String,
    screenshot: String,
}

/// How a seat's browser runs.
enum Kind {
    Desktop,
    Phone,
    Firefox,
    /// Firefox whose push client speaks to the push service at this `ws://` URL.
    FirefoxWithPush(String),
}

impl Seat {
    /// Chromium on a desktop: profile `<scenario>-<who>`, screenshot `<scenario>-<who>.png`.
    pub fn desktop(scenario: &str, who: &str) -> Seat {
        Seat {
            kind: Kind::Desktop,
            profile: format!("{scenario}-{who}"),
            screenshot: format!("{scenario}-{who}.png"),
        }
    }

    /// Chromium as a phone: profile `<scenario>-<who>`, screenshot
    /// `<scenario>-phone-<who>.png`.
    pub fn phone(scenario: &str, who: &str) -> Seat {
        Seat {
            kind: Kind::Phone,
            profile: format!("{scenario}-{who}"),
            screenshot: format!("{scenario}-phone-{who}.png"),
        }
    }

    /// Firefox: profile `<scenario>-<who>-firefox`, screenshot of the same name.
    pub fn firefox(scenario: &str, who: &str) -> Seat {
        Seat {
            kind: Kind::Firefox,
            profile: format!("{scenario}-{who}-firefox"),
            screenshot: format!("{scenario}-{who}-firefox.png"),
        }
    }

    /// Firefox whose push client speaks to `push_server` (see
    /// [`Browser::open_firefox_with_push`]): named as [`Seat::firefox`].
    pub fn firefox_with_push(scenario: &str, who: &str, push_server: &str) -> Seat {
        Seat {
            kind: Kind::FirefoxWithPush(push_server.to_owned()),
            ..Seat::firefox(scenario, who)
        }
    }

    async fn open(&self, chromedriver: &Chromedriver, env: &Env) -> anyhow::Result<Browser> {
        match &self.kind {
            Kind::Desktop => Browser::open(chromedriver, env, &self.profile).await,
            Kind::Phone => Browser::open_phone(chromedriver, env, &self.profile).await,
            Kind::Firefox => Browser::open_firefox(env, &self.profile).await,
            Kind::FirefoxWithPush(push_server) => {
                Browser::open_firefox_with_push(env, &self.profile, push_server).await
            }
        }
    }
}

/// Opens a browser for each of `seats` (in order), runs `scenario` on them, then
/// screenshots each (`CONFAB_E2E_OUT`) and quits each, whether the scenario passed or
/// failed, and returns its outcome. Should a browser not open, those opened are quit.
pub async fn with_browsers<const N: usize, T>(
    env: &Env,
    chromedriver: &Chromedriver,
    seats: [Seat; N],
    scenario: impl AsyncFnOnce([&Browser; N]) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut browsers = Vec::with_capacity(N);
    for seat in &seats {
        match seat.open(chromedriver, env).await {
            Ok(browser) => browsers.push(browser),
            Err(error) => {
                for browser in browsers {
                    browser.quit().await.ok();
                }
                return Err(error);
            }
        }
    }
    let outcome = scenario(std::array::from_fn(|idx| &browsers[idx])).await;
    for (browser, seat) in browsers.iter().zip(&seats) {
        browser.screenshot(env, &seat.screenshot).await.ok();
    }
    for browser in browsers {
        browser.quit().await.ok();
    }
    outcome
}
