//! Protection of the stored profile: set, change or remove the passphrase, export the
//! profile as one encrypted file, import one; and the running app build's fingerprint.

use leptos::html::Input;
use leptos::prelude::*;

use super::BuildFingerprint;
use crate::commands::Command;
use crate::state::AppState;
use crate::{use_commands, use_device};

/// Passphrase and export/import controls, and the app build's fingerprint.
#[component]
pub fn SecurityPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let device = use_device();
    let passphrase = NodeRef::<Input>::new();
    let file = NodeRef::<Input>::new();
    let value = move || passphrase.get().map(|f| f.value()).unwrap_or_default();
    let needs_passphrase = move |what: &str| {
        state.notify(format!("Type a passphrase first, then {what}."));
    };
    let (set, remove, export, import) = (
        commands.clone(),
        commands.clone(),
        commands.clone(),
        commands,
    );
    let on_set = move |_| match value() {
        p if p.is_empty() => needs_passphrase("choose \"Set passphrase\""),
        p => set.send(Command::SetPassphrase(Some(p))),
    };
    let on_remove = move |_| remove.send(Command::SetPassphrase(None));
    let on_export = move |_| match value() {
        p if p.is_empty() => needs_passphrase("export (the file is encrypted with it)"),
        p => export.send(Command::Export(p)),
    };
    let on_import = move |_| match (value(), file.get()) {
        (passphrase, Some(input)) if !passphrase.is_empty() => {
            let import = import.clone();
            let reading = device.read_chosen_file(input);
            leptos::task::spawn_local(async move {
                match reading.await {
                    Ok(bytes) => import.send(Command::Import { bytes, passphrase }),
                    Err(error) => state.notify(format!("Could not import: {error}.")),
                }
            });
        }
        _ => needs_passphrase("choose a profile file to import"),
    };
    let status = move || {
        if state.has_passphrase().get() {
            "Protected by a passphrase."
        } else {
            "Not protected: anyone using this browser profile can read it."
        }
    };
    view! {
        <section class="panel security">
            <h2>"This device"</h2>
            <p class="hint">{status}</p>
            <input type="password" aria-label="Passphrase" autocomplete="new-password" node_ref=passphrase />
            <p class="button-row">
                <button type="button" class="button" on:click=on_set>"Set passphrase"</button>
                <Show when=move || state.has_passphrase().get()>
                    <button type="button" class="button" on:click=on_remove.clone()>"Remove passphrase"</button>
                </Show>
                <button type="button" class="button" on:click=on_export>"Export profile"</button>
            </p>
            <p class="hint" id="import-means">{super::IMPORT_MEANS}</p>
            <label class="hint">"Import a profile: " <input type="file" accept=".confab" node_ref=file /></label>
            <button type="button" class="button" on:click=on_import aria-describedby="import-means">"Import profile"</button>
            <BuildFingerprint />
        </section>
    }
}
