//! Component tests of the phone menu: "Menu" opens the panels and focus moves into them;
//! "Close" and Escape close them and focus returns to "Menu".

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_test::*;

use super::{Menu, MenuButton, Panels};
use crate::components::tests::fresh_parent;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn menu_opens_the_panels_and_focus_goes_in_and_back() {
    let parent = fresh_parent();
    let handle = leptos::mount::mount_to(parent.clone(), || {
        provide_context(crate::platform::device::Device::new());
        let menu = Menu::closed();
        view! {
            <MenuButton menu />
            <main class:menu-open=move || menu.is_open()>
                <Panels menu>
                    <input type="text" aria-label="Inside" />
                </Panels>
            </main>
        }
    });
    let find = |css: &str| {
        parent
            .query_selector(css)
            .unwrap()
            .unwrap_or_else(|| panic!("no {css}"))
            .unchecked_into::<web_sys::HtmlElement>()
    };
    let menu_button = find("button[aria-controls=panels]");
    let close_button = find("#panels .menu-head button");
    let main = find("main");
    let focused = || {
        let document = web_sys::window().unwrap().document().unwrap();
        document
            .active_element()
            .map(|e| e.text_content().unwrap_or_default())
    };
    let is_open = || {
        (
            menu_button
                .get_attribute("aria-expanded")
                .unwrap_or_default(),
            main.class_list().contains("menu-open"),
        )
    };
    assert_eq!(menu_button.text_content().as_deref(), Some("Menu"));
    assert_eq!(close_button.text_content().as_deref(), Some("Close"));
    assert_eq!(is_open(), ("false".to_owned(), false));

    // Menu opens; focus moves to Close. Close closes; focus returns to Menu.
    menu_button.click();
    redrawn().await;
    assert_eq!(is_open(), ("true".to_owned(), true));
    assert_eq!(focused().as_deref(), Some("Close"));
    close_button.click();
    redrawn().await;
    assert_eq!(is_open(), ("false".to_owned(), false));
    assert_eq!(focused().as_deref(), Some("Menu"));

    // Escape closes them too (here pressed in the panels).
    menu_button.click();
    redrawn().await;
    let inside = find("input[aria-label=Inside]");
    inside.focus().unwrap();
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Escape");
    init.set_bubbles(true);
    let escape =
        web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    inside.dispatch_event(&escape).unwrap();
    redrawn().await;
    assert_eq!(is_open(), ("false".to_owned(), false));
    assert_eq!(focused().as_deref(), Some("Menu"));

    // Menu again while open closes, and focus stays on it.
    menu_button.click();
    redrawn().await;
    menu_button.click();
    redrawn().await;
    assert_eq!(is_open(), ("false".to_owned(), false));
    assert_eq!(focused().as_deref(), Some("Menu"));
    drop(handle);
}

/// Lets the signal's change reach the page and the next animation frame run.
async fn redrawn() {
    leptos::task::tick().await;
    crate::platform::clock::sleep(Duration::from_millis(100)).await;
}
