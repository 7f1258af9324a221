// Callbacks («Retrollamada»): book one to a number, see mine and cancel a pending one. Admins
// see everyone's. A phone books the same with *43# after a busy call.

import { h, replace, field, formatDate, latest } from "../dom.js";
import { t, language } from "../i18n.js";

export function renderCallbacks(app, root, { admin = false } = {}) {
  const list = h("ul", { class: "list", testid: "callback-list" });
  const status = h("p", { class: "muted", role: "status", testid: "callback-status" });
  const error = h("p", { class: "error", role: "alert", testid: "callback-error" });

  function row(cb) {
    const when = cb.state === "pending"
      ? t("cb.until", { when: formatDate(cb.expires_at, language()) })
      : formatDate(cb.finished_at || cb.created_at, language());
    return h("li", { class: "item", testid: "callback-item",
      dataset: { state: cb.state, target: cb.target_number } },
    h("div", { class: "grow" },
      h("strong", {}, admin ? `${cb.requester_number} → ${cb.target_number}`
        : cb.target_number),
      h("div", { class: "muted small" }, `${t(`cb.state.${cb.state}`)} · ${when}`)),
    !admin && cb.state === "pending" ? h("button", { type: "button", class: "danger",
      testid: "callback-cancel", onclick: async () => {
        try {
          await app.fonbo.del(`/callbacks/${cb.id}`);
          load();
        } catch (err) { error.textContent = err.message; }
      } }, t("cb.cancel")) : null);
  }

  const latestLoad = latest();
  async function load() {
    status.textContent = t("common.loading");
    try {
      const data = await latestLoad(app.fonbo.get(admin ? "/admin/callbacks" : "/callbacks",
        { limit: 100 }));
      list.replaceChildren(...data.items.map(row));
      status.textContent = data.items.length ? "" : t("cb.empty");
    } catch (err) {
      status.textContent = "";
      error.textContent = t("common.error", { msg: err.message });
    }
  }

  const number = h("input", { inputMode: "tel", testid: "callback-number", required: true,
    pattern: "[0-9]{1,32}", autocomplete: "off" });
  const book = admin ? null : h("form", { class: "card", testid: "callback-form",
    onsubmit: async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      try {
        await app.fonbo.post("/callbacks", { number: number.value.trim() });
        number.value = "";
        app.toast(t("cb.booked"));
        load();
      } catch (err) { error.textContent = err.message; }
    } },
  field(t("cb.number"), number, t("cb.hint")),
  h("button", { type: "submit", class: "primary", testid: "callback-book" }, t("cb.book")));

  replace(root, h("h1", {}, t(admin ? "cb.all" : "cb.title")), book, error, status, list);
  load();
}
