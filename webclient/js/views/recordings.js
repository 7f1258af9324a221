// Recordings («Grabar por enrutamiento»): mine, played with a short-lived ticket (stereo: the
// caller on the left, the other party on the right), deleted; admins see everyone's.

import { h, replace, formatDate, formatDuration, latest } from "../dom.js";
import { t, language } from "../i18n.js";

export function renderRecordings(app, root, { admin = false } = {}) {
  const list = h("ul", { class: "list", testid: "recording-list" });
  const status = h("p", { class: "muted", role: "status", testid: "recording-status" });
  const error = h("p", { class: "error", role: "alert", testid: "recording-error" });

  function row(rec) {
    const label = `${rec.caller} → ${rec.callee}`;
    const player = h("audio", { controls: true, preload: "none", testid: "recording-audio",
      hidden: true, "aria-label": t("rec.audio", { call: label }) });
    const li = h("li", { class: "item wrap", testid: "recording-item",
      dataset: { id: String(rec.id), callId: rec.call_id, state: rec.state } },
    h("div", { class: "grow" },
      h("strong", {}, label),
      h("div", { class: "muted small" }, [formatDate(rec.started_at, language()),
        formatDuration(rec.duration_s), t(`rec.reason.${rec.reason}`),
        rec.state === "done" ? null : t(`rec.state.${rec.state}`),
        admin && rec.owner_user_id ? t("rec.owner", { id: rec.owner_user_id }) : null]
        .filter(Boolean).join(" · ")),
      player),
    h("div", { class: "controls" },
      h("button", { type: "button", class: "primary", testid: "recording-play",
        disabled: rec.state !== "done", onclick: async () => {
          try {
            const ticket = await app.fonbo.post(`/recordings/${rec.id}/ticket`, {});
            player.src = ticket.url;
            player.hidden = false;
            await player.play().catch(() => {});
          } catch (err) { error.textContent = err.message; }
        } }, t("vm.play")),
      h("button", { type: "button", class: "danger", testid: "recording-delete",
        disabled: rec.state === "recording", onclick: async () => {
          if (!confirm(t("adm.confirm"))) return;
          try {
            await app.fonbo.del(`/recordings/${rec.id}`);
            li.remove();
          } catch (err) { error.textContent = err.message; }
        } }, t("vm.delete"))));
    return li;
  }

  const latestLoad = latest();
  async function load() {
    status.textContent = t("common.loading");
    try {
      const data = await latestLoad(app.fonbo.get(admin ? "/admin/recordings" : "/recordings",
        { limit: 100 }));
      list.replaceChildren(...data.items.map(row));
      status.textContent = data.items.length ? "" : t("rec.empty");
    } catch (err) {
      status.textContent = "";
      error.textContent = t("common.error", { msg: err.message });
    }
  }

  replace(root, h("h1", {}, t(admin ? "rec.all" : "rec.title")), h("p", {}, t("rec.help")),
    error, status, list);
  load();
}
