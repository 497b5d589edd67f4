//! The tab lock as the store uses it: one writing tab per profile. The page takes the
//! Web Lock `confab-store/<database>` ([`lock_name`]) before it opens the database and
//! keeps it for the page's life (the browser frees it when the tab goes), so reopening a
//! store, after a wrong passphrase say, never races the asynchronous release of our own
//! lock.

use std::cell::RefCell;
use std::collections::HashMap;

use super::StoreError;
use crate::platform::tab_lock::TabLock;

thread_local! {
    /// Tab locks this page holds, by database name.
    static HELD: RefCell<HashMap<String, TabLock>> = RefCell::new(HashMap::new());
}

/// The Web Lock that makes one tab the writer of database `name`.
pub fn lock_name(name: &str) -> String {
    format!("confab-store/{name}")
}

/// Takes the lock of database `name` unless this page holds it already, without waiting:
/// [`StoreError::OtherTab`] if another tab has it.
pub(super) async fn hold(name: &str) -> Result<(), StoreError> {
    if HELD.with(|held| held.borrow().contains_key(name)) {
        return Ok(());
    }
    let lock = TabLock::try_acquire(&lock_name(name))
        .await?
        .ok_or(StoreError::OtherTab)?;
    HELD.with(|held| held.borrow_mut().insert(name.to_owned(), lock));
    Ok(())
}
