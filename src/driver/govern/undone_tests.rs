//! The driver following a removal that a rival's undoes (`Governance::may_contest`): Ada,
//! an admin, removes Bea and Max while Olive, the owner, removes Ada, neither having heard
//! of the other; Olive is senior, so Ada's removals count no more. Max's page hears of each
//! from the room's mailbox.

use std::cell::Cell;
use std::rc::Rc;

use confab_core::governance::Govern;
use confab_core::history::{Content, VerifiedEvent};
use confab_core::mailbox::MailboxKeys;
use confab_core::signal::{MailboxItem, MailboxReply, MailboxSeq, ServerMessage};
use confab_core::transfer::FileMeta;
use confab_core::vault::KdfParams;
use confab_core::{
    Client, Config, EventId, Identity, MemberKey, Output, PeerId, RoomId, UnixMillis,
};
use leptos::prelude::*;
use wasm_bindgen_test::*;

use super::tests::with_an_admin;
use super::tests::{joined, joined_as, link_and_pump, saved_group, titled, until_governed};
use crate::commands::Commands;
use crate::driver::calls::CALL_ENDED_REMOVED;
use crate::driver::tests::{FakeNetwork, Wire, until};
use crate::driver::{Settings as DriverSettings, restore_history, start};
use crate::platform::socket::SocketEvent;
use crate::platform::store::{BrowserStore, SavedRoom};
use crate::platform::{clock, entropy};
use crate::state::{AppState, FileStatus, Rank, Topic};

wasm_bindgen_test_configure!(run_in_browser);

/// The room as it reaches Max: Olive's file and the rival removals, each an event to
/// seal into the mailbox; and Max, not started yet.
struct Rivals {
    /// Max's identity, for his page after a reload.
    max_seed: [u8; 32],
    olive: MemberKey,
    ada: MemberKey,
    bea: MemberKey,
    file: EventId,
    offer: VerifiedEvent,
    ada_removes_bea: VerifiedEvent,
    ada_removes_max: VerifiedEvent,
    olive_removes_ada: VerifiedEvent,
    keys: MailboxKeys,
}

impl Rivals {
    /// The room, and Max's client (whose page is not open yet).
    fn new() -> (Rivals, Client) {
        let now = clock::now();
        let (mut olive, mut ada, ada_key) = with_an_admin("Ada");
        let (_bea, bea_key) = joined(&mut olive, "Bea");
        let max_seed = entropy::seed();
        let (mut max, max_key) = joined_as(&mut olive, "Max", max_seed);
        // Max's page is linked to nobody: all reaches him by the mailbox.
        max.remove_peer(now, PeerId::new(1));
        while !matches!(max.poll_output(), Output::Timeout(_)) {}
        let meta = FileMeta {
            name: "plan.pdf".into(),
            mime: "application/pdf".into(),
            size: 1000,
            hash: [1; 32],
        };
        let file = olive.post_file(now, UnixMillis(3), meta).unwrap();
        // Ada hears of Bea and Max (linked to Olive again); then each removes, unheard by
        // the other.
        link_and_pump(now, &mut olive, &mut ada);
        let remove = |member| Govern::Remove { member, seen: 0 };
        ada.govern(now, UnixMillis(4), remove(bea_key)).unwrap();
        ada.govern(now, UnixMillis(4), remove(max_key)).unwrap();
        olive.govern(now, UnixMillis(4), remove(ada_key)).unwrap();
        let removal = |client: &Client, member: MemberKey| {
            let removes = |e: &&VerifiedEvent| {
                matches!(&e.event().content,
                    Content::Govern(Govern::Remove { member: m, .. }) if *m == member)
            };
            client.history().iter().find(removes).cloned().unwrap()
        };
        let rivals = Rivals {
            offer: olive
                .history()
                .iter()
                .find(|e| e.id() == file)
                .cloned()
                .unwrap(),
            ada_removes_bea: removal(&ada, bea_key),
            ada_removes_max: removal(&ada, max_key),
            olive_removes_ada: removal(&olive, ada_key),
            keys: olive.epoch().unwrap().1.mailbox_keys(),
            olive: olive.identity().member_key(),
            max_seed,
            ada: ada_key,
            bea: bea_key,
            file,
        };
        (rivals, max)
    }
}

/// Max's page: his driver on a fake network whose server the test plays.
struct MaxPage {
    state: AppState,
    commands: Commands,
    wire: Rc<Wire>,
    /// Mailbox fetches answered so far.
    fetched: Cell<usize>,
}

impl MaxPage {
    /// Max's page on `client`, his room saved as `room` (kept in `store`, if any), the
    /// rooms list showing it, connected and welcomed.
    async fn open(
        rivals: &Rivals,
        client: Client,
        room: SavedRoom,
        store: Option<&Rc<BrowserStore>>,
    ) -> MaxPage {
        let (mut kept, listed) = titled(room);
        kept.store = store.cloned();
        let page = MaxPage {
            state: AppState::new(),
            commands: Commands::new(),
            wire: Rc::new(Wire::default()),
            fetched: Cell::new(0),
        };
        let (state, wire) = (page.state, &page.wire);
        let settings = DriverSettings {
            force_relay: true,
            dangerously_withhold_ice_candidates: false,
            on_screen: true,
        };
        state.show_rooms(vec![listed]);
        state.member_named(rivals.bea, "Bea".into());
        state.member_named(rivals.olive, "Olive".into());
        let room_id = client.room_id();
        let network = Box::new(FakeNetwork(wire.clone()));
        start(client, state, settings, network, kept, &page.commands);
        until("the driver to connect", || {
            wire.socket_sink.borrow().is_some()
        })
        .await;
        wire.deliver(SocketEvent::Open);
        wire.deliver_json(&ServerMessage::Welcome {
            peer: PeerId::new(7),
            ice_servers: vec![],
            relay_bytes_per_sec: 0,
            relay_burst_bytes: 0,
            mailbox_puts_per_minute: 120,
            push_key: None,
        });
        wire.deliver_json(&ServerMessage::Joined {
            room: room_id,
            peers: vec![],
        });
        until_governed(state).await;
        page
    }

    /// `event`, sealed as mailbox entry `seq`, answers the page's next fetch (after the
    /// first, made on joining, the server's notice of a new entry asks for it).
    async fn deliver(&self, rivals: &Rivals, seq: u64, event: &VerifiedEvent) {
        let (wire, mailbox) = (&self.wire, rivals.keys.room());
        if self.fetched.get() > 0 {
            wire.deliver_mailbox(&MailboxReply::MailboxNew {
                room: mailbox,
                seq: MailboxSeq::new(seq),
            });
        }
        until("a mailbox fetch", || {
            wire.fetches().len() > self.fetched.get()
        })
        .await;
        self.fetched.set(wire.fetches().len());
        let mut nonce = [0; 24];
        nonce.copy_from_slice(&entropy::seed()[..24]);
        let entry = MailboxItem {
            seq: MailboxSeq::new(seq),
            entry: rivals.keys.seal(nonce, event.bytes()).unwrap(),
        };
        wire.deliver_mailbox(&MailboxReply::MailboxEntries {
            room: mailbox,
            entries: vec![entry],
            more: false,
        });
    }

    /// The room's title in the rooms list.
    fn title(&self) -> String {
        self.state
            .rooms()
            .with_untracked(|rooms| rooms[0].title.clone())
    }

    /// What the card of `file` shows.
    fn card(&self, file: EventId) -> Option<FileStatus> {
        self.state
            .files()
            .with_untracked(|files| files.get(&file).map(|p| p.status.clone()))
    }

    /// Waits until the card of `file` shows `wanted`.
    async fn until_card(&self, file: EventId, wanted: FileStatus) {
        for _ in 0..250 {
            if self.card(file).as_ref() == Some(&wanted) {
                return;
            }
            clock::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(self.card(file), Some(wanted));
    }

    async fn until_member_again(&self, rivals: &Rivals) {
        until("Max a member again", || {
            self.state.governance().with_untracked(|g| {
                g.my_rank == Some(Rank::Member) && g.rank_of(&rivals.ada).is_none()
            })
        })
        .await;
    }
}

/// A store of its own for `test`, holding what Max's client held before his page opened
/// (his page keeps what comes after).
async fn store_of(test: &str, max: &Client, room: &SavedRoom) -> Rc<BrowserStore> {
    let database = format!("confab-test-{test}-{:02x?}", &entropy::seed()[..6]);
    let store = BrowserStore::open_database(&database, None, KdfParams::OWASP)
        .await
        .unwrap();
    let held: Vec<Vec<u8>> = max.history().iter().map(|e| e.bytes().to_vec()).collect();
    store.append_events(room.home(), &held).await.unwrap();
    store.save_room(room).await.unwrap();
    Rc::new(store)
}

/// The room at `home` as `store` keeps it, once titled `title` (saved in the background).
async fn saved_titled(store: &BrowserStore, home: RoomId, title: &str) -> SavedRoom {
    for _ in 0..250 {
        let rooms = store.rooms().await.unwrap();
        let room = rooms.into_iter().find(|r| r.home() == home).unwrap();
        if room.title == title {
            return room;
        }
        clock::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the saved room never titled {title:?}");
}

/// Max's page hears of Ada's removals first (from the mailbox): removed, Olive's file can
/// no longer be downloaded (it offered Accept, which could only fail; checked on the old
/// code), Bea's name leaves the room's title. Then of Olive's: the page follows the
/// governance back, a member again, the file offered again, Bea's name back in the title,
/// and "you are no longer in this room" about the call his removal ended is gone (the
/// title stayed "Olive" and the notice stayed up: checked on the old code).
#[wasm_bindgen_test]
async fn a_removal_undone_by_a_rival_is_followed_back() {
    let (rivals, max) = Rivals::new();
    let room = saved_group(&max, "Bea, Olive");
    let page = MaxPage::open(&rivals, max, room, None).await;
    let file = rivals.file;
    page.deliver(&rivals, 1, &rivals.offer).await;
    until("Olive's file offered", || {
        page.card(file) == Some(FileStatus::Offered)
    })
    .await;
    page.deliver(&rivals, 2, &rivals.ada_removes_bea).await;
    until("Bea's name gone from the title", || page.title() == "Olive").await;
    page.deliver(&rivals, 3, &rivals.ada_removes_max).await;
    until("Max removed", || {
        page.state.governance().with_untracked(|g| g.removed_me())
    })
    .await;
    let ended = page.card(file);
    assert!(
        matches!(&ended, Some(FileStatus::Ended { reason }) if reason == "you are no longer in this room"),
        "{ended:?}"
    );
    // What the page said of the call the removal ended (the driver's words; nobody to call
    // here).
    page.state
        .notify_about(Topic::CallEnded, CALL_ENDED_REMOVED);

    page.deliver(&rivals, 4, &rivals.olive_removes_ada).await;
    page.until_member_again(&rivals).await;
    assert_eq!(page.card(file), Some(FileStatus::Offered));
    assert_eq!(page.title(), "Bea, Olive");
    let lasting = page.state.lasting_notices().get_untracked();
    assert!(lasting.is_empty(), "{lasting:?}");
}

/// The title's names come back after a reload too: Max's page takes Bea's name out of the
/// title on Ada's removal and reloads; Olive's removal of Ada then reaches the reloaded
/// page, and Bea's name is back where it stood, in the rooms list and the saved room
/// (the name taken out was kept only in the driver's memory: after the reload the title
/// stayed "Olive"; checked on the old driver).
#[wasm_bindgen_test]
async fn a_name_a_removal_took_out_comes_back_after_a_reload() {
    let (rivals, max) = Rivals::new();
    let room = saved_group(&max, "Bea, Olive");
    let store = store_of("untitled", &max, &room).await;
    let home = room.home();
    let page = MaxPage::open(&rivals, max, room, Some(&store)).await;
    page.deliver(&rivals, 1, &rivals.offer).await;
    page.deliver(&rivals, 2, &rivals.ada_removes_bea).await;
    until("Bea's name gone from the title", || page.title() == "Olive").await;

    // The tab reloads: Max's room, client and history as the store gives them back.
    let record = saved_titled(&store, home, "Olive").await;
    assert_eq!(record.untitled.len(), 1, "Bea's name, kept");
    let config = Config {
        display_name: "Max".into(),
        ..Config::default()
    };
    let identity = Identity::from_seed(rivals.max_seed);
    let mut client = crate::driver::client_for(identity, &record, config);
    restore_history(&mut client, Some(&store)).await.unwrap();
    let page = MaxPage::open(&rivals, client, record, Some(&store)).await;
    assert_eq!(page.title(), "Olive");
    page.deliver(&rivals, 3, &rivals.olive_removes_ada).await;
    page.until_member_again(&rivals).await;
    until("Bea's name back in the title", || {
        page.title() == "Bea, Olive"
    })
    .await;
    let record = saved_titled(&store, home, "Bea, Olive").await;
    assert!(record.untitled.is_empty());
}

/// A download a removal ended goes on by itself when the removal is undone: Max accepts
/// Olive's file (waiting for her), Ada's removal of him ends it ("you are no longer in
/// this room"), and Olive's of Ada puts it back to waiting for her, with no Resume to
/// press and no reload (it showed "stopped while you or its sender were out of this room"
/// with Resume, and core had dropped its hash: checked on the old code).
#[wasm_bindgen_test]
async fn a_download_a_removal_ended_goes_on_when_it_is_undone() {
    let (rivals, max) = Rivals::new();
    let room = saved_group(&max, "Bea, Olive");
    let store = store_of("download-undone", &max, &room).await;
    let page = MaxPage::open(&rivals, max, room, Some(&store)).await;
    let file = rivals.file;
    page.deliver(&rivals, 1, &rivals.offer).await;
    until("Olive's file offered", || {
        page.card(file) == Some(FileStatus::Offered)
    })
    .await;
    page.commands
        .send(crate::commands::Command::AcceptFile(file));
    page.until_card(file, FileStatus::Waiting).await;
    // Ada's removals come in her chain's order.
    page.deliver(&rivals, 2, &rivals.ada_removes_bea).await;
    page.deliver(&rivals, 3, &rivals.ada_removes_max).await;
    until("Max removed", || {
        page.state.governance().with_untracked(|g| g.removed_me())
    })
    .await;
    clock::sleep(std::time::Duration::from_millis(200)).await;
    let ended = page.card(file);
    assert!(
        matches!(&ended, Some(FileStatus::Failed { reason, .. }) if reason == "you are no longer in this room"),
        "{ended:?}"
    );
    page.deliver(&rivals, 4, &rivals.olive_removes_ada).await;
    page.until_member_again(&rivals).await;
    page.until_card(file, FileStatus::Waiting).await;
    // And it stays so: nothing turns it back into a failure to resume by hand.
    clock::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(page.card(file), Some(FileStatus::Waiting));
}
