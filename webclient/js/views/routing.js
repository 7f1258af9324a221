// Admin page of the routing rules: the ordered list (move up/down), the rule form, and the
// rule tester ("where would this number go, for this caller, at this time?").

import { h, replace, field } from "../dom.js";
import { t } from "../i18n.js";
import { editor } from "./admin.js";

const ACTIONS = ["extension", "queue", "ivr", "trunk", "rewrite", "reject"];

async function move(app, item, ctx, delta) {
  const ids = ctx.items.map((r) => r.id);
  const i = ids.indexOf(item.id);
  const j = i + delta;
  if (j < 0 || j >= ids.length) return;
  [ids[i], ids[j]] = [ids[j], ids[i]];
  try {
    await app.fonbo.put("/admin/routing_rules/order", { ids });
    ctx.reload();
  } catch (err) { ctx.showError(err.message); }
}

export const RULES = {
  path: "/admin/routing_rules", title: "rt.title",
  columns: ["position", "name", "number_pattern", "caller_pattern", "action", "target",
    "enabled"],
  columnLabels: { position: "rt.position" },
  rowActions: (item, ctx) => [
    h("button", { type: "button", "aria-label": `${t("rt.up")} ${item.name}`,
      testid: "rule-up", onclick: () => move(ctx.app, item, ctx, -1) }, "↑"),
    h("button", { type: "button", "aria-label": `${t("rt.down")} ${item.name}`,
      testid: "rule-down", onclick: () => move(ctx.app, item, ctx, 1) }, "↓"),
  ],
  fields: [
    { name: "name", label: "rt.name", required: true },
    { name: "enabled", label: "rt.enabled", type: "checkbox", default: true },
    { name: "origin", label: "rt.origin", type: "select", options: ["any", "phones", "trunks"],
      optionLabel: (o) => t(`rt.origin.${o}`) },
    { name: "number_pattern", label: "rt.number_pattern", required: true,
      placeholder: "0(6\\d{8})", hint: "rt.pattern_hint" },
    { name: "caller_pattern", label: "rt.caller_pattern", placeholder: "6\\d{8}" },
    { name: "days", label: "rt.days", placeholder: "mon-fri", default: "mon-sun" },
    { name: "time_from", label: "rt.time_from", placeholder: "08:00", default: "00:00" },
    { name: "time_to", label: "rt.time_to", placeholder: "20:00", default: "24:00" },
    { name: "timezone", label: "rt.timezone", default: "Europe/Madrid" },
    { name: "action", label: "rt.action", type: "select", options: ACTIONS,
      optionLabel: (o) => t(`rt.action.${o}`) },
    { name: "target", label: "rt.target", placeholder: "+34$1", hint: "rt.target_hint" },
    { name: "trunk_id", label: "rt.trunk", type: "ref", nullable: true,
      source: "/admin/trunks", show: (tr) => tr.name },
    { name: "trunk_prefix", label: "rt.trunk_prefix" },
    { name: "reject_status", label: "rt.reject_status", type: "select", numeric: true,
      options: [403, 404, 480, 486, 503, 603] },
    { name: "description", label: "rt.description" },
  ],
};

function tester(app) {
  const number = h("input", { type: "text", required: true, testid: "rt-test-number",
    inputmode: "tel", autocomplete: "off" });
  const caller = h("input", { type: "text", required: true, testid: "rt-test-caller",
    inputmode: "tel", autocomplete: "off" });
  const origin = h("select", { testid: "rt-test-origin" },
    h("option", { value: "phone" }, t("rt.test.phone")),
    h("option", { value: "trunk" }, t("rt.test.trunk")));
  const trunk = h("input", { type: "text", testid: "rt-test-trunk", autocomplete: "off" });
  const when = h("input", { type: "datetime-local", testid: "rt-test-at" });
  const out = h("div", { role: "status", "aria-live": "polite", testid: "rt-test-result" });
  const error = h("p", { class: "error", role: "alert", testid: "rt-test-error" });
  return h("form", { class: "card", testid: "rt-test", onsubmit: async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const body = { number: number.value.trim(), caller: caller.value.trim(),
      origin: origin.value };
    if (trunk.value.trim()) body.trunk = trunk.value.trim();
    if (when.value) body.at = new Date(when.value).getTime() / 1000;
    try {
      const ans = await app.fonbo.post("/admin/routing/test", body);
      const r = ans.route;
      replace(out, h("dl", { class: "facts" },
        h("dt", {}, t("rt.test.rule")),
        h("dd", { testid: "rt-test-rule" }, ans.rule ? ans.rule.name : t("rt.test.norule")),
        h("dt", {}, t("rt.test.matched")),
        h("dd", {}, ans.matched.length ? ans.matched.map((m) => `${m.name} → ${m.number}`)
          .join(", ") : "—"),
        h("dt", {}, t("rt.test.destination")),
        h("dd", { testid: "rt-test-destination" }, r.kind === "reject" ? "—"
          : `${t(`rt.kind.${r.kind}`)} ${r.destination || r.number}`
            + (r.trunks.length ? ` (${r.trunks.join(", ")})` : "")),
        h("dt", {}, t("rt.test.allowed")),
        h("dd", { testid: "rt-test-allowed" }, ans.allowed ? t("rt.test.yes")
          : `${t("rt.test.no")}: ${r.status} ${r.reason}`),
        h("dt", {}, t("rt.test.caller")),
        h("dd", {}, `${ans.caller.number} · ${ans.caller.user || ans.caller.trunk || ""} · `
          + `${t("rt.test.category")} ${ans.caller.category}`)),
      h("p", { class: "muted small" }, t("rt.test.flow")));
    } catch (err) { error.textContent = err.message; replace(out); }
  } }, h("h2", {}, t("rt.test.title")),
  field(`${t("rt.test.number")} *`, number), field(`${t("rt.test.caller_number")} *`, caller),
  field(t("rt.origin"), origin), field(t("rt.trunk"), trunk),
  field(t("rt.test.at"), when, t("rt.test.at_hint")),
  h("div", { class: "controls" }, h("button", { type: "submit", class: "primary",
    testid: "rt-test-submit" }, t("rt.test.submit"))), error, out);
}

export function renderRouting(app, root) {
  const spec = { ...RULES, rowActions: (item, ctx) => RULES.rowActions(item,
    { ...ctx, app }) };
  replace(root, h("h1", {}, t("rt.title")), h("p", { class: "muted" }, t("rt.intro")),
    editor(app, spec, spec.path, "rules"), tester(app));
}
