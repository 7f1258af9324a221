// Admin page of the dialler campaigns: the campaigns (form), and for one of them its progress,
// start/pause/stop, the number list import (CSV, with the errors of each line), the results
// per number and their CSV export.

import { h, replace, field, formatDate, latest } from "../dom.js";
import { t, language } from "../i18n.js";
import { editor } from "./admin.js";

const OUTCOMES = ["answered", "busy", "no_answer", "failed", "refused"];

export const CAMPAIGNS = {
  path: "/admin/campaigns", title: "cp.title",
  columns: ["name", "state", "destination", "max_concurrent", "calls_per_s"],
  columnLabels: { state: "cp.state" },
  fields: [
    { name: "name", label: "cp.name", required: true },
    { name: "owner_user_id", label: "cp.owner", type: "ref", required: true,
      source: "/admin/users", show: (u) => `${u.login_number} ${u.display_name}` },
    { name: "destination", label: "cp.destination", required: true, hint: "cp.destination_hint" },
    { name: "max_concurrent", label: "cp.max_concurrent", type: "number", default: 2 },
    { name: "calls_per_s", label: "cp.calls_per_s", type: "number", step: "any", default: 1 },
    { name: "ring_timeout_s", label: "cp.ring_timeout_s", type: "number", default: 30 },
    { name: "days", label: "rt.days", default: "mon-fri" },
    { name: "time_from", label: "rt.time_from", default: "09:00" },
    { name: "time_to", label: "rt.time_to", default: "20:00" },
    { name: "timezone", label: "rt.timezone", default: "Europe/Madrid" },
    { name: "busy_retries", label: "cp.busy_retries", type: "number", default: 2 },
    { name: "busy_retry_s", label: "cp.busy_retry_s", type: "number", default: 300 },
    { name: "no_answer_retries", label: "cp.no_answer_retries", type: "number", default: 2 },
    { name: "no_answer_retry_s", label: "cp.no_answer_retry_s", type: "number", default: 600 },
    { name: "failed_retries", label: "cp.failed_retries", type: "number", default: 1 },
    { name: "failed_retry_s", label: "cp.failed_retry_s", type: "number", default: 900 },
  ],
};

function detail(app, campaign, box) {
  const base = `/admin/campaigns/${campaign.id}`;
  const summary = h("div", { testid: "cp-status", role: "status", "aria-live": "polite" });
  const error = h("p", { class: "error", role: "alert", testid: "cp-error" });
  const tbody = h("tbody");
  const outcome = h("select", { testid: "cp-filter", onchange: () => loadNumbers() },
    h("option", { value: "" }, t("cp.all")),
    OUTCOMES.map((o) => h("option", { value: o }, t(`cp.outcome.${o}`))));
  const file = h("input", { type: "file", accept: ".csv,text/csv", testid: "cp-file" });
  const partial = h("input", { type: "checkbox", testid: "cp-partial" });
  const importOut = h("div", { testid: "cp-import-result" });

  const latestStatus = latest();
  async function loadStatus() {
    try {
      const s = await latestStatus(app.fonbo.get(`${base}/status`));
      replace(summary, h("dl", { class: "facts" },
        h("dt", {}, t("cp.state")), h("dd", { testid: "cp-state" }, t(`cp.state.${s.state}`)),
        h("dt", {}, t("cp.numbers")), h("dd", {}, String(s.numbers)),
        h("dt", {}, t("cp.pending")), h("dd", {}, String(s.pending + s.dialling)),
        h("dt", {}, t("cp.done")), h("dd", {}, String(s.done)),
        h("dt", {}, t("cp.attempts")), h("dd", {}, String(s.attempts)),
        OUTCOMES.map((o) => [h("dt", {}, t(`cp.outcome.${o}`)),
          h("dd", { testid: `cp-count-${o}` }, String(s.outcomes[o]))])));
    } catch (err) { error.textContent = err.message; }
  }

  const latestNumbers = latest();
  async function loadNumbers() {
    try {
      const data = await latestNumbers(app.fonbo.get(`${base}/numbers`, { outcome: outcome.value,
        limit: 200 }));
      tbody.replaceChildren(...data.items.map((n) => h("tr", { testid: "cp-number" },
        h("td", {}, n.number), h("td", {}, n.name), h("td", {}, t(`cp.nstate.${n.state}`)),
        h("td", {}, n.outcome ? t(`cp.outcome.${n.outcome}`) : "—"),
        h("td", {}, String(n.attempts)), h("td", {}, n.last_reason),
        h("td", {}, formatDate(n.last_attempt_at, language())))));
    } catch (err) { error.textContent = err.message; }
  }

  async function control(action) {
    error.textContent = "";
    try {
      await app.fonbo.post(`${base}/control`, { action });
      app.toast(t(`cp.did.${action}`));
    } catch (err) { error.textContent = err.message; }
    loadStatus();
  }

  async function importFile(ev) {
    ev.preventDefault();
    error.textContent = "";
    const chosen = file.files[0];
    if (!chosen) { error.textContent = t("cp.choose_file"); return; }
    try {
      const resp = await app.fonbo.request("POST", `${base}/numbers/import`, {
        body: await chosen.text(), query: { partial: partial.checked ? "true" : "" },
        headers: { "Content-Type": "text/csv" } });
      replace(importOut, h("p", {}, t("cp.imported", resp)), lineErrors(resp.errors));
    } catch (err) {
      replace(importOut, h("p", { class: "error" }, err.message),
        lineErrors(err.body?.error?.errors || []));
    }
    loadStatus();
    loadNumbers();
  }

  async function exportCsv() {
    try {
      const resp = await app.fonbo.request("GET", `${base}/results.csv`, { raw: true });
      const url = URL.createObjectURL(await resp.blob());
      const a = h("a", { href: url, download: `${campaign.name}-results.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) { error.textContent = err.message; }
  }

  replace(box, h("section", { class: "card", testid: "cp-detail",
    "aria-labelledby": "cp-detail-title" },
  h("h2", { id: "cp-detail-title" }, `${t("cp.campaign")} · ${campaign.name}`), summary,
  h("div", { class: "controls" },
    ["start", "pause", "stop"].map((a) => h("button", { type: "button", testid: `cp-${a}`,
      onclick: () => control(a) }, t(`cp.${a}`))),
    h("button", { type: "button", testid: "cp-export", onclick: exportCsv }, t("cp.export"))),
  error,
  h("form", { testid: "cp-import", onsubmit: importFile },
    h("h3", {}, t("cp.import")), h("p", { class: "muted small" }, t("cp.import_hint")),
    field(t("cp.file"), file),
    h("div", { class: "field" }, h("label", {}, partial, ` ${t("cp.partial")}`)),
    h("button", { type: "submit" }, t("cp.import_go")), importOut),
  h("h3", {}, t("cp.results")), field(t("cp.filter"), outcome),
  h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, ["cp.number", "cp.name", "cp.nstate", "cp.outcome", "cp.attempts",
      "cp.reason", "cp.last"].map((k) => h("th", { scope: "col" }, t(k))))), tbody))));
  loadStatus();
  loadNumbers();
  box.scrollIntoView({ block: "start" });
}

function lineErrors(errors) {
  if (!errors || !errors.length) return null;
  return h("ul", { class: "error", testid: "cp-line-errors" },
    errors.map((e) => h("li", {}, t("cp.line", { line: e.line, msg: e.message }))));
}

export function renderCampaigns(app, root) {
  const detailBox = h("div");
  const spec = { ...CAMPAIGNS, rowActions: (item) => h("button", { type: "button",
    testid: "cp-open", "aria-label": `${t("cp.open")} ${item.name}`,
    onclick: () => detail(app, item, detailBox) }, t("cp.open")) };
  replace(root, h("h1", {}, t("cp.title")), h("p", { class: "muted" }, t("cp.intro")),
    editor(app, spec, spec.path, "campaigns"), detailBox);
}
