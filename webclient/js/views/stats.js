// Statistics: the groups' 15-minute periods (offered, answered, abandoned, overflowed, moved,
// waits, service level) as a chart and a table with totals, the IVR and free accumulators
// (admins), each exportable as CSV. The table holds every number the chart draws.

import { h, replace, field, formatDuration, latest } from "../dom.js";
import { t, language } from "../i18n.js";
import { kindLabel } from "./acd.js";

const SERIES = [
  { key: "answered", label: "st.answered", color: "#1e7d32" },
  { key: "abandoned", label: "st.abandoned", color: "#b3261e" },
  { key: "overflowed", label: "st.overflowed", color: "#8a5a00" },
  { key: "moved", label: "st.moved", color: "#0b5cad" },
];
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

function localInput(epoch) {
  const d = new Date(epoch * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T`
    + `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function periodLabel(epoch) {
  return new Date(epoch * 1000).toLocaleString(language() === "en" ? "en-GB" : "es-ES",
    { dateStyle: "short", timeStyle: "short" });
}

// Stacked bars, one per label; series: [{key, label, color}], rows: [{label, values{}}].
export function barChart(rows, series, description, testid) {
  const width = Math.max(320, rows.length * 28 + 60);
  const height = 180;
  const top = 10;
  const bottom = 24;
  const left = 34;
  const max = Math.max(1, ...rows.map((r) => series.reduce((s, x) => s + (r.values[x.key] || 0),
    0)));
  const scale = (height - top - bottom) / max;
  const bars = svg("g");
  rows.forEach((r, i) => {
    let y = height - bottom;
    const x = left + 8 + i * 28;
    for (const s of series) {
      const v = r.values[s.key] || 0;
      if (!v) continue;
      const hgt = v * scale;
      y -= hgt;
      bars.append(svg("rect", { x, y, width: 18, height: hgt, fill: s.color,
        "data-testid": "chart-bar" }, svg("title", {}, `${r.label} · ${t(s.label)}: ${v}`)));
    }
  });
  const axis = svg("g", { fill: "currentColor", "font-size": 10 },
    svg("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom,
      stroke: "currentColor" }),
    svg("text", { x: 2, y: top + 8 }, String(max)), svg("text", { x: 2, y: height - bottom },
      "0"));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%",
    height, role: "img", "aria-label": description, "data-testid": testid,
    preserveAspectRatio: "xMinYMid meet" }, axis, bars);
  const legend = h("ul", { class: "legend" }, series.map((s) => h("li", {},
    h("span", { class: "swatch", style: { background: s.color } }), t(s.label))));
  return h("figure", { class: "chart card" }, chart, legend);
}

async function download(app, path, query, name) {
  const resp = await app.fonbo.request("GET", path, { query, raw: true });
  const url = URL.createObjectURL(await resp.blob());
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

export function renderStats(app, root) {
  const now = Date.now() / 1000;
  const from = h("input", { type: "datetime-local", value: localInput(now - 86400),
    testid: "st-from" });
  const to = h("input", { type: "datetime-local", value: localInput(now + 60),
    testid: "st-to" });
  const group = h("select", { testid: "st-group" }, h("option", { value: "" }, t("st.all")));
  const error = h("p", { class: "error", role: "alert", testid: "st-error" });
  const result = h("div", { testid: "st-result" });
  const accBox = h("section", { "aria-labelledby": "acc-h" });
  const range = () => {
    const q = { from: new Date(from.value).getTime() / 1000,
      to: new Date(to.value).getTime() / 1000 };
    if (group.value) q.queue_id = group.value;
    return q;
  };

  const latestLoad = latest();
  async function load() {
    error.textContent = "";
    let data;
    try {
      data = await latestLoad(app.fonbo.get("/stats/queues", range()));
    } catch (err) {
      error.textContent = err.message;
      replace(result);
      return;
    }
    if (!data.items.length) {
      replace(result, h("p", { class: "muted", testid: "st-none" }, t("st.none")));
      return;
    }
    const byPeriod = new Map();
    for (const i of data.items) {
      const p = byPeriod.get(i.period_start) || { label: periodLabel(i.period_start),
        values: {} };
      for (const s of SERIES) p.values[s.key] = (p.values[s.key] || 0) + i[s.key];
      byPeriod.set(i.period_start, p);
    }
    const totals = SERIES.map((s) => `${t(s.label)} ${data.totals.reduce((n, x) => n
      + x[s.key], 0)}`).join(", ");
    const head = ["st.period", "st.group", "st.offered", "st.answered", "st.abandoned",
      "st.overflowed", "st.moved", "st.sl", "st.avg_wait", "st.max_wait", "st.avg_talk"];
    const cells = (r, label) => [label, `${r.number} ${r.name}`, r.offered, r.answered,
      r.abandoned, r.overflowed, r.moved, `${r.service_level} %`, formatDuration(r.avg_wait_s),
      formatDuration(r.max_wait_s), formatDuration(r.avg_talk_s)];
    replace(result, barChart([...byPeriod.values()], SERIES,
      t("st.chart", { desc: totals }), "st-chart"),
    // a wide table scrolls: its region takes the focus so the keyboard can scroll it
    h("div", { class: "table-wrap", tabIndex: 0, role: "region",
      "aria-label": t("st.groups") }, h("table", { testid: "st-table" },
      h("caption", {}, t("st.groups")),
      h("thead", {}, h("tr", {}, head.map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, data.items.map((r) => h("tr", { testid: "st-row" },
        cells(r, periodLabel(r.period_start)).map((c) => h("td", {}, String(c)))))),
      h("tfoot", {}, data.totals.map((r) => h("tr", { testid: "st-total" },
        cells(r, t("st.totals")).map((c, i) => (i === 0 ? h("th", { scope: "row" }, c)
          : h("td", {}, String(c))))))))));
  }

  async function loadAccumulators() {
    const kind = h("select", { testid: "acc-kind" }, h("option", { value: "ivr" },
      t("st.acc_ivr")), h("option", { value: "vv" }, t("st.acc_vv")));
    const name = h("input", { type: "text", maxLength: 128, testid: "acc-name" });
    const out = h("div", { testid: "acc-result" });
    const accError = h("p", { class: "error", role: "alert" });
    const query = () => ({ ...range(), kind: kind.value, name: name.value || undefined });
    const fill = async () => {
      accError.textContent = "";
      try {
        const data = await app.fonbo.get("/stats/accumulators", query());
        if (!data.items.length) {
          replace(out, h("p", { class: "muted" }, t("st.none")));
          return;
        }
        const sums = new Map();
        for (const i of data.items) {
          const key = `${i.name} · ${i.key}`;
          sums.set(key, (sums.get(key) || 0) + i.count);
        }
        const rows = [...sums].map(([label, count]) => ({ label, values: { count } }));
        const series = [{ key: "count", label: "st.count", color: "#0b5cad" }];
        replace(out, barChart(rows, series, t("st.acc_chart", {
          desc: rows.map((r) => `${r.label} ${r.values.count}`).join(", ") }), "acc-chart"),
        h("div", { class: "table-wrap", tabIndex: 0, role: "region",
          "aria-label": t("st.acc") }, h("table", { testid: "acc-table" },
          h("caption", { class: "visually-hidden" }, t("st.acc")),
          h("thead", {}, h("tr", {}, ["st.period", "st.acc_name", "st.key", "st.count"].map(
            (k) => h("th", { scope: "col" }, t(k))))),
          h("tbody", {}, data.items.map((i) => h("tr", { testid: "acc-row" },
            h("td", {}, periodLabel(i.period_start)), h("td", {}, i.name), h("td", {}, i.key),
            h("td", {}, String(i.count))))))));
      } catch (err) { accError.textContent = err.message; }
    };
    replace(accBox, h("h2", { id: "acc-h" }, t("st.acc")),
      h("form", { class: "inline", onsubmit: (ev) => { ev.preventDefault(); fill(); } },
        field(t("st.acc_kind"), kind), field(t("st.acc_name"), name),
        h("button", { type: "submit", testid: "acc-show" }, t("st.show")),
        h("button", { type: "button", testid: "acc-csv", onclick: () => download(app,
          "/stats/accumulators/export", query(), `acumulados-${kind.value}.csv`)
          .catch((err) => { accError.textContent = err.message; }) }, t("st.csv"))),
      accError, out);
    fill();
  }

  replace(root, h("h1", {}, t("st.title")),
    h("form", { class: "inline", testid: "st-form", onsubmit: (ev) => {
      ev.preventDefault();
      load();
      if (app.auth.isAdmin) accBox.querySelector("form")?.requestSubmit();
    } }, field(t("st.from"), from), field(t("st.to"), to), field(t("st.group"), group),
    h("button", { type: "submit", class: "primary", testid: "st-show" }, t("st.show")),
    h("button", { type: "button", testid: "st-csv", onclick: () => download(app,
      "/stats/queues/export", range(), "estadisticas-grupos.csv")
      .catch((err) => { error.textContent = err.message; }) }, t("st.csv"))),
    error, h("section", { "aria-labelledby": "groups-h" },
      h("h2", { id: "groups-h" }, t("st.groups")), result),
    app.auth.isAdmin ? accBox : null);

  app.fonbo.get("/acd/me").then((me) => {
    const kinds = (me.supervisor || []);
    group.append(...kinds.map((q) => h("option", { value: String(q.queue_id) },
      `${q.number} ${q.name} · ${kindLabel(q.kind)}`)));
  }).catch(() => {});
  load();
  if (app.auth.isAdmin) loadAccumulators();
}
