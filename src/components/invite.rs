//! The invite link with Copy, Share (where the browser has the Web Share API) and a QR
//! code to scan from another device; "Reset invite link" for a governed room's owner and
//! admins.

use leptos::prelude::*;

use crate::commands::Command;
use crate::state::{AppState, Rank};
use crate::{use_commands, use_device};

/// Blank modules around a QR code, as the standard asks.
const QUIET_ZONE: usize = 4;

/// Shows the invite link (secret in its `#fragment`) and copies, shares or shows it as a
/// QR code.
#[component]
pub fn InvitePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let device = use_device();
    let copied = RwSignal::new(None::<String>);
    let show_qr = RwSignal::new(false);
    let copy = move |_| {
        let copying = device.copy_to_clipboard(state.invite_link().get_untracked());
        leptos::task::spawn_local(async move {
            let outcome = match copying.await {
                Ok(()) => "Copied".to_owned(),
                Err(_) => "Copy failed: select the link and copy it".to_owned(),
            };
            copied.set(Some(outcome));
        });
    };
    let share = move |_| {
        let sharing = device.share(
            "Confab",
            "Join me on Confab",
            state.invite_link().get_untracked(),
        );
        leptos::task::spawn_local(async move {
            // Closing the share sheet is no failure worth a message.
            if sharing.await.is_ok() {
                copied.set(Some("Shared".to_owned()));
            }
        });
    };
    let can_share = device.can_share();
    let field = NodeRef::<leptos::html::Input>::new();
    let superseded = move || state.link_superseded().get();
    view! {
        <section class="panel invite">
            <h2 id="invite-heading">"Invite"</h2>
            // The link we came with leads nowhere now: nothing of it to copy or show.
            <Show when=superseded>
                <p class="hint">{super::superseded::NO_LINK}</p>
            </Show>
            <div hidden=superseded>
                <p class="hint">"Anyone with this link can join. The secret after # never reaches the server."</p>
                <div class="invite-row">
                    <input
                        class="invite-link"
                        type="text"
                        readonly
                        aria-label="Invite link"
                        prop:value=move || state.invite_link().get()
                        node_ref=field
                        on:focus=move |_| {
                            if let Some(field) = field.get() {
                                field.select();
                            }
                        }
                    />
                    <button type="button" class="button" on:click=copy>"Copy"</button>
                </div>
                <div class="invite-actions">
                    <Show when=move || can_share>
                        <button type="button" class="button" on:click=share>"Share invite"</button>
                    </Show>
                    <button
                        type="button"
                        class="button"
                        aria-pressed=move || show_qr.get().to_string()
                        on:click=move |_| show_qr.update(|shown| *shown = !*shown)
                    >
                        "Show QR code"
                    </button>
                    <ResetLink />
                </div>
                <Show when=move || show_qr.get()>
                    <InviteQr link=Signal::derive(move || state.invite_link().get()) />
                </Show>
                <p class="copied" aria-live="polite">{move || copied.get()}</p>
            </div>
        </section>
    }
}

/// "Reset invite link", shown to the owner and admins of a governed room: the room moves to
/// a new epoch, members follow, and the old link no longer opens it.
#[component]
fn ResetLink() -> impl IntoView {
    let state = expect_context::<AppState>();
    let commands = use_commands();
    let allowed = move || {
        let my_rank = state.governance().with(|governance| governance.my_rank);
        matches!(my_rank, Some(Rank::Owner | Rank::Admin))
    };
    view! {
        <Show when=allowed>
            <button
                type="button"
                class="button"
                on:click={
                    let commands = commands.clone();
                    move |_| commands.send(Command::ResetLink)
                }
            >
                "Reset invite link"
            </button>
        </Show>
    }
}

/// `link` as a QR code, drawn as one SVG path (no markup from strings).
#[component]
fn InviteQr(link: Signal<String>) -> impl IntoView {
    let code = move || qr_matrix(&link.get());
    move || {
        code().map(|(width, dark)| {
            let side = width + 2 * QUIET_ZONE;
            view! {
                <svg
                    class="qr"
                    role="img"
                    aria-label="QR code of the invite link"
                    viewBox=format!("0 0 {side} {side}")
                    shape-rendering="crispEdges"
                >
                    <rect width=side.to_string() height=side.to_string() fill="#fff" />
                    <path d=qr_path(width, &dark) fill="#000" />
                </svg>
            }
        })
    }
}

/// The QR code of `text` (error correction level M): its width in modules and, row by
/// row, whether each module is dark. None if `text` is too long for any QR code.
pub(crate) fn qr_matrix(text: &str) -> Option<(usize, Vec<bool>)> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    let dark = code
        .to_colors()
        .into_iter()
        .map(|color| color == qrcode::Color::Dark)
        .collect();
    Some((code.width(), dark))
}

/// SVG path data for the dark modules, offset by the quiet zone: one rectangle per run of
/// dark modules in a row.
pub(crate) fn qr_path(width: usize, dark: &[bool]) -> String {
    let mut path = String::new();
    for (y, row) in dark.chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            if !row[x] {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && row[x] {
                x += 1;
            }
            let run = x - start;
            path.push_str(&format!(
                "M{} {}h{run}v1h-{run}z",
                start + QUIET_ZONE,
                y + QUIET_ZONE
            ));
        }
    }
    path
}
