// The phone panel: status, number entry with dial pad, lines with their controls, smart
// buttons. It stays on screen while the portal pages change.

import { h, replace, formatDuration } from "../dom.js";
import { t, language } from "../i18n.js";
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
    app.phone?.onChange((what) => {
      if (what === "tick") this.tick();
      else if (what === "quality") this.updateQuality();
      else this.update();
    });
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

  // Backspace outside a text field: the last typed digit goes (not during a call).
  eraseTyped() {
    if (this.active() || !this.number.value) return false;
    this.number.value = this.number.value.slice(0, -1);
    return true;
  }

  // A keyboard shortcut (see shortcuts.js) on the line it is meant for.
  shortcut(id) {
    const phone = this.app.phone;
    if (!phone) return;
    const lines = phone.lines;
    const incoming = lines.find((l) => l.state === "incoming");
    const talking = this.active();
    const outgoing = lines.find((l) => l.state === "calling" || l.state === "ringing");
    const held = lines.find((l) => l.state === "active" && l.held);
    if (id === "answer" && incoming) phone.answer(incoming.index);
    else if (id === "hangup") {
      const line = talking || outgoing || incoming || held;
      if (line) phone.hangup(line.index);
    } else if (id === "escape") {
      const line = incoming || talking || outgoing;
      if (line) phone.hangup(line.index);
    } else if (id === "enter") {
      if (incoming) phone.answer(incoming.index);
      else this.callTyped();
    } else if (id === "hold") {
      if (talking) phone.hold(talking.index);
      else if (held) phone.unhold(held.index);
    } else if (id === "mute" && talking) phone.toggleMute(talking.index);
    else if (id === "dial") this.focusDial();
  }

  focusDial() {
    this.number.focus();
    this.number.select();
  }

  // A number from a link (tel:, sip:, ?call=): in the dialler, ready to call with Enter.
  prefill(number) {
    this.number.value = number;
    this.focusDial();
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
    // The lines are rebuilt: the focused control keeps the focus (keyboard users).
    const focused = this.linesBox.contains(document.activeElement)
      ? document.activeElement.dataset.testid : null;
    replace(this.linesBox, visible.map((l) => this.renderLine(l)));
    if (focused) this.linesBox.querySelector(`[data-testid="${focused}"]`)?.focus();
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

  // Called a few times a second at most: the quality of each call, updated in place.
  updateQuality() {
    for (const line of this.app.phone?.lines || []) {
      if (line.state !== "active") continue;
      const box = this.linesBox.querySelector(`[data-testid="quality-box-${line.index}"]`);
      if (!box) { this.update(); return; }
      this.fillQuality(box, line);
    }
  }

  qualityBox(line) {
    const i = line.index;
    const box = h("div", { class: "quality-box", testid: `quality-box-${i}` },
      h("span", { class: "quality-wrap" },
        h("button", { type: "button", class: "quality", testid: `quality-${i}`,
          "aria-describedby": `quality-tip-${i}` },
        h("span", { class: "bars", "aria-hidden": "true" }, h("span"), h("span"), h("span")),
        h("span", { class: "visually-hidden" }, t("q.label")),
        h("span", { class: "q-text" })),
        h("span", { class: "tooltip", role: "tooltip", id: `quality-tip-${i}`,
          testid: `quality-tip-${i}` })),
      h("p", { class: "quality-warning", role: "alert", testid: `quality-warning-${i}` }));
    this.fillQuality(box, line);
    return box;
  }

  fillQuality(box, line) {
    const q = line.qualityState || { level: "unknown", warning: "" };
    const button = box.querySelector(".quality");
    const pct = (v) => (v === null || v === undefined ? "—" : v.toLocaleString(language(),
      { maximumFractionDigits: 1 }));
    const ms = (v) => (v === null || v === undefined ? "—" : String(Math.round(v)));
    button.className = `quality ${q.level}`;
    button.dataset.level = q.level;
    box.querySelector(".q-text").textContent = t(`q.${q.level}`);
    const tip = [t("q.loss", { v: pct(q.lossPct) }), t("q.jitter", { v: ms(q.jitterMs) }),
      t("q.rtt", { v: ms(q.rttMs) })];
    if (q.mos) tip.push(t("q.mos", { v: pct(q.mos) }));
    if (q.uplinkLost) tip.push(t("q.uplink_lost", { n: q.uplinkLost }));
    box.querySelector(".tooltip").textContent = tip.join(" · ");
    const warning = box.querySelector(".quality-warning");
    warning.dataset.warning = q.warning || "";
    const text = q.warning ? t(`q.warn.${q.warning}`) : "";
    if (warning.textContent !== text) warning.textContent = text;
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
      const held = phone.lines.find((l) => l !== line && l.state === "active" && l.held);
      if (!line.held && held) {
        controls.push(btn(t("phone.conference"), `conference-${line.index}`,
          () => this.conference(line, held), { class: "primary",
            title: t("phone.conference_help") }));
      }
      if (!line.conference) {
        controls.push(btn(line.recording ? t("phone.record_stop") : t("phone.record"),
          `record-${line.index}`, () => this.toggleRecording(line),
          { "aria-pressed": String(line.recording) }));
      }
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
      h("span", { class: "peer", testid: `peer-${line.index}` },
        line.conference ? t("phone.in_conference", { number: line.conference }) : who),
      line.recording ? h("span", { class: "rec", testid: `recording-${line.index}` },
        ` · ${t("phone.recording")}`) : null),
    h("p", { class: "state", testid: `state-${line.index}` }, t(`state.${stateKey}`),
      timer ? h("span", { class: "timer", testid: `timer-${line.index}` }, ` ${timer}`) : null),
    line.state === "active" ? this.qualityBox(line) : null,
    failure, h("div", { class: "controls" }, controls));
  }

  // «Conferencia»: an ad-hoc room from FONBO, then both lines' parties and this phone in it.
  async conference(active, held) {
    try {
      const room = await this.app.fonbo.post("/conferences/adhoc", {});
      this.app.toast(t("phone.conference_joining", { number: room.number }));
      await this.app.phone.conference(active.index, held.index, room.number);
    } catch (err) {
      const msg = err.message === "noconference" || err.message === "timeout"
        ? t("phone.conference_failed") : err.message;
      this.app.toast(msg, "error", 8000);
    }
  }

  async toggleRecording(line) {
    const action = line.recording ? "stop" : "start";
    try {
      await this.app.fonbo.post(`/calls/${encodeURIComponent(line.callId)}/recording`,
        { action });
      this.app.phone.markRecording(line.index, action === "start");
      this.app.toast(t(action === "start" ? "phone.recording_on" : "phone.recording_off"));
    } catch (err) {
      this.app.toast(err.message, "error", 8000);
    }
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
