//! Test-only: a full disk for real. [`Cramped`] gives the page's IndexedDB a quota of a
//! few hundred KiB (a Chromium storage bucket opened with that quota, whose IndexedDB
//! stands in for `window.indexedDB` until it is dropped), [`Cramped::fill`] uses it all
//! up, so the store's next writes fail with the browser's own `QuotaExceededError` (and
//! IndexedDB rolls their transactions back), and [`Cramped::free`] gives the space back.
//!
//! Only the app's unit tests compile it (`cfg(test)`): no build of the app has it.
//! Everything the app opens while a [`Cramped`] lives is in the bucket, so open the
//! store after creating it, and drop the store before it. A test that fails while one
//! lives leaves the page's IndexedDB cramped for the tests after it in that page.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = r#"
function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
function committed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error);
  });
}
const FILLER = 'confab-test-filler';
export async function cramp(name, quota) {
  const bucket = await navigator.storageBuckets.open(name, { quota });
  const original = Object.getOwnPropertyDescriptor(window, 'indexedDB');
  Object.defineProperty(window, 'indexedDB', { value: bucket.indexedDB, configurable: true });
  return { bucket, original };
}
export function uncramp(cramped) {
  if (cramped.original) {
    Object.defineProperty(window, 'indexedDB', cramped.original);
  } else {
    delete window.indexedDB;
  }
}
export async function fill(cramped) {
  const open = cramped.bucket.indexedDB.open(FILLER, 1);
  open.onupgradeneeded = () => open.result.createObjectStore('filler');
  const db = await done(open);
  let size = 64 * 1024, n = 0;
  while (size >= 16) {
    const tx = db.transaction('filler', 'readwrite');
    const bytes = new Uint8Array(size);
    crypto.getRandomValues(bytes.subarray(0, Math.min(size, 65536)));
    tx.objectStore('filler').put(bytes, n++);
    try { await committed(tx); } catch (e) {
      if (!e || e.name !== 'QuotaExceededError') { db.close(); throw e; }
      size /= 2;
    }
  }
  db.close();
}
export async function free(cramped) {
  await done(cramped.bucket.indexedDB.deleteDatabase(FILLER));
  const { quota } = await cramped.bucket.estimate();
  // Chromium counts the deleted database's space back a little later.
  for (let i = 0; i < 100; i++) {
    const { usage } = await cramped.bucket.estimate();
    if (usage < quota / 2) return;
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error('the bucket\'s space did not come back');
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn cramp(name: &str, quota: f64) -> Result<js_sys::Promise, JsValue>;
    fn uncramp(cramped: &JsValue);
    #[wasm_bindgen(catch)]
    fn fill(cramped: &JsValue) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(catch)]
    fn free(cramped: &JsValue) -> Result<js_sys::Promise, JsValue>;
}

/// The page's IndexedDB with a small quota, until dropped; see the module documentation.
pub struct Cramped(JsValue);

impl Cramped {
    /// From now on the page's IndexedDB is that of a fresh storage bucket named `name`
    /// (lowercase letters, digits, `-`, `_`) allowed `quota` bytes.
    pub async fn new(name: &str, quota: u32) -> Cramped {
        let promise = cramp(name, f64::from(quota)).expect("storage buckets");
        Cramped(JsFuture::from(promise).await.expect("a bucket"))
    }

    /// Uses up the quota: from now on the bucket's writes fail with `QuotaExceededError`.
    pub async fn fill(&self) {
        let promise = fill(&self.0).expect("filling");
        JsFuture::from(promise).await.expect("filled");
    }

    /// Gives back what [`Cramped::fill`] took: writes work again.
    pub async fn free(&self) {
        let promise = free(&self.0).expect("freeing");
        JsFuture::from(promise).await.expect("freed");
    }
}

impl Drop for Cramped {
    fn drop(&mut self) {
        uncramp(&self.0);
    }
}
