// Admin page: the gateway nodes from the store (their leases), refreshed every few seconds:
// health, sessions, registered phones, calls and media workers of each.

import { h, replace, latest } from "../dom.js";
import { t } from "../i18n.js";

const REFRESH_MS = 5000;

export function renderNodes(app, root) {
  const tbody = h("tbody");
  const status = h("p", { class: "error", role: "alert", testid: "nodes-error" });
  let timer = null;

  const latestLoad = latest();
  async function load() {
    if (!root.isConnected || !tbody.isConnected) { clearInterval(timer); return; }
    try {
      const data = await latestLoad(app.fonbo.get("/admin/nodes"));
      status.textContent = "";
      tbody.replaceChildren(...(data.items || []).map((n) => h("tr", {
        testid: "node-row", dataset: { node: String(n.node_id), health: n.health } },
      h("td", {}, String(n.node_id)),
      h("td", {}, n.name),
      h("td", {}, h("span", { class: `health ${n.health}`, testid: "node-health" },
        t(`nodes.health.${n.health}`))),
      h("td", {}, `${n.heartbeat_age_s.toFixed(1)} s`),
      h("td", { testid: "node-sessions" }, String(n.sessions)),
      h("td", {}, String(n.registered)),
      h("td", { testid: "node-calls" }, String(n.calls)),
      h("td", {}, `${n.media_workers_alive}/${n.media_workers}`),
      h("td", { class: "muted small" }, `${n.host} · ${n.api_url}`))));
    } catch (err) {
      status.textContent = t("common.error", { msg: err.message });
    }
  }

  const cols = ["nodes.id", "nodes.name", "nodes.health", "nodes.heartbeat", "nodes.sessions",
    "nodes.registered", "nodes.calls", "nodes.workers", "nodes.where"];
  replace(root, h("h1", {}, t("nav.nodes")),
    h("p", { class: "muted" }, t("nodes.about")),
    h("div", { class: "table-wrap" }, h("table", { testid: "nodes-table" },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, t(c))))), tbody)),
    status);
  load();
  timer = setInterval(load, REFRESH_MS);
}
