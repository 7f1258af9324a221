// Forwarding: the four rules (not logged in, no answer, busy, unconditional).

import { h, replace, latest } from "../dom.js";
import { t } from "../i18n.js";

const KINDS = ["not_logged_in", "no_answer", "busy", "unconditional"];

export function renderForwarding(app, root) {
  const box = h("div", { class: "rules" });
  const status = h("p", { class: "muted", role: "status", testid: "forwarding-status" });

  function ruleForm(rule) {
    const enabled = h("input", { type: "checkbox", checked: !!rule.enabled,
      testid: `fwd-${rule.kind}-enabled` });
    const voicemail = h("input", { type: "checkbox", checked: rule.target_type === "voicemail",
      testid: `fwd-${rule.kind}-voicemail` });
    const number = h("input", { inputMode: "tel", value: rule.target_number || "",
      testid: `fwd-${rule.kind}-number`, "aria-label": t("fwd.number"),
      placeholder: t("fwd.number") });
    const timeout = h("input", { type: "number", min: 1, max: 600, value: rule.timeout_s || 20,
      testid: `fwd-${rule.kind}-timeout`, "aria-label": t("fwd.timeout") });
    const sync = () => { number.disabled = voicemail.checked; };
    voicemail.addEventListener("change", sync);
    sync();
    const fieldset = h("fieldset", { class: "card rule", testid: `fwd-${rule.kind}` },
      h("legend", {}, t(`fwd.${rule.kind}`)),
      h("label", { class: "check" }, enabled, " ", t("fwd.enabled")),
      h("label", { class: "check" }, voicemail, " ", t("fwd.to_voicemail")),
      h("label", {}, t("fwd.number"), number),
      rule.kind === "no_answer" ? h("label", {}, t("fwd.timeout"), timeout) : null);
    fieldset.collect = () => ({
      enabled: enabled.checked,
      target_type: voicemail.checked ? "voicemail" : "number",
      target_number: voicemail.checked ? "" : number.value.trim(),
      timeout_s: Number(timeout.value) || 20,
    });
    fieldset.kind = rule.kind;
    return fieldset;
  }

  const latestLoad = latest();
  async function load() {
    try {
      const data = await latestLoad(app.fonbo.get("/forwarding"));
      const byKind = Object.fromEntries(data.rules.map((r) => [r.kind, r]));
      const forms = KINDS.map((k) => ruleForm(byKind[k] || { kind: k }));
      const save = h("button", { type: "submit", class: "primary", testid: "fwd-save" },
        t("fwd.save"));
      replace(box, h("form", { onsubmit: async (ev) => {
        ev.preventDefault();
        status.textContent = "";
        try {
          for (const f of forms) await app.fonbo.put(`/forwarding/${f.kind}`, f.collect());
          status.textContent = t("fwd.saved");
        } catch (err) {
          status.textContent = t("common.error", { msg: err.message });
        }
      } }, forms, save));
    } catch (err) {
      status.textContent = t("common.error", { msg: err.message });
    }
  }

  replace(root, h("h1", {}, t("fwd.title")), box, status);
  load();
}
