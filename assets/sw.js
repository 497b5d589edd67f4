// Confab's service worker: keeps the app shell so Confab opens with no network (history
// is in IndexedDB, the app reads it itself), and runs the build the user has: a new one
// the server offers is fetched, checked and kept, but runs only once the user chose
// "Update". `cargo xtask build` fills in BUILD, SHELL and the app's glue and wasm
// (xtask/src/service_worker.rs); unfilled (a dev build), it keeps nothing. A module worker
// (registered with type "module"): the glue comes in by a static import.
//
// One build is one set: its files (their SHA-256 in SHELL, checked as they arrive) sit in
// the cache "confab-shell-<BUILD>", and BUILD is the SHA-256 of their `sha256sum`
// listing (the fingerprint the Security panel shows). Which build pages run is recorded
// apart ("confab-running"), not implied by which worker is active: navigations to the
// app and every file of that build come from its cache only (cache first; the network
// only for what it lacks), so an old page never gets a new build's files, and a new
// worker that activates on its own (every tab closed) still serves the old build until
// the user updates. The first build a browser keeps runs at once.
//
// Update: a page posts {type: "confab-update"} to the worker holding the new build; it
// records its build as the running one, drops the other builds, takes over the pages
// (skipWaiting, then clients.claim) and asks them to reload. Pages ask any worker
// {type: "confab-build"} (reply on the message's port): {running, newest}.
// /ws and /healthz, and anything not in the running build, are left to the network.

const BUILD = "__CONFAB_SW_BUILD__";
const SHELL = ["__CONFAB_SW_SHELL__"];
// The app's wasm-bindgen glue and wasm, which open a pushed message (see "Web Push" below).
// Unfilled, `app` is null and a push shows "New message".
/* __CONFAB_SW_IMPORT__ */ const app = null;
const APP_WASM = "__CONFAB_SW_WASM__";

const FILLED = !BUILD.startsWith("__");
const PREFIX = "confab-shell-";
const CACHE = PREFIX + BUILD;
const RUNNING = "confab-running";
const RUNNING_KEY = "/confab-running-build";
const INDEX = "/index.html";
const APP_PAGES = ["/", INDEX];
const NEVER = ["/ws", "/healthz"];

/** The build pages run (null: none kept yet); read once per worker start. */
let running = null;

async function runningBuild() {
  if (running === null) {
    const answer = await caches.match(RUNNING_KEY, { cacheName: RUNNING });
    running = answer ? (await answer.text()).trim() : null;
  }
  return running;
}

async function setRunning(build) {
  const cache = await caches.open(RUNNING);
  await cache.put(RUNNING_KEY, new Response(build));
  running = build;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function sha256(bytes) {
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

/** Fetches this build's files into its cache, each checked against its SHA-256. */
async function keepShell() {
  const cache = await caches.open(CACHE);
  const files = await Promise.all(
    SHELL.map(async ([path, expected]) => {
      // `cache: "reload"` skips the HTTP cache: the bytes are the server's now.
      const response = await fetch(new Request(path, { cache: "reload" }));
      if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
      const bytes = await response.arrayBuffer();
      const got = await sha256(bytes);
      if (got !== expected) throw new Error(`${path} is not this build's: SHA-256 ${got}`);
      return { path, bytes, response };
    }),
  );
  const listing = SHELL.map(([path, hash]) => `${hash}  ${path.slice(1)}\n`).join("");
  const fingerprint = await sha256(new TextEncoder().encode(listing));
  if (fingerprint !== BUILD) throw new Error(`the shell's fingerprint is ${fingerprint}`);
  for (const { path, bytes, response } of files) {
    const { status, statusText, headers } = response;
    await cache.put(path, new Response(bytes, { status, statusText, headers }));
  }
}

self.addEventListener("install", (event) => {
  if (!FILLED) return;
  event.waitUntil(
    (async () => {
      try {
        await keepShell();
      } catch (error) {
        if ((await runningBuild()) !== BUILD) await caches.delete(CACHE);
        throw error;
      }
      // The first build kept runs at once; later ones wait for "Update".
      if ((await runningBuild()) === null) {
        await setRunning(BUILD);
        await self.skipWaiting();
      }
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const keep = [CACHE, PREFIX + ((await runningBuild()) || BUILD)];
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && !keep.includes(name)) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  const port = event.ports && event.ports[0];
  if (data.type === "confab-build" && port) {
    event.waitUntil(
      runningBuild().then((build) =>
        port.postMessage(FILLED ? { running: build || BUILD, newest: BUILD } : { running: null, newest: null }),
      ),
    );
  } else if (data.type === "confab-update" && FILLED) {
    event.waitUntil(update());
  }
});

async function update() {
  // Install checked every file of this build into CACHE: it becomes the running one.
  await setRunning(BUILD);
  for (const name of await caches.keys()) {
    if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
  }
  if (self.serviceWorker && self.serviceWorker.state !== "activated") {
    // Waiting: activating claims the pages; their `controllerchange` reloads them.
    await self.skipWaiting();
  } else {
    const pages = await self.clients.matchAll({ type: "window" });
    for (const page of pages) page.postMessage({ type: "confab-reload" });
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (!FILLED || request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || NEVER.includes(url.pathname)) return;
  if (request.mode === "navigate") {
    if (APP_PAGES.includes(url.pathname)) event.respondWith(fromShell(request, INDEX));
  } else {
    event.respondWith(fromShell(request, url.pathname));
  }
});

/** `path` from the running build's cache, else the network (else a plain 503 page). */
async function fromShell(request, path) {
  const build = (await runningBuild()) || BUILD;
  const kept = await caches.match(path, { cacheName: PREFIX + build });
  if (kept) return kept;
  try {
    return await fetch(request);
  } catch (offline) {
    if (request.mode !== "navigate") throw offline;
    return new Response("Confab is offline and not kept on this device yet.", {
      status: 503,
      headers: { "Content-Type": "text/plain; charset=utf-8" },
    });
  }
}

// Web Push (issue 15): the server pushes, with no content, the tag this browser chose for
// a room (src/platform/push.rs keeps tag -> room address in the cache "confab-push") when
// someone deposits into that room's mailbox. Unless a Confab app page is visible (it shows
// its own), the worker runs the app's wasm (loaded at the first push, from this build's
// cache, else the network, checked against SHELL) and asks it what to show:
// push_preview (src/platform/service_worker.rs) opens the profile read-only, fetches the
// room's mailbox itself and opens what it can, answering "Alice in Book club" and the
// text, "New message" where it cannot read (a passphrase, the server unreachable), or
// nothing (a room it does not know, nothing new, a muted room without a mention). The
// notification's tag is the page's for the room, so the two replace each other. A tag the
// worker does not know (a room forgotten here) shows nothing rather than something
// misleading. The page marks a muted room ("/muted/<address>") and previews turned off
// ("/previews-off": "New message" without name or text) in the same cache, which the
// worker reads even when a passphrase locks the profile.
const PUSH_CACHE = "confab-push";

async function roomOfTag(tag) {
  if (!/^[0-9a-f]{32}$/.test(tag)) return null;
  const kept = await caches.match("/tag/" + tag, { cacheName: PUSH_CACHE });
  const address = kept ? (await kept.text()).trim() : "";
  return /^[0-9a-f]{16}$/.test(address) ? address : null;
}

/** The app's module, instantiated once per worker start (null: none here). */
let appLoaded = null;

function loadApp() {
  if (!app || !FILLED) return Promise.resolve(null);
  if (!appLoaded) {
    appLoaded = (async () => {
      // This worker's own build: the glue imported above is that build's.
      let response = await caches.match(APP_WASM, { cacheName: CACHE });
      if (!response) response = await fetch(APP_WASM);
      const bytes = await response.arrayBuffer();
      const expected = SHELL.find(([path]) => path === APP_WASM);
      if (!expected || (await sha256(bytes)) !== expected[1]) throw new Error(`${APP_WASM} is not this build's`);
      await app.default({ module_or_path: bytes });
      return app;
    })().catch((error) => {
      console.warn("push: the app did not load in the worker", error);
      appLoaded = null;
      return null;
    });
  }
  return appLoaded;
}

/** How long the app may take to answer before the worker shows "New message" anyway. */
const PREVIEW_TIMEOUT_MS = 20000;
/** The app's answers, one at a time (each opens the profile and a connection). */
let previewChain = Promise.resolve();

/** push_preview's answer, or undefined if it failed or took too long. */
function previewOf(loaded, address, mutedHere, previews) {
  const late = new Promise((resolve) => setTimeout(() => resolve(undefined), PREVIEW_TIMEOUT_MS));
  const answer = previewChain.then(() => loaded.push_preview(address, mutedHere, previews));
  const settled = answer.catch((error) => {
    console.warn("push: the message was not opened", error);
    return undefined;
  });
  previewChain = Promise.race([settled, late]);
  return previewChain;
}

async function showPush(tag) {
  const address = await roomOfTag(tag);
  if (!address) return;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const isApp = (client) => APP_PAGES.includes(new URL(client.url).pathname);
  if (windows.some((client) => isApp(client) && client.visibilityState === "visible")) return;
  const mutedHere = !!(await caches.match("/muted/" + address, { cacheName: PUSH_CACHE }));
  const previews = !(await caches.match("/previews-off", { cacheName: PUSH_CACHE }));
  // Without the app: "New message", but nothing for a muted room (a mention is unseen).
  let shown = mutedHere ? null : { title: "New message", body: "Open Confab to read it." };
  const loaded = await loadApp();
  if (loaded) {
    const answer = await previewOf(loaded, address, mutedHere, previews);
    if (answer !== undefined) shown = answer;
  }
  if (!shown) return;
  await self.registration.showNotification(shown.title, {
    body: shown.body,
    tag: "confab-message-" + address,
    renotify: true,
    icon: "/icons/icon-192.png",
    data: { url: self.location.origin + "/#room-" + address },
  });
}

self.addEventListener("push", (event) => {
  let tag = "";
  try {
    tag = event.data ? event.data.text().trim() : "";
  } catch (unreadable) {
    tag = "";
  }
  event.waitUntil(showPush(tag));
});

// A notification click brings the Confab tab forward (or opens one); a background room's
// notification carries that room's link (`data.url`), which the tab then opens. Browsers
// let a worker focus a window only briefly after the click (some not at all): a refused
// focus must not keep the room from opening.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data;
  const url = data && typeof data.url === "string" ? data.url : null;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
      if (!open) return self.clients.openWindow(url || "/");
      return open
        .focus()
        .catch(() => open)
        .then((client) => (url && client.navigate ? client.navigate(url) : client));
    }),
  );
});
