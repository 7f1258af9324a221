// Call history: filters (bad calls among them), missed badge, each call's quality (MOS),
// click-to-call, infinite scroll with cursor paging.

import { h, replace, formatDate, formatDuration, icon } from "../dom.js";
import { t, language } from "../i18n.js";
import { telLink } from "../pwa.js";

const figure = (v) => (v == null ? "–" : String(Math.round(v * 10) / 10));

// "MOS 4.3" beside a call, red when the call was bad; the figures in its title.
export function qualityBadge(q) {
  if (!q || q.mos == null) return null;
  const detail = t("quality.detail", { mos: figure(q.mos), loss: figure(q.loss_pct),
    jitter: figure(q.jitter_ms), rtt: figure(q.rtt_ms) });
  return h("span", { class: `cdr-quality ${q.bad ? "bad" : "good"}`, testid: "history-quality",
    title: detail, "aria-label": q.bad ? `${t("quality.bad")}: ${detail}` : detail },
  t("quality.mos", { mos: figure(q.mos) }));
}

export function renderHistory(app, root) {
  const state = { cursor: null, done: false, loading: false, filter: "all", number: "" };
  const list = h("ul", { class: "list history", testid: "history-list" });
  const status = h("p", { class: "muted", testid: "history-status" });
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  const more = h("button", { type: "button", testid: "history-more", onclick: () => load() },
    t("history.more"));

  const filters = ["all", "missed", "answered", "inbound", "outbound", "bad"].map((f) =>
    h("button", { type: "button", class: "chip", testid: `history-filter-${f}`,
      "aria-pressed": String(f === state.filter), onclick: (ev) => {
        state.filter = f;
        for (const b of ev.target.parentNode.children) b.setAttribute("aria-pressed", "false");
        ev.target.setAttribute("aria-pressed", "true");
        reset();
      } }, t(`history.${f}`)));
  const search = h("input", { type: "search", testid: "history-number", inputMode: "tel",
    placeholder: t("history.number"), "aria-label": t("history.number"),
    oninput: () => { clearTimeout(search.timer); search.timer = setTimeout(reset, 300); } });
  const exportLink = h("button", { type: "button", testid: "history-export", onclick: async () => {
    const resp = await app.fonbo.request("GET", "/history/export", { query: query(), raw: true });
    const blob = await resp.blob();
    const a = h("a", { href: URL.createObjectURL(blob), download: "historial.csv" });
    document.body.append(a);
    a.click();
    a.remove();
  } }, t("history.export"));

  function query() {
    const q = {};
    if (state.filter === "missed") q.missed = "true";
    if (state.filter === "answered") q.answered = "true";
    if (state.filter === "inbound") q.direction = "inbound";
    if (state.filter === "outbound") q.direction = "outbound";
    if (state.filter === "bad") q.bad = "true";
    const number = search.value.replace(/[^0-9+*#]/g, "");
    if (number) q.number = number;
    return q;
  }

  function row(item) {
    const number = item.peer_number || (item.outgoing ? item.callee : item.caller);
    const name = item.peer_contact_name || item.peer_name || "";
    const dirIcon = item.missed ? "↙✕" : item.outgoing ? "↗" : "↙";
    const q = item.quality || {};
    return h("li", { class: `item${item.missed ? " missed" : ""}`, testid: "history-item",
      dataset: { number, disposition: item.disposition, missed: String(!!item.missed),
        outgoing: String(!!item.outgoing), callId: item.call_id || "",
        mos: q.mos == null ? "" : String(q.mos), bad: String(!!q.bad) } },
    h("span", { class: "icon", "aria-hidden": "true" }, dirIcon),
    h("div", { class: "grow" },
      h("strong", {}, name || telLink(number, (n) => app.dial(n), { testid: "history-link" })),
      name ? [" ", telLink(number, (n) => app.dial(n), { class: "tel muted",
        testid: "history-link" })] : null,
      h("div", { class: "muted small" },
        `${formatDate(item.started_at, language())} · ${t(`disp.${item.disposition}`)}`,
        item.billsec ? ` · ${formatDuration(item.billsec)}` : "", " ", qualityBadge(q))),
    h("button", { type: "button", class: "icon-button", testid: "history-call",
      "aria-label": t("common.call_number", { n: name || number }), onclick: () => app.dial(number) }, icon("call")));
  }

  async function load() {
    if (state.loading || state.done) return;
    state.loading = true;
    status.textContent = t("common.loading");
    try {
      const page = await app.fonbo.get("/history", { ...query(), limit: 30,
        cursor: state.cursor || undefined });
      for (const item of page.items) list.append(row(item));
      state.cursor = page.next_cursor;
      state.done = !page.next_cursor;
      status.textContent = list.children.length ? "" : t("history.empty");
      more.hidden = state.done;
    } catch (err) {
      status.textContent = t("common.error", { msg: err.message });
    } finally {
      state.loading = false;
      if (state.resetPending) {
        state.resetPending = false;
        reset();
      } else if (!state.done) {
        // looked at again with the new rows: a sentinel still in view (a tall window) asks
        // for the next page, one that was pushed out waits for the user to scroll
        observer.unobserve(sentinel);
        observer.observe(sentinel);
      }
    }
  }

  function reset() {
    if (state.loading) {  // a page is on its way: start over once it has arrived
      state.resetPending = true;
      return;
    }
    state.cursor = null;
    state.done = false;
    list.replaceChildren();
    load();
  }

  // An entry can describe the page before the last rows were added (computed at one frame,
  // delivered after the rows arrived): where the sentinel is now decides.
  const inView = () => {
    const r = sentinel.getBoundingClientRect();
    return r.bottom >= 0 && r.top <= window.innerHeight;
  };
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && inView()) load();
  });
  observer.observe(sentinel);
  replace(root, h("h1", {}, t("history.title")),
    h("div", { class: "toolbar" }, h("div", { class: "chips", role: "group" }, filters), search,
      exportLink),
    list, status, more, sentinel);
  app.markMissedSeen();
  load();
  // a call that just ended (pushed over Socket.IO) appears at the top without a reload
  const off = app.on("history", () => reset());
  return () => { observer.disconnect(); off(); };
}
