// The phone panel: status, number entry with dial pad, lines with their controls, smart
// buttons. It stays on screen while the portal pages change.

import { h, replace, formatDuration } from "../dom.js";
import { t } from "../i18n.js";
import { keyBeep } from "../audio.js";

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

export class PhonePanel {
  constructor(app) {
    this.app = app;
    this.root = h("section", { class: "phone", testid: "phone", "aria-label": t("nav.phone") });
    this.status = h("div", { class: "phone-status", testid: "phone-status", role: "status" });
    this.number = h("input", { class: "dial", testid: "dial-input", inputMode: "tel",
      autocomplete: "off", "aria-label": t("phone.number"), placeholder: t("phone.number"),
      onkeydown: (ev) => { if (ev.key === "Enter") { ev.preventDefault(); this.callTyped(); } } });
    this.linesBox = h("div", { class: "lines", testid: "lines", "aria-live": "polite" });
    this.smartBox = h("div", { class: "smart", testid: "smart-buttons" });
    this.transferBox = h("div", { class: "transfer" });
    this.transferLine = null;
    this.build();
    app.phone?.onChange((what) => (what === "tick" ? this.tick() : this.update()));
    document.addEventListener("keydown", (ev) => this.onKey(ev));
  }

  build() {
    const pad = h("div", { class: "keypad", role: "group", "aria-label": t("phone.keypad") },
      KEYS.map((k) => h("button", { type: "button", class: "key", testid: `key-${k}`,
        onclick: () => this.press(k) }, k)));
    const callBtn = h("button", { type: "button", class: "call primary", testid: "call-button",
      onclick: () => this.callTyped() }, t("phone.call"));
    const erase = h("button", { type: "button", class: "erase", testid: "erase-button",
      "aria-label": t("phone.erase"), onclick: () => {
        this.number.value = this.number.value.slice(0, -1);
        this.number.focus();
      } }, "⌫");
    replace(this.root, this.status, h("div", { class: "dial-row" }, this.number, erase),
      pad, callBtn, this.smartBox, this.transferBox, this.linesBox);
    this.update();
  }

  active() { return this.app.phone?.activeLine() || null; }

  press(key) {
    keyBeep(key);
    const line = this.active();
    if (line) this.app.phone.dtmf(line.index, key);
    else { this.number.value += key; }
  }

  onKey(ev) {
    const tag = (ev.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || ev.ctrlKey || ev.metaKey || ev.altKey) {
      return;
    }
    if (!this.app.phone) return;
    if (/^[0-9*#]$/.test(ev.key)) { this.press(ev.key); ev.preventDefault(); }
    else if (ev.key === "Backspace" && !this.active()) {
      this.number.value = this.number.value.slice(0, -1);
    } else if (ev.key === "Enter" && tag !== "button" && tag !== "a") {
      const incoming = this.app.phone.lines.find((l) => l.state === "incoming");
      if (incoming) this.app.phone.answer(incoming.index);
      else this.callTyped();
    } else if (ev.key === "Escape") {
      const line = this.app.phone.lines.find((l) => l.state === "incoming")
        || this.active();
      if (line) this.app.phone.hangup(line.index);
    }
  }

  async callTyped() {
    const number = this.number.value.trim();
    if (!number || !this.app.phone) return;
    await this.dial(number);
    this.number.value = "";
  }

  async dial(number) {
    if (!this.app.phone) return;
    try {
      await this.app.phone.call(number);
    } catch (err) {
      this.app.toast(err.message === "nolines" ? t("phone.nolines") : String(err), "error");
    }
  }

  setSmartButtons(buttons) {
    replace(this.smartBox, buttons.length ? h("h2", { class: "small" }, t("phone.smart")) : null,
      buttons.map((b) => h("button", { type: "button", class: "smart-button",
        testid: `smart-${b.code}`, title: b.code, onclick: () => this.dial(b.code) },
      b.label || b.code)));
  }

  update() {
    const phone = this.app.phone;
    if (!phone) {
      replace(this.status, t("status.idle"));
      return;
    }
    const reg = phone.registration;
    const conn = t(`status.${phone.connection}`);
    let regText = t(`reg.${reg.state}`, { ext: reg.extension, reason: reg.reason });
    if (phone.connection !== "connected") regText = "";
    replace(this.status,
      h("span", { class: `dot ${phone.connection}`, "aria-hidden": "true" }),
      h("span", { testid: "connection-state", dataset: { state: phone.connection } }, conn),
      " · ",
      h("span", { testid: "registration-state", dataset: { state: reg.state,
        extension: reg.extension || "" } }, regText),
      this.renderNotice(phone));
    const visible = phone.lines.filter((l) => l.busy || l.state === "ended");
    replace(this.linesBox, visible.map((l) => this.renderLine(l)));
    this.renderTransfer();
  }

  renderNotice(phone) {
    const n = phone.notice;
    if (!n) return null;
    const key = { "node-lost": "conn.node_lost", "node-drained": "conn.node_drained" }[n.kind]
      || "conn.session_lost";
    let text = t(key, { from: n.from, to: n.to });
    if (n.calls) text += " " + t("conn.calls_cut", { n: n.calls });
    return h("p", { class: "notice", role: "alert", testid: "connection-notice",
      dataset: { kind: n.kind, calls: String(n.calls) } }, text, " ",
    h("button", { type: "button", class: "link", testid: "connection-notice-close",
      onclick: () => { phone.notice = null; this.update(); } }, t("conn.dismiss")));
  }

  tick() {
    // Once a second only the call timers change: their text is updated in place, so the
    // buttons are not rebuilt under the pointer (a click whose press and release fall on
    // either side of a rebuild is lost).
    const phone = this.app.phone;
    if (!phone) return;
    for (const line of phone.lines) {
      const started = line.answeredAt || line.startedAt;
      if (line.state !== "active" || !started) continue;
      const span = this.linesBox.querySelector(`[data-testid="timer-${line.index}"]`);
      if (!span) {
        this.update();
        return;
      }
      span.textContent = ` ${formatDuration((Date.now() - started) / 1000)}`;
    }
  }

  renderLine(line) {
    const phone = this.app.phone;
    const stateKey = line.state === "active" && line.held ? "held" : line.state;
    const who = line.peerName ? `${line.peerName} (${line.peer})` : line.peer;
    const started = line.answeredAt || line.startedAt;
    const timer = line.state === "active" && started
      ? formatDuration((Date.now() - started) / 1000) : "";
    const btn = (label, testid, fn, extra = {}) => h("button", { type: "button", testid,
      onclick: fn, ...extra }, label);
    const controls = [];
    if (line.state === "incoming") {
      controls.push(btn(t("phone.answer"), `answer-${line.index}`,
        () => phone.answer(line.index), { class: "primary" }));
      controls.push(btn(t("phone.decline"), `decline-${line.index}`,
        () => phone.decline(line.index), { class: "danger" }));
    } else if (line.state === "calling" || line.state === "ringing") {
      controls.push(btn(t("phone.hangup"), `hangup-${line.index}`,
        () => phone.hangup(line.index), { class: "danger" }));
    } else if (line.state === "active") {
      controls.push(btn(line.held ? t("phone.resume") : t("phone.hold"), `hold-${line.index}`,
        () => (line.held ? phone.unhold(line.index) : phone.hold(line.index)),
        { "aria-pressed": String(line.held) }));
      controls.push(btn(line.muted ? t("phone.unmute") : t("phone.mute"), `mute-${line.index}`,
        () => phone.toggleMute(line.index), { "aria-pressed": String(line.muted) }));
      controls.push(btn(t("phone.transfer"), `transfer-${line.index}`, () => {
        this.transferLine = line.index;
        this.renderTransfer();
      }));
      if (line.transfer?.kind === "attended") {
        const consult = phone.lines[line.transfer.consultLine];
        controls.push(btn(t("phone.complete"), `complete-transfer-${line.index}`,
          () => phone.completeTransfer(line.index).catch((e) => this.app.toast(String(e),
            "error")), { class: "primary", disabled: consult?.state !== "active" }));
      }
      controls.push(btn(t("phone.hangup"), `hangup-${line.index}`,
        () => phone.hangup(line.index), { class: "danger" }));
    }
    const failure = line.state === "ended" && line.failure
      ? h("p", { class: "failure", role: "alert", testid: `failure-${line.index}`,
        dataset: { failure: line.failure, code: String(line.failureCode || "") } },
      t(`fail.${line.failure}`)) : null;
    return h("article", { class: `line ${line.state}${line.held ? " held" : ""}`,
      testid: `line-${line.index}`, dataset: { state: line.state, held: String(line.held),
        peer: line.peer } },
    h("header", {}, h("strong", {}, t("phone.line", { n: line.index + 1 })), " ",
      h("span", { class: "peer", testid: `peer-${line.index}` }, who)),
    h("p", { class: "state", testid: `state-${line.index}` }, t(`state.${stateKey}`),
      timer ? h("span", { class: "timer", testid: `timer-${line.index}` }, ` ${timer}`) : null),
    failure, h("div", { class: "controls" }, controls));
  }

  renderTransfer() {
    const phone = this.app.phone;
    const line = this.transferLine !== null ? phone?.lines[this.transferLine] : null;
    if (!line || line.state !== "active") {
      this.transferLine = null;
      delete this.transferBox.dataset.line;  // or the next transfer on that line stays hidden
      replace(this.transferBox);
      return;
    }
    if (this.transferBox.dataset.line === String(line.index)) return;
    this.transferBox.dataset.line = String(line.index);
    const target = h("input", { testid: "transfer-input", inputMode: "tel",
      "aria-label": t("phone.transfer_to"), placeholder: t("phone.transfer_to") });
    const close = () => {
      this.transferLine = null;
      delete this.transferBox.dataset.line;
      replace(this.transferBox);
    };
    replace(this.transferBox, h("form", { class: "card", testid: "transfer-form",
      onsubmit: (ev) => ev.preventDefault() },
    h("label", { htmlFor: "transfer-target" }, t("phone.transfer_to")), target,
    h("div", { class: "controls" },
      h("button", { type: "button", testid: "blind-transfer", onclick: async () => {
        if (!target.value.trim()) return;
        try { await phone.blindTransfer(line.index, target.value.trim()); close(); }
        catch (err) { this.app.toast(String(err.message || err), "error"); }
      } }, t("phone.blind")),
      h("button", { type: "button", testid: "consult-transfer", onclick: async () => {
        if (!target.value.trim()) return;
        close();
        await phone.consult(line.index, target.value.trim());
      } }, t("phone.consult")),
      h("button", { type: "button", class: "link", onclick: close }, t("phone.cancel")))));
    target.id = "transfer-target";
    target.focus();
  }
}
