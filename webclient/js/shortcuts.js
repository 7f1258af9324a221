// Keyboard: shortcuts for the phone (answer, hang up, hold, mute, focus the dialler), the
// single keys of the dial pad, and the help dialog that lists them. Combinations use Alt+Shift
// (free in browsers and screen readers); single keys (digits, *, #, ?) can be turned off in
// the help dialog, as WCAG 2.1.4 asks of character-key shortcuts.

import { h } from "./dom.js";
import { t } from "./i18n.js";

const SINGLE_KEYS_PREF = "webfon.singleKeys";

// key: what the user presses (shown in <kbd>), code: KeyboardEvent.code with Alt+Shift.
export const SHORTCUTS = [
  { id: "answer", code: "KeyA", keys: ["Alt", "Shift", "A"] },
  { id: "hangup", code: "KeyH", keys: ["Alt", "Shift", "H"] },
  { id: "hold", code: "KeyR", keys: ["Alt", "Shift", "R"] },
  { id: "mute", code: "KeyM", keys: ["Alt", "Shift", "M"] },
  { id: "dial", code: "KeyD", keys: ["Alt", "Shift", "D"] },
  { id: "help", code: "KeyK", keys: ["Alt", "Shift", "K"] },
];
// Single keys, outside text fields.
export const SINGLE_KEYS = [
  { id: "digits", keys: ["0-9", "*", "#"] },
  { id: "enter", keys: ["Intro"], keysEn: ["Enter"] },
  { id: "escape", keys: ["Esc"] },
  { id: "help1", keys: ["?"] },
];

export function singleKeysEnabled() {
  return localStorage.getItem(SINGLE_KEYS_PREF) !== "off";
}

export function setSingleKeys(on) {
  localStorage.setItem(SINGLE_KEYS_PREF, on ? "on" : "off");
}

function typing(target) {
  const tag = (target?.tagName || "").toLowerCase();
  if (tag === "textarea" || tag === "select" || target?.isContentEditable) return true;
  if (tag !== "input") return false;
  return !["checkbox", "radio", "button", "submit", "reset", "file", "range", "color"]
    .includes((target.type || "text").toLowerCase());
}

export class Shortcuts {
  // The phone panel carries the actions out: panel.shortcut(id), press(key), eraseTyped().
  constructor(app) {
    this.app = app;
    this.dialog = null;
    document.addEventListener("keydown", (ev) => this.onKey(ev));
  }

  onKey(ev) {
    if (ev.defaultPrevented || ev.isComposing) return;
    if (document.querySelector("dialog[open]")) return;  // the dialog has the keyboard
    const panel = this.app.panel;
    if (ev.altKey && ev.shiftKey && !ev.ctrlKey && !ev.metaKey) {
      const shortcut = SHORTCUTS.find((s) => s.code === ev.code);
      if (!shortcut) return;
      ev.preventDefault();
      if (shortcut.id === "help") this.openHelp();
      else if (panel && this.app.phone) panel.shortcut(shortcut.id);
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    const tag = (ev.target.tagName || "").toLowerCase();
    if (ev.target.closest?.(".quality") && ev.key === "Escape") {
      ev.target.blur();  // dismisses the quality tooltip, nothing else
      return;
    }
    if (ev.key === "?" && singleKeysEnabled()) {
      ev.preventDefault();
      this.openHelp();
      return;
    }
    if (!panel || !this.app.phone) return;
    if (/^[0-9*#]$/.test(ev.key)) {
      if (!singleKeysEnabled()) return;
      panel.press(ev.key);
      ev.preventDefault();
    } else if (ev.key === "Backspace") {
      if (panel.eraseTyped()) ev.preventDefault();
    } else if (ev.key === "Enter" && tag !== "button" && tag !== "a" && tag !== "summary") {
      panel.shortcut("enter");
    } else if (ev.key === "Escape") {
      panel.shortcut("escape");
    }
  }

  openHelp() {
    this.dialog?.remove();
    const kbd = (keys, sep = "+") => keys.map((k, i) => [i ? sep : null, h("kbd", {}, k)]);
    const row = (label, keys) => h("tr", {}, h("th", { scope: "row" }, label),
      h("td", {}, keys));
    const single = h("input", { type: "checkbox", checked: singleKeysEnabled(),
      testid: "single-keys", onchange: () => setSingleKeys(single.checked) });
    const enLang = document.documentElement.lang === "en";
    const dialog = h("dialog", { class: "help", testid: "shortcuts-dialog",
      "aria-labelledby": "shortcuts-title", onclose: () => dialog.remove() },
    h("h2", { id: "shortcuts-title" }, t("keys.title")),
    h("table", { class: "keys" },
      h("caption", { class: "visually-hidden" }, t("keys.title")),
      h("tbody", {},
        SHORTCUTS.map((s) => row(t(`keys.${s.id}`), kbd(s.keys))),
        SINGLE_KEYS.map((s) => row(t(`keys.${s.id}`),
          kbd(enLang && s.keysEn ? s.keysEn : s.keys, " "))),
        row(t("keys.tab"), kbd(["Tab"])))),
    h("label", { class: "check" }, single, " ", t("keys.single")),
    h("form", { method: "dialog", class: "controls" },
      h("button", { type: "submit", class: "primary", testid: "shortcuts-close" },
        t("common.close"))));
    document.body.append(dialog);
    this.dialog = dialog;
    dialog.showModal();
    return dialog;
  }
}
