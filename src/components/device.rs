//! What using one profile in two browsers means: the words the import control shows
//! before anyone imports, and the lasting notice when this browser's copy of the profile
//! has been found posting beside another copy (a *forked* chain) and may post no more.

use leptos::prelude::*;

use crate::state::AppState;

/// Shown beside "Import profile": what an import does to this browser and the old one.
pub const IMPORT_MEANS: &str = "Importing makes this browser your device for that profile, \
     in place of what it holds now. Stop using the profile in the browser it came from: \
     if both browsers post as you, your rooms stop accepting messages from you.";

/// The headline of the notice when our own chain is proven forked.
pub const FORKED_HEADLINE: &str = "You cannot post from this browser any more";

/// Why, and what stays.
pub const FORKED_DETAIL: &str = "Your profile was used in another browser too, and both \
     posted here, so the members of this room no longer accept new messages from this \
     copy. Everything posted before stays. Use Confab in one browser only: export your \
     profile from the one you keep, and import it nowhere else.";

/// A lasting alert above the composer once this room refused to let us post because our
/// profile is forked ([`AppState::forked`]); unlike a notice, nothing replaces it.
#[component]
pub fn ForkedNotice() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <Show when=move || state.forked().get()>
            <section class="panel forked" role="alert" aria-label="Posting stopped">
                <h2>{FORKED_HEADLINE}</h2>
                <p class="hint">{FORKED_DETAIL}</p>
            </section>
        </Show>
    }
}
