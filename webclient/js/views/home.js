// The phone's main page: recent calls (one row per peer) and favourite contacts, one click
// to call back.

import { h, replace, formatDate, icon, latest } from "../dom.js";
import { t, language } from "../i18n.js";
import { telLink } from "../pwa.js";

export function renderHome(app, root) {
  const recents = h("ul", { class: "list", testid: "recents-list" });
  const favourites = h("ul", { class: "list", testid: "favourites-list" });
  const status = h("p", { class: "muted" });

  const row = (name, number, detail, testid, missed) => h("li", {
    class: `item${missed ? " missed" : ""}`, testid, dataset: { number } },
  h("div", { class: "grow" }, h("strong", {}, name || telLink(number, (n) => app.dial(n))),
    name ? [" ", telLink(number, (n) => app.dial(n), { class: "tel muted" })] : null,
    detail ? h("div", { class: "muted small" }, detail) : null),
  h("button", { type: "button", class: "icon-button", "aria-label": t("common.call_number", { n: name || number }),
    onclick: () => app.dial(number) }, icon("call")));

  const latestLoad = latest();
  async function load() {
    try {
      const [rec, fav] = await latestLoad(Promise.all([
        app.fonbo.get("/history/recents", { limit: 12 }), app.fonbo.get("/favourites")]));
      recents.replaceChildren(...rec.items.map((r) => row(
        r.peer_name || r.last?.peer_contact_name, r.peer_number,
        `${formatDate(r.last?.started_at, language())} · ${t(`disp.${r.last?.disposition}`)}`
          + (r.missed ? ` · ${r.missed} ${t("history.missed").toLowerCase()}` : ""),
        "recent-item", r.missed > 0)));
      favourites.replaceChildren(...fav.items.map((c) => row(c.name, c.number, c.company,
        "favourite-item", false)));
      status.textContent = "";
    } catch (err) {
      status.textContent = t("common.error", { msg: err.message });
    }
  }

  replace(root, h("div", { class: "home" },
    h("section", { class: "card" }, h("h2", {}, t("home.recents")), recents),
    h("section", { class: "card" }, h("h2", {}, t("agenda.favourites")), favourites)), status);
  load();
  return app.on("history", load);
}
