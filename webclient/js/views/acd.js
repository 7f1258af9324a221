// Live queues: the agent panel (my queues, my state, log in/out, pause with a reason) and the
// supervisor view (waiting calls with «Mover Cola», agents and their states). Both follow
// FONBO's "acd.queue" events and refresh every few seconds for the waiting times.

import { h, replace, field, formatDuration, latest } from "../dom.js";
import { t } from "../i18n.js";

const REFRESH_MS = 5000;

export function kindLabel(kind) { return t(`kind.${kind}`); }

export function statePill(state, reason) {
  const text = t(`state.${state}`) + (state === "paused" && reason ? ` (${reason})` : "");
  return h("span", { class: `state state-${state}`, testid: "acd-state" }, text);
}

// A page that reloads on the group events and on a timer; returns its cleanup.
// Background refreshes leave a row alone while the user is busy in it; loads after an
// action of theirs (force) do not.
function live(app, load) {
  let pending = null;
  const again = () => {
    clearTimeout(pending);
    pending = setTimeout(() => load(false), 250);
  };
  const off = app.on("acd", again);
  const timer = setInterval(() => load(false), REFRESH_MS);
  app.realtime?.send?.("acd.watch", {});
  load(true);
  return () => { off(); clearInterval(timer); clearTimeout(pending); };
}

function reasonInput(app, reasons, label) {
  if (reasons.length) {
    return h("select", { "aria-label": label, testid: "acd-reason" },
      reasons.map((r) => h("option", { value: r }, r)));
  }
  return h("input", { type: "text", maxLength: 64, "aria-label": label, testid: "acd-reason",
    placeholder: t("acd.reason"), value: "" });
}

async function act(app, status, path, body) {
  status.textContent = "";
  try {
    await app.fonbo.post(path, body);
    await app.loadAcd?.();
    return true;
  } catch (err) {
    status.textContent = err.message;
    return false;
  }
}

// --- the agent panel --------------------------------------------------------------------------
export function renderAgent(app, root) {
  const tbody = h("tbody");
  const status = h("p", { class: "error", role: "alert", testid: "acd-error" });
  const note = h("p", { class: "muted small" });
  const table = h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "visually-hidden" }, t("acd.title")),
    h("thead", {}, h("tr", {}, ["acd.queue", "acd.kind", "acd.extension", "acd.state",
      "acd.waiting", "acd.longest"].map((k) => h("th", { scope: "col" }, t(k))),
    h("th", { scope: "col" }, t("acd.actions")))), tbody));
  const empty = h("p", { class: "muted", testid: "acd-empty", hidden: true }, t("acd.none"));
  replace(root, h("h1", {}, t("acd.title")), status, empty, table, note);
  const me = app.auth.user?.id;

  const latestLoad = latest();
  async function load(force = true) {
    if (!force && document.activeElement?.closest?.("[data-testid='acd-row']")) return;
    let data;
    try {
      data = await latestLoad(app.fonbo.get("/acd/me"));
    } catch (err) {
      status.textContent = t("common.error", { msg: err.message });
      return;
    }
    empty.hidden = data.agent.length > 0;
    table.hidden = data.agent.length === 0;
    note.textContent = data.agent.some((q) => !q.live) ? t("acd.no_live") : "";
    tbody.replaceChildren(...data.agent.map((q) => {
      const name = `${q.number} ${q.name}`;
      const base = `/acd/queues/${q.queue_id}/agents/${me}`;
      const controls = h("div", { class: "controls" });
      if (q.logs_in) {
        controls.append(q.logged_in
          ? h("button", { type: "button", testid: "acd-logout",
            "aria-label": `${t("acd.logout")} ${name}`,
            onclick: async () => { if (await act(app, status, `${base}/logout`)) load(); } },
          t("acd.logout"))
          : h("button", { type: "button", class: "primary", testid: "acd-login",
            "aria-label": `${t("acd.login")} ${name}`,
            onclick: async () => { if (await act(app, status, `${base}/login`)) load(); } },
          t("acd.login")));
      }
      if (q.paused) {
        controls.append(h("button", { type: "button", class: "primary", testid: "acd-unpause",
          "aria-label": `${t("acd.unpause")} ${name}`,
          onclick: async () => { if (await act(app, status, `${base}/unpause`)) load(); } },
        t("acd.unpause")));
      } else if (q.logged_in) {
        const reason = reasonInput(app, data.pause_reasons,
          t("acd.reason_for", { q: name }));
        controls.append(reason, h("button", { type: "button", testid: "acd-pause",
          "aria-label": `${t("acd.pause")} ${name}`, onclick: async () => {
            const value = reason.value.trim();
            if (!value) { reason.focus(); status.textContent = t("acd.reason"); return; }
            if (await act(app, status, `${base}/pause`, { reason: value })) load();
          } }, t("acd.pause")));
      }
      if (data.supervisor.some((s) => s.queue_id === q.queue_id)) {
        controls.append(h("a", { href: `#/supervision?queue=${q.queue_id}` },
          t("acd.supervise")));
      }
      return h("tr", { testid: "acd-row", dataset: { queue: String(q.number) } },
        h("td", {}, name), h("td", {}, kindLabel(q.kind) +
          (q.logs_in ? "" : ` · ${t("acd.always")}`)),
        h("td", {}, q.extension), h("td", {}, statePill(q.state, q.pause_reason)),
        h("td", { testid: "acd-waiting" }, String(q.waiting)),
        h("td", {}, formatDuration(q.longest_wait_s)), h("td", {}, controls));
    }));
  }

  return live(app, load);
}

// --- the supervisor view ----------------------------------------------------------------------
export function renderSupervision(app, root) {
  const status = h("p", { class: "error", role: "alert", testid: "sup-error" });
  const select = h("select", { testid: "sup-queue" });
  const callsBody = h("tbody");
  const agentsBody = h("tbody");
  const noCalls = h("p", { class: "muted", testid: "sup-no-calls" }, t("sup.no_calls"));
  const callsTable = h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "visually-hidden" }, t("sup.calls")),
    h("thead", {}, h("tr", {}, ["sup.position", "sup.caller", "sup.waited"].map(
      (k) => h("th", { scope: "col" }, t(k))), h("th", { scope: "col" }, t("sup.move")))),
    callsBody));
  const agentsTable = h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "visually-hidden" }, t("sup.agents")),
    h("thead", {}, h("tr", {}, ["acd.extension", "sup.agent", "acd.state", "sup.since"].map(
      (k) => h("th", { scope: "col" }, t(k === "acd.extension" ? "grp.number" : k))),
    h("th", { scope: "col" }, t("acd.actions")))), agentsBody));
  const wanted = Number(new URLSearchParams(location.hash.split("?")[1] || "").get("queue"));
  let queues = [];
  let reasons = [];
  replace(root, h("h1", {}, t("sup.title")), status,
    h("div", { class: "toolbar" }, field(t("sup.queue"), select)),
    h("h2", {}, t("sup.calls")), noCalls, callsTable,
    h("h2", {}, t("sup.agents")), agentsTable);

  async function loadQueues() {
    const me = await app.fonbo.get("/acd/me");
    queues = me.supervisor;
    reasons = me.pause_reasons;
    const current = Number(select.value) || wanted || queues[0]?.queue_id;
    select.replaceChildren(...queues.map((q) => h("option", { value: String(q.queue_id),
      selected: q.queue_id === current }, `${q.number} ${q.name} · ${kindLabel(q.kind)}`)));
    if (!queues.length) status.textContent = t("sup.none");
  }

  const latestLoad = latest();
  async function load(force = true) {
    if (!select.value) {
      try { await loadQueues(); } catch (err) {
        status.textContent = t("common.error", { msg: err.message });
        return;
      }
      if (!select.value) return;
    }
    if (!force && root.contains(document.activeElement)
        && document.activeElement.closest("tbody")) {
      return;  // the supervisor is choosing something in a row
    }
    let data;
    try {
      data = await latestLoad(app.fonbo.get(`/acd/queues/${select.value}/status`));
    } catch (err) {
      status.textContent = t("common.error", { msg: err.message });
      return;
    }
    status.textContent = data.live ? "" : t("acd.no_live");
    noCalls.hidden = data.calls.length > 0;
    callsTable.hidden = data.calls.length === 0;
    const others = queues.filter((q) => q.queue_id !== data.queue.queue_id);
    callsBody.replaceChildren(...data.calls.map((c) => {
      const who = c.caller_name ? `${c.caller} (${c.caller_name})` : c.caller;
      const target = h("select", { testid: "sup-move-target",
        "aria-label": t("sup.move_to_for", { c: who }) },
      others.map((q) => h("option", { value: String(q.queue_id) }, `${q.number} ${q.name}`)));
      return h("tr", { testid: "sup-call" }, h("td", {}, String(c.position)),
        h("td", { testid: "sup-caller" }, who), h("td", {}, formatDuration(c.waited_s)),
        h("td", {}, h("div", { class: "controls" }, target,
          h("button", { type: "button", testid: "sup-move", disabled: !others.length,
            "aria-label": `${t("sup.move")} ${who}`, onclick: async () => {
              if (await act(app, status, `/acd/queues/${data.queue.queue_id}/move`,
                { call_id: c.call_id, to_queue_id: Number(target.value) })) {
                app.toast(t("sup.moved"));
                target.blur();
                load();
              }
            } }, t("sup.move")))));
    }));
    agentsBody.replaceChildren(...(data.agents.length ? data.agents.map((a) => {
      const base = `/acd/queues/${data.queue.queue_id}/agents/${a.user_id}`;
      const who = `${a.extension} ${a.name || ""}`.trim();
      const controls = h("div", { class: "controls" });
      if (a.user_id !== null && a.user_id !== undefined) {
        if (data.queue.kind === "acd") {
          const out = a.state === "logged_out";
          controls.append(h("button", { type: "button", testid: out ? "sup-login" : "sup-logout",
            "aria-label": `${t(out ? "acd.login" : "acd.logout")} ${who}`, onclick: async () => {
              if (await act(app, status, `${base}/${out ? "login" : "logout"}`)) load();
            } }, t(out ? "acd.login" : "acd.logout")));
        }
        if (a.state === "paused") {
          controls.append(h("button", { type: "button", testid: "sup-unpause",
            "aria-label": `${t("acd.unpause")} ${who}`, onclick: async () => {
              if (await act(app, status, `${base}/unpause`)) load();
            } }, t("acd.unpause")));
        } else if (a.state !== "logged_out") {
          const reason = reasonInput(app, reasons, t("acd.reason_for", { q: who }));
          controls.append(reason, h("button", { type: "button", testid: "sup-pause",
            "aria-label": `${t("acd.pause")} ${who}`, onclick: async () => {
              const value = reason.value.trim();
              if (!value) { reason.focus(); return; }
              if (await act(app, status, `${base}/pause`, { reason: value })) load();
            } }, t("acd.pause")));
        }
      }
      return h("tr", { testid: "sup-agent" }, h("td", {}, a.extension),
        h("td", {}, a.name || "—"), h("td", {}, statePill(a.state, a.pause_reason)),
        h("td", {}, a.since ? new Date(a.since * 1000).toLocaleTimeString() : "—"),
        h("td", {}, controls));
    }) : [h("tr", {}, h("td", { colSpan: 5, class: "muted" }, t("sup.no_agents")))]));
  }

  select.addEventListener("change", () => load());
  return live(app, load);
}
