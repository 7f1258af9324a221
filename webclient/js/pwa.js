// Installable app and click to call: the service worker (offline shell), the connection
// watch behind the offline banner, tel:/sip: links (protocol handlers, ?call=NUMBER, the
// installed app's launch queue) and the number links of the portal pages.

import { h } from "./dom.js";

const MAX_NUMBER = 128;
const PROTOCOLS = ["tel", "sip"];
export const HANDLER_URL = "/?call=%s";

export function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return Promise.resolve(null);
  return navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((err) => {
    console.warn("service worker not registered", err);
    return null;
  });
}

// What a tel:/sip: link or ?call= asks to dial, as the dialler takes it; "" when it is not
// a number or SIP address (the caller says so).
export function numberFromLink(raw) {
  let text = String(raw || "").trim();
  if (!text || text.length > MAX_NUMBER * 2) return "";
  if (/^(tel|callto):/i.test(text)) {
    text = text.replace(/^(tel|callto):(\/\/)?/i, "").split(";")[0];
    text = text.replace(/%23/gi, "#");
    const number = text.replace(/[\s().\-/]/g, "");
    return /^\+?[0-9*#]{1,32}$/.test(number) ? number : "";
  }
  if (/^sips?:/i.test(text)) {
    const uri = text.split("?")[0];
    return /^sips?:[^\s<>"@]+(@[^\s<>"]+)?$/i.test(uri) && uri.length <= MAX_NUMBER ? uri : "";
  }
  const number = text.replace(/[\s().\-/]/g, "");
  return /^\+?[0-9*#]{1,32}$/.test(number) ? number : "";
}

// ?call=… in the page address: taken once, then removed from the address (a reload does not
// fill the dialler again). Returns {number} or {invalid: raw} or null.
export function takeCallParameter() {
  const params = new URLSearchParams(location.search);
  if (!params.has("call")) return null;
  const raw = params.get("call");
  params.delete("call");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + (rest ? `?${rest}` : "")
    + location.hash);
  const number = numberFromLink(raw);
  return number ? { number } : { invalid: raw };
}

// The installed app opened by a link while already running (launch_handler focus-existing).
export function onLaunch(fn) {
  if (!("launchQueue" in window)) return;
  window.launchQueue.setConsumer((params) => {
    if (!params.targetURL) return;
    const url = new URL(params.targetURL);
    if (!url.searchParams.has("call")) return;
    const number = numberFromLink(url.searchParams.get("call"));
    fn(number ? { number } : { invalid: url.searchParams.get("call") });
  });
}

// Ask the browser to open tel: and sip: links here. Returns the protocols it accepted the
// request for (the browser may still ask the user).
export function registerProtocolHandlers() {
  if (typeof navigator.registerProtocolHandler !== "function") return [];
  const done = [];
  for (const protocol of PROTOCOLS) {
    try {
      navigator.registerProtocolHandler(protocol, `${location.origin}${HANDLER_URL}`);
      done.push(protocol);
    } catch (err) {
      console.warn(`${protocol}: handler not registered`, err);
    }
  }
  return done;
}

export function protocolHandlersSupported() {
  return typeof navigator.registerProtocolHandler === "function" && window.isSecureContext;
}

// A number as a tel: link; a plain click calls it in the app (modified clicks keep the
// browser's own behaviour: open, copy the link…).
export function telLink(number, onCall, props = {}) {
  const href = `tel:${String(number).replace(/#/g, "%23")}`;
  return h("a", { class: "tel", href, ...props, onclick: (ev) => {
    if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    onCall(number);
  } }, number);
}

// Online / offline, from the browser's own signal and from reaching the server: offline as
// soon as either says so, online again when the server answers.
export class Connectivity {
  constructor(probeUrl = "/healthz") {
    this.probeUrl = probeUrl;
    this.online = navigator.onLine;
    this.listeners = new Set();
    this.timer = null;
    window.addEventListener("offline", () => this.set(false));
    window.addEventListener("online", () => this.check());
  }

  onChange(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  set(online) {
    if (online === this.online) return;
    this.online = online;
    clearTimeout(this.timer);
    if (!online) this.timer = setTimeout(() => this.check(), 5000);
    for (const fn of this.listeners) {
      try { fn(online); } catch (err) { console.error(err); }
    }
  }

  async check() {
    clearTimeout(this.timer);
    let reachable = false;
    if (navigator.onLine) {
      try {
        const resp = await fetch(this.probeUrl, { cache: "no-store" });
        reachable = resp.ok;
      } catch { reachable = false; }
    }
    this.set(reachable);
    if (!reachable) this.timer = setTimeout(() => this.check(), 5000);
    return reachable;
  }
}
