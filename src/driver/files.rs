//! The driver's half of file transfer, beside core's `client::files` machines: our files
//! going out (`uploads`), others' files coming in (`downloads`), what the UI shows of each
//! (`progress`), and here the bookkeeping they share: the per-file records that let a
//! transfer resume after a reload, the file worker, and cancelling either direction.
//! Pacing decisions are core's ([`confab_core::transfer::pace`]); the browser's files and
//! storage are behind [`crate::platform::files`].

mod downloads;
mod progress;
mod uploads;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::rc::Rc;

use confab_core::transfer::FileMeta;
use confab_core::transfer::pace::{RelayBudget, Speed};
use confab_core::vault::records::{FileDecision, FileRecord};
use confab_core::{EventId, Instant, MemberKey, PeerId};

use futures::FutureExt as _;
use futures::future::{LocalBoxFuture, Shared};

use super::Driver;
use crate::platform::clock::log;
use crate::platform::file_worker::FileWorker;
use crate::platform::files::LocalFile;

/// Transfer bookkeeping the driver keeps beside core.
#[derive(Default)]
pub(super) struct Transfers {
    /// Our offered files' bytes.
    outgoing: HashMap<EventId, LocalFile>,
    /// Our files with a complete copy in the store (what serves them after a reload).
    kept: HashSet<EventId>,
    /// Per upload: chunks core asked for, not yet read.
    queued: BTreeMap<(EventId, PeerId), VecDeque<u32>>,
    /// Uploads with a read in flight.
    reading: HashSet<(EventId, PeerId)>,
    /// Per upload: chunks read, not yet handed to core (at most a read's worth ahead).
    ready: BTreeMap<(EventId, PeerId), VecDeque<ReadChunk>>,
    /// Received chunks not yet handed to the store: first index and the chunks.
    unsaved: HashMap<EventId, (u32, Vec<Vec<u8>>)>,
    /// Downloads with a store write in flight.
    saving: HashSet<EventId>,
    /// What we decided per file of this room.
    decisions: HashMap<EventId, FileDecision>,
    /// Download speeds, and upload speeds per receiver.
    speeds: HashMap<(EventId, Option<MemberKey>), Speed>,
    /// When each transfer's progress was last shown, and whether it was active then.
    shown: HashMap<(EventId, Option<MemberKey>), (Instant, bool)>,
    relay: Option<RelayBudget>,
    /// When relayed uploads may go on.
    relay_wait: Option<Instant>,
    /// The file worker, once asked for ([`Driver::file_worker`]).
    worker: Option<WorkerStart>,
}

/// A chunk read from our file: its index and bytes.
type ReadChunk = (u32, Vec<u8>);

/// The file worker starting, or started (`None`: it cannot run here, and the page's
/// thread stores chunks itself).
type WorkerStart = Shared<LocalBoxFuture<'static, Option<Rc<FileWorker>>>>;

impl Transfers {
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.relay_wait
    }
}

impl Driver {
    fn file_meta(&self, file: &EventId) -> Option<FileMeta> {
        self.client.timeline().message(file)?.file.clone()
    }

    fn save_decision(&mut self, file: EventId, decision: FileDecision) {
        self.transfers.decisions.insert(file, decision);
        let record = FileRecord {
            room: self.home,
            decision,
        }
        .encode();
        self.with_store_quietly(move |store| async move {
            store.save_file_record(*file.as_bytes(), &record).await
        });
    }

    /// The file worker, started on first use: received chunks and kept copies are sealed
    /// and stored there. Until it is ready, and where it cannot run, the page does it.
    fn file_worker(&mut self) -> WorkerStart {
        if let Some(start) = &self.transfers.worker {
            return start.clone();
        }
        let store = self.store.clone();
        let start = async move {
            match FileWorker::start(store.as_deref()?).await {
                Ok(worker) => {
                    log("file worker ready: files are stored off the page's thread");
                    Some(Rc::new(worker))
                }
                Err(error) => {
                    log(&format!(
                        "no file worker, files are stored on the page: {error}"
                    ));
                    None
                }
            }
        }
        .boxed_local()
        .shared();
        // A shared future runs only while polled: drive it even if nobody waits.
        wasm_bindgen_futures::spawn_local(start.clone().map(|_| ()));
        self.transfers.worker = Some(start.clone());
        start
    }

    /// Ours: stop offering it. Someone else's: stop downloading and delete what arrived.
    pub(super) fn cancel_file(&mut self, now: Instant, file: EventId) {
        let total = self.file_meta(&file).map_or(0, |m| m.size);
        let had_blob = self.transfers.outgoing.remove(&file).is_some();
        let had_copy = self.transfers.kept.remove(&file);
        if had_blob || had_copy || self.client.holds_file(&file) {
            self.client.release_file(now, file);
            self.transfers.queued.retain(|(f, _), _| *f != file);
            self.transfers.ready.retain(|(f, _), _| *f != file);
            self.state.file_withdrawn(file, total);
            self.with_store_quietly(move |store| async move {
                store.forget_file(*file.as_bytes()).await
            });
            return;
        }
        self.client.cancel_download(now, file);
        self.transfers.unsaved.remove(&file);
        self.transfers.decisions.remove(&file);
        // Offered again, unless it can never be downloaded here (Accept would only fail).
        let status = progress::offer_status(self.never_downloadable(&file).as_ref());
        self.state.download_cancelled(file, total, status);
        self.with_store_quietly(
            move |store| async move { store.forget_file(*file.as_bytes()).await },
        );
    }
}
