//! [`Device`]: what views may ask of the browser directly, beyond sending commands — the
//! clipboard, the share sheet, reading a chosen or dropped file, showing a call's video,
//! an element's size, installing the app, notification permission and previews, the
//! unread badge and the app's build. The app puts one in context (`App`); views take it
//! with `use_device()` and never call `platform` functions or browser APIs themselves.

use std::future::Future;

use wasm_bindgen_futures::JsFuture;

use super::files::{self, LocalFile};
use super::page::{self, ChosenFileError, ClipboardError, SizeWatch};
use super::pwa::{self, BuildStatus, Permission, ShareError};
use super::{media, push};

/// The browser, as views see it. Cheap to copy; every method acts on this page.
#[derive(Clone, Copy, Debug, Default)]
pub struct Device {
    _private: (),
}

impl Device {
    /// The handle for this page.
    pub fn new() -> Device {
        Device::default()
    }

    /// Copies `text` to the clipboard (`Err`: why it could not, e.g. plain http).
    pub async fn copy_to_clipboard(self, text: String) -> Result<(), ClipboardError> {
        page::copy_to_clipboard(&text).await
    }

    /// Whether the browser has a share sheet (the Web Share API).
    pub fn can_share(self) -> bool {
        pwa::can_share()
    }

    /// Opens the share sheet with `url` (`Err`: closed or refused).
    pub async fn share(
        self,
        title: &'static str,
        text: &'static str,
        url: String,
    ) -> Result<(), ShareError> {
        pwa::share(title, text, &url).await
    }

    /// The bytes of the first file chosen in `input` (an `<input type=file>`).
    pub async fn read_chosen_file(
        self,
        input: web_sys::HtmlInputElement,
    ) -> Result<Vec<u8>, ChosenFileError> {
        page::read_chosen_file(&input).await
    }

    /// The files of a file list (from the chooser, a drop or a paste), to attach.
    pub fn files_of(self, list: web_sys::FileList) -> Vec<LocalFile> {
        files::files_of(list)
    }

    /// Whether the page is hidden (a background tab, minimised).
    pub fn is_hidden(self) -> bool {
        !page::is_visible()
    }

    /// Milliseconds on the page's monotonic clock (`performance.now()`).
    pub fn now_ms(self) -> f64 {
        page::now_ms()
    }

    /// Plays the call stream registered under `key` (ours or a peer's) in `video`.
    pub fn play_stream(self, video: &web_sys::HtmlVideoElement, key: &str) {
        let stream = media::stream(key);
        video.set_src_object(stream.as_ref());
        if let Ok(promise) = video.play() {
            wasm_bindgen_futures::spawn_local(async move {
                let _ = JsFuture::from(promise).await;
            });
        }
    }

    /// Calls `handler` whenever `element`'s box changes size, until the watch is dropped
    /// ([`page::on_size_change`]).
    pub fn on_size_change(
        self,
        element: &web_sys::Element,
        handler: impl Fn() + 'static,
    ) -> Option<SizeWatch> {
        page::on_size_change(element, handler)
    }

    /// Calls `handler(offered)` whenever the browser starts or stops offering to install
    /// the app.
    pub fn on_install_offer(self, handler: impl Fn(bool) + 'static) {
        pwa::on_install_offer(handler);
    }

    /// Shows the browser's install prompt (the offer is then used up).
    pub fn install(self) -> impl Future<Output = bool> {
        pwa::install()
    }

    /// Whether this is Safari on iPhone or iPad, which notifies only the app added to the
    /// Home Screen.
    pub fn can_add_to_home_screen(self) -> bool {
        pwa::can_add_to_home_screen()
    }

    /// Where notifications stand.
    pub fn notification_permission(self) -> Permission {
        pwa::notification_permission()
    }

    /// Asks the user to allow notifications; the answer.
    pub fn request_notifications(self) -> impl Future<Output = Permission> {
        pwa::request_notifications()
    }

    /// Whether notifications show names and text, as this page last knew it.
    pub fn previews(self) -> bool {
        pwa::previews()
    }

    /// Whether notifications show names and text, as kept where the service worker reads
    /// it (this page then knows it too).
    pub async fn kept_previews(self) -> bool {
        let kept = push::previews_shown().await;
        pwa::set_previews(kept);
        kept
    }

    /// Show names and text in notifications, or not: on this page at once, and kept where
    /// the service worker reads it.
    pub fn set_previews(self, shown: bool) {
        pwa::set_previews(shown);
        wasm_bindgen_futures::spawn_local(push::set_previews_shown(shown));
    }

    /// Shows `unread` in the page title and the app badge.
    pub fn show_unread(self, unread: u32) {
        pwa::show_unread(unread);
    }

    /// Calls `handler` with the build status whenever the service worker tells it.
    pub fn watch_build(self, handler: impl Fn(BuildStatus) + 'static) {
        pwa::watch_build(handler);
    }

    /// Switches to the build the service worker keeps waiting (the page reloads).
    pub fn apply_update(self) {
        pwa::apply_update();
    }
}
