// Confab's service worker: keeps the app shell so Confab opens with no network (history
// is in IndexedDB, the app reads it itself). `cargo xtask build` fills in VERSION and
// SHELL (xtask/src/service_worker.rs); unfilled (a dev build), it caches nothing.
//
// Navigations: network first (a fresh index.html when the server answers within
// NAVIGATION_TIMEOUT_MS), else the cached one. Shell files (hashed names): cache first.
// Everything else, /ws and /healthz above all, is left to the network.

const VERSION = "__CONFAB_SW_VERSION__";
const SHELL = ["__CONFAB_SW_SHELL__"];
const NAVIGATION_TIMEOUT_MS = 3000;

const FILLED = !VERSION.startsWith("__");
const CACHE = "confab-shell-" + VERSION;
const INDEX = "/index.html";
const NEVER = ["/ws", "/healthz"];

self.addEventListener("install", (event) => {
  if (!FILLED) return;
  // `cache: "reload"` skips the HTTP cache, so the shell is this build's bytes.
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith("confab-shell-") && name !== CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (!FILLED || request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || NEVER.includes(url.pathname)) return;
  if (request.mode === "navigate") {
    event.respondWith(navigate(request));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(cacheFirst(request, url.pathname));
  }
});

async function navigate(request) {
  // A navigation request cannot be re-made with an abort signal, so the timeout races it.
  const network = fetch(request);
  network.catch(() => {});
  const late = new Promise((resolve) => setTimeout(resolve, NAVIGATION_TIMEOUT_MS, null));
  let response = null;
  try {
    response = await Promise.race([network, late]);
  } catch (_offline) {
    response = null;
  }
  // The server's own answers (a 404 too) stand; no answer, or a proxy whose backend is
  // down (5xx), gets the kept app.
  if (response && response.status < 500) return response;
  const cached = await caches.match(INDEX, { cacheName: CACHE });
  if (cached) return cached;
  return (
    response ||
    new Response("Confab is offline and not kept on this device yet.", {
      status: 503,
      headers: { "Content-Type": "text/plain; charset=utf-8" },
    })
  );
}

async function cacheFirst(request, path) {
  const cached = await caches.match(path, { cacheName: CACHE });
  return cached || fetch(request);
}

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
