//! One writer per profile across tabs, elected with the Web Locks API
//! (`navigator.locks.request`), called through `js_sys::Reflect` because web-sys keeps
//! `LockManager` behind `--cfg=web_sys_unstable_apis`.
//!
//! A [`TabLock`] is held until it is dropped (for the store, as long as the page keeps its
//! `Store`); the browser also frees it when the tab closes or crashes.

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::error::BrowserError;

/// The browser would not take or refuse the lock (the text says why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tab lock: {0}")]
pub struct TabLockError(String);

/// A held Web Lock. Dropping it releases the lock.
pub struct TabLock {
    /// Resolves the promise our lock callback returned, which releases the lock. `None`
    /// where the browser has no Web Locks (then there is nothing to elect with).
    release: Option<Function>,
}

impl TabLock {
    /// Takes the lock `name` if nobody (in any tab, this one included) holds it:
    /// `Ok(None)` if somebody does. Browsers without Web Locks always get the lock.
    pub async fn try_acquire(name: &str) -> Result<Option<TabLock>, TabLockError> {
        request(name, true).await
    }

    /// Waits until the lock `name` is free, then takes it ("use Confab here" after the
    /// other tab closed).
    pub async fn acquire(name: &str) -> Result<TabLock, TabLockError> {
        request(name, false)
            .await?
            .ok_or_else(|| unavailable("the lock was not granted"))
    }
}

impl Drop for TabLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            // Resolving a promise cannot fail in a way we could act on.
            let _ = release.call0(&JsValue::NULL);
        }
    }
}

async fn request(name: &str, if_available: bool) -> Result<Option<TabLock>, TabLockError> {
    let Some(locks) = lock_manager() else {
        return Ok(Some(TabLock { release: None }));
    };
    let request: Function = Reflect::get(&locks, &"request".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| unavailable("navigator.locks.request is missing"))?;
    let options = Object::new();
    Reflect::set(
        &options,
        &"ifAvailable".into(),
        &JsValue::from_bool(if_available),
    )
    .map_err(|_| unavailable("cannot build the lock options"))?;

    // `decided` settles when the browser calls back: with the release function when we got
    // the lock, with null when `ifAvailable` found it taken.
    let mut decide = None;
    let decided = Promise::new(&mut |resolve, _reject| decide = Some(resolve));
    let decide = decide.ok_or_else(|| unavailable("Promise executor did not run"))?;
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        if lock.is_null() {
            let _ = decide.call1(&JsValue::NULL, &JsValue::NULL);
            return JsValue::UNDEFINED;
        }
        // The lock is held until the promise we return settles: hand its resolve out.
        let mut release = None;
        let held = Promise::new(&mut |resolve, _reject| release = Some(resolve));
        let release = release.map(JsValue::from).unwrap_or(JsValue::NULL);
        let _ = decide.call1(&JsValue::NULL, &release);
        held.into()
    });
    let requested = request
        .call3(&locks, &JsValue::from_str(name), &options, &callback)
        .map_err(|e| {
            unavailable(&format!(
                "navigator.locks.request threw: {}",
                BrowserError::from(e)
            ))
        })?;
    // A refused request (an opaque origin, say) rejects without calling back.
    let requested: Promise = requested
        .dyn_into()
        .map_err(|_| unavailable("navigator.locks.request returned no promise"))?;
    let outcome = JsFuture::from(Promise::race(&Array::of2(&decided, &requested)))
        .await
        .map_err(|e| {
            unavailable(&format!(
                "the lock request failed: {}",
                BrowserError::from(e)
            ))
        })?;
    Ok(outcome.dyn_into::<Function>().ok().map(|release| TabLock {
        release: Some(release),
    }))
}

/// `navigator.locks`, if the browser has it.
fn lock_manager() -> Option<JsValue> {
    let navigator = web_sys::window()?.navigator();
    Reflect::get(&navigator, &"locks".into())
        .ok()
        .filter(|locks| !locks.is_undefined() && !locks.is_null())
}

fn unavailable(what: &str) -> TabLockError {
    TabLockError(what.to_owned())
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use wasm_bindgen_test::*;

    use super::TabLock;
    use crate::platform::{clock, entropy};

    wasm_bindgen_test_configure!(run_in_browser);

    fn unique_name() -> String {
        format!("confab-test-lock-{:02x?}", &entropy::seed()[..6])
    }

    /// The lock `name` once free (the release reaches the lock manager asynchronously).
    async fn take_when_free(name: &str) -> Option<TabLock> {
        for _ in 0..100 {
            if let Some(lock) = TabLock::try_acquire(name).await.unwrap() {
                return Some(lock);
            }
            clock::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    #[wasm_bindgen_test]
    async fn a_second_request_is_refused_until_the_first_is_released() {
        let name = unique_name();
        let first = TabLock::try_acquire(&name).await.unwrap();
        assert!(first.is_some(), "the first request gets the lock");
        assert!(
            TabLock::try_acquire(&name).await.unwrap().is_none(),
            "a second request is refused while the first holds it"
        );
        let other = TabLock::try_acquire(&format!("{name}-other"))
            .await
            .unwrap();
        assert!(other.is_some(), "another name is independent");
        drop(first);
        assert!(
            take_when_free(&name).await.is_some(),
            "free again after release"
        );
    }

    #[wasm_bindgen_test]
    async fn acquire_waits_for_the_holder_to_release() {
        let name = unique_name();
        let first = TabLock::try_acquire(&name).await.unwrap();
        assert!(first.is_some());
        let granted = Rc::new(Cell::new(false));
        let (done_tx, done_rx) = futures::channel::oneshot::channel();
        let waiter_granted = granted.clone();
        let waiter_name = name.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let lock = TabLock::acquire(&waiter_name).await.unwrap();
            waiter_granted.set(true);
            let _ = done_tx.send(lock);
        });
        clock::sleep(Duration::from_millis(50)).await;
        assert!(!granted.get(), "still held by the first");
        drop(first);
        let second = done_rx.await.unwrap();
        assert!(TabLock::try_acquire(&name).await.unwrap().is_none());
        drop(second);
        assert!(take_when_free(&name).await.is_some());
    }
}
