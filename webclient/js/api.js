// HTTP APIs of sercen (login, second factor, tokens) and FONBO (portal), same origin.
// Tokens live in sessionStorage: a closed tab logs out, a reload does not.

const STORE = "webfon.auth";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.reason = body?.error?.reason || "";
    this.retryAfter = body?.error?.retry_after || 0;
  }
}

async function parse(resp) {
  const type = resp.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await resp.json().catch(() => null) : null;
  if (!resp.ok) {
    const message = body?.error?.message || body?.message || resp.statusText;
    throw new ApiError(resp.status, message, body);
  }
  return body;
}

export class Auth {
  constructor() {
    this.state = JSON.parse(sessionStorage.getItem(STORE) || "null");
    this.refreshing = null;
    this.listeners = new Set();
  }

  onChange(fn) { this.listeners.add(fn); }

  save(state) {
    this.state = state;
    if (state) sessionStorage.setItem(STORE, JSON.stringify(state));
    else sessionStorage.removeItem(STORE);
    for (const fn of this.listeners) fn(state);
  }

  get loggedIn() { return !!this.state?.access_token; }
  get user() { return this.state?.user || null; }
  get isAdmin() { return (this.state?.user?.roles || []).includes("admin"); }

  accept(answer) {
    const now = Date.now() / 1000;
    this.save({ access_token: answer.access_token, refresh_token: answer.refresh_token,
      expires_at: now + (answer.expires_in || 900), user: answer.user });
  }

  async post(path, body, token) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    return parse(await fetch(`/sercen/${path}`, { method: "POST", headers,
      body: JSON.stringify(body || {}) }));
  }

  // -> {status:"ok", ...tokens} or {status:"second_factor", challenge, method, ...}
  async login(login, password) {
    const answer = await this.post("login", { login, password });
    if (answer.status === "ok") this.accept(answer);
    return answer;
  }

  async secondFactor(challenge, code) {
    const answer = await this.post("second-factor", { challenge, code });
    if (answer.status === "ok") this.accept(answer);
    return answer;
  }

  resend(challenge) { return this.post("second-factor/resend", { challenge }); }

  async token() {
    if (!this.state) return "";
    if (Date.now() / 1000 < this.state.expires_at - 60) return this.state.access_token;
    if (!this.refreshing) {
      this.refreshing = this.post("refresh", { refresh_token: this.state.refresh_token })
        .then((answer) => this.accept(answer))
        .catch((err) => { if (err.status === 401) this.save(null); throw err; })
        .finally(() => { this.refreshing = null; });
    }
    await this.refreshing;
    return this.state?.access_token || "";
  }

  async me() {
    return parse(await fetch("/sercen/me", { headers:
      { Authorization: `Bearer ${await this.token()}` } }));
  }

  async totpEnroll() { return this.post("totp/enroll", {}, await this.token()); }
  async totpConfirm(code) { return this.post("totp/confirm", { code }, await this.token()); }
  async totpRemove(code) { return this.post("totp/remove", { code }, await this.token()); }

  async logout() {
    const state = this.state;
    this.save(null);
    if (!state) return;
    await fetch("/sercen/logout", { method: "POST", headers: {
      "Content-Type": "application/json", Authorization: `Bearer ${state.access_token}` },
    body: JSON.stringify({ refresh_token: state.refresh_token }) }).catch(() => {});
  }
}

// FONBO client: JSON requests with the access token, 401 -> one refresh and retry.
export class Fonbo {
  constructor(auth, base = "/fonbo") {
    this.auth = auth;
    this.base = base;
  }

  async request(method, path, { body, query, raw, headers = {} } = {}) {
    const url = new URL(this.base + path, location.origin);
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    }
    const init = { method, headers: { ...headers } };
    if (body !== undefined) {
      if (body instanceof Blob || typeof body === "string") init.body = body;
      else { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      init.headers.Authorization = `Bearer ${await this.auth.token()}`;
      const resp = await fetch(url, init);
      if (resp.status === 401 && attempt === 0 && this.auth.state) {
        this.auth.state.expires_at = 0;
        continue;
      }
      if (raw) {
        if (!resp.ok) await parse(resp);
        return resp;
      }
      if (resp.status === 204) return null;
      return parse(resp);
    }
    return null;
  }

  get(path, query) { return this.request("GET", path, { query }); }
  post(path, body) { return this.request("POST", path, { body }); }
  put(path, body) { return this.request("PUT", path, { body }); }
  patch(path, body) { return this.request("PATCH", path, { body }); }
  del(path) { return this.request("DELETE", path); }
}
