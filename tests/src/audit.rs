//! The accessibility audit: axe-core (the engine behind Lighthouse's audit), pinned and
//! installed from npm by `cargo xtask install`, injected into the page as it is and run
//! there, in each colour scheme (Chromium's DevTools emulation of
//! `prefers-color-scheme`), in whatever layout the browser has (a desktop window, or a
//! phone from [`Browser::open_phone`]). Violations of impact "serious" or "critical" fail
//! a test, as do those of the few lesser rules in [`ALSO_FAILING`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use crate::Browser;

/// The pinned axe-core's script (`axe.min.js`), read once per test.
pub struct Axe {
    script: String,
}

/// One rule broken by one or more elements.
#[derive(Debug, Clone)]
pub struct Violation {
    /// Where and how the page was audited ("a room (dark, phone)").
    pub context: String,
    /// axe's rule id ("color-contrast").
    pub rule: String,
    /// "minor", "moderate", "serious" or "critical".
    pub impact: String,
    /// What the rule asks for.
    pub help: String,
    /// Each element's selector and axe's summary of what is wrong with it.
    pub nodes: Vec<(String, String)>,
}

/// A colour scheme the page is audited in (`prefers-color-scheme`).
#[derive(Clone, Copy, Debug)]
pub enum Scheme {
    Light,
    Dark,
}

/// Rules of "moderate" impact the audit fails on too, once the app met them: every screen
/// has a level-one heading (screen readers jump to it; the passphrase prompt and the
/// other-tab screen had none).
const ALSO_FAILING: &[&str] = &["page-has-heading-one"];

impl Violation {
    /// Whether the bar fails on it (serious or critical), or it breaks a rule of
    /// lesser impact that we hold ourselves to ([`ALSO_FAILING`]).
    pub fn fails(&self) -> bool {
        matches!(self.impact.as_str(), "serious" | "critical")
            || ALSO_FAILING.contains(&self.rule.as_str())
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "[{}] {} in {}: {}",
            self.impact, self.rule, self.context, self.help
        )?;
        for (target, summary) in &self.nodes {
            writeln!(f, "    {target}: {}", summary.replace('\n', " / "))?;
        }
        Ok(())
    }
}

impl Axe {
    /// Reads `axe.min.js` from `CONFAB_AXE` (set by `cargo xtask test`), else from the
    /// workspace's `.tools/`.
    pub fn load() -> anyhow::Result<Axe> {
        let path = std::env::var_os("CONFAB_AXE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../.tools/node_modules/axe-core/axe.min.js")
            });
        let script = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading axe-core at {} (`cargo xtask install --browser` installs it)",
                path.display()
            )
        })?;
        Ok(Axe { script })
    }

    /// Audits the page `browser` shows now, in both colour schemes; returns every
    /// violation found, each with `what` and the scheme in its context. The page is left
    /// light.
    pub async fn audit(&self, browser: &Browser, what: &str) -> anyhow::Result<Vec<Violation>> {
        let mut found = Vec::new();
        for scheme in [Scheme::Light, Scheme::Dark] {
            emulate_scheme(browser, scheme).await?;
            // Let transitions and the scheme's colours settle.
            tokio::time::sleep(Duration::from_millis(300)).await;
            check_scheme(browser, scheme).await?;
            let context = format!("{what} ({scheme:?})").to_lowercase();
            found.extend(self.run(browser, &context).await?);
        }
        emulate_scheme(browser, Scheme::Light).await?;
        Ok(found)
    }

    /// Fails unless axe, run on the page as it is, reports a probe the test adds: a button
    /// with no name and grey text on white (2.3:1), which must come back as "button-name"
    /// (critical) and "color-contrast" (serious). Proves the audit sees what it should
    /// before a test relies on it finding nothing.
    pub async fn check_finds_probe(&self, browser: &Browser) -> anyhow::Result<()> {
        browser
            .driver()
            .execute(
                // Styled through the CSSOM: the app's CSP refuses style attributes in markup.
                "const probe = document.createElement('div');
                 probe.id = 'axe-probe';
                 probe.style.cssText = 'position:fixed;top:0;left:0;z-index:2147483647';
                 const button = document.createElement('button');
                 button.style.cssText = 'width:2em;height:2em';
                 const faint = document.createElement('p');
                 faint.textContent = 'faint';
                 faint.style.cssText = 'color:#aaa;background:#fff;font-size:12px';
                 probe.append(button, faint);
                 document.body.append(probe);",
                Vec::new(),
            )
            .await?;
        let found = self.run(browser, "the probe").await;
        browser
            .driver()
            .execute(
                "document.getElementById('axe-probe')?.remove();",
                Vec::new(),
            )
            .await?;
        let found = found?;
        for (rule, impact) in [("button-name", "critical"), ("color-contrast", "serious")] {
            anyhow::ensure!(
                found.iter().any(|v| v.rule == rule
                    && v.impact == impact
                    && v.nodes
                        .iter()
                        .any(|(target, _)| target.contains("axe-probe"))),
                "axe did not report the probe's {rule}: {found:#?}"
            );
        }
        Ok(())
    }

    /// Runs axe once on the page as it is; injects it first if this document lacks it.
    pub async fn run(&self, browser: &Browser, context: &str) -> anyhow::Result<Vec<Violation>> {
        let present = browser
            .driver()
            .execute("return typeof window.axe === 'object';", Vec::new())
            .await?;
        if present.json() != &json!(true) {
            browser.driver().execute(&self.script, Vec::new()).await?;
        }
        let result = browser
            .driver()
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 const shape = (v, impact) => ({
                   rule: v.id, impact: impact || v.impact || '', help: v.help,
                   nodes: v.nodes.map(n => [n.target.join(' '), n.failureSummary
                     || n.any.concat(n.all).map(c => c.message).join('; ')]),
                 });
                 axe.run(document, { resultTypes: ['violations', 'incomplete'] })
                   .then(r => done({ violations: r.violations.map(v => shape(v))
                     .concat(r.incomplete.filter(v => v.id === 'color-contrast').map(v => shape(v, 'needs review'))) }))
                   .catch(e => done({ error: String(e) }));",
                Vec::new(),
            )
            .await?;
        let result = result.json();
        if let Some(error) = result.get("error") {
            anyhow::bail!("axe failed in {context}: {error}");
        }
        let mut violations = Vec::new();
        for v in result["violations"].as_array().into_iter().flatten() {
            violations.push(Violation {
                context: context.to_owned(),
                rule: v["rule"].as_str().unwrap_or_default().to_owned(),
                impact: v["impact"].as_str().unwrap_or_default().to_owned(),
                help: v["help"].as_str().unwrap_or_default().to_owned(),
                nodes: serde_json::from_value(v["nodes"].clone())?,
            });
        }
        Ok(violations)
    }
}

/// Fails unless the page sees `scheme` (the emulation took).
async fn check_scheme(browser: &Browser, scheme: Scheme) -> anyhow::Result<()> {
    let dark = browser
        .driver()
        .execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            Vec::new(),
        )
        .await?;
    anyhow::ensure!(
        dark.json().as_bool() == Some(matches!(scheme, Scheme::Dark)),
        "emulating {scheme:?}, the page sees dark {}",
        dark.json()
    );
    Ok(())
}

/// Emulates `prefers-color-scheme` (DevTools `Emulation.setEmulatedMedia`).
pub async fn emulate_scheme(browser: &Browser, scheme: Scheme) -> anyhow::Result<()> {
    let value = match scheme {
        Scheme::Light => "light",
        Scheme::Dark => "dark",
    };
    browser
        .cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": value }] }),
        )
        .await?;
    Ok(())
}

/// Prints every violation (the failing ones last) and fails if any is serious or
/// critical.
pub fn check(violations: &[Violation]) -> anyhow::Result<()> {
    let (failing, other): (Vec<&Violation>, Vec<&Violation>) =
        violations.iter().partition(|v| v.fails());
    for violation in other.iter().chain(&failing) {
        println!("{violation}");
    }
    anyhow::ensure!(
        failing.is_empty(),
        "{} failing accessibility violations (serious, critical, or a rule in ALSO_FAILING):\n{}",
        failing.len(),
        failing
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("")
    );
    Ok(())
}
