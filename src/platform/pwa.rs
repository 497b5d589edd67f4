//! The installable app: the service worker (`assets/sw.js`, which keeps the app shell so
//! Confab opens offline, and a new build until the user updates), the running build's
//! fingerprint and the "Update" step, the browser's install offer, notifications, the
//! unread count in the title and app badge, and the Web Share API.
//!
//! - **The page comes from the device, not the server** (issue 14), which could otherwise
//!   change the code a member runs at any load. The worker keeps each build whole or not at
//!   all in its own cache, checked against the shell's SHA-256s and the fingerprint
//!   (`xtask/src/service_worker.rs` says how anyone recomputes it from a release), and
//!   answers from the *running* build's cache only, so a page never mixes builds. The first
//!   build runs at once, a later one only after "Update available" — "Update"; every tab
//!   then reloads. The Security panel shows the running fingerprint. Offline, the app opens
//!   from the cache and IndexedDB.
//! - **Limits.** Browsers fetch `sw.js` itself from the server (at least daily, bypassing
//!   caches), so a hostile server can still ship a worker that takes over at once, and the
//!   fingerprint is shown by the code it describes. This makes a change of code explicit and
//!   visible, and with reproducible builds (`xtask/src/build.rs`) checkable against a
//!   release; a guarantee against a hostile origin needs the browser's help (as Meta's Code
//!   Verify gives WhatsApp Web). The boot script and the wasm are pinned with SHA-384
//!   (`xtask/src/boot_script.rs`), the glue and CSS by Trunk's `integrity`.
//! - **Registration.** `/sw.js` is registered for scope `/` only when the page is served
//!   over http(s) and links the manifest, so wasm-bindgen-test pages never get a worker.
//! - **Install.** `beforeinstallprompt` is kept (its default prevented) and shows "Install
//!   Confab" in the header; a click calls its `prompt()`; `appinstalled` hides the button.
//! - **Unread.** The driver of the room on screen counts messages from others that arrive
//!   while the page is hidden (`AppState::unread`; edits and reactions of shown messages
//!   do not count) and clears the count when the page is shown. A background room's
//!   driver counts every new message from others, whatever the page's visibility, and
//!   sends no read receipts. What the user has seen of each room is kept as its **read
//!   marks** (`ReadMarks`: per author, the highest sequence number held; chains have no
//!   gaps, so this says exactly which events were seen): while a room is on screen and the
//!   page visible, its driver saves them when they move (`"read:" ‖ room id` in `meta`,
//!   with the next batch of events). A background room's count starts from the messages
//!   from others in its restored history that its marks do not cover (deleted ones
//!   aside); a room without marks saves its history as seen, so only what arrives from
//!   then on counts. Marks are per device and not exported. `Tab` registers each
//!   background room's count with the screen's state (`AppState::background_room_started`):
//!   `RoomsPanel` adds ", 3 unread" to that room's link name with a badge, and
//!   `UnreadTitle` puts the total in the title ("(3) Confab") and the app badge. Opening a
//!   room reloads the page into it; that room saves its marks at once, the others' counts
//!   carry over.
//! - **Notifications.** With permission (asked only by the "Turn on notifications"
//!   button), each counted message also makes a notification with the sender's name
//!   ("Alice in Book club" for a background room) and an 80-character preview; one tag per
//!   room, so a burst leaves one notification per room. A room the user muted ("Mute";
//!   `"mute:" ‖ room id` in `meta`, per device) still counts unread but notifies only of
//!   messages that mention us (the signed event names whom it mentions). Clicking it focuses the tab and,
//!   for a background room, opens that room by its address (the worker's
//!   `notificationclick` does the same from `data.url`, that address; a refused focus does
//!   not stop it from opening the room). Notification data never holds a room secret.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::error::BrowserError;

/// The page title with no unread messages.
pub const TITLE: &str = "Confab";

/// The tag every message notification carries: a new one replaces the last, so a burst
/// of messages (catching up after a reconnect) makes one notification, not dozens.
const NOTIFICATION_TAG: &str = "confab-message";

/// Longest text preview a notification shows, in characters.
const PREVIEW_CHARS: usize = 80;

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// `"Confab"`, or `"(3) Confab"` with unread messages (`"(99+) Confab"` past 99).
pub fn unread_title(unread: u32) -> String {
    match unread {
        0 => TITLE.to_owned(),
        1..=99 => format!("({unread}) {TITLE}"),
        _ => format!("(99+) {TITLE}"),
    }
}

/// A notification's text for a message: its first `PREVIEW_CHARS` characters on one line.
pub fn preview(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= PREVIEW_CHARS {
        return flat;
    }
    let cut: String = flat.chars().take(PREVIEW_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

thread_local! {
    /// Whether notifications show names and text (the user's choice, kept by
    /// `platform::push` for the worker too; [`set_previews`]).
    static PREVIEWS: Cell<bool> = const { Cell::new(true) };
}

/// Notifications show names and text (`true`, the default) or only "New message".
pub fn set_previews(shown: bool) {
    PREVIEWS.set(shown);
}

/// What [`set_previews`] last set.
pub fn previews() -> bool {
    PREVIEWS.get()
}

/// A message notification's title: "Alice in Book club", or just "Alice" for a room
/// without a title or whose title ends with her name (a one-to-one room). The page's
/// notifications and the service worker's (`platform/service_worker.rs`) use it alike.
pub fn message_title(author: &str, room_title: &str) -> String {
    match room_title {
        "" => author.to_owned(),
        title if title.ends_with(author) => author.to_owned(),
        title => format!("{author} in {title}"),
    }
}

/// Registers `/sw.js` for the whole origin, in a real build only: the page must be served
/// over http(s) and link the web app manifest (which a test page, e.g. wasm-bindgen-test's,
/// does not). Failures are logged as warnings: the app works without the worker.
pub fn register_service_worker() {
    let Some(window) = window() else { return };
    let protocol = window.location().protocol().unwrap_or_default();
    if protocol != "http:" && protocol != "https:" {
        return;
    }
    let linked = window
        .document()
        .and_then(|d| d.query_selector("link[rel=manifest]").ok().flatten())
        .is_some();
    let navigator = window.navigator();
    if !linked || !has(&navigator, "serviceWorker") {
        return;
    }
    let options = web_sys::RegistrationOptions::new();
    options.set_scope("/");
    // A module worker: it imports the app's glue to open pushed messages. Browsers without
    // module service workers (Chromium < 91, Firefox < 147, Safari < 15) refuse it: logged,
    // and the app runs without the worker, as where there is none.
    options.set_type("module");
    let registered = navigator
        .service_worker()
        .register_with_options("/sw.js", &options);
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(error) = JsFuture::from(registered).await {
            warn(&format!(
                "the service worker did not register: {}",
                BrowserError::from(error)
            ));
        }
    });
}

thread_local! {
    /// The browser's deferred install offer (`beforeinstallprompt`), until it is used.
    static INSTALL_OFFER: RefCell<Option<web_sys::Event>> = const { RefCell::new(None) };
}

/// Calls `handler(true)` when the browser offers to install the app (it may never), and
/// `handler(false)` once it is installed. Lives as long as the page.
pub fn on_install_offer(handler: impl Fn(bool) + 'static) {
    let Some(window) = window() else { return };
    let handler = std::rc::Rc::new(handler);
    let offered = {
        let handler = handler.clone();
        Closure::<dyn Fn(web_sys::Event)>::new(move |event: web_sys::Event| {
            // Keep the browser's own mini-bar away; our button shows the offer instead.
            event.prevent_default();
            INSTALL_OFFER.with(|offer| *offer.borrow_mut() = Some(event));
            handler(true);
        })
    };
    let installed = Closure::<dyn Fn()>::new(move || {
        INSTALL_OFFER.with(|offer| offer.borrow_mut().take());
        handler(false);
    });
    let _ = window
        .add_event_listener_with_callback("beforeinstallprompt", offered.as_ref().unchecked_ref());
    let _ =
        window.add_event_listener_with_callback("appinstalled", installed.as_ref().unchecked_ref());
    offered.forget();
    installed.forget();
}

/// Whether this is Safari on an iPhone or iPad, in a tab rather than the app added to the
/// Home Screen: only there does `navigator.standalone` exist, `false` in a tab. Safari
/// never offers to install a page (no `beforeinstallprompt`); the user adds it from the
/// Share menu.
pub fn can_add_to_home_screen() -> bool {
    window()
        .and_then(|window| js_sys::Reflect::get(&window.navigator(), &"standalone".into()).ok())
        .is_some_and(|standalone| standalone == JsValue::FALSE)
}

/// Shows the browser's install dialog for the offer [`on_install_offer`] reported; true if
/// the user accepted. An offer can be shown once.
pub async fn install() -> bool {
    let Some(offer) = INSTALL_OFFER.with(|offer| offer.borrow_mut().take()) else {
        return false;
    };
    let Ok(prompt) = js_sys::Reflect::get(&offer, &"prompt".into())
        .and_then(|f| f.dyn_into::<js_sys::Function>())
    else {
        return false;
    };
    let Ok(shown) = prompt.call0(&offer) else {
        return false;
    };
    if let Ok(promise) = shown.dyn_into::<js_sys::Promise>() {
        let _ = JsFuture::from(promise).await;
    }
    let choice = js_sys::Reflect::get(&offer, &"userChoice".into())
        .ok()
        .and_then(|c| c.dyn_into::<js_sys::Promise>().ok());
    let Some(choice) = choice else { return false };
    JsFuture::from(choice)
        .await
        .ok()
        .and_then(|c| js_sys::Reflect::get(&c, &"outcome".into()).ok())
        .and_then(|o| o.as_string())
        .is_some_and(|outcome| outcome == "accepted")
}

/// Whether this page may show notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// The browser has no notifications (or not on this origin).
    Unsupported,
    /// Not asked yet.
    Ask,
    /// Allowed.
    Granted,
    /// Refused (only the browser's site settings can change it now).
    Denied,
}

/// What the user decided about notifications so far.
pub fn notification_permission() -> Permission {
    let Some(window) = window() else {
        return Permission::Unsupported;
    };
    if !has(&window, "Notification") {
        return Permission::Unsupported;
    }
    match web_sys::Notification::permission() {
        web_sys::NotificationPermission::Granted => Permission::Granted,
        web_sys::NotificationPermission::Denied => Permission::Denied,
        _ => Permission::Ask,
    }
}

/// Calls `handler` each time notifications become allowed in this page (the Permissions
/// API's `change` event: "Turn on notifications" in any room, or the browser's site
/// settings), so every room of the tab, the background ones too, subscribes to push at
/// once rather than at its next `welcome`. Lives as long as the page; does nothing where
/// the API is missing.
pub fn on_notifications_allowed(handler: impl Fn() + 'static) {
    let Some(window) = window() else { return };
    let navigator: JsValue = window.navigator().into();
    let Ok(permissions) = js_sys::Reflect::get(&navigator, &"permissions".into()) else {
        return;
    };
    let query = js_sys::Reflect::get(&permissions, &"query".into())
        .ok()
        .and_then(|query| query.dyn_into::<js_sys::Function>().ok());
    let Some(query) = query else { return };
    let descriptor = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&descriptor, &"name".into(), &"notifications".into());
    let promise = query
        .call1(&permissions, &descriptor)
        .ok()
        .and_then(|promise| promise.dyn_into::<js_sys::Promise>().ok());
    let Some(promise) = promise else { return };
    wasm_bindgen_futures::spawn_local(async move {
        let Ok(status) = JsFuture::from(promise).await else {
            return;
        };
        let watched = status.clone();
        let listener = Closure::<dyn Fn()>::new(move || {
            let state = js_sys::Reflect::get(&watched, &"state".into()).ok();
            if state.and_then(|state| state.as_string()).as_deref() == Some("granted") {
                handler();
            }
        });
        let target: web_sys::EventTarget = status.unchecked_into();
        let _ =
            target.add_event_listener_with_callback("change", listener.as_ref().unchecked_ref());
        listener.forget();
    });
}

/// Asks the user for permission to notify (call it from a click); returns the answer.
pub async fn request_notifications() -> Permission {
    if notification_permission() == Permission::Unsupported {
        return Permission::Unsupported;
    }
    if let Ok(asked) = web_sys::Notification::request_permission() {
        let _ = JsFuture::from(asked).await;
    }
    notification_permission()
}

/// Shows a notification for a message (`title`: who wrote it), if the user allowed them.
/// Clicking it brings this tab forward; with `room` (its id and link: a room kept in the
/// background), it also opens that room, and its tag is that room's, so each room keeps
/// its own latest notification. Where pages cannot make notifications themselves
/// (Android), the service worker shows it; its click handler focuses the tab (and opens
/// the room's link, given as the notification's `data.url`).
pub fn notify(title: &str, body: &str, room: Option<(&str, &str)>) {
    if notification_permission() != Permission::Granted {
        return;
    }
    let (title, body) = if PREVIEWS.get() {
        (title, body)
    } else {
        ("New message", "")
    };
    let options = web_sys::NotificationOptions::new();
    options.set_body(body);
    let tag = match room {
        Some((id, _)) => format!("{NOTIFICATION_TAG}-{id}"),
        None => NOTIFICATION_TAG.to_owned(),
    };
    options.set_tag(&tag);
    options.set_renotify(true);
    options.set_icon("/icons/icon-192.png");
    let link = room.map(|(_, link)| link.to_owned());
    if let Some(link) = &link {
        let data = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&data, &"url".into(), &link.into());
        options.set_data(&data);
    }
    match web_sys::Notification::new_with_options(title, &options) {
        Ok(notification) => {
            let shown = notification.clone();
            let on_click = Closure::once_into_js(move || {
                if let Some(window) = window() {
                    let _ = window.focus();
                    // Another room's link: the page reloads into it (hashchange).
                    if let Some(link) = link {
                        let _ = window.location().set_href(&link);
                    }
                }
                shown.close();
            });
            notification.set_onclick(Some(on_click.unchecked_ref()));
        }
        Err(_) => {
            let Some(window) = window() else { return };
            if !has(&window.navigator(), "serviceWorker") {
                return;
            }
            let title = title.to_owned();
            let ready = window.navigator().service_worker().ready();
            wasm_bindgen_futures::spawn_local(async move {
                let Ok(ready) = ready else { return };
                if let Ok(registration) = JsFuture::from(ready).await {
                    let registration: web_sys::ServiceWorkerRegistration =
                        registration.unchecked_into();
                    let _ = registration.show_notification_with_options(&title, &options);
                }
            });
        }
    }
}

/// Shows `unread` in the page title and, where the browser has one, the app badge
/// (cleared at zero).
pub fn show_unread(unread: u32) {
    let Some(window) = window() else { return };
    if let Some(document) = window.document() {
        document.set_title(&unread_title(unread));
    }
    let navigator = window.navigator();
    let (method, args) = if unread == 0 {
        ("clearAppBadge", js_sys::Array::new())
    } else {
        ("setAppBadge", js_sys::Array::of1(&unread.into()))
    };
    let Ok(function) = js_sys::Reflect::get(&navigator, &method.into())
        .and_then(|f| f.dyn_into::<js_sys::Function>())
    else {
        return;
    };
    if let Ok(promise) = function
        .apply(&navigator, &args)
        .and_then(|p| p.dyn_into::<js_sys::Promise>())
    {
        // Refusals (no installed app, no permission) are nothing to report.
        wasm_bindgen_futures::spawn_local(async move {
            let _ = JsFuture::from(promise).await;
        });
    }
}

/// Whether the Web Share API can share a link here.
pub fn can_share() -> bool {
    window().is_some_and(|w| has(&w.navigator(), "share"))
}

/// Why the share sheet did not share.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// Not on a page (no `window`).
    #[error("no window")]
    NoWindow,
    /// This browser has no Web Share API.
    #[error("sharing is not available in this browser")]
    Unavailable,
    /// The user closed the sheet, or the browser refused (its message, or "not shared").
    #[error("{0}")]
    NotShared(String),
}

/// Opens the system's share sheet for `url`; Err with what happened if it did not share
/// (the user closing the sheet included).
pub async fn share(title: &str, text: &str, url: &str) -> Result<(), ShareError> {
    let navigator = window()
        .map(|w| w.navigator())
        .ok_or(ShareError::NoWindow)?;
    if !has(&navigator, "share") {
        return Err(ShareError::Unavailable);
    }
    let data = web_sys::ShareData::new();
    data.set_title(title);
    data.set_text(text);
    data.set_url(url);
    JsFuture::from(navigator.share_with_data(&data))
        .await
        .map(|_| ())
        .map_err(|e| {
            ShareError::NotShared(
                e.dyn_ref::<js_sys::Error>()
                    .map(|e| String::from(e.message()))
                    .unwrap_or_else(|| "not shared".into()),
            )
        })
}

/// The build this page runs and whether a newer one is kept, as the service worker says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildStatus {
    /// The running build's fingerprint (64 hex digits: the SHA-256 of the `sha256sum`
    /// listing of its files, see `xtask/src/service_worker.rs`); `None` until the worker
    /// answers, and in a development build (which keeps nothing).
    pub running: Option<String>,
    /// A newer build is fetched, checked and kept; it runs once [`apply_update`] is called.
    pub update_ready: bool,
}

thread_local! {
    /// The user chose "Update": the next worker to take over reloads the page.
    static UPDATING: Cell<bool> = const { Cell::new(false) };
}

/// Follows the service worker: calls `handler` with the build status at start, whenever
/// a new build finishes installing and when a worker takes over. Reloads the page when
/// the user's update takes over (in every tab: the page a worker controlled never runs
/// on with another build's worker). Lives as long as the page.
pub fn watch_build(handler: impl Fn(BuildStatus) + 'static) {
    let Some(window) = window() else { return };
    if !has(&window.navigator(), "serviceWorker") {
        return;
    }
    let container = window.navigator().service_worker();
    let had_controller = container.controller().is_some();
    let handler: Rc<dyn Fn(BuildStatus)> = Rc::new(handler);
    let refresh: Rc<dyn Fn()> = Rc::new(move || {
        let handler = handler.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(status) = build_status().await {
                handler(status);
            }
        });
    });
    let taken_over = {
        let refresh = refresh.clone();
        Closure::<dyn Fn()>::new(move || {
            // The first worker claiming a fresh page changes nothing it runs.
            if had_controller || UPDATING.with(Cell::get) {
                reload();
            } else {
                refresh();
            }
        })
    };
    let told = Closure::<dyn Fn(web_sys::MessageEvent)>::new(|event: web_sys::MessageEvent| {
        if message_type(&event.data()).as_deref() == Some("confab-reload") {
            reload();
        }
    });
    let _ = container
        .add_event_listener_with_callback("controllerchange", taken_over.as_ref().unchecked_ref());
    let _ = container.add_event_listener_with_callback("message", told.as_ref().unchecked_ref());
    taken_over.forget();
    told.forget();
    let Ok(ready) = container.ready() else { return };
    wasm_bindgen_futures::spawn_local(async move {
        let Ok(registration) = JsFuture::from(ready).await else {
            return;
        };
        let registration: web_sys::ServiceWorkerRegistration = registration.unchecked_into();
        // A new build installing (now, or found later): its state changes may make an update.
        follow_installing(&registration, &refresh);
        let installing = {
            let refresh = refresh.clone();
            let registration = registration.clone();
            Closure::<dyn Fn()>::new(move || follow_installing(&registration, &refresh))
        };
        let _ = registration
            .add_event_listener_with_callback("updatefound", installing.as_ref().unchecked_ref());
        installing.forget();
        refresh();
    });
}

/// Calls `refresh` on every state change of the worker `registration` is installing.
fn follow_installing(registration: &web_sys::ServiceWorkerRegistration, refresh: &Rc<dyn Fn()>) {
    let Some(worker) = registration.installing() else {
        return;
    };
    let refresh = refresh.clone();
    let changed = Closure::<dyn Fn()>::new(move || refresh());
    let _ =
        worker.add_event_listener_with_callback("statechange", changed.as_ref().unchecked_ref());
    changed.forget();
}

/// Runs the newer build: the worker holding it makes it the running one and takes over,
/// and every Confab tab reloads into it.
pub fn apply_update() {
    UPDATING.with(|updating| updating.set(true));
    let Some(window) = window() else { return };
    let container = window.navigator().service_worker();
    let Ok(ready) = container.ready() else { return };
    wasm_bindgen_futures::spawn_local(async move {
        let Ok(registration) = JsFuture::from(ready).await else {
            return;
        };
        let registration: web_sys::ServiceWorkerRegistration = registration.unchecked_into();
        let Some(worker) = registration.waiting().or_else(|| container.controller()) else {
            return;
        };
        let message = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&message, &"type".into(), &"confab-update".into());
        if let Err(error) = worker.post_message(&message) {
            warn(&format!(
                "the update could not start: {}",
                BrowserError::from(error)
            ));
        }
    });
}

/// Asks the worker controlling this page which build runs and which is newest.
async fn build_status() -> Option<BuildStatus> {
    let container = window()?.navigator().service_worker();
    let ready = JsFuture::from(container.ready().ok()?).await.ok()?;
    let registration: web_sys::ServiceWorkerRegistration = ready.unchecked_into();
    let waiting = registration
        .waiting()
        .is_some_and(|worker| worker.state() == web_sys::ServiceWorkerState::Installed);
    let controller = container.controller()?;
    let answer = ask(&controller, "confab-build").await?;
    let field = |name: &str| {
        js_sys::Reflect::get(&answer, &name.into())
            .ok()
            .and_then(|value| value.as_string())
    };
    let (running, newest) = (field("running"), field("newest"));
    let newer_active = running.is_some() && newest.is_some() && running != newest;
    Some(BuildStatus {
        running,
        update_ready: waiting || newer_active,
    })
}

/// Posts `{type}` to `worker` with a reply port; resolves with the reply.
async fn ask(worker: &web_sys::ServiceWorker, kind: &str) -> Option<JsValue> {
    let channel = web_sys::MessageChannel::new().ok()?;
    let port = channel.port1();
    let reply = js_sys::Promise::new(&mut |resolve, _reject| {
        let on_reply = Closure::once_into_js(move |event: web_sys::MessageEvent| {
            let _ = resolve.call1(&JsValue::NULL, &event.data());
        });
        port.set_onmessage(Some(on_reply.unchecked_ref()));
    });
    let message = js_sys::Object::new();
    js_sys::Reflect::set(&message, &"type".into(), &kind.into()).ok()?;
    worker
        .post_message_with_transferable(&message, &js_sys::Array::of1(&channel.port2()))
        .ok()?;
    let answer = JsFuture::from(reply).await.ok();
    port.close();
    answer
}

fn message_type(data: &JsValue) -> Option<String> {
    js_sys::Reflect::get(data, &"type".into())
        .ok()
        .and_then(|kind| kind.as_string())
}

fn reload() {
    if let Some(window) = window() {
        let _ = window.location().reload();
    }
}

fn has(object: &JsValue, name: &str) -> bool {
    js_sys::Reflect::has(object, &name.into()).unwrap_or(false)
        && js_sys::Reflect::get(object, &name.into()).is_ok_and(|v| !v.is_undefined())
}

fn warn(message: &str) {
    web_sys::console::warn_1(&message.into());
}
