// Login: user + password, then the second factor sercen asks for (emailed code or TOTP).

import { h, replace, field } from "../dom.js";
import { t } from "../i18n.js";

export function renderLogin(app, root) {
  const error = h("p", { class: "error", role: "alert", testid: "login-error" });
  const info = h("p", { class: "info", testid: "login-info" });

  const showError = (err) => {
    if (err.status === 429 || err.reason === "banned") {
      error.textContent = t("login.banned", { s: err.retryAfter || 60 });
    } else if (err.status === 401 && err.reason !== "invalid_credentials") {
      error.textContent = t("login.badcode");
    } else if (err.status === 401) {
      error.textContent = t("login.failed");
    } else if (err.reason === "mail_failed") {
      error.textContent = t("login.mail_failed");
    } else if (err.reason === "no_second_factor") {
      error.textContent = t("login.no_second_factor");
    } else if (err.status === 502 || err.status === 504 || err.status === 0
               || err.status === undefined) {  // no answer at all: fetch failed, offline
      error.textContent = t("common.offline");
    } else {
      error.textContent = err.message || String(err);
    }
  };

  const user = h("input", { name: "login", autocomplete: "username", required: true,
    testid: "login-user", autofocus: true });
  const password = h("input", { name: "password", type: "password", required: true,
    autocomplete: "current-password", testid: "login-password" });
  const submit = h("button", { type: "submit", class: "primary", testid: "login-submit" },
    t("login.submit"));

  const form = h("form", { class: "card login", testid: "login-form",
    onsubmit: async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      submit.disabled = true;
      try {
        const answer = await app.auth.login(user.value.trim(), password.value);
        if (answer.status === "ok") await app.loggedIn();
        else if (answer.status === "second_factor") showSecond(answer);
      } catch (err) {
        showError(err);
      } finally {
        submit.disabled = false;
      }
    } },
  h("h1", {}, t("login.title")),
  field(t("login.user"), user), field(t("login.password"), password), error, submit);

  function showSecond(answer) {
    const code = h("input", { name: "code", inputMode: "numeric", autocomplete: "one-time-code",
      required: true, testid: "login-code", maxLength: 10, pattern: "[0-9 ]*" });
    const verify = h("button", { type: "submit", class: "primary", testid: "login-verify" },
      t("login.verify"));
    const resend = answer.method === "email" ? h("button", { type: "button",
      testid: "login-resend", onclick: async () => {
        error.textContent = "";
        try {
          await app.auth.resend(answer.challenge);
          info.textContent = t("login.resent");
        } catch (err) {
          if (err.retryAfter) error.textContent = t("login.wait", { s: err.retryAfter });
          else showError(err);
        }
      } }, t("login.resend")) : null;
    info.textContent = answer.method === "email"
      ? t("login.email_sent", { destination: answer.destination || "" }) : t("login.totp");
    const second = h("form", { class: "card login", testid: "second-factor-form",
      dataset: { method: answer.method },
      onsubmit: async (ev) => {
        ev.preventDefault();
        error.textContent = "";
        verify.disabled = true;
        try {
          const res = await app.auth.secondFactor(answer.challenge,
            code.value.replace(/\s/g, ""));
          if (res.status === "ok") await app.loggedIn();
        } catch (err) {
          if (err.status === 401) error.textContent = t("login.badcode");
          else showError(err);
        } finally {
          verify.disabled = false;
        }
      } },
    h("h1", {}, t("login.title")), info, field(t("login.code"), code), error, verify, resend,
    h("button", { type: "button", class: "link", onclick: () => renderLogin(app, root) },
      t("login.back")));
    replace(root, second);
    code.focus();
  }

  replace(root, h("div", { class: "login-wrap" }, form));
  user.focus();
}
