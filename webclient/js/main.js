// «VIVAit Call Web»: application shell, routing, session start/stop, badges, realtime events.

import { h, replace, toast } from "./dom.js";
import { t, setLanguage, language } from "./i18n.js";
import { Auth, Fonbo } from "./api.js";
import { Phone } from "./phone.js";
import { Realtime } from "./realtime.js";
import { setDevicePrefs, devicePrefs } from "./audio.js";
import { renderLogin } from "./views/login.js";
import { PhonePanel } from "./views/phone.js";
import { renderHistory } from "./views/history.js";
import { renderAgenda } from "./views/agenda.js";
import { renderVoicemail } from "./views/voicemail.js";
import { renderForwarding } from "./views/forwarding.js";
import { renderSettings } from "./views/settings.js";
import { renderAdmin } from "./views/admin.js";
import { renderRouting } from "./views/routing.js";
import { renderCampaigns } from "./views/campaigns.js";
import { renderCalls } from "./views/calls.js";
import { renderConferences } from "./views/conferences.js";
import { renderCallbacks } from "./views/callbacks.js";
import { renderRecordings } from "./views/recordings.js";
import { renderNodes } from "./views/nodes.js";
import { renderHome } from "./views/home.js";
import "./i18n-callcentre.js";
import "./i18n-quality.js";
import { renderAgent, renderSupervision } from "./views/acd.js";
import { renderGroups } from "./views/groups.js";
import { renderIvr } from "./views/ivr.js";
import { renderStats } from "./views/stats.js";
import "./i18n-hotel.js";
import { renderHotel } from "./views/hotel.js";
import { installTestHooks } from "./testhooks.js";
import { Shortcuts } from "./shortcuts.js";
import { Connectivity, registerServiceWorker, takeCallParameter, onLaunch,
  registerProtocolHandlers, protocolHandlersSupported } from "./pwa.js";

const ROUTES = {
  phone: { label: "nav.phone", render: renderHome },
  agenda: { label: "nav.agenda", render: renderAgenda },
  history: { label: "nav.history", render: renderHistory, badge: "missed" },
  voicemail: { label: "nav.voicemail", render: renderVoicemail, badge: "voicemail" },
  forwarding: { label: "nav.forwarding", render: renderForwarding },
  conferences: { label: "nav.conferences", render: renderConferences },
  callbacks: { label: "nav.callbacks", render: renderCallbacks },
  recordings: { label: "nav.recordings", render: renderRecordings },
  settings: { label: "nav.settings", render: renderSettings },
  "admin/users": { label: "nav.users", render: (a, r) => renderAdmin(a, r, "users"),
    admin: true },
  "admin/pools": { label: "nav.pools", render: (a, r) => renderAdmin(a, r, "pools"),
    admin: true },
  "admin/extensions": { label: "nav.extensions",
    render: (a, r) => renderAdmin(a, r, "extensions"), admin: true },
  "admin/rooms": { label: "nav.rooms", render: (a, r) => renderAdmin(a, r, "rooms"),
    admin: true },
  "admin/callbacks": { label: "nav.all_callbacks",
    render: (a, r) => renderCallbacks(a, r, { admin: true }), admin: true },
  "admin/recordings": { label: "nav.all_recordings",
    render: (a, r) => renderRecordings(a, r, { admin: true }), admin: true },
  "admin/nodes": { label: "nav.nodes", render: renderNodes, admin: true },
  // call centre: shown to agents, supervisors and admins (when: once /acd/me is known)
  acd: { label: "nav.acd", render: renderAgent, when: (a) => a.acd.agent.length > 0 },
  supervision: { label: "nav.supervision", render: renderSupervision,
    when: (a) => a.acd.supervisor.length > 0 },
  stats: { label: "nav.stats", render: renderStats, when: (a) => a.acd.stats },
  "admin/groups": { label: "nav.groups", render: renderGroups, admin: true },
  "admin/ivr": { label: "nav.ivr", render: renderIvr, admin: true },
  "admin/routing": { label: "nav.routing", render: renderRouting, admin: true },
  "admin/campaigns": { label: "nav.campaigns", render: renderCampaigns, admin: true },
  "admin/hotel": { label: "nav.hotel", render: renderHotel, admin: true },
  "admin/calls": { label: "nav.calls", render: renderCalls, admin: true },
};

// The route of the address (#/supervision?queue=3 → "supervision").
function routeKey() {
  return (location.hash.slice(2) || "phone").split("?")[0] || "phone";
}

class App {
  constructor() {
    this.root = document.getElementById("app");
    this.config = { janus: "/janus", iceServers: [], language: "es" };
    this.acd = null;  // my groups (GET /fonbo/acd/me), once known
    this.auth = new Auth();
    this.fonbo = new Fonbo(this.auth);
    this.phone = null;
    this.panel = null;
    this.realtime = null;
    this.echo = null;
    this.badges = { missed: 0, voicemail: 0 };
    this.presence = new Map();
    this.handlers = new Map();
    this.cleanupView = null;
    this.smartButtons = [];
    this.missedSeenAt = Number(localStorage.getItem("webfon.missedSeen") || 0);
    this.loggingOut = false;
    this.pendingCall = sessionStorage.getItem("webfon.pendingCall") || "";
    this.installPrompt = null;
    this.connectivity = new Connectivity();
    this.shortcuts = new Shortcuts(this);
    // Listened for from the start: the browser may offer the install before init() is done.
    window.addEventListener("beforeinstallprompt", (ev) => {
      ev.preventDefault();  // offered from the settings page instead
      this.installPrompt = ev;
      this.emit("installable", true);
    });
    window.addEventListener("appinstalled", () => {
      this.installPrompt = null;
      this.emit("installable", false);
    });
    // The session ended elsewhere (refresh refused, logged out in sercen): back to login.
    this.auth.onChange((state) => {
      if (!state && !this.loggingOut && this.phone) this.logout(t("login.expired"));
    });
  }

  get janusUrl() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}${this.config.janus || "/janus"}`;
  }

  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name).add(fn);
    return () => this.handlers.get(name)?.delete(fn);
  }

  emit(name, data) {
    for (const fn of this.handlers.get(name) || []) fn(data);
  }

  toast(message, kind, ms) { toast(message, kind, ms); }

  async init() {
    try {
      const resp = await fetch("/config.json");
      if (resp.ok) Object.assign(this.config, await resp.json());
    } catch { /* defaults */ }
    if (!localStorage.getItem("webfon.lang")) setLanguage(this.config.language || "es");
    else setLanguage(language());
    document.title = t("app.title");
    window.addEventListener("hashchange", () => this.route());
    installTestHooks(this);
    registerServiceWorker();
    this.connectivity.onChange((online) => this.onConnectivity(online));
    this.takeCall(takeCallParameter());
    onLaunch((request) => this.takeCall(request));
    this.loadLogo();
    if (this.auth.loggedIn) await this.loggedIn();
    else this.showLogin();
    if (!this.connectivity.online) this.onConnectivity(false);
    else this.connectivity.check();
  }

  // A number to call from a tel:/sip: link or ?call=: into the dialler once logged in.
  takeCall(request) {
    if (!request) return;
    if (request.invalid !== undefined) {
      this.toast(t("link.invalid", { value: String(request.invalid).slice(0, 40) }), "error");
      return;
    }
    this.pendingCall = request.number;
    sessionStorage.setItem("webfon.pendingCall", request.number);
    if (this.panel) this.applyPendingCall();
  }

  applyPendingCall() {
    if (!this.pendingCall || !this.panel) return;
    const number = this.pendingCall;
    this.pendingCall = "";
    sessionStorage.removeItem("webfon.pendingCall");
    if (location.hash && location.hash !== "#/phone") location.hash = "#/phone";
    this.panel.prefill(number);
    this.toast(t("link.ready", { number }), "info", 6000);
  }

  // The banner that says the app is offline (shell from the service worker, or the server
  // unreachable); back online, the phone reconnects at once and the page reloads its data.
  onConnectivity(online) {
    document.getElementById("offline-banner")?.remove();
    document.body.dataset.online = String(online);
    if (!online) {
      document.body.prepend(h("div", { id: "offline-banner", class: "offline-banner",
        role: "status", testid: "offline-banner" },
      h("strong", {}, t("offline.title")), " ", t("offline.text")));
      return;
    }
    if (this.auth.loggedIn && this.phone) {
      // A phone that never connected starts again now; one reconnecting keeps its calls.
      const down = !["connected", "reconnecting"].includes(this.phone.connection);
      if (down && this.phone.registration.state !== "registered") this.restartPhone();
      this.refreshBadges();
      this.route();
    }
  }

  offerProtocolHandlers() {
    if (!protocolHandlersSupported() || localStorage.getItem("webfon.protocols")) return;
    localStorage.setItem("webfon.protocols", registerProtocolHandlers().join(",") || "none");
  }

  showLogin() {
    replace(this.root, this.header(false), h("main", { id: "main", class: "center", tabIndex: -1 }));
    renderLogin(this, this.root.querySelector("main"));
  }

  header(withNav) {
    const langSel = h("select", { class: "lang", testid: "language",
      "aria-label": t("lang.label"), onchange: () => {
        setLanguage(langSel.value);
        this.rerender();
      } }, ["es", "en"].map((l) => h("option", { value: l, selected: l === language() },
      l.toUpperCase())));
    this.logo = h("img", { class: "logo", src: this.logoUrl || "/img/logo.svg", alt: "",
      testid: "logo" });
    const user = this.auth.user;
    return h("header", { class: "top" },
      // Not a hash link: the hash is the page's route.
      h("a", { class: "skip", href: "#main", testid: "skip-link", onclick: (ev) => {
        ev.preventDefault();
        document.getElementById("main")?.focus();
      } }, t("app.skip")),
      this.logo, h("span", { class: "title" }, t("app.title")),
      h("span", { class: "spacer" }),
      user ? h("span", { class: "user", testid: "current-user" },
        `${user.display_name} (${user.login_number})`) : null,
      langSel,
      h("button", { type: "button", class: "link", testid: "shortcuts-open",
        "aria-haspopup": "dialog", title: "Alt+Shift+K",
        onclick: () => this.shortcuts.openHelp() }, t("keys.open")),
      withNav ? h("button", { type: "button", class: "link", testid: "logout",
        onclick: () => this.logout() }, t("nav.logout")) : null);
  }

  nav() {
    const current = routeKey();
    const items = Object.entries(ROUTES).filter(([, r]) => (!r.admin || this.auth.isAdmin)
      && (!r.when || (this.acd && r.when(this))));
    return h("nav", { class: "side", "aria-label": t("nav.menu") }, h("ul", {},
      items.map(([key, r]) => h("li", {}, h("a", { href: `#/${key}`, testid: `nav-${key}`,
        "aria-current": key === current ? "page" : undefined },
      t(r.label), r.badge && this.badges[r.badge] ? h("span", { class: "badge",
        testid: `badge-${r.badge}` }, String(this.badges[r.badge])) : null)))));
  }

  async loggedIn() {
    if (!this.auth.loggedIn) { this.showLogin(); return; }
    await this.loadDevicePrefs();
    await this.loadIceServers();
    this.phone = new Phone({ janusUrl: this.janusUrl, getToken: () => this.auth.token(),
      iceServers: this.config.iceServers || [], lines: this.config.lines || 3,
      registerBody: async () => ({ request: "register", type: "webfon",
        token: await this.auth.token() }) });
    this.phone.onChange((what, data) => this.onPhoneEvent(what, data));
    this.panel = new PhonePanel(this);
    this.rerender();
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
    this.phone.start().catch((err) => {
      console.warn("phone start", err);
      this.panel.update();
      setTimeout(() => this.restartPhone(), 5000);
    });
    this.startRealtime();
    this.loadAcd();
    this.refreshBadges();
    this.loadSmartButtons().catch(() => {});
    this.applyPendingCall();
    this.offerProtocolHandlers();
  }

  async restartPhone() {
    if (!this.auth.loggedIn || !this.phone || this.restarting) return;
    if (this.phone.registration.state === "registered") return;
    this.restarting = true;
    try {
      await this.phone.stop().catch(() => {});
      this.phone.lines = [];
      await this.phone.start();
    } catch {
      setTimeout(() => this.restartPhone(), 10000);
    } finally {
      this.restarting = false;
    }
  }

  onPhoneEvent(what, data) {
    if (what === "ended") {
      this.logout(t("login.ended"));
      return;
    }
    if (what === "incoming") {
      const who = data.peerName || data.peer;
      if ("Notification" in window && Notification.permission === "granted"
          && document.hidden) {
        const n = new Notification(t("notify.incoming", { who }), { tag: `call-${data.index}`,
          requireInteraction: true });
        n.onclick = () => { window.focus(); n.close(); };
        data.notification = n;
      }
    } else if (what === "missed") {
      this.toast(t("notify.missed", { who: data?.caller || "" }), "info");
      this.refreshBadges();
    } else if (what === "hangup" || what === "line") {
      for (const line of this.phone?.lines || []) {
        if (line.state !== "incoming" && line.notification) line.notification.close();
      }
    }
  }

  startRealtime() {
    this.realtime = new Realtime("/socket.io/", () => this.auth.token());
    this.realtime.on("history.new", () => { this.refreshBadges(); this.emit("history"); });
    this.realtime.on("call.new", () => { this.refreshBadges(); this.emit("history"); });
    this.realtime.on("voicemail.new", (d) => {
      this.setBadge("voicemail", d?.unread);
      this.emit("voicemail", d);
    });
    this.realtime.on("voicemail.unread", (d) => this.setBadge("voicemail", d?.unread));
    this.realtime.on("session.ended", () => this.logout(t("login.ended")));
    this.realtime.on("presence", (d) => {
      if (d?.number) this.presence.set(d.number, d.state);
      this.emit("presence", d);
    });
    this.realtime.on("presence.snapshot", (d) => {
      for (const p of d?.items || []) if (p.number) this.presence.set(p.number, p.state);
      this.emit("presence", d);
    });
    this.realtime.on("acd.queue", (d) => this.emit("acd", d));
    this.realtime.start();
  }

  setBadge(name, value) {
    if (typeof value !== "number") { this.refreshBadges(); return; }
    this.badges[name] = value;
    this.renderNav();
  }

  async refreshBadges() {
    if (!this.auth.loggedIn) return;
    try {
      const vm = await this.fonbo.get("/voicemail/unread");
      this.badges.voicemail = vm.unread;
    } catch { /* FONBO down: keep */ }
    try {
      const missed = await this.fonbo.get("/history/missed-count",
        { since: this.missedSeenAt || undefined });
      this.badges.missed = missed.missed;
    } catch { /* keep */ }
    this.renderNav();
  }

  markMissedSeen() {
    this.missedSeenAt = Date.now() / 1000;
    localStorage.setItem("webfon.missedSeen", String(this.missedSeenAt));
    this.badges.missed = 0;
    this.renderNav();
  }

  renderNav() {
    const old = this.root.querySelector("nav.side");
    if (old) old.replaceWith(this.nav());
  }

  async loadLogo() {
    try {
      const resp = await fetch("/fonbo/logo", { cache: "no-cache" });
      if (!resp.ok) return;
      if (this.logoUrl) URL.revokeObjectURL(this.logoUrl);
      this.logoUrl = URL.createObjectURL(await resp.blob());
      if (this.logo) this.logo.src = this.logoUrl;
    } catch { /* default logo */ }
  }

  // STUN/TURN for this user: TURN credentials are time-limited (TURN REST API), so they are
  // fetched after login and again at half their lifetime; /config.json has no secrets.
  async loadIceServers() {
    clearTimeout(this.iceTimer);
    try {
      const data = await this.fonbo.get("/ice-servers");
      if (data?.iceServers?.length) {
        this.config.iceServers = data.iceServers;
        if (this.phone) this.phone.iceServers = data.iceServers;
      }
      if (data?.ttl) {
        this.iceTimer = setTimeout(() => { if (this.auth.loggedIn) this.loadIceServers(); },
          Math.max(60, data.ttl / 2) * 1000);
      }
    } catch { /* the public STUN list of /config.json */ }
  }

  async loadDevicePrefs() {
    const local = JSON.parse(localStorage.getItem(`webfon.devices.${this.auth.user?.id}`)
      || "null");
    if (local) setDevicePrefs(local);
    try {
      const p = await this.fonbo.get("/me/preferences");
      if (p.audio_input_id || p.audio_output_id || p.ringer_output_id) {
        setDevicePrefs({ input: p.audio_input_id || "", output: p.audio_output_id || "",
          ringer: p.ringer_output_id || "" });
      }
      if (p.language && p.language !== language() && !localStorage.getItem("webfon.lang")) {
        setLanguage(p.language);
      }
    } catch { /* local copy only */ }
  }

  async saveDevicePrefs(prefs) {
    localStorage.setItem(`webfon.devices.${this.auth.user?.id}`, JSON.stringify(prefs));
    await this.fonbo.put("/me/preferences", { audio_input_id: prefs.input,
      audio_output_id: prefs.output, ringer_output_id: prefs.ringer });
  }

  async loadSmartButtons() {
    const data = await this.fonbo.get("/buttons");
    const byPos = (a, b) => (a.position || 0) - (b.position || 0) || a.id - b.id;
    this.smartButtons = [...(data.global || []).map((b) => ({ ...b, global: true })).sort(byPos),
      ...(data.mine || []).sort(byPos)];
    this.panel?.setSmartButtons(this.smartButtons);
    return this.smartButtons;
  }

  dial(number) {
    if (this.panel) this.panel.dial(number);
  }

  rerender() {
    if (!this.auth.loggedIn) { this.showLogin(); return; }
    document.title = t("app.title");
    const main = h("main", { id: "main", tabIndex: -1 });
    this.panel.build();
    replace(this.root, this.header(true),
      h("div", { class: "layout" }, this.nav(), main, this.panel.root));
    this.main = main;
    this.route();
  }

  // My part in the call centre (agent, supervisor, statistics): which pages the menu shows.
  async loadAcd() {
    try {
      this.acd = await this.fonbo.get("/acd/me");
    } catch {
      this.acd = this.acd || null;
    }
    this.renderNav();
    return this.acd;
  }

  route() {
    if (!this.auth.loggedIn || !this.main) return;
    const key = routeKey();
    const route = ROUTES[key] || ROUTES.phone;
    if (this.cleanupView) { try { this.cleanupView(); } catch { /* ignore */ } }
    this.cleanupView = null;
    this.renderNav();
    document.body.dataset.route = key;
    if (route.admin && !this.auth.isAdmin) { location.hash = "#/phone"; return; }
    if (route.when && this.acd && !route.when(this)) { location.hash = "#/phone"; return; }
    this.cleanupView = route.render(this, this.main) || null;
  }

  async logout(message) {
    if (this.loggingOut) return;
    this.loggingOut = true;
    await this.echo?.stop();
    this.echo = null;
    this.realtime?.stop();
    clearTimeout(this.iceTimer);
    await this.phone?.stop().catch(() => {});
    this.phone = null;
    this.acd = null;
    await this.auth.logout();
    location.hash = "";
    this.main = null;
    this.showLogin();
    this.loggingOut = false;
    if (message) this.toast(message, "error", 8000);
  }
}

const app = new App();
window.webfonApp = app;
app.init();
export { devicePrefs };
