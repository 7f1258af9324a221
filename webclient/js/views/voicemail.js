// Voicemail: list, player (short-lived ticket URL), mark heard, delete, unread badge.

import { h, replace, formatDate, formatDuration, icon, latest } from "../dom.js";
import { t, language } from "../i18n.js";
import { telLink } from "../pwa.js";

export function renderVoicemail(app, root) {
  const list = h("ul", { class: "list voicemail", testid: "voicemail-list" });
  const status = h("p", { class: "muted", testid: "voicemail-status" });

  function row(msg) {
    const player = h("audio", { controls: true, preload: "none", testid: "voicemail-audio",
      hidden: true });
    const heardBtn = h("button", { type: "button", testid: "voicemail-mark",
      hidden: msg.heard, onclick: async () => {
        await app.fonbo.patch(`/voicemail/${msg.id}`, { heard: true });
        msg.heard = true;
        li.classList.remove("unread");
        heardBtn.hidden = true;
        app.refreshBadges();
      } }, t("vm.mark"));
    const li = h("li", { class: `item${msg.heard ? "" : " unread"}`, testid: "voicemail-item",
      dataset: { id: String(msg.id), caller: msg.caller } },
    h("div", { class: "grow" },
      h("strong", {}, msg.caller_name || telLink(msg.caller, (n) => app.dial(n),
        { testid: "voicemail-link" })),
      msg.caller_name ? [" ", telLink(msg.caller, (n) => app.dial(n), { class: "tel muted",
        testid: "voicemail-link" })] : null,
      h("div", { class: "muted small" }, `${formatDate(msg.created_at, language())} · `
        + `${formatDuration(msg.duration_s)} · ${msg.heard ? t("vm.heard") : t("vm.new")}`),
      player),
    h("div", { class: "controls" },
      h("button", { type: "button", class: "primary", testid: "voicemail-play",
        onclick: async () => {
          const ticket = await app.fonbo.post(`/voicemail/${msg.id}/ticket`, {});
          player.src = ticket.url;
          player.hidden = false;
          await player.play().catch(() => {});
          if (!msg.heard) heardBtn.click();
        } }, t("vm.play")),
      heardBtn,
      h("button", { type: "button", class: "danger", testid: "voicemail-delete",
        onclick: async () => {
          if (!confirm(t("adm.confirm"))) return;
          await app.fonbo.del(`/voicemail/${msg.id}`);
          li.remove();
          app.refreshBadges();
        } }, t("vm.delete")),
      h("button", { type: "button", class: "icon-button",
        "aria-label": t("common.call_number", { n: msg.caller_name || msg.caller }), onclick: () => app.dial(msg.caller) }, icon("call"))));
    return li;
  }

  const latestLoad = latest();
  async function load() {
    status.textContent = t("common.loading");
    try {
      const page = await latestLoad(app.fonbo.get("/voicemail", { limit: 100 }));
      list.replaceChildren(...page.items.map(row));
      status.textContent = page.items.length ? "" : t("vm.empty");
    } catch (err) {
      status.textContent = t("common.error", { msg: err.message });
    }
  }

  replace(root, h("h1", {}, t("vm.title")), list, status);
  load();
  const off = app.on("voicemail", load);
  return off;
}
