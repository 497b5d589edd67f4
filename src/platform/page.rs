//! The page itself: URL fragment (an invite's room secret, read once; then the room's
//! address), query settings, clipboard. Its benchmark events exist only with the
//! `bench-hooks` feature, because any script of the origin could dispatch them; `cargo
//! xtask build` fails if its output names them.

use confab_core::RoomAddress;
use confab_core::room::Invite;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_futures::JsFuture;

use super::error::BrowserError;
use super::files::FileError;

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// The URL fragment without `#` (empty if none).
pub fn fragment() -> String {
    window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
        .trim_start_matches('#')
        .to_owned()
}

/// Replaces the fragment without reloading or adding a history entry.
fn set_fragment(fragment: &str) {
    replace_url(&format!("#{fragment}"));
}

/// Removes the fragment (an invite's room secret) from the address bar and from this
/// history entry, without reloading: the browser's history then never holds it again.
pub fn forget_fragment() {
    let Some(location) = window().map(|w| w.location()) else {
        return;
    };
    let path = location.pathname().unwrap_or_else(|_| "/".into());
    let search = location.search().unwrap_or_default();
    replace_url(&format!("{path}{search}"));
}

/// Shows `room`'s address (never its secret) in the address bar, in place of this
/// history entry's URL: a reload opens that room again.
pub fn show_room_address(room: RoomAddress) {
    set_fragment(&format!("{ROOM_PREFIX}{room}"));
}

fn replace_url(url: &str) {
    if let Some(history) = window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(url));
    }
}

/// How a room's address starts in a fragment: `#room-0123456789abcdef`.
const ROOM_PREFIX: &str = "room-";

/// The link that opens one of this profile's saved rooms by its address (never its
/// secret: see [`confab_core::Identity::room_address`]): for the rooms list, contacts,
/// notifications. It opens nothing in another browser.
pub fn room_link(room: RoomAddress) -> String {
    link_with_fragment(&format!("{ROOM_PREFIX}{room}"))
}

/// The invite link of a room: its link secret (and a governed room's genesis) in the
/// fragment ([`Invite::to_fragment`]). Shown, copied, shared and drawn as a QR code, never
/// put in the address bar.
pub fn invite_link(invite: &Invite) -> String {
    link_with_fragment(&invite.to_fragment())
}

/// The one shape of every link to the app: `<origin>/#<fragment>` (the fragment never
/// reaches the server).
fn link_with_fragment(fragment: &str) -> String {
    format!("{}/#{fragment}", origin())
}

/// The room address a fragment names (`room-<16 hex>`), if it names one.
pub fn room_address_in(fragment: &str) -> Option<RoomAddress> {
    fragment.strip_prefix(ROOM_PREFIX)?.parse().ok()
}

/// `scheme://host` of the page.
fn origin() -> String {
    window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// The WebSocket endpoint on the server that served the page (or the worker: any global
/// with a `location`).
pub fn socket_url() -> String {
    let location = js_sys::Reflect::get(&js_sys::global(), &"location".into()).ok();
    let field = |name: &str| {
        location
            .as_ref()
            .and_then(|location| js_sys::Reflect::get(location, &name.into()).ok())
            .and_then(|value| value.as_string())
            .unwrap_or_default()
    };
    let scheme = if field("protocol") == "https:" {
        "wss"
    } else {
        "ws"
    };
    format!("{scheme}://{}/ws", field("host"))
}

/// A query parameter (`?relay=force`).
pub fn query_param(name: &str) -> Option<String> {
    let search = window().and_then(|w| w.location().search().ok())?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}

/// Why the clipboard did not take a text.
#[derive(Debug, thiserror::Error)]
pub enum ClipboardError {
    /// Not on a page (no `window`).
    #[error("no window")]
    NoWindow,
    /// Outside a secure context (plain http on a non-local host) there is no clipboard.
    #[error("the clipboard needs https")]
    NeedsHttps,
    /// The browser refused (the message it gave, or "denied").
    #[error("{0}")]
    Refused(String),
}

/// Copies `text` to the clipboard.
pub async fn copy_to_clipboard(text: &str) -> Result<(), ClipboardError> {
    let navigator = window()
        .map(|w| w.navigator())
        .ok_or(ClipboardError::NoWindow)?;
    // Undefined outside secure contexts (plain http on a non-local host).
    if !js_sys::Reflect::has(&navigator, &"clipboard".into()).unwrap_or(false) {
        return Err(ClipboardError::NeedsHttps);
    }
    let clipboard = navigator.clipboard();
    JsFuture::from(clipboard.write_text(text))
        .await
        .map(|_| ())
        .map_err(|e| {
            ClipboardError::Refused(
                e.dyn_ref::<js_sys::Error>()
                    .map(|e| String::from(e.message()))
                    .unwrap_or_else(|| "denied".into()),
            )
        })
}

/// Publishes a list of numbers (benchmark samples) like [`publish`].
pub fn publish_numbers(key: &str, values: &[f64]) {
    let array: js_sys::Array = values
        .iter()
        .map(|value| wasm_bindgen::JsValue::from_f64(*value))
        .collect();
    publish(key, &array.into());
}

/// Publishes a value on `window` for the benchmark harness (`window.confab.<key>`).
pub fn publish(key: &str, value: &wasm_bindgen::JsValue) {
    let Some(window) = window() else { return };
    let holder = js_sys::Reflect::get(&window, &"confab".into())
        .ok()
        .filter(|v| v.is_object())
        .unwrap_or_else(|| {
            let object: wasm_bindgen::JsValue = js_sys::Object::new().into();
            let _ = js_sys::Reflect::set(&window, &"confab".into(), &object);
            object
        });
    let _ = js_sys::Reflect::set(&holder, &key.into(), value);
}

/// Calls `handler` when the page is being hidden for good or put in the back/forward cache
/// (`pagehide`), while it can still send. Lives as long as the page.
pub fn on_page_hide(handler: impl Fn() + 'static) {
    let Some(window) = window() else { return };
    let listener = wasm_bindgen::closure::Closure::<dyn Fn()>::new(handler);
    let _ = window.add_event_listener_with_callback("pagehide", listener.as_ref().unchecked_ref());
    listener.forget();
}

/// Calls `handler` when the page comes back from the back/forward cache (`pageshow` with
/// `persisted`). Lives as long as the page.
pub fn on_page_restored(handler: impl Fn() + 'static) {
    let Some(window) = window() else { return };
    let listener = wasm_bindgen::closure::Closure::<dyn Fn(web_sys::Event)>::new(
        move |event: web_sys::Event| {
            let persisted = js_sys::Reflect::get(&event, &"persisted".into())
                .ok()
                .and_then(|p| p.as_bool())
                .unwrap_or(false);
            if persisted {
                handler();
            }
        },
    );
    let _ = window.add_event_listener_with_callback("pageshow", listener.as_ref().unchecked_ref());
    listener.forget();
}

/// Calls `handler(detail)` whenever the benchmark harness dispatches
/// `new CustomEvent(name, { detail: [numbers] })` on `window`. Lives as long as the page.
/// Results come back through [`publish`]. Only the harness (WebDriver) dispatches these,
/// and only benchmark builds listen (feature `bench-hooks`).
#[cfg(feature = "bench-hooks")]
pub fn on_bench_request(name: &str, handler: impl Fn(Vec<f64>) + 'static) {
    let Some(window) = window() else { return };
    let listener = wasm_bindgen::closure::Closure::<dyn Fn(web_sys::Event)>::new(
        move |event: web_sys::Event| {
            let detail = event
                .dyn_ref::<web_sys::CustomEvent>()
                .map(|e| e.detail())
                .unwrap_or_default();
            let numbers = js_sys::Array::from(&detail)
                .iter()
                .filter_map(|v| v.as_f64())
                .collect();
            handler(numbers);
        },
    );
    let _ = window.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
    listener.forget();
}

/// Watches an element's size (a `ResizeObserver`) until dropped.
pub struct SizeWatch {
    observer: web_sys::ResizeObserver,
    _handler: wasm_bindgen::closure::Closure<dyn Fn()>,
}

impl Drop for SizeWatch {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// Calls `handler` after layout whenever `element`'s box changes size, whatever changed
/// it (the window, an on-screen keyboard, a composer growing, a panel opening), and once
/// when the watch starts. `None` where the browser has no `ResizeObserver`.
pub fn on_size_change(
    element: &web_sys::Element,
    handler: impl Fn() + 'static,
) -> Option<SizeWatch> {
    let handler = wasm_bindgen::closure::Closure::<dyn Fn()>::new(handler);
    let observer = web_sys::ResizeObserver::new(handler.as_ref().unchecked_ref()).ok()?;
    observer.observe(element);
    Some(SizeWatch {
        observer,
        _handler: handler,
    })
}

/// Whether the page is visible (not a background tab, not minimised).
pub fn is_visible() -> bool {
    window()
        .and_then(|w| w.document())
        .is_none_or(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
}

/// Calls `handler(visible)` whenever the page is shown or hidden. Lives as long as the page.
pub fn on_visibility_change(handler: impl Fn(bool) + 'static) {
    let Some(document) = window().and_then(|w| w.document()) else {
        return;
    };
    let listener = wasm_bindgen::closure::Closure::<dyn Fn()>::new(move || handler(is_visible()));
    let _ = document
        .add_event_listener_with_callback("visibilitychange", listener.as_ref().unchecked_ref());
    listener.forget();
}

/// Calls `handler` on user activity (keys, pointer, touch, wheel), at most every 10 s.
/// Lives as long as the page.
pub fn on_activity(handler: impl Fn() + 'static) {
    let Some(window) = window() else { return };
    let last = std::cell::Cell::new(f64::NEG_INFINITY);
    let listener = wasm_bindgen::closure::Closure::<dyn Fn()>::new(move || {
        let now = js_sys::Date::now();
        if now - last.get() >= 10_000.0 {
            last.set(now);
            handler();
        }
    });
    for name in [
        "keydown",
        "pointerdown",
        "pointermove",
        "wheel",
        "touchstart",
    ] {
        let _ = window.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
    }
    listener.forget();
}

/// Offers `bytes` as a file download named `file_name`.
pub fn download(file_name: &str, bytes: &[u8]) -> Result<(), FileError> {
    let fail = |what: &str| FileError::DownloadRefused(BrowserError::because(what));
    let document = window()
        .and_then(|w| w.document())
        .ok_or_else(|| fail("no document"))?;
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/octet-stream");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|_| fail("blob"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| fail("url"))?;
    let link: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|_| fail("link"))?
        .unchecked_into();
    link.set_href(&url);
    link.set_download(file_name);
    link.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// Why a chosen file's bytes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ChosenFileError {
    /// The input holds no file.
    #[error("no file chosen")]
    NoneChosen,
    /// The browser could not read it (moved, deleted, no permission).
    #[error("the file could not be read")]
    Unreadable,
}

/// The bytes of the first file chosen in `input` (an `<input type=file>`).
pub async fn read_chosen_file(
    input: &web_sys::HtmlInputElement,
) -> Result<Vec<u8>, ChosenFileError> {
    let file = input
        .files()
        .and_then(|files| files.get(0))
        .ok_or(ChosenFileError::NoneChosen)?;
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|_| ChosenFileError::Unreadable)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Milliseconds on the page's monotonic clock (`performance.now()`; 0 without one).
pub fn now_ms() -> f64 {
    window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Reloads the page.
pub fn reload() {
    if let Some(window) = window() {
        let _ = window.location().reload();
    }
}

/// Publishes `performance.now()` under `key` once the next frame has been painted (two
/// animation frames from now), for the benchmark harness.
pub fn publish_after_paint(key: &'static str) {
    let Some(window) = window() else { return };
    let second = wasm_bindgen::closure::Closure::once_into_js(move || {
        let now = web_sys::window()
            .and_then(|w| w.performance())
            .map_or(0.0, |p| p.now());
        publish(key, &now.into());
    });
    let first = wasm_bindgen::closure::Closure::once_into_js(move || {
        if let Some(window) = web_sys::window() {
            let _ = window.request_animation_frame(second.unchecked_ref());
        }
    });
    let _ = window.request_animation_frame(first.unchecked_ref());
}

/// Calls `handler` when the URL fragment changes by navigation (a pasted invite link, a
/// room picked from the list; not [`forget_fragment`] or [`show_room_address`]). Lives as
/// long as the page.
pub fn on_hash_change(handler: impl Fn() + 'static) {
    let Some(window) = window() else { return };
    let listener = wasm_bindgen::closure::Closure::<dyn Fn()>::new(handler);
    let _ =
        window.add_event_listener_with_callback("hashchange", listener.as_ref().unchecked_ref());
    listener.forget();
}

/// Loads the app afresh without a fragment, so it opens the last room of the profile.
pub fn open_home() {
    if let Some(window) = window() {
        let _ = window.location().assign("/");
    }
}
