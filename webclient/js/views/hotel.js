// Admin: the hotel PMS interface (CHAR / hmobile connect) — its settings, the rooms with their
// state (guest, do not disturb, message waiting, wake-up calls), the room status codes, and the
// messages for the PMS (a refused one can be sent again). FONBO's messages say what is wrong.

import { h, replace, field, formatDate, latest } from "../dom.js";
import { t, language } from "../i18n.js";

const NUMBERS = [["wakeup_ring_s", "hot.ring", 2, 300], ["wakeup_retries", "hot.retries", 0, 10],
  ["wakeup_retry_s", "hot.retry", 1, 3600], ["wakeup_repeat", "hot.repeat", 1, 10]];

function headRow(keys) {
  return h("thead", {}, h("tr", {}, keys.map((k) => h("th", { scope: "col" },
    k ? t(k) : h("span", { class: "visually-hidden" }, t("adm.actions"))))));
}

function table(keys, body) {
  return h("div", { class: "table-wrap" }, h("table", {}, headRow(keys), body));
}

function yesNo(value) { return value ? t("common.yes") : t("common.no"); }

export function renderHotel(app, root) {
  const settingsBox = h("div");
  const roomsBody = h("tbody");
  const roomError = h("p", { class: "error", role: "alert", testid: "hotel-room-error" });
  const codesBody = h("tbody");
  const codeError = h("p", { class: "error", role: "alert", testid: "hotel-code-error" });
  const outboxBody = h("tbody");
  const outboxError = h("p", { class: "error", role: "alert", testid: "hotel-outbox-error" });
  const when = (s) => formatDate(s, language());

  const filter = h("select", { testid: "hotel-outbox-filter", onchange: () => loadOutbox() },
    h("option", { value: "" }, t("hot.all")),
    ["pending", "refused", "delivered"].map((s) => h("option", { value: s },
      t(`hot.msg.${s}`))));

  const roomNumber = h("input", { type: "text", required: true, maxLength: 16,
    testid: "hotel-room-number" });
  const roomExt = h("input", { type: "text", inputMode: "numeric", required: true,
    maxLength: 32, testid: "hotel-room-extension" });
  const roomName = h("input", { type: "text", maxLength: 128, testid: "hotel-room-name" });
  const roomForm = h("form", { class: "inline", testid: "hotel-room-form",
    onsubmit: async (ev) => {
      ev.preventDefault();
      roomError.textContent = "";
      try {
        const found = (await app.fonbo.get("/admin/extensions", { q: roomExt.value,
          limit: 100 })).items.find((e) => e.number === roomExt.value);
        if (!found) throw new Error(`${t("hot.extension")} ${roomExt.value}?`);
        await app.fonbo.post("/admin/hotel_rooms", { room: roomNumber.value,
          extension_id: found.id, vacant_name: roomName.value });
        app.toast(t("adm.saved"));
        roomForm.reset();
        loadRooms();
      } catch (err) { roomError.textContent = err.message; }
    } }, field(t("hot.room") + " *", roomNumber), field(t("hot.extension") + " *", roomExt),
  field(t("hot.vacant_name"), roomName),
  h("button", { type: "submit", testid: "hotel-room-add" }, t("hot.add_room")));

  const dial = h("input", { type: "text", required: true, maxLength: 8, placeholder: "*81",
    testid: "hotel-code-dial" });
  const code = h("input", { type: "text", required: true, maxLength: 32,
    testid: "hotel-code-code" });
  const label = h("input", { type: "text", maxLength: 64, testid: "hotel-code-label" });
  const takesValue = h("input", { type: "checkbox", testid: "hotel-code-value" });
  const codeForm = h("form", { class: "inline", testid: "hotel-code-form",
    onsubmit: async (ev) => {
      ev.preventDefault();
      codeError.textContent = "";
      try {
        await app.fonbo.post("/admin/hotel_status_codes", { dial: dial.value, code: code.value,
          label: label.value, takes_value: takesValue.checked });
        app.toast(t("adm.saved"));
        codeForm.reset();
        loadCodes();
      } catch (err) { codeError.textContent = err.message; }
    } }, field(t("hot.dial") + " *", dial), field(t("hot.code") + " *", code),
  field(t("hot.label"), label), h("label", { class: "check" }, takesValue, t("hot.takes_value")),
  h("button", { type: "submit", testid: "hotel-code-add" }, t("hot.add_code")));

  replace(root, h("h1", {}, t("hot.title")),
    h("section", { "aria-labelledby": "hotel-settings-h" },
      h("h2", { id: "hotel-settings-h" }, t("hot.settings")), settingsBox),
    h("section", { "aria-labelledby": "hotel-rooms-h" },
      h("h2", { id: "hotel-rooms-h" }, t("hot.rooms")),
      table(["hot.room", "hot.extension", "hot.state", "hot.guest", "hot.dnd", "hot.mw",
        "hot.wakeups", null], roomsBody), roomForm, roomError),
    h("section", { "aria-labelledby": "hotel-codes-h" },
      h("h2", { id: "hotel-codes-h" }, t("hot.codes")),
      table(["hot.dial", "hot.code", "hot.label", "hot.takes_value", null], codesBody),
      codeForm, codeError),
    h("section", { "aria-labelledby": "hotel-outbox-h" },
      h("h2", { id: "hotel-outbox-h" }, t("hot.outbox")),
      h("div", { class: "toolbar" }, field(t("hot.filter"), filter)),
      table(["hot.created", "hot.action", "hot.room", "hot.state", "hot.attempts",
        "hot.last_error", null], outboxBody), outboxError));

  const latestSettings = latest();
  async function loadSettings() {
    let s;
    let prompts = [];
    try {
      [s, prompts] = await latestSettings(Promise.all([app.fonbo.get("/admin/hotel/settings"),
        app.fonbo.get("/admin/ivr_prompts").then((r) => r.items).catch(() => [])]));
    } catch (err) {
      replace(settingsBox, h("p", { class: "error", role: "alert" },
        t("common.error", { msg: err.message })));
      return;
    }
    const text = (name, value, extra = {}) => h("input", { type: "text", value: value ?? "",
      testid: `hotel-${name}`, ...extra });
    const site = text("site", s.site, { maxLength: 64 });
    const user = text("char-user", s.char_user, { maxLength: 64, autocomplete: "off" });
    const password = h("input", { type: "password", minLength: 12, maxLength: 256,
      autocomplete: "new-password", testid: "hotel-char-password" });
    const zone = text("timezone", s.timezone, { maxLength: 64 });
    const numbers = NUMBERS.map(([name, key, min, max]) => [name, key,
      h("input", { type: "number", min, max, value: s[name], testid: `hotel-${name}` })]);
    const caller = text("caller-name", s.wakeup_caller_name, { maxLength: 64 });
    const prompt = h("select", { testid: "hotel-prompt" },
      h("option", { value: "" }, t("hot.default_prompt")),
      prompts.map((p) => h("option", { value: String(p.id),
        selected: p.id === s.wakeup_prompt_id }, p.name)));
    const wakeCode = text("wakeup-code", s.wakeup_code, { maxLength: 8 });
    const cancelCode = text("cancel-code", s.wakeup_cancel_code, { maxLength: 8 });
    const internal = h("input", { type: "checkbox", checked: s.report_internal_calls,
      testid: "hotel-internal" });
    const error = h("p", { class: "error", role: "alert", testid: "hotel-settings-error" });
    replace(settingsBox, h("form", { class: "card", testid: "hotel-settings",
      onsubmit: async (ev) => {
        ev.preventDefault();
        error.textContent = "";
        const body = { timezone: zone.value,
          wakeup_caller_name: caller.value, wakeup_code: wakeCode.value,
          wakeup_cancel_code: cancelCode.value, report_internal_calls: internal.checked,
          wakeup_prompt_id: prompt.value ? Number(prompt.value) : null };
        for (const [name, , input] of numbers) body[name] = Number(input.value);
        if (site.value) body.site = site.value;
        if (user.value) body.char_user = user.value;
        if (password.value) body.char_password = password.value;
        try {
          await app.fonbo.patch("/admin/hotel/settings", body);
          app.toast(t("adm.saved"));
          loadSettings();
        } catch (err) { error.textContent = err.message; }
      } },
    field(t("hot.site") + " *", site), field(t("hot.char_user") + " *", user),
    field(t("hot.char_password"), password,
      s.char_password_set ? t("hot.password_set") : t("hot.password_unset")),
    field(t("hot.timezone"), zone),
    numbers.map(([, key, input]) => field(t(key), input)),
    field(t("hot.caller_name"), caller), field(t("hot.prompt"), prompt),
    field(t("hot.wakeup_code"), wakeCode), field(t("hot.cancel_code"), cancelCode),
    h("label", { class: "check" }, internal, t("hot.internal_calls")), error,
    h("button", { type: "submit", class: "primary", testid: "hotel-settings-save" },
      t("adm.save"))));
  }

  const latestRooms = latest();
  async function loadRooms() {
    try {
      const rooms = (await latestRooms(app.fonbo.get("/admin/hotel/status"))).items;
      if (!rooms.length) {
        roomsBody.replaceChildren(h("tr", {}, h("td", { colSpan: 8 }, t("hot.no_rooms"))));
        return;
      }
      roomsBody.replaceChildren(...rooms.map((r) => h("tr", { testid: "hotel-room-row" },
        h("td", {}, r.room), h("td", {}, r.extension),
        h("td", {}, t(`hot.${r.state}`)), h("td", {}, r.guest_name || "—"),
        h("td", {}, yesNo(r.dnd)), h("td", {}, yesNo(r.message_waiting)),
        h("td", {}, r.wakeups.length ? r.wakeups.map(when).join(", ") : "—"),
        h("td", {}, h("button", { type: "button", class: "danger",
          "aria-label": `${t("adm.delete")} ${t("hot.room")} ${r.room}`,
          onclick: async () => {
            if (!confirm(t("adm.confirm"))) return;
            try {
              await app.fonbo.del(`/admin/hotel_rooms/${r.id}`);
              loadRooms();
            } catch (err) { roomError.textContent = err.message; }
          } }, t("adm.delete"))))));
    } catch (err) { roomError.textContent = t("common.error", { msg: err.message }); }
  }

  const latestCodes = latest();
  async function loadCodes() {
    try {
      const codes = (await latestCodes(app.fonbo.get("/admin/hotel_status_codes",
        { limit: 1000 }))).items;
      if (!codes.length) {
        codesBody.replaceChildren(h("tr", {}, h("td", { colSpan: 5 }, t("hot.no_codes"))));
        return;
      }
      codesBody.replaceChildren(...codes.map((c) => h("tr", { testid: "hotel-code-row" },
        h("td", {}, c.takes_value ? `${c.dial}*…#` : `${c.dial}#`), h("td", {}, c.code),
        h("td", {}, c.label || "—"), h("td", {}, yesNo(c.takes_value)),
        h("td", {}, h("button", { type: "button", class: "danger",
          "aria-label": `${t("adm.delete")} ${c.dial}`, onclick: async () => {
            if (!confirm(t("adm.confirm"))) return;
            try {
              await app.fonbo.del(`/admin/hotel_status_codes/${c.id}`);
              loadCodes();
            } catch (err) { codeError.textContent = err.message; }
          } }, t("adm.delete"))))));
    } catch (err) { codeError.textContent = t("common.error", { msg: err.message }); }
  }

  const latestOutbox = latest();
  async function loadOutbox() {
    try {
      const query = { limit: 50 };
      if (filter.value) query.state = filter.value;
      const items = (await latestOutbox(app.fonbo.get("/admin/hotel/outbox", query))).items;
      if (!items.length) {
        outboxBody.replaceChildren(h("tr", {}, h("td", { colSpan: 7 }, t("hot.no_messages"))));
        return;
      }
      outboxBody.replaceChildren(...items.map((m) => h("tr", { testid: "hotel-outbox-row" },
        h("td", {}, when(m.created_at)), h("td", {}, m.action), h("td", {}, m.address),
        h("td", {}, t(`hot.msg.${m.state}`)), h("td", {}, String(m.attempts)),
        h("td", {}, m.last_error || "—"),
        h("td", {}, m.state === "refused" ? h("button", { type: "button",
          "aria-label": `${t("hot.retry_now")} ${m.action} ${m.address}`,
          onclick: async () => {
            try {
              await app.fonbo.request("POST", `/admin/hotel/outbox/${m.id}/retry`);
              app.toast(t("hot.queued"));
              loadOutbox();
            } catch (err) { outboxError.textContent = err.message; }
          } }, t("hot.retry_now")) : ""))));
    } catch (err) { outboxError.textContent = t("common.error", { msg: err.message }); }
  }

  loadSettings();
  loadRooms();
  loadCodes();
  loadOutbox();
}
