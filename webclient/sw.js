// «VIVAit Call Web» service worker: keeps the application shell (page, styles, modules,
// icons) so the app opens without a network and says it is offline, instead of a browser error.
// Network first: online, every file comes from the server (no build step, no hashed names, so
// an update is seen at once) and the copy is refreshed; offline, the copy is served. APIs,
// signalling and media are never cached.

const CACHE = "webfon-shell-v2";
const SHELL = [
  "/",
  "/index.html",
  "/manifest.webmanifest",
  "/css/app.css",
  "/img/call.svg",
  "/img/icon-192.png",
  "/img/icon-512.png",
  "/img/icon-maskable-512.png",
  "/img/icon-maskable.svg",
  "/img/logo.svg",
  "/img/star-off.svg",
  "/img/star.svg",
  "/img/trash.svg",
  "/js/api.js",
  "/js/audio.js",
  "/js/dom.js",
  "/js/echotest.js",
  "/js/i18n-callcentre.js",
  "/js/i18n-hotel.js",
  "/js/i18n-quality.js",
  "/js/i18n.js",
  "/js/janus.js",
  "/js/main.js",
  "/js/phone.js",
  "/js/pwa.js",
  "/js/quality.js",
  "/js/realtime.js",
  "/js/shortcuts.js",
  "/js/testhooks.js",
  "/js/views/acd.js",
  "/js/views/admin.js",
  "/js/views/agenda.js",
  "/js/views/callbacks.js",
  "/js/views/campaigns.js",
  "/js/views/calls.js",
  "/js/views/conferences.js",
  "/js/views/forwarding.js",
  "/js/views/groups.js",
  "/js/views/history.js",
  "/js/views/home.js",
  "/js/views/hotel.js",
  "/js/views/ivr.js",
  "/js/views/login.js",
  "/js/views/nodes.js",
  "/js/views/phone.js",
  "/js/views/recordings.js",
  "/js/views/routing.js",
  "/js/views/settings.js",
  "/js/views/stats.js",
  "/js/views/voicemail.js",
];
// Served by the services behind the front: never from a cache.
const LIVE = ["/janus", "/sercen/", "/fonbo/", "/socket.io/", "/healthz"];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.map((url) => new Request(url, { cache: "no-cache" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("webfon-shell-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function cacheable(request) {
  if (request.method !== "GET") return false;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return false;
  return !LIVE.some((prefix) => url.pathname === prefix || url.pathname.startsWith(prefix));
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    const page = request.mode === "navigate";
    const html = (response.headers.get("Content-Type") || "").startsWith("text/html");
    if (response.ok && response.type === "basic" && (!page || html)) {
      await cache.put(page ? "/index.html" : request, response.clone());
    }
    return response;
  } catch (err) {
    // The page itself (any route or ?call=…) falls back to the shell.
    const cached = request.mode === "navigate"
      ? await cache.match("/index.html")
      : await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  if (cacheable(event.request)) event.respondWith(networkFirst(event.request));
});
