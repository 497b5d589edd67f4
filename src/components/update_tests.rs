//! Component tests of the update banner and the build fingerprint.

use leptos::prelude::*;
use wasm_bindgen_test::*;

use super::{AppBuild, BuildFingerprint, UpdateBanner, grouped};
use crate::components::tests::fresh_parent;
use crate::platform::pwa::BuildStatus;

wasm_bindgen_test_configure!(run_in_browser);

const BUILD: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[wasm_bindgen_test]
async fn banner_shows_only_while_an_update_waits() {
    let parent = fresh_parent();
    let status = RwSignal::new(BuildStatus::default());
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        provide_context(AppBuild(status));
        view! { <UpdateBanner /> }
    });
    leptos::task::tick().await;
    assert!(parent.query_selector("section").unwrap().is_none());

    status.set(BuildStatus {
        running: Some(BUILD.into()),
        update_ready: true,
    });
    leptos::task::tick().await;
    let banner = parent
        .query_selector("section[aria-label='Update available']")
        .unwrap()
        .expect("the banner");
    assert!(banner.text_content().unwrap().contains("Update available"));
    let button = banner.query_selector("button").unwrap().expect("a button");
    assert_eq!(button.text_content().as_deref(), Some("Update"));
    assert!(!button.has_attribute("disabled"));
    drop(handle);
}

#[wasm_bindgen_test]
async fn fingerprint_shows_in_groups_of_four() {
    assert_eq!(grouped("0123456789"), "0123 4567 89");
    let parent = fresh_parent();
    let status = RwSignal::new(BuildStatus::default());
    let handle = leptos::mount::mount_to(parent.clone(), move || {
        provide_context(crate::platform::device::Device::new());
        provide_context(AppBuild(status));
        view! { <BuildFingerprint /> }
    });
    leptos::task::tick().await;
    let output = parent
        .query_selector("output[aria-label='App fingerprint']")
        .unwrap()
        .expect("the fingerprint");
    assert!(output.text_content().unwrap().contains("not known yet"));
    status.set(BuildStatus {
        running: Some(BUILD.into()),
        update_ready: false,
    });
    leptos::task::tick().await;
    let shown = output.text_content().unwrap();
    assert_eq!(shown.split(' ').count(), 16, "{shown}");
    assert_eq!(shown.replace(' ', ""), BUILD);
    drop(handle);
}
