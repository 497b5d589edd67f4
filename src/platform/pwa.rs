//! The installable app: the service worker (`assets/sw.js`, which keeps the app shell so
//! Confab opens offline), the browser's install offer, notifications, the unread count in
//! the title and app badge, and the Web Share API.

use std::cell::RefCell;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;

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
    let registered = navigator
        .service_worker()
        .register_with_options("/sw.js", &options);
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(error) = JsFuture::from(registered).await {
            warn(&format!("the service worker did not register: {error:?}"));
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

/// Opens the system's share sheet for `url`; Err with what happened if it did not share
/// (the user closing the sheet included).
pub async fn share(title: &str, text: &str, url: &str) -> Result<(), String> {
    let navigator = window().map(|w| w.navigator()).ok_or("no window")?;
    if !has(&navigator, "share") {
        return Err("sharing is not available in this browser".into());
    }
    let data = web_sys::ShareData::new();
    data.set_title(title);
    data.set_text(text);
    data.set_url(url);
    JsFuture::from(navigator.share_with_data(&data))
        .await
        .map(|_| ())
        .map_err(|e| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_else(|| "not shared".into())
        })
}

fn has(object: &JsValue, name: &str) -> bool {
    js_sys::Reflect::has(object, &name.into()).unwrap_or(false)
        && js_sys::Reflect::get(object, &name.into()).is_ok_and(|v| !v.is_undefined())
}

fn warn(message: &str) {
    web_sys::console::warn_1(&message.into());
}
