//! The on-screen keyboard: how much of the page's bottom it covers, published as the CSS
//! variable `--keyboard-inset` that the phone layout keeps the composer above.
//!
//! Chromium and Firefox on Android shrink the page itself when the keyboard opens
//! (`interactive-widget=resizes-content` in index.html), so the inset stays 0 there. iOS
//! Safari ignores that setting: the keyboard covers the page and only the visual viewport
//! (`window.visualViewport`) shrinks, so the part of the layout viewport below the visual
//! one is what the page must keep clear.

use wasm_bindgen::JsCast as _;

/// The CSS variable on `<html>` that holds the inset (`"0px"` without a keyboard).
pub const KEYBOARD_INSET: &str = "--keyboard-inset";

/// How many CSS px of the layout viewport's bottom the visual viewport leaves out:
/// `layout_height - (visual_height + visual_offset_top)`, rounded, never negative. While
/// the page is pinch-zoomed (`scale` above 1) the visual viewport is small because the user
/// zoomed, not because of a keyboard: 0 then, so zooming never moves the layout.
pub fn keyboard_inset(layout_height: f64, visual_height: f64, offset_top: f64, scale: f64) -> u32 {
    if !(layout_height.is_finite() && visual_height.is_finite() && offset_top.is_finite())
        || scale > 1.01
    {
        return 0;
    }
    (layout_height - visual_height - offset_top)
        .max(0.0)
        .round() as u32
}

/// Keeps [`KEYBOARD_INSET`] up to date from `visualViewport`'s `resize` and `scroll`
/// events (sets it once now). Does nothing where the browser has no `visualViewport`.
/// Lives as long as the page.
pub fn follow_keyboard() {
    let Some(window) = web_sys::window() else {
        return;
    };
    // Read through Reflect: web-sys's VisualViewport binding is not worth a feature (and a
    // rebuild of every crate on web-sys) for three numbers.
    let Some(visual) = js_sys::Reflect::get(&window, &"visualViewport".into())
        .ok()
        .and_then(|v| v.dyn_into::<web_sys::EventTarget>().ok())
    else {
        return;
    };
    let update = {
        let visual = visual.clone();
        move || publish_inset(&visual)
    };
    update();
    let listener = wasm_bindgen::closure::Closure::<dyn Fn()>::new(update);
    for name in ["resize", "scroll"] {
        let _ = visual.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
    }
    listener.forget();
}

/// Computes the inset from the page's viewports now and sets [`KEYBOARD_INSET`].
fn publish_inset(visual: &web_sys::EventTarget) {
    let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    else {
        return;
    };
    let number = |name: &str| {
        js_sys::Reflect::get(visual, &name.into())
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(f64::NAN)
    };
    // The layout viewport's height is `<html>`'s clientHeight, which neither a keyboard nor
    // a pinch zoom changes on iOS (its innerHeight follows the zoom).
    let inset = keyboard_inset(
        f64::from(root.client_height()),
        number("height"),
        number("offsetTop"),
        number("scale"),
    );
    let inset = format!("{inset}px");
    let style = root.style();
    if style.get_property_value(KEYBOARD_INSET).ok().as_deref() == Some(inset.as_str()) {
        return;
    }
    let _ = style.set_property(KEYBOARD_INSET, &inset);
    // The page's usable height changed as a window resize changes it on Android: what
    // keeps things in view on `resize` (the conversation's newest message) runs here too.
    if let Ok(resize) = web_sys::Event::new("resize") {
        let _ = web_sys::window().map(|w| w.dispatch_event(&resize));
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use wasm_bindgen::JsCast as _;
    use wasm_bindgen_test::*;

    use super::{KEYBOARD_INSET, follow_keyboard, keyboard_inset};

    wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn the_inset_is_what_the_visual_viewport_leaves_out_at_the_bottom() {
        // No keyboard, or one that resized the page (Android): nothing to keep clear.
        assert_eq!(keyboard_inset(844.0, 844.0, 0.0, 1.0), 0);
        // iOS: a 336 px keyboard, the page not scrolled, then scrolled up by 120 px.
        assert_eq!(keyboard_inset(844.0, 508.0, 0.0, 1.0), 336);
        assert_eq!(keyboard_inset(844.0, 508.0, 120.0, 1.0), 216);
        assert_eq!(keyboard_inset(844.0, 507.6, 0.0, 1.0), 336);
        // Toolbars hidden: the visual viewport is taller than the layout one.
        assert_eq!(keyboard_inset(844.0, 900.0, 0.0, 1.0), 0);
        // Pinch-zoomed: the user's doing, not a keyboard; the layout stays.
        assert_eq!(keyboard_inset(844.0, 422.0, 0.0, 2.0), 0);
        // No visualViewport numbers at all.
        assert_eq!(keyboard_inset(844.0, f64::NAN, f64::NAN, f64::NAN), 0);
    }

    /// The page's `--keyboard-inset` as set now.
    fn published_inset() -> String {
        let root: web_sys::HtmlElement = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
            .and_then(|e| e.dyn_into().ok())
            .unwrap();
        root.style().get_property_value(KEYBOARD_INSET).unwrap()
    }

    /// Sets (or, with `None`, removes) an own `height` on `visualViewport`, shadowing the
    /// real one as a keyboard would change it, and fires its `resize` event.
    fn keyboard(visual: &wasm_bindgen::JsValue, height: Option<f64>) {
        let object: &js_sys::Object = visual.unchecked_ref();
        match height {
            Some(height) => {
                let descriptor = js_sys::Object::new();
                js_sys::Reflect::set(&descriptor, &"value".into(), &height.into()).unwrap();
                js_sys::Reflect::set(&descriptor, &"configurable".into(), &true.into()).unwrap();
                js_sys::Object::define_property(object, &"height".into(), &descriptor);
            }
            None => {
                js_sys::Reflect::delete_property(object, &"height".into()).unwrap();
            }
        }
        let target: &web_sys::EventTarget = visual.unchecked_ref();
        target
            .dispatch_event(&web_sys::Event::new("resize").unwrap())
            .unwrap();
    }

    #[wasm_bindgen_test]
    fn the_page_follows_the_visual_viewport() {
        let window = web_sys::window().unwrap();
        let visual = js_sys::Reflect::get(&window, &"visualViewport".into()).unwrap();
        assert!(visual.is_object(), "Chromium has visualViewport");
        follow_keyboard();
        assert_eq!(
            published_inset(),
            "0px",
            "no keyboard in a headless browser"
        );
        let layout_height = window
            .document()
            .and_then(|d| d.document_element())
            .unwrap()
            .client_height();
        let offset_top = js_sys::Reflect::get(&visual, &"offsetTop".into())
            .unwrap()
            .as_f64()
            .unwrap();
        keyboard(&visual, Some(f64::from(layout_height) - 300.0));
        assert_eq!(
            published_inset(),
            format!("{}px", (300.0 - offset_top).round()),
        );
        keyboard(&visual, None);
        assert_eq!(published_inset(), "0px", "the keyboard closed");
    }
}
