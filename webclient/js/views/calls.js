// Admin: every call with its quality (MOS, worst loss, jitter, end-to-end round trip), the
// bad ones at a click, and each call's legs as measured where they were relayed: which node,
// the endpoint's address and network (signalling transport, or a browser's ICE candidate
// type), codec and SRTP.

import { h, replace, formatDate, formatDuration } from "../dom.js";
import { t, language } from "../i18n.js";

const figure = (v) => (v == null ? "–" : String(Math.round(v * 10) / 10));

function legsTable(legs) {
  const cols = ["calls.leg", "calls.node", "calls.address", "calls.network", "calls.codec",
    "calls.srtp", "calls.rx_loss", "calls.remote_loss", "calls.jitter", "calls.rtt",
    "calls.mos"];
  return h("table", { class: "legs", testid: "call-legs" },
    h("thead", {}, h("tr", {}, cols.map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, legs.map((leg) => h("tr", { testid: "call-leg",
      dataset: { leg: leg.leg, node: leg.node, network: leg.network, codec: leg.codec } },
    h("td", {}, t(`leg.${leg.leg}`) === `leg.${leg.leg}` ? leg.leg : t(`leg.${leg.leg}`)),
    h("td", {}, leg.node), h("td", {}, leg.address), h("td", {}, leg.network),
    h("td", {}, leg.codec), h("td", {}, leg.srtp ? t("common.yes") : t("common.no")),
    h("td", {}, figure(leg.rx_loss_pct)), h("td", {}, figure(leg.remote_loss_pct)),
    h("td", {}, figure(Math.max(leg.rx_jitter_ms ?? -1, leg.remote_jitter_ms ?? -1) < 0
      ? null : Math.max(leg.rx_jitter_ms ?? 0, leg.remote_jitter_ms ?? 0))),
    h("td", {}, figure(leg.rtt_ms)), h("td", {}, figure(leg.mos))))));
}

export function renderCalls(app, root) {
  const state = { cursor: null, done: false, loading: false, filter: "all" };
  const tbody = h("tbody");
  const status = h("p", { class: "muted", testid: "calls-status" });
  const more = h("button", { type: "button", testid: "calls-more", onclick: () => load() },
    t("calls.more"));
  const chips = ["all", "bad"].map((f) => h("button", { type: "button", class: "chip",
    testid: `calls-filter-${f}`, "aria-pressed": String(f === state.filter),
    onclick: (ev) => {
      state.filter = f;
      for (const b of ev.target.parentNode.children) b.setAttribute("aria-pressed", "false");
      ev.target.setAttribute("aria-pressed", "true");
      state.cursor = null;
      state.done = false;
      tbody.replaceChildren();
      load();
    } }, t(`calls.${f}`)));
  const cols = ["calls.when", "calls.from", "calls.to", "calls.result", "calls.duration",
    "calls.mos", "calls.loss", "calls.jitter", "calls.rtt", "calls.legs"];

  function rows(call) {
    const q = call.quality || {};
    const detail = h("tr", { hidden: true },
      h("td", { colspan: String(cols.length) }, legsTable(q.legs || [])));
    const legs = (q.legs || []).length;
    const show = t("calls.show", { n: legs });
    const toggle = h("button", { type: "button", testid: "call-show-legs",
      "aria-expanded": "false", "aria-label": t("calls.details", { show, id: call.id }),
      onclick: () => {
        detail.hidden = !detail.hidden;
        toggle.setAttribute("aria-expanded", String(!detail.hidden));
      } }, show);
    const row = h("tr", { class: q.bad ? "bad" : "", testid: "call-row",
      dataset: { callId: call.call_id, bad: String(!!q.bad),
        mos: q.mos == null ? "" : String(q.mos) } },
    h("td", {}, formatDate(call.started_at, language())), h("td", {}, call.caller),
    h("td", {}, call.callee), h("td", {}, t(`disp.${call.disposition}`)),
    h("td", {}, call.billsec ? formatDuration(call.billsec) : "–"),
    h("td", { class: "mos" }, figure(q.mos)), h("td", {}, figure(q.loss_pct)),
    h("td", {}, figure(q.jitter_ms)), h("td", {}, figure(q.rtt_ms)),
    h("td", {}, legs ? toggle : "–"));
    return [row, detail];
  }

  async function load() {
    if (state.loading || state.done) return;
    state.loading = true;
    status.textContent = t("common.loading");
    try {
      const query = { limit: 50, cursor: state.cursor || undefined };
      if (state.filter === "bad") query.bad = "true";
      const page = await app.fonbo.get("/admin/history", query);
      for (const call of page.items) tbody.append(...rows(call));
      state.cursor = page.next_cursor;
      state.done = !page.next_cursor;
      status.textContent = tbody.children.length ? "" : t("calls.empty");
      more.hidden = state.done;
    } catch (err) {
      status.textContent = t("common.error", { msg: err.message });
    } finally {
      state.loading = false;
    }
  }

  replace(root, h("h1", {}, t("calls.title")),
    h("div", { class: "toolbar" }, h("div", { class: "chips", role: "group" }, chips)),
    h("div", { class: "table-wrap" }, h("table", { class: "calls", testid: "calls-table" },
      h("caption", { class: "visually-hidden" }, t("calls.title")),
      h("thead", {}, h("tr", {}, cols.map((k) => h("th", { scope: "col" }, t(k))))), tbody)),
    status, more);
  load();
}
