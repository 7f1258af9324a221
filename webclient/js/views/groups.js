// Admin: groups (hunt «grupo de salto», operator «grupo de operadoras», corporate ACD) with
// the settings of their kind, their members and supervisors, and the agents' pause reasons.
// FONBO's validation messages are shown as they come.

import { h, replace, field, latest } from "../dom.js";
import { t } from "../i18n.js";
import { kindLabel } from "./acd.js";

const KINDS = ["hunt", "operator", "acd"];
const STRATEGIES = ["ringall", "linear", "roundrobin", "leastrecent", "fewestcalls", "random"];
// Settings that belong to some kinds only (the rest is hidden and not sent).
const ONLY = { wrapup_s: ["acd"], announce_s: ["operator", "acd"],
  max_waiting: ["operator", "acd"] };
const FIELDS = [
  { name: "number", label: "grp.number", required: true },
  { name: "name", label: "grp.name", required: true },
  { name: "kind", label: "grp.kind", type: "kind" },
  { name: "strategy", label: "grp.strategy", type: "strategy" },
  { name: "ring_timeout_s", label: "grp.ring_timeout", type: "number" },
  { name: "timeout_s", label: "grp.timeout", type: "number" },
  { name: "overflow_target", label: "grp.overflow" },
  { name: "stats_enabled", label: "grp.stats", type: "checkbox" },
  { name: "sla_s", label: "grp.sla", type: "number" },
  { name: "wrapup_s", label: "grp.wrapup", type: "number" },
  { name: "announce_s", label: "grp.announce", type: "number" },
  { name: "max_waiting", label: "grp.max_waiting", type: "number" },
  { name: "sticky_window_s", label: "grp.sticky", type: "number" },
];

function cellButton(label, which, onclick, extra = {}) {
  return h("button", { type: "button", "aria-label": `${label} ${which}`, onclick, ...extra },
    label);
}

export function renderGroups(app, root) {
  const status = h("p", { class: "error", role: "alert", testid: "admin-error" });
  const tbody = h("tbody");
  const formBox = h("div");
  const detail = h("div");
  const reasonsBox = h("section", { "aria-labelledby": "reasons-h" });
  replace(root, h("h1", {}, t("grp.title")), h("p", { class: "muted" }, t("grp.kind_help")),
    h("div", { class: "toolbar" }, h("button", { type: "button", testid: "group-new",
      onclick: () => showForm(null) }, t("adm.new"))),
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "visually-hidden" }, t("grp.title")),
      h("thead", {}, h("tr", {}, ["grp.number", "grp.name", "grp.kind", "grp.strategy",
        "grp.timeout", "grp.overflow"].map((k) => h("th", { scope: "col" }, t(k))),
      h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, t("adm.actions"))))),
      tbody)), status, formBox, detail, reasonsBox);

  const latestLoad = latest();
  async function load() {
    status.textContent = "";
    try {
      const data = await latestLoad(app.fonbo.get("/admin/queues", { limit: 1000 }));
      tbody.replaceChildren(...data.items.map((q) => {
        const which = `${q.number} ${q.name}`;
        return h("tr", { testid: "group-row", dataset: { number: q.number } },
          h("td", {}, q.number), h("td", {}, q.name), h("td", {}, kindLabel(q.kind)),
          h("td", {}, q.strategy), h("td", {}, String(q.timeout_s)),
          h("td", {}, q.overflow_target || "—"),
          h("td", {}, h("div", { class: "controls" },
            cellButton(t("adm.edit"), which, () => showForm(q)),
            cellButton(t("grp.members"), which, () => showMembers(q),
              { testid: "group-members" }),
            cellButton(t("grp.supervisors"), which, () => showSupervisors(q),
              { testid: "group-supervisors" }),
            cellButton(t("adm.delete"), which, async () => {
              if (!confirm(t("adm.confirm"))) return;
              try {
                await app.fonbo.del(`/admin/queues/${q.id}`);
                app.toast(t("adm.deleted"));
                replace(detail);
                load();
              } catch (err) { status.textContent = err.message; }
            }, { class: "danger" }))));
      }));
    } catch (err) {
      status.textContent = t("common.error", { msg: err.message });
    }
  }

  function showForm(item) {
    const inputs = {};
    const rows = FIELDS.map((f) => {
      const current = item ? item[f.name] : undefined;
      let input;
      if (f.type === "kind") {
        input = h("select", {}, KINDS.map((k) => h("option", { value: k,
          selected: (current || "hunt") === k }, kindLabel(k))));
      } else if (f.type === "strategy") {
        input = h("select", {}, STRATEGIES.map((k) => h("option", { value: k,
          selected: (current || "ringall") === k }, k)));
      } else if (f.type === "checkbox") {
        input = h("input", { type: "checkbox", checked: !!current });
      } else {
        input = h("input", { type: f.type === "number" ? "number" : "text",
          value: current ?? "", required: !!f.required,
          inputMode: f.type === "number" || f.name === "number" ? "numeric" : undefined });
      }
      input.dataset.testid = `group-field-${f.name}`;
      const row = field(t(f.label) + (f.required ? " *" : ""), input);
      inputs[f.name] = { input, f, row };
      return row;
    });
    const kind = inputs.kind.input;
    const follow = () => {
      for (const [name, kinds] of Object.entries(ONLY)) {
        inputs[name].row.hidden = !kinds.includes(kind.value);
      }
    };
    kind.addEventListener("change", follow);
    follow();
    const error = h("p", { class: "error", role: "alert", testid: "group-form-error" });
    replace(formBox, h("form", { class: "card", testid: "group-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const [name, { input, f, row }] of Object.entries(inputs)) {
        if (row.hidden) continue;
        if (f.type === "checkbox") body[name] = input.checked;
        else if (input.value !== "") {
          body[name] = f.type === "number" ? Number(input.value) : input.value;
        } else if (name === "overflow_target" && item) body[name] = "";
      }
      try {
        if (item) await app.fonbo.patch(`/admin/queues/${item.id}`, body);
        else await app.fonbo.post("/admin/queues", body);
        app.toast(t("adm.saved"));
        replace(formBox);
        load();
      } catch (err) { error.textContent = err.message; }
    } }, h("h2", {}, item ? `${t("adm.edit")} ${item.number}` : t("adm.new")), rows,
    h("p", { class: "muted small" }, t("adm.required")), error,
    h("div", { class: "controls" },
      h("button", { type: "submit", class: "primary", testid: "group-save" }, t("adm.save")),
      h("button", { type: "button", class: "link", onclick: () => replace(formBox) },
        t("phone.cancel")))));
    formBox.querySelector("input")?.focus();
  }

  async function showMembers(q) {
    const tbody2 = h("tbody");
    const error = h("p", { class: "error", role: "alert", testid: "member-error" });
    const ext = h("select", { testid: "member-extension" });
    const penalty = h("input", { type: "number", min: 0, max: 1000, value: 0,
      testid: "member-penalty", class: "narrow" });
    const render = (items) => tbody2.replaceChildren(...items.map((m) => h("tr",
      { testid: "member-row" }, h("td", {}, m.extension), h("td", {}, String(m.penalty)),
      h("td", {}, m.paused ? `✓ ${m.pause_reason || ""}` : "—"),
      h("td", {}, m.logged_in ? "✓" : "—"),
      h("td", {}, cellButton(t("grp.remove"), m.extension, async () => {
        try {
          await app.fonbo.del(`/admin/queues/${q.id}/members/${m.extension_id}`);
          render((await app.fonbo.get(`/admin/queues/${q.id}/members`)).items);
        } catch (err) { error.textContent = err.message; }
      })))));
    replace(detail, h("section", { class: "card", testid: "group-members-panel",
      "aria-labelledby": "members-h" },
    h("h2", { id: "members-h" }, t("grp.of", { what: t("grp.members"), q: q.number })),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["acd.extension", "grp.penalty", "grp.paused",
        "grp.logged_in"].map((k) => h("th", { scope: "col" },
        t(k === "acd.extension" ? "grp.number" : k))),
      h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, t("adm.actions"))))),
      tbody2)),
    h("form", { class: "inline", onsubmit: async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      try {
        const data = await app.fonbo.put(`/admin/queues/${q.id}/members/${ext.value}`,
          { penalty: Number(penalty.value || 0) });
        render(data.items);
      } catch (err) { error.textContent = err.message; }
    } }, field(t("grp.number"), ext), field(t("grp.penalty"), penalty),
    h("button", { type: "submit", testid: "member-add" }, t("grp.add_member"))), error));
    try {
      const [members, exts] = await Promise.all([
        app.fonbo.get(`/admin/queues/${q.id}/members`),
        app.fonbo.get("/admin/extensions", { limit: 1000 })]);
      ext.replaceChildren(...exts.items.map((e) => h("option", { value: String(e.id) },
        e.number)));
      render(members.items);
    } catch (err) { error.textContent = err.message; }
  }

  async function showSupervisors(q) {
    const list = h("ul", { class: "list" });
    const error = h("p", { class: "error", role: "alert", testid: "supervisor-error" });
    const user = h("select", { testid: "supervisor-user" });
    const render = (items) => list.replaceChildren(...items.map((s) => h("li",
      { class: "item", testid: "supervisor-row" },
      h("span", { class: "grow" }, `${s.login_number} ${s.display_name}`),
      cellButton(t("grp.remove"), s.display_name, async () => {
        try {
          await app.fonbo.del(`/admin/queues/${q.id}/supervisors/${s.user_id}`);
          render((await app.fonbo.get(`/admin/queues/${q.id}/supervisors`)).items);
        } catch (err) { error.textContent = err.message; }
      }))));
    replace(detail, h("section", { class: "card", testid: "group-supervisors-panel",
      "aria-labelledby": "sup-h" },
    h("h2", { id: "sup-h" }, t("grp.of", { what: t("grp.supervisors"), q: q.number })), list,
    h("form", { class: "inline", onsubmit: async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      try {
        render((await app.fonbo.put(`/admin/queues/${q.id}/supervisors/${user.value}`)).items);
        app.loadAcd?.();
      } catch (err) { error.textContent = err.message; }
    } }, field(t("grp.user"), user),
    h("button", { type: "submit", testid: "supervisor-add" }, t("grp.add_supervisor"))),
    error));
    try {
      const [sups, users] = await Promise.all([
        app.fonbo.get(`/admin/queues/${q.id}/supervisors`),
        app.fonbo.get("/admin/users", { limit: 1000 })]);
      user.replaceChildren(...users.items.map((u) => h("option", { value: String(u.id) },
        `${u.login_number} ${u.display_name}`)));
      render(sups.items);
    } catch (err) { error.textContent = err.message; }
  }

  async function loadReasons() {
    const list = h("ul", { class: "list" });
    const error = h("p", { class: "error", role: "alert" });
    const name = h("input", { type: "text", maxLength: 64, testid: "reason-name" });
    const fill = async () => {
      const data = await app.fonbo.get("/admin/pause_reasons", { limit: 1000 });
      list.replaceChildren(...data.items.map((r) => h("li", { class: "item" },
        h("span", { class: "grow" }, r.name),
        cellButton(t("adm.delete"), r.name, async () => {
          try { await app.fonbo.del(`/admin/pause_reasons/${r.id}`); fill(); } catch (err) {
            error.textContent = err.message;
          }
        }, { class: "danger" }))));
    };
    replace(reasonsBox, h("h2", { id: "reasons-h" }, t("grp.reasons")), list,
      h("form", { class: "inline", onsubmit: async (ev) => {
        ev.preventDefault();
        error.textContent = "";
        try {
          await app.fonbo.post("/admin/pause_reasons", { name: name.value });
          name.value = "";
          fill();
        } catch (err) { error.textContent = err.message; }
      } }, field(t("acd.reason"), name),
      h("button", { type: "submit", testid: "reason-add" }, t("grp.add_reason"))), error);
    try { await fill(); } catch (err) { error.textContent = err.message; }
  }

  load();
  loadReasons();
}
