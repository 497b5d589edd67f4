//! The phone layout's menu: one signal says whether the side panels are shown instead of
//! the conversation. The panels themselves stay where they are (one copy, their state
//! untouched); main.css decides, by screen size, whether "Menu" and "Close" are shown at
//! all. On wider screens the panels sit beside the conversation and the signal is moot.

use leptos::html::Button;
use leptos::prelude::*;

/// Whether the menu is open, and the two buttons focus moves between.
#[derive(Clone, Copy)]
pub struct Menu {
    open: RwSignal<bool>,
    toggle: NodeRef<Button>,
    close: NodeRef<Button>,
}

impl Menu {
    /// A closed menu.
    pub fn closed() -> Menu {
        Menu {
            open: RwSignal::new(false),
            toggle: NodeRef::new(),
            close: NodeRef::new(),
        }
    }

    /// Whether the panels are shown instead of the conversation (on phones).
    pub fn is_open(self) -> bool {
        self.open.get()
    }

    /// Opens the panels and moves focus into them ("Close", their first control).
    fn show(self) {
        self.open.set(true);
        focus_when_drawn(self.close);
    }

    /// Back to the conversation; focus returns to "Menu".
    fn hide(self) {
        if self.open.get_untracked() {
            self.open.set(false);
            focus_when_drawn(self.toggle);
        }
    }
}

/// The header's "Menu" button (shown on phones only): opens and closes the panels.
#[component]
pub fn MenuButton(
    /// The menu it opens.
    menu: Menu,
) -> impl IntoView {
    view! {
        <button
            type="button"
            class="button menu-button"
            aria-controls="panels"
            aria-expanded=move || menu.is_open().to_string()
            node_ref=menu.toggle
            on:click=move |_| if menu.open.get_untracked() { menu.hide() } else { menu.show() }
        >
            "Menu"
        </button>
    }
}

/// The side panels: beside the conversation on wide screens, behind "Menu" on phones,
/// where "Close" and Escape lead back to the conversation.
#[component]
pub fn Panels(
    /// The menu that shows them on phones.
    menu: Menu,
    /// The panels.
    children: Children,
) -> impl IntoView {
    // Escape closes the menu wherever focus is (a hook: the listener goes with the panels).
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && menu.open.get_untracked() {
            ev.prevent_default();
            menu.hide();
        }
    });
    on_cleanup(move || escape.remove());
    view! {
        <aside id="panels" class="sidebar" aria-label="Panels">
            <div class="menu-head">
                <button type="button" class="button" node_ref=menu.close on:click=move |_| menu.hide()>
                    "Close"
                </button>
            </div>
            {children()}
        </aside>
    }
}

/// Focuses `button` once the page has redrawn (it may be hidden until the menu's class
/// changes).
fn focus_when_drawn(button: NodeRef<Button>) {
    request_animation_frame(move || {
        if let Some(button) = button.get_untracked() {
            let _ = button.focus();
        }
    });
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "menu_tests.rs"]
mod tests;
