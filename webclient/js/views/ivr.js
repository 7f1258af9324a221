// Admin: IVR prompts (WAV uploads, checked by FONBO, played back here) and IVR menus with
// what each key does. FONBO's messages say why a file or an option is refused.

import { h, replace, field, latest } from "../dom.js";
import { t } from "../i18n.js";

const ACTIONS = ["extension", "queue", "voicemail", "menu", "hangup"];
const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "*", "#"];

function button(label, which, onclick, extra = {}) {
  return h("button", { type: "button", "aria-label": `${label} ${which}`, onclick, ...extra },
    label);
}

function actionSelect(current, testid, label) {
  return h("select", { testid, "aria-label": label }, ACTIONS.map((a) => h("option",
    { value: a, selected: a === (current || "hangup") }, t(`act.${a}`))));
}

export function renderIvr(app, root) {
  const promptsBody = h("tbody");
  const promptError = h("p", { class: "error", role: "alert", testid: "prompt-error" });
  const menusBody = h("tbody");
  const menuError = h("p", { class: "error", role: "alert", testid: "menu-error" });
  const formBox = h("div");
  const optionsBox = h("div");
  const player = h("audio", { controls: true, hidden: true, testid: "prompt-player" });
  let prompts = [];

  const name = h("input", { type: "text", required: true, maxLength: 128,
    testid: "prompt-name" });
  const file = h("input", { type: "file", accept: ".wav,audio/wav,audio/x-wav", required: true,
    testid: "prompt-file" });
  const upload = h("form", { class: "card", testid: "prompt-upload", onsubmit: async (ev) => {
    ev.preventDefault();
    promptError.textContent = "";
    const chosen = file.files[0];
    if (!chosen) return;
    try {
      await app.fonbo.request("POST", "/admin/ivr_prompts", { query: { name: name.value },
        body: chosen, headers: { "Content-Type": "audio/wav" } });
      app.toast(t("ivr.uploaded"));
      name.value = "";
      file.value = "";
      loadPrompts();
    } catch (err) { promptError.textContent = err.message; }
  } }, h("h3", {}, t("ivr.upload")), field(t("ivr.prompt_name") + " *", name),
  field(t("ivr.file") + " *", file),
  h("button", { type: "submit", class: "primary", testid: "prompt-submit" }, t("ivr.upload")),
  promptError);

  replace(root, h("h1", {}, t("ivr.title")),
    h("section", { "aria-labelledby": "prompts-h" }, h("h2", { id: "prompts-h" },
      t("ivr.prompts")),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["ivr.prompt_name", "ivr.duration", "ivr.format"].map(
        (k) => h("th", { scope: "col" }, t(k))), h("th", { scope: "col" },
        h("span", { class: "visually-hidden" }, t("adm.actions"))))), promptsBody)),
    player, upload),
    h("section", { "aria-labelledby": "menus-h" }, h("h2", { id: "menus-h" }, t("ivr.menus")),
      h("div", { class: "toolbar" }, h("button", { type: "button", testid: "menu-new",
        onclick: () => showMenu(null) }, t("adm.new"))),
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, ["ivr.number", "ivr.name", "ivr.greeting", "ivr.fallback"]
          .map((k) => h("th", { scope: "col" }, t(k))), h("th", { scope: "col" },
          h("span", { class: "visually-hidden" }, t("adm.actions"))))), menusBody)),
      menuError, formBox, optionsBox));

  const promptName = (id) => prompts.find((p) => p.id === id)?.name || t("ivr.default_prompt");

  const latestPrompts = latest();
  async function loadPrompts() {
    try {
      prompts = (await latestPrompts(app.fonbo.get("/admin/ivr_prompts"))).items;
      promptsBody.replaceChildren(...prompts.map((p) => h("tr", { testid: "prompt-row" },
        h("td", {}, p.name), h("td", { testid: "prompt-duration" },
          `${p.duration_s.toFixed(1)} s`), h("td", {}, p.original_format),
        h("td", {}, h("div", { class: "controls" },
          button(t("ivr.play"), p.name, async () => {
            const resp = await app.fonbo.request("GET", `/admin/ivr_prompts/${p.id}/audio`,
              { raw: true });
            if (player.src) URL.revokeObjectURL(player.src);
            player.src = URL.createObjectURL(await resp.blob());
            player.hidden = false;
            player.play().catch(() => {});
          }),
          button(t("adm.delete"), p.name, async () => {
            if (!confirm(t("adm.confirm"))) return;
            try {
              await app.fonbo.del(`/admin/ivr_prompts/${p.id}`);
              loadPrompts();
            } catch (err) { promptError.textContent = err.message; }
          }, { class: "danger" }))))));
    } catch (err) { promptError.textContent = t("common.error", { msg: err.message }); }
  }

  const latestMenus = latest();
  async function loadMenus() {
    try {
      const menus = (await latestMenus(app.fonbo.get("/admin/ivr_menus", { limit: 1000 }))).items;
      menusBody.replaceChildren(...menus.map((m) => h("tr", { testid: "menu-row" },
        h("td", {}, m.number), h("td", {}, m.name),
        h("td", {}, m.greeting_prompt_id ? promptName(m.greeting_prompt_id)
          : t("ivr.default_prompt")),
        h("td", {}, `${t(`act.${m.fallback_action}`)} ${m.fallback_target || ""}`.trim()),
        h("td", {}, h("div", { class: "controls" },
          button(t("adm.edit"), m.name, () => showMenu(m)),
          button(t("ivr.options"), m.name, () => showOptions(m), { testid: "menu-options" }),
          button(t("adm.delete"), m.name, async () => {
            if (!confirm(t("adm.confirm"))) return;
            try {
              await app.fonbo.del(`/admin/ivr_menus/${m.id}`);
              replace(optionsBox);
              loadMenus();
            } catch (err) { menuError.textContent = err.message; }
          }, { class: "danger" }))))));
    } catch (err) { menuError.textContent = t("common.error", { msg: err.message }); }
  }

  function promptSelect(current, testid) {
    return h("select", { testid }, h("option", { value: "" }, t("ivr.default_prompt")),
      prompts.map((p) => h("option", { value: String(p.id), selected: p.id === current },
        p.name)));
  }

  function showMenu(menu) {
    const number = h("input", { type: "text", inputMode: "numeric", required: true,
      value: menu?.number || "", testid: "menu-number" });
    const mname = h("input", { type: "text", required: true, value: menu?.name || "",
      testid: "menu-name" });
    const greeting = promptSelect(menu?.greeting_prompt_id, "menu-greeting");
    const invalid = promptSelect(menu?.invalid_prompt_id, "menu-invalid");
    const timeout = h("input", { type: "number", min: 1, max: 60, value: menu?.timeout_s ?? 5,
      testid: "menu-timeout" });
    const tries = h("input", { type: "number", min: 1, max: 10, value: menu?.max_tries ?? 3,
      testid: "menu-tries" });
    const fallback = actionSelect(menu?.fallback_action, "menu-fallback", t("ivr.fallback"));
    const target = h("input", { type: "text", inputMode: "numeric",
      value: menu?.fallback_target || "", testid: "menu-fallback-target" });
    const error = h("p", { class: "error", role: "alert", testid: "menu-form-error" });
    replace(formBox, h("form", { class: "card", testid: "menu-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { number: number.value, name: mname.value,
        greeting_prompt_id: greeting.value ? Number(greeting.value) : null,
        invalid_prompt_id: invalid.value ? Number(invalid.value) : null,
        timeout_s: Number(timeout.value), max_tries: Number(tries.value),
        fallback_action: fallback.value, fallback_target: target.value };
      try {
        if (menu) await app.fonbo.patch(`/admin/ivr_menus/${menu.id}`, body);
        else await app.fonbo.post("/admin/ivr_menus", body);
        app.toast(t("adm.saved"));
        replace(formBox);
        loadMenus();
      } catch (err) { error.textContent = err.message; }
    } }, h("h3", {}, menu ? `${t("ivr.menu")} ${menu.number}` : t("adm.new")),
    field(t("ivr.number") + " *", number), field(t("ivr.name") + " *", mname),
    field(t("ivr.greeting"), greeting), field(t("ivr.invalid"), invalid),
    field(t("ivr.timeout"), timeout), field(t("ivr.tries"), tries),
    field(t("ivr.fallback"), fallback), field(t("ivr.fallback_target"), target), error,
    h("div", { class: "controls" },
      h("button", { type: "submit", class: "primary", testid: "menu-save" }, t("adm.save")),
      h("button", { type: "button", class: "link", onclick: () => replace(formBox) },
        t("phone.cancel")))));
    number.focus();
  }

  async function showOptions(menu) {
    const body = h("tbody");
    const error = h("p", { class: "error", role: "alert", testid: "option-error" });
    const digit = h("select", { testid: "option-digit" }, DIGITS.map((d) => h("option",
      { value: d }, d)));
    const action = actionSelect("queue", "option-action", t("ivr.action"));
    const target = h("input", { type: "text", inputMode: "numeric", testid: "option-target" });
    const stats = h("input", { type: "checkbox", testid: "option-stats" });
    const vvName = h("input", { type: "text", maxLength: 64, testid: "option-vv-name" });
    const vvKey = h("input", { type: "text", maxLength: 64, testid: "option-vv-key" });
    const path = `/admin/ivr_menus/${menu.id}/options`;
    const render = (items) => body.replaceChildren(...items.map((o) => h("tr",
      { testid: "option-row" }, h("td", {}, o.digit), h("td", {}, t(`act.${o.action}`)),
      h("td", {}, o.target || "—"), h("td", {}, o.stats_enabled ? "✓" : "—"),
      h("td", {}, o.vv_name ? `${o.vv_name} · ${o.vv_key || o.digit}` : "—"),
      h("td", {}, button(t("adm.delete"), `${t("ivr.digit")} ${o.digit}`, async () => {
        try {
          await app.fonbo.del(`${path}/${encodeURIComponent(o.digit)}`);
          render((await app.fonbo.get(path)).items);
        } catch (err) { error.textContent = err.message; }
      }, { class: "danger" })))));
    replace(optionsBox, h("section", { class: "card", testid: "menu-options-panel",
      "aria-labelledby": "options-h" },
    h("h3", { id: "options-h" }, `${t("ivr.options")} · ${menu.number} ${menu.name}`),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["ivr.digit", "ivr.action", "ivr.target", "ivr.stats",
        "ivr.vv_name"].map((k) => h("th", { scope: "col" }, t(k))), h("th", { scope: "col" },
        h("span", { class: "visually-hidden" }, t("adm.actions"))))), body)),
    h("form", { class: "inline", onsubmit: async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      try {
        const data = await app.fonbo.put(`${path}/${encodeURIComponent(digit.value)}`, {
          action: action.value, target: target.value, stats_enabled: stats.checked,
          vv_name: vvName.value, vv_key: vvKey.value });
        render(data.items);
      } catch (err) { error.textContent = err.message; }
    } }, field(t("ivr.digit"), digit), field(t("ivr.action"), action),
    field(t("ivr.target"), target),
    h("label", { class: "check" }, stats, t("ivr.stats")),
    field(t("ivr.vv_name"), vvName), field(t("ivr.vv_key"), vvKey),
    h("button", { type: "submit", testid: "option-save" }, t("ivr.add_option"))), error));
    try { render((await app.fonbo.get(path)).items); } catch (err) {
      error.textContent = err.message;
    }
  }

  loadPrompts().then(loadMenus);
  return () => { if (player.src) URL.revokeObjectURL(player.src); };
}
