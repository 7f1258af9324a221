// Agenda: my contacts (add, edit favourite, delete), corporate directory, search,
// click-to-call, CSV/vCard import and export, presence when FONBO pushes it.

import { h, replace, field, icon } from "../dom.js";
import { t } from "../i18n.js";
import { telLink } from "../pwa.js";

export function renderAgenda(app, root) {
  const state = { tab: "personal", q: "" };
  const list = h("ul", { class: "list agenda", testid: "agenda-list" });
  const status = h("p", { class: "muted", testid: "agenda-status" });
  const search = h("input", { type: "search", testid: "agenda-search",
    placeholder: t("agenda.search"), "aria-label": t("agenda.search"),
    oninput: () => { clearTimeout(search.timer); search.timer = setTimeout(load, 250); } });
  const tabs = ["personal", "favourites", "corporate"].map((tab) => h("button", {
    type: "button", class: "chip", role: "tab", testid: `agenda-tab-${tab}`,
    "aria-selected": String(tab === state.tab), onclick: (ev) => {
      state.tab = tab;
      for (const b of ev.target.parentNode.children) b.setAttribute("aria-selected", "false");
      ev.target.setAttribute("aria-selected", "true");
      load();
    } }, t(`agenda.${tab}`)));

  function presenceBadge(number) {
    const p = app.presence.get(number);
    if (!p) return null;
    return h("span", { class: `presence ${p}`, testid: "presence", dataset: { state: p } },
      t(`agenda.presence.${p}`));
  }

  function row(item, editable) {
    const number = item.number || (item.extensions || [])[0] || "";
    const fav = editable ? h("button", { type: "button", class: "icon-button",
      testid: "agenda-fav", "aria-pressed": String(!!item.favourite),
      "aria-label": `${t("agenda.fav")}: ${item.name}`, onclick: async () => {
        const updated = await app.fonbo.patch(`/contacts/${item.id}`,
          { favourite: !item.favourite });
        item.favourite = updated.favourite;
        fav.setAttribute("aria-pressed", String(!!item.favourite));
        fav.replaceChildren(icon(item.favourite ? "star" : "star-off"));
      } }, icon(item.favourite ? "star" : "star-off")) : null;
    return h("li", { class: "item", testid: "agenda-item", dataset: { number } },
      fav,
      h("div", { class: "grow" }, h("strong", {}, item.name), " ", presenceBadge(number),
        h("div", { class: "muted small" },
          number ? telLink(number, (n) => app.dial(n), { testid: "agenda-link" }) : null,
          [item.company, item.email].filter(Boolean).map((x) => ` · ${x}`).join(""))),
      number ? h("button", { type: "button", class: "icon-button", testid: "agenda-call",
        "aria-label": t("common.call_number", { n: item.name }), onclick: () => app.dial(number) },
      icon("call")) : null,
      editable ? h("button", { type: "button", class: "icon-button danger",
        testid: "agenda-delete", "aria-label": `${t("agenda.delete")}: ${item.name}`, onclick: async () => {
          if (!confirm(t("adm.confirm"))) return;
          await app.fonbo.del(`/contacts/${item.id}`);
          load();
        } }, icon("trash")) : null);
  }

  let loads = 0;  // only the latest load renders: a slow earlier answer never overwrites it
  async function load() {
    const mine = ++loads;
    const tab = state.tab;
    status.textContent = t("common.loading");
    list.removeAttribute("data-tab");
    const q = search.value.trim();
    try {
      let items;
      let editable = false;
      if (q && tab !== "personal") {
        items = (await app.fonbo.get("/agenda/search", { q, limit: 50 })).items;
      } else if (tab === "favourites") {
        items = (await app.fonbo.get("/favourites")).items;
        editable = true;
      } else if (tab === "corporate") {
        items = (await app.fonbo.get("/directory", { limit: 200 })).items;
      } else {
        items = (await app.fonbo.get("/contacts", { q, limit: 200 })).items;
        editable = true;
      }
      if (mine !== loads) return;
      list.replaceChildren(...items.map((i) => row(i, editable && i.source !== "user")));
      list.dataset.tab = tab;
      status.textContent = items.length ? "" : t("agenda.empty");
    } catch (err) {
      if (mine !== loads) return;
      status.textContent = t("common.error", { msg: err.message });
    }
  }

  const name = h("input", { required: true, testid: "contact-name", maxLength: 128 });
  const number = h("input", { inputMode: "tel", testid: "contact-number", maxLength: 32 });
  const email = h("input", { type: "email", testid: "contact-email" });
  const company = h("input", { testid: "contact-company", maxLength: 128 });
  const formError = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", testid: "contact-form", onsubmit: async (ev) => {
    ev.preventDefault();
    formError.textContent = "";
    try {
      await app.fonbo.post("/contacts", { name: name.value.trim(),
        number: number.value.trim(), email: email.value.trim(),
        company: company.value.trim() });
      form.reset();
      load();
    } catch (err) {
      formError.textContent = err.message;
    }
  } }, h("h2", {}, t("agenda.new")), field(`${t("agenda.name")} *`, name),
  field(t("agenda.number"), number), field(t("agenda.email"), email),
  field(t("agenda.company"), company), formError,
  h("button", { type: "submit", class: "primary", testid: "contact-save" }, t("agenda.save")));

  const file = h("input", { type: "file", accept: ".csv,.vcf,text/csv,text/vcard",
    testid: "agenda-import-file", hidden: true, onchange: async () => {
      const f = file.files[0];
      if (!f) return;
      try {
        const fmt = /\.vcf$/i.test(f.name) ? "vcard" : "csv";
        const res = await app.fonbo.request("POST", `/contacts/import?format=${fmt}`,
          { body: f, headers: { "Content-Type": fmt === "vcard" ? "text/vcard" : "text/csv" } });
        app.toast(t("agenda.imported", { n: res.imported }));
        load();
      } catch (err) {
        const lines = (err.body?.error?.errors || []).map((e) => `${e.line}: ${e.message}`);
        app.toast([err.message, ...lines].join("\n"), "error", 8000);
      }
      file.value = "";
    } });
  const exporter = (fmt) => async () => {
    const resp = await app.fonbo.request("GET", "/contacts/export", { query: { format: fmt },
      raw: true });
    const a = h("a", { href: URL.createObjectURL(await resp.blob()),
      download: fmt === "vcard" ? "contactos.vcf" : "contactos.csv" });
    document.body.append(a);
    a.click();
    a.remove();
  };

  replace(root, h("h1", {}, t("agenda.title")),
    h("div", { class: "toolbar" }, h("div", { class: "chips", role: "tablist" }, tabs), search,
      h("button", { type: "button", testid: "agenda-import", onclick: () => file.click() },
        t("agenda.import")), file,
      h("button", { type: "button", testid: "agenda-export-csv", onclick: exporter("csv") },
        `${t("agenda.export")} CSV`),
      h("button", { type: "button", testid: "agenda-export-vcard", onclick: exporter("vcard") },
        `${t("agenda.export")} vCard`)),
    list, status, form);
  load();
  return app.on("presence", () => load());
}
