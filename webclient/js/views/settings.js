// Settings: audio devices (saved per user), echo test, smart buttons, my phones with QR,
// authenticator enrolment, language, global logo (admins).

import { h, replace, field, icon, latest } from "../dom.js";
import { t, language, setLanguage, languages } from "../i18n.js";
import { listDevices, devicePrefs, setDevicePrefs, TonePlayer } from "../audio.js";
import { EchoTest } from "../echotest.js";
import { registerProtocolHandlers, protocolHandlersSupported } from "../pwa.js";

export function renderSettings(app, root) {
  const sections = h("div", { class: "settings" });
  replace(root, h("h1", {}, t("set.title")), sections);
  const offs = [];
  sections.append(devicesSection(app), echoSection(app), smartSection(app),
    phonesSection(app), securitySection(app), languageSection(app), appSection(app, offs));
  if (app.auth.isAdmin) sections.append(logoSection(app));
  return () => {
    offs.forEach((off) => off());
    app.echo?.stop();
  };
}

function select(testid, options, value) {
  return h("select", { testid }, options.map((o) => h("option", { value: o.value,
    selected: o.value === value }, o.label)));
}

function devicesSection(app) {
  const box = h("section", { class: "card", testid: "settings-devices" },
    h("h2", {}, t("set.devices")), h("p", { class: "muted" }, t("common.loading")));
  (async () => {
    const { inputs, outputs } = await listDevices();
    const prefs = devicePrefs();
    const opts = (list) => [{ value: "", label: t("set.default") },
      ...list.map((d, i) => ({ value: d.deviceId, label: d.label || `${d.kind} ${i + 1}` }))];
    const input = select("device-input", opts(inputs), prefs.input);
    const output = select("device-output", opts(outputs), prefs.output);
    const ringer = select("device-ringer", opts(outputs), prefs.ringer);
    const processing = h("input", { type: "checkbox", checked: prefs.processing,
      testid: "device-processing" });
    const status = h("p", { class: "muted", role: "status" });
    const ringTest = new TonePlayer();
    replace(box, h("h2", {}, t("set.devices")),
      field(t("set.input"), input), field(t("set.output"), output),
      field(t("set.ringer"), ringer),
      h("label", { class: "check" }, processing, " ", t("set.processing")),
      h("div", { class: "controls" },
        h("button", { type: "button", class: "primary", testid: "devices-save",
          onclick: async () => {
            const next = { input: input.value, output: output.value, ringer: ringer.value,
              processing: processing.checked };
            setDevicePrefs(next);
            await app.saveDevicePrefs(next);
            status.textContent = t("set.saved");
          } }, t("set.save")),
        h("button", { type: "button", testid: "ring-test", onclick: () => {
          setDevicePrefs({ ringer: ringer.value });
          if (ringTest.current) ringTest.stop();
          else { ringTest.play("ringtone"); setTimeout(() => ringTest.stop(), 3000); }
        } }, t("set.ring_test"))),
      status);
  })();
  return box;
}

function echoSection(app) {
  const status = h("p", { class: "muted", role: "status", testid: "echo-status" });
  const meter = h("meter", { min: 0, max: 1, value: 0, testid: "echo-meter" });
  let timer = null;
  const button = h("button", { type: "button", class: "primary", testid: "echo-start",
    onclick: async () => {
      if (app.echo) {
        clearInterval(timer);
        await app.echo.stop();
        app.echo = null;
        button.textContent = t("set.echo_start");
        status.textContent = "";
        return;
      }
      button.disabled = true;
      app.echo = new EchoTest({ janusUrl: app.janusUrl, getToken: () => app.auth.token(),
        iceServers: app.config.iceServers || [] });
      try {
        await app.echo.start();
        status.textContent = t("set.echo_running");
        status.dataset.state = "running";
        button.textContent = t("set.echo_stop");
        timer = setInterval(() => { meter.value = Math.min(1, app.echo?.level() * 4 || 0); },
          200);
      } catch (err) {
        status.textContent = t("common.error", { msg: err.message });
        status.dataset.state = "error";
        await app.echo.stop();
        app.echo = null;
      } finally {
        button.disabled = false;
      }
    } }, t("set.echo_start"));
  return h("section", { class: "card", testid: "settings-echo" }, h("h2", {}, t("set.echo")),
    h("p", { class: "muted" }, t("set.echo_help")), button, meter, status);
}

function smartSection(app) {
  const list = h("ul", { class: "list", testid: "smart-list" });
  const code = h("input", { testid: "smart-code", required: true, maxLength: 32,
    pattern: "[0-9*#]+" });
  const label = h("input", { testid: "smart-label", required: true, maxLength: 64 });
  const error = h("p", { class: "error", role: "alert" });
  const latestButtons = latest();
  async function load() {
    const buttons = await latestButtons(app.loadSmartButtons());
    list.replaceChildren(...buttons.map((b) => h("li", { class: "item" },
      h("strong", {}, b.label), h("span", { class: "muted" }, ` ${b.code}`),
      b.global ? h("span", { class: "chip" }, t("set.global")) :
        h("button", { type: "button", class: "icon-button danger",
          "aria-label": t("adm.delete"), onclick: async () => {
            await app.fonbo.del(`/buttons/${b.id}`);
            load();
          } }, icon("trash")))));
  }
  load().catch((err) => { error.textContent = err.message; });
  return h("section", { class: "card", testid: "settings-smart" }, h("h2", {}, t("set.smart")),
    list, h("form", { class: "inline", onsubmit: async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      try {
        await app.fonbo.post("/buttons", { code: code.value.trim(),
          label: label.value.trim() });
        code.value = "";
        label.value = "";
        load();
      } catch (err) { error.textContent = err.message; }
    } }, field(t("set.smart_code"), code), field(t("set.smart_label"), label),
    h("button", { type: "submit" }, t("set.smart_add"))), error);
}

function phonesSection(app) {
  const list = h("ul", { class: "list", testid: "phones-list" });
  const error = h("p", { class: "error", role: "alert" });
  const qrBox = h("div", { class: "qr", testid: "phone-qr" });
  const latestPhones = latest();
  async function load() {
    try {
      const data = await latestPhones(app.fonbo.get("/phones"));
      const phones = data.items || data.phones || [];
      list.replaceChildren(...phones.map((p) => {
        const order = h("input", { type: "number", min: 0, max: 99, value: p.ring_order,
          class: "narrow", testid: `phone-order-${p.id}`, "aria-label": t("set.phone_order") });
        const enabled = h("input", { type: "checkbox", checked: !!p.enabled,
          testid: `phone-enabled-${p.id}`, disabled: !!p.is_webcall });
        return h("li", { class: "item wrap", testid: "phone-item" },
          h("div", { class: "grow" }, h("strong", {}, p.model || "—"),
            h("div", { class: "muted small" }, `${p.extension} · ${t("set.phone_position")} `
              + `${p.position}${p.is_webcall ? " · Web Call" : ""}`)),
          h("label", { class: "check" }, t("set.phone_order"), " ", order),
          h("label", { class: "check" }, enabled, " ", t("set.phone_enabled")),
          h("button", { type: "button", onclick: async () => {
            error.textContent = "";
            try {
              await app.fonbo.patch(`/phones/${p.id}`, { ring_order: Number(order.value),
                enabled: enabled.checked });
              app.toast(t("set.saved"));
            } catch (err) { error.textContent = err.message; }
          } }, t("set.save")),
          p.secure ? h("button", { type: "button", testid: `phone-qr-${p.id}`,
            onclick: async () => {
              try {
                const resp = await app.fonbo.request("POST", `/phones/${p.id}/provision`,
                  { raw: true });
                const src = URL.createObjectURL(await resp.blob());
                replace(qrBox, h("img", { src, alt: `QR ${p.sip_username}`, width: 240,
                  height: 240, testid: "phone-qr-image" }));
              } catch (err) { error.textContent = err.message; }
            } }, t("set.phone_qr")) : null);
      }));
    } catch (err) {
      error.textContent = err.status === 404 ? "" : err.message;
    }
  }
  load();
  return h("section", { class: "card", testid: "settings-phones" }, h("h2", {}, t("set.phones")),
    list, qrBox, error);
}

function securitySection(app) {
  const box = h("div");
  const error = h("p", { class: "error", role: "alert", testid: "totp-error" });
  const latestMe = latest();
  async function load() {
    try {
      const me = await latestMe(app.auth.me());
      if (me.second_factor?.totp_enrolled) {
        replace(box, h("p", { testid: "totp-state", dataset: { state: "enrolled" } },
          t("set.totp_enrolled")));
        return;
      }
    } catch { /* shown as not enrolled */ }
    replace(box, h("button", { type: "button", testid: "totp-enroll", onclick: enrol },
      t("set.totp_enroll")));
  }
  async function enrol() {
    error.textContent = "";
    try {
      const res = await app.auth.totpEnroll();
      const code = h("input", { inputMode: "numeric", testid: "totp-code", maxLength: 8,
        autocomplete: "one-time-code" });
      replace(box, h("p", {}, t("set.totp_scan")),
        h("img", { src: `data:image/png;base64,${res.qr_png_base64}`, alt: res.otpauth_uri,
          testid: "totp-qr", width: 200, height: 200 }),
        h("p", { class: "muted small mono", testid: "totp-secret" }, res.secret),
        h("form", { class: "inline", onsubmit: async (ev) => {
          ev.preventDefault();
          try {
            await app.auth.totpConfirm(code.value.replace(/\s/g, ""));
            app.toast(t("set.totp_done"));
            load();
          } catch (err) { error.textContent = err.message; }
        } }, field(t("login.code"), code),
        h("button", { type: "submit", testid: "totp-confirm" }, t("set.totp_confirm"))));
    } catch (err) { error.textContent = err.message; }
  }
  load();
  return h("section", { class: "card", testid: "settings-security" },
    h("h2", {}, t("set.security")), box, error);
}

function languageSection(app) {
  const sel = h("select", { testid: "settings-language", "aria-labelledby": "set-language",
    onchange: () => {
      setLanguage(sel.value);
      app.rerender();
    } }, languages().map((l) => h("option", { value: l, selected: l === language(),
    lang: l }, l === "es" ? "Español" : "English")));
  return h("section", { class: "card" }, h("h2", { id: "set-language" }, t("set.language")),
    sel);
}

// Install as a desktop app (when the browser offers it) and open tel:/sip: links here.
function appSection(app, offs) {
  const status = h("p", { class: "muted", role: "status", testid: "app-status" });
  const install = h("button", { type: "button", class: "primary", testid: "app-install",
    hidden: !app.installPrompt, onclick: async () => {
      const prompt = app.installPrompt;
      if (!prompt) return;
      app.installPrompt = null;
      install.hidden = true;
      await prompt.prompt();
    } }, t("set.install"));
  const installHelp = h("p", { class: "muted small", testid: "app-install-help" },
    app.installPrompt ? t("set.install_help") : t("set.installed"));
  offs.push(app.on("installable", (yes) => {
    install.hidden = !yes;
    installHelp.textContent = yes ? t("set.install_help") : t("set.installed");
  }));
  const supported = protocolHandlersSupported();
  const protocols = h("button", { type: "button", testid: "app-protocols",
    disabled: !supported, onclick: () => {
      const done = registerProtocolHandlers();
      localStorage.setItem("webfon.protocols", done.join(",") || "none");
      status.textContent = done.length ? t("set.protocols_done")
        : t("set.protocols_unsupported");
    } }, t("set.protocols"));
  if (!supported) status.textContent = t("set.protocols_unsupported");
  return h("section", { class: "card", testid: "settings-app" }, h("h2", {}, t("set.app")),
    install, installHelp, protocols, status);
}

function logoSection(app) {
  const file = h("input", { type: "file", accept: "image/png,image/jpeg,image/gif,image/webp",
    testid: "logo-file" });
  const status = h("p", { class: "muted", role: "status" });
  return h("section", { class: "card", testid: "settings-logo" }, h("h2", {}, t("set.logo")),
    field(t("set.logo_file"), file), h("button", { type: "button", onclick: async () => {
      const f = file.files[0];
      if (!f) return;
      try {
        await app.fonbo.request("PUT", "/admin/logo", { body: f,
          headers: { "Content-Type": f.type || "image/png" } });
        status.textContent = t("set.saved");
        app.loadLogo();
      } catch (err) { status.textContent = err.message; }
    } }, t("set.logo_upload")), status);
}
