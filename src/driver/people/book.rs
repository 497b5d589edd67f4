//! [`ContactBook`]: this tab's contacts, held once. The tab owns it and every room's driver
//! (on screen or in the background) shares it: a driver records whom it meets here and
//! asks it who is blocked; a block (or unblock) made in one room is told to every running
//! driver at once. Only the book writes contact records, each from its current entry, so
//! no room's older copy can overwrite a block made in another.

use std::cell::{Cell, Ref, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;

use confab_core::contacts::{Contact, Contacts};
use confab_core::{MemberKey, PublicIdentity};
use futures::channel::mpsc::UnboundedSender;

use super::super::input::Input;
use crate::platform::clock;
use crate::platform::store::BrowserStore;
use crate::state::AppState;

/// This tab's contacts; see the module documentation.
#[derive(Default)]
pub struct ContactBook {
    contacts: RefCell<Contacts>,
    /// Where contact records are kept (None: nothing is kept).
    store: Option<Rc<BrowserStore>>,
    /// The page told when a record could not be kept (None: nobody to tell).
    state: Option<AppState>,
    /// Every driver that follows the book, told when whom the user blocked changes.
    drivers: RefCell<Vec<UnboundedSender<Input>>>,
    /// Contacts changed and not written yet (written one at a time, each as it is then),
    /// and any whose write failed, tried again with the next save.
    unsaved: RefCell<BTreeSet<MemberKey>>,
    /// A write is under way.
    writing: Cell<bool>,
}

impl ContactBook {
    /// The book of `contacts` (as loaded from `store`, where it keeps them), telling the
    /// page on `state` when one could not be kept.
    pub fn new(
        contacts: Contacts,
        store: Option<Rc<BrowserStore>>,
        state: Option<AppState>,
    ) -> Rc<ContactBook> {
        Rc::new(ContactBook {
            contacts: RefCell::new(contacts),
            store,
            state,
            ..ContactBook::default()
        })
    }

    /// The contacts now.
    pub fn contacts(&self) -> Ref<'_, Contacts> {
        self.contacts.borrow()
    }

    /// Whether the user blocked `key`.
    pub fn is_blocked(&self, key: &MemberKey) -> bool {
        self.contacts.borrow().get(key).is_some_and(|c| c.blocked)
    }

    /// Everyone the user blocked.
    pub fn blocked(&self) -> Vec<MemberKey> {
        self.contacts.borrow().blocked().collect()
    }

    /// We verified `identity` calling itself `name`: records (or refreshes) them, keeps the
    /// record, and returns it.
    pub fn observe(self: &Rc<Self>, identity: &PublicIdentity, name: &str) -> Contact {
        let contact = self
            .contacts
            .borrow_mut()
            .observe(identity, name, clock::wall())
            .1
            .clone();
        self.save(identity.member_key());
        contact
    }

    /// Blocks (`blocked`) or unblocks the contact `key`: keeps it and tells every driver.
    /// Returns whether that changed anything (not for someone who is no contact).
    pub fn set_blocked(self: &Rc<Self>, key: &MemberKey, blocked: bool) -> bool {
        let changed = self
            .contacts
            .borrow_mut()
            .set_blocked(key, blocked)
            .is_some();
        if changed {
            self.save(*key);
            self.drivers
                .borrow_mut()
                .retain(|driver| driver.unbounded_send(Input::BlockedChanged).is_ok());
        }
        changed
    }

    /// A driver follows the book from now on (until it stops).
    pub(in crate::driver) fn follow(&self, driver: UnboundedSender<Input>) {
        self.drivers.borrow_mut().push(driver);
    }

    /// Writes `key`'s record, after the writes before it.
    fn save(self: &Rc<Self>, key: MemberKey) {
        if self.store.is_none() {
            return;
        }
        self.unsaved.borrow_mut().insert(key);
        if self.writing.replace(true) {
            return;
        }
        let book = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                let Some(key) = book.unsaved.borrow_mut().pop_first() else {
                    break;
                };
                let bytes = book.contacts.borrow().get(&key).map(Contact::encode);
                if let (Some(store), Some(bytes)) = (&book.store, bytes)
                    && let Err(error) = store.save_contact(key.as_bytes().to_owned(), &bytes).await
                {
                    // Kept to write with the next save (a full disk may have room then).
                    book.unsaved.borrow_mut().insert(key);
                    if let Some(state) = book.state {
                        state.notify(format!("Could not save to this device: {error}."));
                    }
                    break;
                }
            }
            book.writing.set(false);
        });
    }
}
