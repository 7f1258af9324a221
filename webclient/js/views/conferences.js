// Conference rooms: mine (dial-in rooms with an optional PIN, «Conferencias BEEP»), within
// «Salas de conferencia Webphone»; the ad-hoc rooms of the «Conferencia» button show up while
// they last.

import { h, replace, field, latest } from "../dom.js";
import { t } from "../i18n.js";

const BEEP = [["-1", "conf.beep_inherit"], ["1", "common.yes"], ["0", "common.no"]];

export function renderConferences(app, root) {
  const list = h("ul", { class: "list", testid: "conference-list" });
  const status = h("p", { class: "muted", role: "status", testid: "conference-status" });
  const error = h("p", { class: "error", role: "alert", testid: "conference-error" });
  const formBox = h("div");

  function beepSelect(value) {
    return h("select", { testid: "conference-beep" }, BEEP.map(([v, label]) =>
      h("option", { value: v, selected: String(value ?? -1) === v }, t(label))));
  }

  function row(room) {
    return h("li", { class: "item wrap", testid: "conference-item",
      dataset: { number: room.number } },
    h("div", { class: "grow" },
      h("strong", {}, room.name), " ",
      h("a", { href: `tel:${room.number}`, onclick: (ev) => {
        ev.preventDefault();
        app.dial(room.number);
      } }, room.number),
      h("div", { class: "muted small" }, [
        room.adhoc ? t("conf.adhoc") : null,
        room.has_pin ? t("conf.with_pin") : t("conf.no_pin"),
        t("conf.size", { n: room.max_participants }),
      ].filter(Boolean).join(" · "))),
    room.adhoc ? null : h("div", { class: "controls" },
      h("button", { type: "button", testid: "conference-edit",
        onclick: () => showForm(room) }, t("adm.edit")),
      h("button", { type: "button", class: "danger", testid: "conference-delete",
        onclick: async () => {
          if (!confirm(t("adm.confirm"))) return;
          try {
            await app.fonbo.del(`/conferences/${room.id}`);
            load();
          } catch (err) { error.textContent = err.message; }
        } }, t("adm.delete"))));
  }

  function showForm(room) {
    const name = h("input", { value: room?.name || "", testid: "conference-name",
      maxLength: 128 });
    const pin = h("input", { inputMode: "numeric", autocomplete: "off",
      testid: "conference-pin", pattern: "[0-9]{4,12}", maxLength: 12 });
    const beep = beepSelect(room?.beep);
    const size = h("input", { type: "number", min: 2, max: 64,
      value: room?.max_participants || 10, testid: "conference-size" });
    const formError = h("p", { class: "error", role: "alert" });
    replace(formBox, h("form", { class: "card", testid: "conference-form",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const body = { name: name.value.trim(), beep: Number(beep.value),
          max_participants: Number(size.value) || 10 };
        if (pin.value) body.pin = pin.value;
        try {
          if (room) await app.fonbo.patch(`/conferences/${room.id}`, body);
          else await app.fonbo.post("/conferences", body);
          app.toast(t("adm.saved"));
          replace(formBox);
          load();
        } catch (err) { formError.textContent = err.message; }
      } },
    h("h2", {}, room ? room.name : t("conf.new")),
    field(t("adm.name"), name),
    field(t("conf.pin"), pin, room?.has_pin ? t("conf.pin_keep") : t("conf.pin_hint")),
    field(t("conf.beep"), beep),
    field(t("conf.max"), size),
    formError,
    h("div", { class: "controls" },
      h("button", { type: "submit", class: "primary", testid: "conference-save" },
        t("adm.save")),
      room?.has_pin ? h("button", { type: "button", testid: "conference-remove-pin",
        onclick: async () => {
          try {
            await app.fonbo.patch(`/conferences/${room.id}`, { pin: null });
            replace(formBox);
            load();
          } catch (err) { formError.textContent = err.message; }
        } }, t("conf.remove_pin")) : null,
      h("button", { type: "button", class: "link", onclick: () => replace(formBox) },
        t("phone.cancel")))));
    name.focus();
  }

  const newButton = h("button", { type: "button", testid: "conference-new",
    onclick: () => showForm(null) }, t("conf.new"));

  const latestLoad = latest();
  async function load() {
    status.textContent = t("common.loading");
    error.textContent = "";
    try {
      const data = await latestLoad(app.fonbo.get("/conferences"));
      list.replaceChildren(...data.items.map(row));
      status.textContent = t("conf.limit", { used: data.used, limit: data.limit });
      newButton.disabled = data.used >= data.limit;
    } catch (err) {
      status.textContent = "";
      error.textContent = t("common.error", { msg: err.message });
    }
  }

  replace(root, h("h1", {}, t("conf.title")), h("p", {}, t("conf.help")),
    h("div", { class: "toolbar" }, newButton), status, list, error, formBox);
  load();
}
