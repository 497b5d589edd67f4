//! Web Push, page side: subscribing this browser's push service with the server's VAPID
//! key (`pushManager.subscribe`, one subscription per browser for every room), and the
//! tag each room's pushes carry.
//!
//! A room's **tag** is 16 random bytes in hex, made once per room and browser and kept in
//! the Cache Storage cache `confab-push` (`/room/<address>` → tag, `/tag/<tag>` →
//! address), which the service worker reads to tell which room a push is for. The server
//! and the push service see only the tag; the address (a room's name in our URLs,
//! unlinkable without our key) stays on the device; neither is a secret. The worker
//! (`assets/sw.js`) shows "New message" for a known tag and opens the room on a click; a
//! tag it does not know shows nothing. A muted room is marked there too (`/muted/<address>`,
//! present while muted): the worker, which cannot read the message to see a mention,
//! shows nothing for it. So is "Show names and text in notifications" turned off
//! (`/previews-off`, [`set_previews_shown`]).

use confab_core::signal::PushSubscription;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::error::BrowserError;
use super::pwa::{Permission, notification_permission};

/// The cache holding the room ↔ tag pairs (see the module docs).
const CACHE: &str = "confab-push";
/// Present in [`CACHE`] while notifications show no names or text.
const PREVIEWS_OFF: &str = "/previews-off";

/// This browser's push subscription for the room at `address`, with the room's tag:
/// subscribes (or reuses the subscription made for the same key) if notifications are
/// allowed. `None` where push is not available or not allowed, or if anything fails
/// (logged).
pub async fn subscription_for(push_key: &str, address: &str) -> Option<PushSubscription> {
    if notification_permission() != Permission::Granted {
        return None;
    }
    match subscribe(push_key, address).await {
        Ok(subscription) => Some(subscription),
        Err(error) => {
            web_sys::console::warn_1(
                &format!(
                    "push notifications are not set up: {}",
                    BrowserError::from(error)
                )
                .into(),
            );
            None
        }
    }
}

async fn subscribe(push_key: &str, address: &str) -> Result<PushSubscription, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let navigator = window.navigator();
    if !has(&navigator, "serviceWorker") || !has(&window, "PushManager") {
        return Err("this browser has no Push API".into());
    }
    // The tag first: kept even if the push service cannot be reached now, so the worker
    // knows the room when a later subscription works.
    let tag = tag_of(address).await?;
    let ready = navigator.service_worker().ready()?;
    let registration = JsFuture::from(ready).await?;
    let manager = get(&registration, "pushManager")?;
    let key = application_server_key(&window, push_key)?;
    let existing = call(&manager, "getSubscription", &[]).await?;
    let subscription =
        if !existing.is_null() && !existing.is_undefined() && same_key(&existing, &key) {
            existing
        } else {
            if !existing.is_null() && !existing.is_undefined() {
                // Made with another server key: a push service takes only one per browser.
                let _ = call(&existing, "unsubscribe", &[]).await;
            }
            let options = js_sys::Object::new();
            js_sys::Reflect::set(&options, &"userVisibleOnly".into(), &true.into())?;
            js_sys::Reflect::set(&options, &"applicationServerKey".into(), &key)?;
            call(&manager, "subscribe", &[options.into()]).await?
        };
    let json = js_sys::Reflect::get(&subscription, &"toJSON".into())?
        .dyn_into::<js_sys::Function>()?
        .call0(&subscription)?;
    let endpoint = get(&json, "endpoint")?.as_string().ok_or("no endpoint")?;
    let keys = get(&json, "keys")?;
    let p256dh = get(&keys, "p256dh")?.as_string().ok_or("no p256dh")?;
    let auth = get(&keys, "auth")?.as_string().ok_or("no auth")?;
    let text =
        serde_json::json!({"endpoint": endpoint, "p256dh": p256dh, "auth": auth, "tag": tag})
            .to_string();
    serde_json::from_str::<PushSubscription>(&text)
        .map_err(|error| JsValue::from(format!("the browser's subscription is refused: {error}")))
}

/// Marks the room at `address` muted (or not) for the worker; a failure is logged (the
/// worker then notifies as if unmuted).
pub async fn mirror_muted(address: &str, muted: bool) {
    let marked = async {
        let window: JsValue = web_sys::window().ok_or("no window")?.into();
        let caches = get(&window, "caches")?;
        let cache = call(&caches, "open", &[CACHE.into()]).await?;
        let key: JsValue = format!("/muted/{address}").into();
        if muted {
            call(&cache, "put", &[key, web_sys_response("muted")?]).await
        } else {
            call(&cache, "delete", &[key]).await
        }
    };
    if let Err(error) = marked.await {
        web_sys::console::warn_1(
            &format!(
                "the worker was not told this room's mute: {}",
                BrowserError::from(error)
            )
            .into(),
        );
    }
}

/// Forgets every push this browser set up, for a profile that is being replaced (an
/// import): drops the browser's push subscription, so the push service answers the servers
/// that still hold its endpoint 410 and they forget it (RFC 8030 §7.3), and deletes the
/// rooms' tags and mute marks the worker reads, so a push for a room of the old profile
/// shows nothing. The device's choice of previews stays. The new profile's rooms
/// subscribe afresh (a new endpoint, new tags). Failures are logged: what is left is
/// harmless (a tag the new profile does not know shows nothing).
pub async fn forget_all() {
    let forgotten = async {
        let global = js_sys::global();
        let navigator = get(&global, "navigator")?;
        if has(&navigator, "serviceWorker") {
            // `getRegistration`, not `ready`: with no worker, `ready` never settles.
            let container = get(&navigator, "serviceWorker")?;
            let registration = call(&container, "getRegistration", &[]).await?;
            if !registration.is_undefined() && has(&registration, "pushManager") {
                let manager = get(&registration, "pushManager")?;
                let subscription = call(&manager, "getSubscription", &[]).await?;
                if !subscription.is_null() && !subscription.is_undefined() {
                    call(&subscription, "unsubscribe", &[]).await?;
                }
            }
        }
        if has(&global, "caches") {
            let cache = call(&get(&global, "caches")?, "open", &[CACHE.into()]).await?;
            let requests: js_sys::Array = call(&cache, "keys", &[]).await?.dyn_into()?;
            for request in requests.iter() {
                let url = get(&request, "url")?.as_string().unwrap_or_default();
                let path = url.split_once("://").map_or("", |(_, rest)| {
                    rest.find('/').map_or("", |slash| &rest[slash..])
                });
                if path != PREVIEWS_OFF {
                    call(&cache, "delete", &[request]).await?;
                }
            }
        }
        Ok::<(), JsValue>(())
    };
    if let Err(error) = forgotten.await {
        web_sys::console::warn_1(
            &format!(
                "push notifications were not all forgotten: {}",
                BrowserError::from(error)
            )
            .into(),
        );
    }
}

/// Whether notifications may show names and text ("Show names and text in
/// notifications"): true unless the page marked `/previews-off` in the worker's cache,
/// which the worker reads even while a passphrase locks the profile. Unreadable: true.
pub async fn previews_shown() -> bool {
    let marked = async {
        let caches = get(&js_sys::global(), "caches")?;
        let cache = call(&caches, "open", &[CACHE.into()]).await?;
        let kept = call(&cache, "match", &[PREVIEWS_OFF.into()]).await?;
        Ok::<bool, JsValue>(!kept.is_undefined() && !kept.is_null())
    };
    !marked.await.unwrap_or(false)
}

/// Marks (or unmarks) `/previews-off` for the page and the worker; a failure is logged
/// (the worker then shows what it showed before).
pub async fn set_previews_shown(shown: bool) {
    let marked = async {
        let caches = get(&js_sys::global(), "caches")?;
        let cache = call(&caches, "open", &[CACHE.into()]).await?;
        if shown {
            call(&cache, "delete", &[PREVIEWS_OFF.into()]).await
        } else {
            call(
                &cache,
                "put",
                &[PREVIEWS_OFF.into(), web_sys_response("off")?],
            )
            .await
        }
    };
    if let Err(error) = marked.await {
        web_sys::console::warn_1(
            &format!(
                "the worker was not told whether to show previews: {}",
                BrowserError::from(error)
            )
            .into(),
        );
    }
}

/// The room's tag, made and kept on first use.
async fn tag_of(address: &str) -> Result<String, JsValue> {
    let window: JsValue = web_sys::window().ok_or("no window")?.into();
    let caches = get(&window, "caches")?;
    let cache = call(&caches, "open", &[CACHE.into()]).await?;
    let room_key = format!("/room/{address}");
    let kept = call(&cache, "match", &[room_key.as_str().into()]).await?;
    if !kept.is_undefined() && !kept.is_null() {
        let text =
            JsFuture::from(call_sync(&kept, "text", &[])?.dyn_into::<js_sys::Promise>()?).await?;
        if let Some(tag) = text.as_string().filter(|tag| tag.len() == 32) {
            return Ok(tag);
        }
    }
    let tag: String = super::entropy::seed()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let response = |body: &str| web_sys_response(body);
    call(
        &cache,
        "put",
        &[format!("/tag/{tag}").into(), response(address)?],
    )
    .await?;
    call(&cache, "put", &[room_key.into(), response(&tag)?]).await?;
    Ok(tag)
}

/// `new Response(body)`.
fn web_sys_response(body: &str) -> Result<JsValue, JsValue> {
    let constructor = get(&js_sys::global(), "Response")?.dyn_into::<js_sys::Function>()?;
    js_sys::Reflect::construct(&constructor, &js_sys::Array::of1(&body.into()))
}

/// The VAPID key (unpadded base64url) as the bytes `subscribe` takes.
fn application_server_key(window: &web_sys::Window, push_key: &str) -> Result<JsValue, JsValue> {
    let mut base64: String = push_key
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !base64.len().is_multiple_of(4) {
        base64.push('=');
    }
    let binary = window.atob(&base64)?;
    let bytes: Vec<u8> = binary.chars().map(|c| c as u32 as u8).collect();
    Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
}

/// Whether `subscription` was made with `key` (`options.applicationServerKey`).
fn same_key(subscription: &JsValue, key: &JsValue) -> bool {
    let Ok(options) = get(subscription, "options") else {
        return false;
    };
    let Ok(theirs) = get(&options, "applicationServerKey") else {
        return false;
    };
    if theirs.is_null() || theirs.is_undefined() {
        return false;
    }
    let theirs = js_sys::Uint8Array::new(&theirs).to_vec();
    let ours = js_sys::Uint8Array::new(key).to_vec();
    theirs == ours
}

fn get(object: &JsValue, name: &str) -> Result<JsValue, JsValue> {
    let value = js_sys::Reflect::get(object, &name.into())?;
    if value.is_undefined() {
        return Err(format!("no {name}").into());
    }
    Ok(value)
}

fn call_sync(object: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let function = get(object, method)?.dyn_into::<js_sys::Function>()?;
    let args: js_sys::Array = args.iter().collect();
    function.apply(object, &args)
}

/// Calls a method returning a promise and awaits it.
async fn call(object: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let promise = call_sync(object, method, args)?.dyn_into::<js_sys::Promise>()?;
    JsFuture::from(promise).await
}

fn has(object: &JsValue, name: &str) -> bool {
    js_sys::Reflect::get(object, &name.into()).is_ok_and(|value| !value.is_undefined())
}
