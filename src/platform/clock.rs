//! Time: the monotonic `Instant` core wants, wall-clock milliseconds for message times,
//! and a cancellable sleep.

use std::time::Duration;

use confab_core::{Instant, UnixMillis};

/// Monotonic now (performance.now() under the hood).
pub fn now() -> Instant {
    Instant::now()
}

/// Wall-clock time for message timestamps.
pub fn wall() -> UnixMillis {
    UnixMillis(js_sys::Date::now().max(0.0) as u64)
}

/// Local `HH:MM` for a message time.
pub fn format_time(at: UnixMillis) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at.0 as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

/// ISO 8601 for `<time datetime>`.
pub fn iso_time(at: UnixMillis) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at.0 as f64));
    date.to_iso_string().into()
}

/// Resolves after `duration`; dropping it clears the browser timer.
pub fn sleep(duration: Duration) -> gloo_timers::future::TimeoutFuture {
    let millis = u32::try_from(duration.as_millis())
        .unwrap_or(u32::MAX)
        .max(1);
    gloo_timers::future::TimeoutFuture::new(millis)
}

/// Milliseconds on the page's high-resolution clock (`performance.now()`), for benchmark
/// figures; 0 where there is none.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// A warning in the browser's console.
pub fn log(text: &str) {
    web_sys::console::warn_1(&text.into());
}
