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
import { renderNodes } from "./views/nodes.js";
import { renderHome } from "./views/home.js";
import { installTestHooks } from "./testhooks.js";

const ROUTES = {
  phone: { label: "nav.phone", render: renderHome },
  agenda: { label: "nav.agenda", render: renderAgenda },
  history: { label: "nav.history", render: renderHistory, badge: "missed" },
  voicemail: { label: "nav.voicemail", render: renderVoicemail, badge: "voicemail" },
  forwarding: { label: "nav.forwarding", render: renderForwarding },
  settings: { label: "nav.settings", render: renderSettings },
  "admin/users": { label: "nav.users", render: (a, r) => renderAdmin(a, r, "users"),
    admin: true },
  "admin/pools": { label: "nav.pools", render: (a, r) => renderAdmin(a, r, "pools"),
    admin: true },
  "admin/extensions": { label: "nav.extensions",
    render: (a, r) => renderAdmin(a, r, "extensions"), admin: true },
  "admin/nodes": { label: "nav.nodes", render: renderNodes, admin: true },
};

class App {
  constructor() {
    this.root = document.getElementById("app");
    this.config = { janus: "/janus", iceServers: [], language: "es" };
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
    this.loadLogo();
    if (this.auth.loggedIn) await this.loggedIn();
    else this.showLogin();
  }

  showLogin() {
    replace(this.root, this.header(false), h("main", { id: "main", class: "center" }));
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
      h("a", { class: "skip", href: "#main" }, t("app.skip")),
      this.logo, h("span", { class: "title" }, t("app.title")),
      h("span", { class: "spacer" }),
      user ? h("span", { class: "user", testid: "current-user" },
        `${user.display_name} (${user.login_number})`) : null,
      langSel,
      withNav ? h("button", { type: "button", class: "link", testid: "logout",
        onclick: () => this.logout() }, t("nav.logout")) : null);
  }

  nav() {
    const current = (location.hash.slice(2) || "phone");
    const items = Object.entries(ROUTES).filter(([, r]) => !r.admin || this.auth.isAdmin);
    return h("nav", { class: "side", "aria-label": t("nav.menu") }, h("ul", {},
      items.map(([key, r]) => h("li", {}, h("a", { href: `#/${key}`, testid: `nav-${key}`,
        "aria-current": key === current ? "page" : undefined },
      t(r.label), r.badge && this.badges[r.badge] ? h("span", { class: "badge",
        testid: `badge-${r.badge}` }, String(this.badges[r.badge])) : null)))));
  }

  async loggedIn() {
    if (!this.auth.loggedIn) { this.showLogin(); return; }
    await this.loadDevicePrefs();
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
    this.refreshBadges();
    this.loadSmartButtons().catch(() => {});
  }

  async restartPhone() {
    if (!this.auth.loggedIn || !this.phone) return;
    if (this.phone.registration.state === "registered") return;
    await this.phone.stop().catch(() => {});
    this.phone.lines = [];
    this.phone.start().catch(() => setTimeout(() => this.restartPhone(), 10000));
  }

  onPhoneEvent(what, data) {
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
    this.realtime.on("presence", (d) => {
      if (d?.number) this.presence.set(d.number, d.state);
      this.emit("presence", d);
    });
    this.realtime.on("presence.snapshot", (d) => {
      for (const p of d?.items || []) if (p.number) this.presence.set(p.number, p.state);
      this.emit("presence", d);
    });
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

  route() {
    if (!this.auth.loggedIn || !this.main) return;
    const key = location.hash.slice(2) || "phone";
    const route = ROUTES[key] || ROUTES.phone;
    if (this.cleanupView) { try { this.cleanupView(); } catch { /* ignore */ } }
    this.cleanupView = null;
    this.renderNav();
    document.body.dataset.route = key;
    if (route.admin && !this.auth.isAdmin) { location.hash = "#/phone"; return; }
    this.cleanupView = route.render(this, this.main) || null;
  }

  async logout(message) {
    if (this.loggingOut) return;
    this.loggingOut = true;
    await this.echo?.stop();
    this.echo = null;
    this.realtime?.stop();
    await this.phone?.stop().catch(() => {});
    this.phone = null;
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
