//! Call set-up: Alice clicks "Video call", Bob clicks Accept as soon as it rings; measured
//! in each page on its own clock: Alice from her click to the first frame of Bob's video,
//! Bob from his Accept to the first frame of Alice's video (no ringing time in it). Three
//! calls in the same two browsers (the first one also adds the transceivers; later ones
//! reuse them), hanging up in between.

use anyhow::Context as _;
use confab_e2e::{Browser, Chromedriver, Env, Server, eventually};
use serde_json::{Value, json};

use super::{median, progress, quit};

const CALLS: usize = 3;

/// Records, in the page, when a call button was clicked and when a remote video first had
/// a frame (`window.confabCall`).
const CALL_WATCH: &str = "
  const w = (window.confabCall = { clickAt: null, frameAt: null });
  document.addEventListener('click', event => {
    const button = event.target.closest('button');
    const name = button && (button.getAttribute('aria-label') || button.textContent.trim());
    if (name === 'Video call' || name === 'Accept') {
      w.clickAt = performance.now();
      w.frameAt = null;
      const look = () => {
        const remote = [...document.querySelectorAll('video')].find(v =>
          !['You', 'Your screen'].includes(v.getAttribute('aria-label')) && v.videoWidth > 0);
        if (remote) { w.frameAt = performance.now(); } else { requestAnimationFrame(look); }
      };
      requestAnimationFrame(look);
    }
  }, true);";

/// Call set-up times, in ms.
pub struct CallFigures {
    /// Alice: "Video call" clicked → first frame of Bob (includes the harness's Accept).
    pub caller: Vec<f64>,
    /// Bob: Accept clicked → first frame of Alice.
    pub callee: Vec<f64>,
}

impl CallFigures {
    pub fn print(&self) {
        println!("\nCall set-up (video, direct path, {CALLS} calls)");
        println!(
            "  caller: click to first remote frame   median {:.0} ms  ({})",
            median(&self.caller),
            list(&self.caller)
        );
        println!(
            "  callee: Accept to first remote frame  median {:.0} ms  ({})",
            median(&self.callee),
            list(&self.callee)
        );
    }

    pub fn json(&self) -> Value {
        json!({
            "caller_click_to_first_frame_ms": self.caller,
            "callee_accept_to_first_frame_ms": self.callee,
            "caller_median_ms": median(&self.caller),
            "callee_median_ms": median(&self.callee),
        })
    }
}

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn measure(
    env: &Env,
    server: &Server,
    chromedriver: &Chromedriver,
) -> anyhow::Result<CallFigures> {
    let alice = Browser::open(chromedriver, env, "bench-call-alice").await?;
    let bob = Browser::open(chromedriver, env, "bench-call-bob").await?;
    let outcome = scenario(server, &alice, &bob).await;
    quit(alice).await;
    quit(bob).await;
    outcome
}

async fn scenario(server: &Server, alice: &Browser, bob: &Browser) -> anyhow::Result<CallFigures> {
    let a = alice.open_chat(&format!("{}/", server.url)).await?;
    let invite = a.invite_link().await?;
    let b = bob.open_chat(&invite).await?;
    a.wait_for_member("Bob online", |m| m.is_online() && m.text.contains("direct"))
        .await?;
    b.wait_for_member("Alice online", |m| m.is_online()).await?;
    for browser in [alice, bob] {
        browser.driver().execute(CALL_WATCH, vec![]).await?;
    }
    let mut figures = CallFigures {
        caller: Vec::new(),
        callee: Vec::new(),
    };
    for call in 1..=CALLS {
        eventually("Video call enabled", || async {
            let button = a.by_role("button", "Video call").await?;
            Ok(button.is_enabled().await?.then_some(()))
        })
        .await?;
        a.click("button", "Video call").await?;
        b.click("button", "Accept").await?;
        figures.caller.push(setup(alice).await.context("caller")?);
        figures.callee.push(setup(bob).await.context("callee")?);
        a.click("button", "Hang up").await?;
        b.click("button", "Hang up").await?;
        progress(&format!("call {call} done"));
    }
    Ok(figures)
}

/// Waits for the page's first remote frame; returns click → frame in ms.
async fn setup(browser: &Browser) -> anyhow::Result<f64> {
    eventually("a remote frame", || async {
        let value = browser
            .driver()
            .execute(
                "const w = window.confabCall; return w && w.frameAt !== null && w.clickAt !== null ? w.frameAt - w.clickAt : null;",
                vec![],
            )
            .await?
            .json()
            .as_f64();
        Ok(value)
    })
    .await
}
