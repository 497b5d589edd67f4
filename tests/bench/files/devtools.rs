//! DevTools for the file transfer bench, through chromedriver (`goog/cdp/execute`): raw
//! commands, each page's main-thread time (`Performance.getMetrics`) and CPU profiles
//! summarised by self time.

use std::path::PathBuf;

use confab_e2e::Browser;
use serde_json::{Value, json};

/// Main-thread time of each page during a transfer, from DevTools `Performance.getMetrics`
/// (`TaskDuration`, `ScriptDuration`), as a share of the wall time.
#[derive(Clone, Copy, Default)]
pub struct Busy {
    pub alice_task: Option<f64>,
    pub alice_script: Option<f64>,
    pub bob_task: Option<f64>,
    pub bob_script: Option<f64>,
}

/// A DevTools CPU profile of one page, by self time.
pub struct ProfileSummary {
    pub page: &'static str,
    pub file: PathBuf,
    /// (what, share of the samples), largest first: categories, then single functions.
    pub categories: Vec<(String, f64)>,
    pub top: Vec<(String, f64)>,
}

/// Cumulative main-thread figures of both pages at one moment.
pub struct Metrics {
    alice: Option<PageMetrics>,
    bob: Option<PageMetrics>,
}

#[derive(Clone, Copy)]
struct PageMetrics {
    /// Seconds.
    timestamp: f64,
    task: f64,
    script: f64,
}

impl Busy {
    pub fn between(before: &Metrics, after: &Metrics) -> Busy {
        let share = |before: Option<PageMetrics>, after: Option<PageMetrics>, script: bool| {
            let (before, after) = (before?, after?);
            let wall = after.timestamp - before.timestamp;
            let busy = if script {
                after.script - before.script
            } else {
                after.task - before.task
            };
            (wall > 0.0).then(|| busy / wall)
        };
        Busy {
            alice_task: share(before.alice, after.alice, false),
            alice_script: share(before.alice, after.alice, true),
            bob_task: share(before.bob, after.bob, false),
            bob_script: share(before.bob, after.bob, true),
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "alice_task": self.alice_task, "alice_script": self.alice_script,
            "bob_task": self.bob_task, "bob_script": self.bob_script,
        })
    }
}

impl Metrics {
    pub async fn of_both(alice: &Browser, bob: &Browser) -> anyhow::Result<Metrics> {
        Ok(Metrics {
            alice: page_metrics(alice).await?,
            bob: page_metrics(bob).await?,
        })
    }
}

impl ProfileSummary {
    /// Sorts the profile's self time (sample counts) into categories and functions.
    pub fn of(page: &'static str, profile: &Value, file: PathBuf) -> ProfileSummary {
        let mut categories: Vec<(String, f64)> = Vec::new();
        let mut functions: Vec<(String, f64)> = Vec::new();
        let add = |list: &mut Vec<(String, f64)>, key: String, hits: f64| match list
            .iter_mut()
            .find(|(k, _)| *k == key)
        {
            Some(entry) => entry.1 += hits,
            None => list.push((key, hits)),
        };
        let nodes = profile["nodes"].as_array().cloned().unwrap_or_default();
        for node in &nodes {
            let hits = node["hitCount"].as_f64().unwrap_or(0.0);
            if hits == 0.0 {
                continue;
            }
            let frame = &node["callFrame"];
            let name = frame["functionName"].as_str().unwrap_or_default();
            let url = frame["url"].as_str().unwrap_or_default();
            let file_name = url.rsplit('/').next().unwrap_or_default();
            let category = if url.ends_with(".wasm") || url.starts_with("wasm://") {
                "wasm (the app)"
            } else if file_name.starts_with("confab-") && file_name.ends_with(".js") {
                "JS glue (wasm-bindgen)"
            } else if name.starts_with('(') {
                name
            } else if url.is_empty() {
                "browser built-ins (IndexedDB, data channel, DOM…)"
            } else {
                "other JS"
            };
            add(&mut categories, category.to_owned(), hits);
            let label = match (name, file_name) {
                ("", "") => "(anonymous)".to_owned(),
                (name, "") => name.to_owned(),
                ("", file) => format!("(anonymous) {file}"),
                (name, file) => format!("{name} {file}"),
            };
            add(&mut functions, label, hits);
        }
        let total: f64 = categories
            .iter()
            .map(|(_, hits)| hits)
            .sum::<f64>()
            .max(1.0);
        let finish = |mut list: Vec<(String, f64)>, keep: usize| {
            list.sort_by(|a, b| b.1.total_cmp(&a.1));
            list.truncate(keep);
            list.into_iter()
                .map(|(key, hits)| (key, hits / total))
                .collect()
        };
        ProfileSummary {
            page,
            file,
            categories: finish(categories, 12),
            top: finish(functions, 12),
        }
    }

    pub fn print(&self) {
        let list = |entries: &[(String, f64)]| {
            entries
                .iter()
                .map(|(what, share)| format!("{what} {:.0}%", share * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "   {}'s main thread in a profiled transfer ({}):",
            self.page,
            self.file.display()
        );
        println!("     by kind: {}", list(&self.categories));
        println!("     top self time: {}", list(&self.top));
    }
}

/// A DevTools command through chromedriver.
pub async fn cdp(browser: &Browser, cmd: &'static str, params: Value) -> anyhow::Result<Value> {
    browser.cdp(cmd, params).await
}

/// Starts the DevTools sampling profiler in the page (every 250 µs).
pub async fn start_profiler(browser: &Browser) -> anyhow::Result<()> {
    cdp(browser, "Profiler.enable", json!({})).await?;
    cdp(
        browser,
        "Profiler.setSamplingInterval",
        json!({"interval": 250}),
    )
    .await?;
    cdp(browser, "Profiler.start", json!({})).await?;
    Ok(())
}

/// Stops the profiler; the profile (DevTools `.cpuprofile` JSON).
pub async fn stop_profiler(browser: &Browser) -> anyhow::Result<Value> {
    let stopped = cdp(browser, "Profiler.stop", json!({})).await?;
    cdp(browser, "Profiler.disable", json!({})).await?;
    Ok(stopped["profile"].clone())
}

/// `Performance.getMetrics` of the page (`None` if DevTools does not give them).
async fn page_metrics(browser: &Browser) -> anyhow::Result<Option<PageMetrics>> {
    let value = cdp(browser, "Performance.getMetrics", json!({})).await?;
    let metric = |name: &str| {
        value["metrics"]
            .as_array()?
            .iter()
            .find(|m| m["name"] == name)?["value"]
            .as_f64()
    };
    Ok((|| {
        Some(PageMetrics {
            timestamp: metric("Timestamp")?,
            task: metric("TaskDuration")?,
            script: metric("ScriptDuration")?,
        })
    })())
}
