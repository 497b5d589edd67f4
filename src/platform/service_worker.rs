//! The service worker's side of the app: opening the message a Web Push announces.
//!
//! The server pushes only a room's tag (see `platform/push.rs`); the worker
//! (`assets/sw.js`) maps it to the room's address and calls [`push_preview`], which runs
//! in the app's own wasm, loaded into the worker as the file worker loads it (the page's
//! glue and module; `main` sees a service worker and does nothing). It opens the profile
//! in IndexedDB read-only, without the tab lock ([`Store::open_read_only_in_worker`]),
//! resolves the address to the room's secret as the page does ([`confab_core::contacts::room_at`]),
//! connects to `/ws` (no `join`: a mailbox fetch needs only the connection's peer id and
//! the room's access proof), peeks into the room's mailbox ([`MailboxPeek`]) after the
//! app's cursor, and closes. It writes nothing: no cursor, no acknowledgement, no event;
//! the app fetches the same entries when it opens the room.
//!
//! What it answers ([`Preview`]): "Alice in Book club" and the message, as the page's
//! own notification would read ([`pwa::message_title`], [`pwa::preview`]); "New message"
//! when the message cannot be read here (a passphrase locks the profile, the server is
//! unreachable or slow) but something was deposited; nothing for a room this profile does
//! not know, nothing new, nothing that opens and verifies, or a muted room where nothing
//! mentions us. Messages of someone the user blocked do not count. With previews off, a
//! message reads "New message" without name or text.

use std::time::Duration;

use confab_core::contacts::Contacts;
use confab_core::peek::{MailboxPeek, PeekedContent};
use confab_core::signal::{MailboxReply, ServerFrame, ServerMessage};
use confab_core::{Identity, RoomAddress};
use futures::StreamExt as _;
use futures::channel::mpsc;
use futures::future::{self, Either};
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

use super::clock;
use super::socket::{Socket, SocketError, SocketEvent};
use super::store::{BrowserStore, DB_NAME, StoreError};
use super::{page, pwa};

/// How long a peek may take, connecting included: push events must finish soon (browsers
/// give a worker about 30 s), and the notification should not lag much behind the push.
const PEEK_TIMEOUT: Duration = Duration::from_secs(10);

/// What the worker shows for a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Preview {
    /// Nothing: nothing new we can stand behind.
    Nothing,
    /// A notification with this title and body.
    Show {
        /// "Alice in Book club", or "New message".
        title: String,
        /// The message's text, "File: name", or "Open Confab to read it.".
        body: String,
    },
}

impl Preview {
    /// "New message", for a deposit the worker cannot read.
    pub fn opaque() -> Preview {
        Preview::Show {
            title: "New message".into(),
            body: "Open Confab to read it.".into(),
        }
    }
}

/// Whether this code runs in a service worker (where `main` must do nothing).
pub fn in_service_worker() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &"ServiceWorkerGlobalScope".into())
        .is_ok_and(|scope| !scope.is_undefined())
}

/// What the worker shows for a push for the room at `address` (16 hex digits):
/// `{title, body}`, or `null` for nothing. `muted_here`: the page marked the room muted in
/// the worker's cache; `previews`: names and text may be shown. Never throws.
#[wasm_bindgen]
pub async fn push_preview(address: String, muted_here: bool, previews: bool) -> JsValue {
    let preview = match address.parse::<RoomAddress>() {
        Ok(address) => preview(address, muted_here, previews).await,
        Err(_) => Preview::Nothing,
    };
    match preview {
        Preview::Nothing => JsValue::NULL,
        Preview::Show { title, body } => {
            let object = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&object, &"title".into(), &title.into());
            let _ = js_sys::Reflect::set(&object, &"body".into(), &body.into());
            object.into()
        }
    }
}

async fn preview(address: RoomAddress, muted_here: bool, previews: bool) -> Preview {
    let store = match BrowserStore::open_read_only_in_worker(DB_NAME).await {
        Ok(store) => store,
        // Locked, or no profile we can read: the deposit is real, its text is not ours.
        Err(StoreError::Locked) => return unread_here(muted_here),
        Err(error) => {
            log(&format!("the profile does not open here: {error}"));
            return unread_here(muted_here);
        }
    };
    let Ok(Some(profile)) = store.load_profile().await else {
        return Preview::Nothing;
    };
    let me = Identity::from_seed(profile.identity_seed);
    let saved = store.rooms().await.unwrap_or_default();
    let contacts = store.load_contacts().await;
    let Some(room) = confab_core::contacts::room_at(&saved, &me, &contacts, address) else {
        return Preview::Nothing;
    };
    // A room's records are under its home (a governed room's genesis), its mailbox cursor
    // under the room id it is at now.
    let saved_room = saved.iter().find(|saved| saved.room_id() == room.room_id());
    let id = saved_room.map_or_else(|| room.room_id(), |saved| saved.home());
    let read = store
        .read_marks(id)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let cursor = store
        .mailbox_cursor(room.room_id())
        .await
        .unwrap_or_default();
    let muted = muted_here || store.muted(id).await.unwrap_or(false);
    let title = saved_room
        .map(|saved| confab_core::contacts::room_title(saved, &contacts))
        .unwrap_or_default();
    drop(store);
    // A governed room's mailbox is its current epoch's, its events signed over its genesis.
    let governed = saved_room.and_then(|saved| saved.genesis.zip(saved.epoch.clone()));
    let mut peek = match governed {
        Some((genesis, (_, epoch))) => {
            MailboxPeek::governed(&epoch, genesis, me.member_key(), read, cursor)
        }
        None => MailboxPeek::new(&room, me.member_key(), read, cursor),
    }
    // Nothing of whom the user blocked notifies.
    .blocking(contacts.blocked());
    let timeout = Box::pin(clock::sleep(PEEK_TIMEOUT));
    let fetched = match future::select(Box::pin(fetch(&mut peek)), timeout).await {
        Either::Left((fetched, _)) => fetched,
        Either::Right(_) => Err(FetchError::TimedOut),
    };
    if let Err(error) = fetched {
        log(&format!("the mailbox was not read: {error}"));
        return unread_here(muted);
    }
    let summary = peek.summary();
    let Some(latest) = summary.latest else {
        return Preview::Nothing;
    };
    if muted && !summary.mentions_me {
        return Preview::Nothing;
    }
    if !previews {
        return Preview::Show {
            title: "New message".into(),
            body: String::new(),
        };
    }
    let author = name_of(&contacts, &peek, &latest.author);
    let text = match &latest.content {
        PeekedContent::Text(text) => text.clone(),
        PeekedContent::File(name) => format!("File: {name}"),
    };
    Preview::Show {
        title: pwa::message_title(&author, &title),
        body: pwa::preview(&text),
    }
}

/// A deposit we cannot read (the profile locked, the mailbox out of reach): "New
/// message", unless the room is muted (a mention cannot be seen).
fn unread_here(muted: bool) -> Preview {
    if muted {
        Preview::Nothing
    } else {
        Preview::opaque()
    }
}

/// The author's name: as a contact, else as the pages name them, else as the page shows
/// an author it has no name for.
fn name_of(contacts: &Contacts, peek: &MailboxPeek, author: &confab_core::MemberKey) -> String {
    contacts
        .get(author)
        .map(|contact| contact.name.clone())
        .or_else(|| peek.name_of(author).map(str::to_owned))
        .unwrap_or_else(|| "Someone".to_owned())
}

/// Why the mailbox was not read (the notification then says less).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error("the connection closed ({code} {reason})")]
    Closed { code: u16, reason: String },
    #[error("entries before welcome")]
    EntriesBeforeWelcome,
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("the connection ended")]
    Ended,
    #[error("the connection is not open")]
    NotOpen,
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    #[error("timed out")]
    TimedOut,
}

/// Connects to the server that served the worker, waits for `welcome`, and fetches the
/// room's pages into `peek`.
async fn fetch(peek: &mut MailboxPeek) -> Result<(), FetchError> {
    let (sink, mut events) = mpsc::unbounded::<SocketEvent>();
    let socket = Socket::connect(&page::socket_url(), move |event| {
        let _ = sink.unbounded_send(event);
    })?;
    let mut server_peer = None;
    while let Some(event) = events.next().await {
        let text = match event {
            SocketEvent::Open | SocketEvent::Binary(_) => continue,
            SocketEvent::Closed { code, reason } => {
                return Err(FetchError::Closed { code, reason });
            }
            SocketEvent::Text(text) => text,
        };
        match serde_json::from_str::<ServerFrame>(&text) {
            Ok(ServerFrame::Server(ServerMessage::Welcome { peer, .. })) => {
                server_peer = Some(peer);
                send(&socket, &peek.fetch(peer))?;
            }
            Ok(ServerFrame::Mailbox(MailboxReply::MailboxEntries {
                room,
                entries,
                more,
            })) => {
                let peer = server_peer.ok_or(FetchError::EntriesBeforeWelcome)?;
                match peek.handle_entries(peer, room, &entries, more) {
                    Some(next) => send(&socket, &next)?,
                    None => return Ok(()),
                }
            }
            Ok(ServerFrame::Server(ServerMessage::Error { .. })) => {
                return Err(FetchError::Refused(text));
            }
            _ => {}
        }
    }
    Err(FetchError::Ended)
}

fn send(socket: &Socket, message: &confab_core::signal::ClientMessage) -> Result<(), FetchError> {
    let json = serde_json::to_string(message)?;
    if socket.send_text(&json) {
        Ok(())
    } else {
        Err(FetchError::NotOpen)
    }
}

fn log(text: &str) {
    web_sys::console::warn_1(&JsValue::from_str(&format!("push: {text}")));
}
