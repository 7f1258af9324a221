// Admin pages: users, webphone pools, extensions and their phones. A small generic
// list + form editor driven by field descriptions; FONBO's validation messages are shown as-is.

import { h, replace, field, latest } from "../dom.js";
import { t } from "../i18n.js";

const RESOURCES = {
  users: {
    path: "/admin/users", title: "adm.users",
    columns: ["login_number", "display_name", "email", "role", "webphone_mode"],
    fields: [
      { name: "display_name", label: "adm.display_name", required: true },
      { name: "login_number", label: "adm.login_number", required: true, create: true },
      { name: "password", label: "adm.password", type: "password", create: true,
        required: true, optionalOnEdit: true },
      { name: "email", label: "adm.email", type: "email" },
      { name: "role", label: "adm.role", type: "select", options: ["user", "admin"] },
      { name: "webphone_pool_id", label: "adm.pool", type: "ref", nullable: true,
        source: "/admin/webphone_pools", show: (p) => `${p.name} (${p.ranges})` },
      { name: "webphone_extension", label: "adm.web_ext", nullable: true },
      { name: "webphone_lines", label: "adm.lines", type: "number" },
      { name: "conference_rooms", label: "adm.rooms", type: "number" },
      { name: "beep", label: "adm.beep", type: "select", options: ["-1", "0", "1"],
        numeric: true },
      { name: "recording_mode", label: "adm.recording", type: "select",
        options: ["none", "on_demand", "always"] },
      { name: "webphone_mode", label: "adm.mode", type: "select",
        options: ["exclusivo", "multiterminal"] },
    ],
  },
  pools: {
    path: "/admin/webphone_pools", title: "adm.pools",
    columns: ["name", "base_extension", "ranges"],
    fields: [
      { name: "name", label: "adm.name", required: true },
      { name: "base_extension", label: "adm.base" },
      { name: "ranges", label: "adm.ranges", placeholder: "7000-7009" },
    ],
  },
  extensions: {
    path: "/admin/extensions", title: "adm.extensions",
    columns: ["number", "kind", "owner_user_id", "line_count"],
    fields: [
      { name: "number", label: "adm.number", required: true, create: true },
      { name: "kind", label: "adm.kind", type: "select", options: ["hard", "web"] },
      { name: "owner_user_id", label: "adm.owner", type: "ref", nullable: true,
        source: "/admin/users", show: (u) => `${u.login_number} ${u.display_name}` },
      { name: "line_count", label: "adm.lines", type: "number" },
      { name: "conference_rooms", label: "adm.rooms", type: "number" },
      { name: "recording_mode", label: "adm.recording", type: "select",
        options: ["none", "on_demand", "always"] },
    ],
    children: {
      path: () => "/admin/phones", filter: (id) => ({ extension_id: id }),
      title: "adm.phones",
      columns: ["position", "ring_order", "model", "enabled", "secure", "publishable"],
      fields: [
        { name: "extension_id", label: "adm.extensions", type: "number", required: true,
          create: true, fixed: true },
        { name: "position", label: "adm.position", type: "number", required: true },
        { name: "ring_order", label: "adm.order", type: "number" },
        { name: "model", label: "adm.model" },
        { name: "enabled", label: "set.phone_enabled", type: "checkbox" },
        { name: "secure", label: "adm.secure", type: "checkbox" },
        { name: "publishable", label: "adm.publishable", type: "checkbox" },
        { name: "sip_username", label: "SIP", required: true, create: true },
        { name: "sip_password", label: "adm.password", type: "password", create: true },
      ],
    },
  },
  rooms: {
    path: "/admin/conference_rooms", title: "adm.conference_rooms",
    columns: ["number", "name", "owner_user_id", "has_pin", "adhoc", "max_participants"],
    fields: [
      { name: "number", label: "adm.room_number", placeholder: "8000-8999" },
      { name: "name", label: "adm.name" },
      { name: "owner_user_id", label: "adm.owner", type: "ref", nullable: true,
        source: "/admin/users", show: (u) => `${u.login_number} ${u.display_name}` },
      { name: "pin", label: "conf.pin", inputMode: "numeric" },
      { name: "beep", label: "adm.beep", type: "select", options: ["-1", "0", "1"],
        numeric: true },
      { name: "max_participants", label: "conf.max", type: "number" },
    ],
  },
};

export function renderAdmin(app, root, which) {
  const spec = RESOURCES[which] || RESOURCES.users;
  replace(root, h("h1", {}, t(spec.title)), editor(app, spec, spec.path, which));
}

// Booleans come as JSON booleans; numbers (a position 0, an order 1) are shown as numbers.
function valueCell(v) {
  if (v === true) return "✓";
  if (v === false) return "—";
  return v ?? "";
}

function columnLabel(spec, column) {
  if (spec.columnLabels?.[column]) return t(spec.columnLabels[column]);
  const f = spec.fields.find((x) => x.name === column);
  return f ? t(f.label) : column;
}

// fixedValues: fields that every row of this list has (rows are filtered on them and new
// rows get them), e.g. the extension whose phones are shown. spec.rowActions(item, ctx) may
// add buttons to each row (ctx: the rows shown, reload(), showError(message)); a select
// field with numeric: true sends its value as a number.
export function editor(app, spec, path, testPrefix, fixedValues = {}) {
  const box = h("div", { class: "admin", testid: `admin-${testPrefix}` });
  const tbody = h("tbody");
  const status = h("p", { class: "error", role: "alert", testid: "admin-error" });
  const formBox = h("div");
  const childBox = h("div");

  const latestLoad = latest();
  async function load() {
    status.textContent = "";
    try {
      const data = await latestLoad(app.fonbo.get(path, { limit: 1000 }));
      const items = (data.items || []).filter((item) => Object.entries(fixedValues)
        .every(([k, v]) => item[k] === v));
      const rowCtx = { items, reload: load, showError: (msg) => { status.textContent = msg; } };
      tbody.replaceChildren(...items.map((item) => {
        // Buttons named after their row, for screen readers ("Editar 1001").
        const which = String(item[spec.columns[0]] ?? item.id);
        return h("tr", { testid: "admin-row" },
        spec.columns.map((c) => h("td", {}, valueCell(item[c]))),
        h("td", { class: "controls" },
          h("button", { type: "button", "aria-label": `${t("adm.edit")} ${which}`,
            onclick: () => showForm(item) }, t("adm.edit")),
          spec.rowActions ? spec.rowActions(item, rowCtx) : null,
          spec.children ? h("button", { type: "button",
            "aria-label": `${t("adm.phones")} ${which}`, onclick: () => {
            replace(childBox, h("h2", {}, `${t(spec.children.title)} · ${item.number}`),
              editor(app, spec.children, spec.children.path(item.id), "phones",
                spec.children.filter(item.id)));
          } }, t("adm.phones")) : null,
          h("button", { type: "button", class: "danger",
            "aria-label": `${t("adm.delete")} ${which}`, onclick: async () => {
              if (!confirm(t("adm.confirm"))) return;
              try {
                await app.fonbo.del(`${path}/${item.id}`);
                app.toast(t("adm.deleted"));
                load();
              } catch (err) { status.textContent = err.message; }
            } }, t("adm.delete"))));
      }));
    } catch (err) {
      status.textContent = t("common.error", { msg: err.message });
    }
  }

  async function refOptions(f, current) {
    const data = await app.fonbo.get(f.source, { limit: 1000 });
    return [h("option", { value: "" }, "—"), ...(data.items || []).map((r) => h("option", {
      value: String(r.id), selected: r.id === current }, f.show(r)))];
  }

  function showForm(item) {
    const inputs = {};
    const editing = !!item;
    const fields = spec.fields.filter((f) => !(editing && f.create && !f.optionalOnEdit)
      && !(f.name in fixedValues));
    const rows = fields.map((f) => {
      let input;
      const current = item ? item[f.name] : f.default;
      if (f.type === "select") {
        input = h("select", {}, f.options.map((o) => h("option", { value: String(o),
          selected: String(current) === String(o) }, f.optionLabel ? f.optionLabel(o)
          : String(o))));
      } else if (f.type === "ref") {
        input = h("select", {}, h("option", { value: "" }, "—"));
        refOptions(f, current).then((opts) => input.replaceChildren(...opts))
          .catch(() => {});
      } else if (f.type === "checkbox") {
        input = h("input", { type: "checkbox", checked: !!current });
      } else {
        input = h("input", { type: f.type || "text", value: current ?? "", step: f.step,
          placeholder: f.placeholder || "", inputMode: f.inputMode,
          required: f.required && !(editing && f.optionalOnEdit) });
      }
      input.dataset.testid = `admin-field-${f.name}`;
      inputs[f.name] = { input, f };
      return field(t(f.label) + (f.required ? " *" : ""), input, f.hint ? t(f.hint) : null);
    });
    const error = h("p", { class: "error", role: "alert", testid: "admin-form-error" });
    replace(formBox, h("form", { class: "card", testid: "admin-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const body = editing ? {} : { ...fixedValues };
      for (const [name, { input, f }] of Object.entries(inputs)) {
        if (f.type === "checkbox") body[name] = input.checked;
        else if (input.value === "") {
          // An emptied field: null where allowed, otherwise left as it is.
          if (f.nullable && editing && item[name] !== null) body[name] = null;
        } else {
          body[name] = f.type === "number" || f.type === "ref" || f.numeric
            ? Number(input.value) : input.value;
        }
      }
      try {
        if (editing) await app.fonbo.patch(`${path}/${item.id}`, body);
        else await app.fonbo.post(path, body);
        app.toast(t("adm.saved"));
        replace(formBox);
        load();
      } catch (err) {
        error.textContent = err.message;
      }
    } }, rows, h("p", { class: "muted small" }, t("adm.required")), error,
    h("div", { class: "controls" },
      h("button", { type: "submit", class: "primary", testid: "admin-save" }, t("adm.save")),
      h("button", { type: "button", class: "link", onclick: () => replace(formBox) },
        t("phone.cancel")))));
    formBox.scrollIntoView({ block: "start" });
    formBox.querySelector("input, select")?.focus();
  }

  replace(box, h("div", { class: "toolbar" }, h("button", { type: "button",
    testid: `admin-new-${testPrefix}`, onclick: () => showForm(null) }, t("adm.new"))),
  h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, spec.columns.map((c) => h("th", { scope: "col" },
      columnLabel(spec, c))), h("th", {}, h("span", { class: "visually-hidden" },
      t("adm.actions"))))), tbody)), status, formBox, childBox);
  load();
  return box;
}
