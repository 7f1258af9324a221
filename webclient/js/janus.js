// A small client for the Janus JSON API over WebSocket (subprotocol "janus-protocol").
// Sessions, plugin handles, transactions, keepalives, and reconnection: after a drop the
// socket is reopened and the session is claimed; if the gateway forgot it, "sessionlost" is
// emitted so the owner can create a new session and re-attach. The gateway names its node in
// the "create" reply: a new session on another node means the one we had is gone with its
// node ("sessionlost" says from which node to which).

const KEEPALIVE_MS = 25000;

function txid() {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class JanusError extends Error {
  constructor(code, reason) {
    super(reason || `Janus error ${code}`);
    this.code = code;
  }
}

class Emitter {
  constructor() { this.listeners = new Map(); }
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name)?.delete(fn);
  }
  emit(name, ...args) {
    for (const fn of [...(this.listeners.get(name) || [])]) {
      try { fn(...args); } catch (err) { console.error(err); }
    }
  }
}

export class Handle extends Emitter {
  constructor(session, id, plugin) {
    super();
    this.session = session;
    this.id = id;
    this.plugin = plugin;
    this.detached = false;
  }

  // Sends a plugin message; resolves with {data, jsep} from the event that carries our
  // transaction (or the synchronous success).
  message(body, jsep) {
    const msg = { janus: "message", handle_id: this.id, body };
    if (jsep) msg.jsep = jsep;
    return this.session.request(msg, { expectEvent: true });
  }

  trickle(candidate) {
    const msg = { janus: "trickle", handle_id: this.id };
    if (candidate) msg.candidate = candidate;
    else msg.candidate = { completed: true };
    return this.session.request(msg).catch(() => {});
  }

  hangup() {
    return this.session.request({ janus: "hangup", handle_id: this.id }).catch(() => {});
  }

  async detach() {
    if (this.detached) return;
    this.detached = true;
    this.session.handles.delete(this.id);
    await this.session.request({ janus: "detach", handle_id: this.id }).catch(() => {});
  }
}

export class JanusSession extends Emitter {
  // url: ws(s)://host/janus; getToken: async () => token string (sercen access token)
  constructor(url, getToken) {
    super();
    this.url = url;
    this.getToken = getToken;
    this.ws = null;
    this.id = null;
    this.handles = new Map();
    this.pending = new Map();
    this.keepaliveTimer = null;
    this.closedByUser = false;
    this.reconnectAttempt = 0;
    this.state = "idle";
    this.lastToken = null;
    this.node = null; // the gateway node our session lives on (from the "create" reply)
    this.closeReason = "";
    // Leaving the page ends the session at once (its phone line is released), rather than
    // leaving it to wait for a reconnection that will not come.
    globalThis.addEventListener?.("pagehide", () => this.leave());
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state);
  }

  open() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.url, "janus-protocol");
      } catch (err) {
        reject(err);
        return;
      }
      const timer = setTimeout(() => { ws.close(); reject(new Error("connect timeout")); },
        10000);
      ws.onopen = () => { clearTimeout(timer); this.ws = ws; resolve(); };
      ws.onerror = () => { clearTimeout(timer); reject(new Error("cannot connect")); };
      ws.onmessage = (ev) => this.onMessage(ev.data);
      ws.onclose = (ev) => { clearTimeout(timer); if (this.ws === ws) this.onClose(ev); };
    });
  }

  async connect() {
    this.closedByUser = false;
    this.setState("connecting");
    await this.open();
    const created = await this.request({ janus: "create" }, { noSession: true });
    this.id = created.data.id;
    this.node = created.data.node ?? null;
    this.startKeepalive();
    this.setState("connected");
    return this;
  }

  async attach(plugin, opaqueId) {
    const res = await this.request({ janus: "attach", plugin, opaque_id: opaqueId || undefined });
    const handle = new Handle(this, res.data.id, plugin);
    this.handles.set(handle.id, handle);
    return handle;
  }

  async request(msg, { expectEvent = false, noSession = false, timeoutMs = 30000 } = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      throw new JanusError(0, "not connected");
    }
    const transaction = txid();
    const token = await this.getToken();
    this.lastToken = token;
    const full = { ...msg, transaction };
    if (token) full.token = token;
    if (!noSession && this.id) full.session_id = this.id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(transaction);
        reject(new JanusError(0, `timeout waiting for ${msg.janus}`));
      }, timeoutMs);
      this.pending.set(transaction, { resolve, reject, timer, expectEvent });
      this.ws.send(JSON.stringify(full));
    });
  }

  onMessage(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    const kind = msg.janus;
    const pending = msg.transaction ? this.pending.get(msg.transaction) : null;
    if (kind === "ack") {
      if (pending && !pending.expectEvent) this.settle(msg.transaction, msg);
      return;
    }
    if (kind === "error") {
      if (pending) {
        this.settle(msg.transaction, null,
          new JanusError(msg.error?.code, msg.error?.reason));
      }
      return;
    }
    if (kind === "success") {
      if (pending) {
        const pd = msg.plugindata;
        if (pd) this.settle(msg.transaction, { data: pd.data, jsep: msg.jsep, raw: msg });
        else this.settle(msg.transaction, msg);
      }
      return;
    }
    const handle = msg.sender ? this.handles.get(msg.sender) : null;
    if (kind === "event") {
      const data = msg.plugindata?.data || {};
      if (pending && pending.expectEvent) {
        this.settle(msg.transaction, { data, jsep: msg.jsep, raw: msg });
        // The owner still sees it, so state machines stay in one place.
      }
      handle?.emit("event", data, msg.jsep, msg);
      return;
    }
    if (kind === "timeout") {
      if (msg.ended) {
        // The account's session ended (logout elsewhere, revoked, disabled): do not rebuild.
        this.closedByUser = true;
        this.emit("ended", msg.reason || "");
        return;
      }
      this.emit("sessionlost", "timeout");
      return;
    }
    if (handle) handle.emit(kind, msg);
  }

  settle(transaction, value, error) {
    const pending = this.pending.get(transaction);
    if (!pending) return;
    this.pending.delete(transaction);
    clearTimeout(pending.timer);
    if (error) pending.reject(error); else pending.resolve(value);
  }

  startKeepalive() {
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = setInterval(() => {
      this.request({ janus: "keepalive" }).catch(() => {});
    }, KEEPALIVE_MS);
  }

  onClose(ev) {
    this.ws = null;
    // "node draining": the gateway node closed us on purpose (rolling upgrade)
    this.closeReason = ev?.reason || "";
    clearInterval(this.keepaliveTimer);
    for (const [tx, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new JanusError(0, "connection lost"));
      this.pending.delete(tx);
    }
    if (this.closedByUser) { this.setState("closed"); return; }
    this.setState("reconnecting");
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    const delay = Math.min(10000, 500 * 2 ** this.reconnectAttempt);
    this.reconnectAttempt += 1;
    setTimeout(() => this.reconnect(), delay);
  }

  async reconnect() {
    if (this.closedByUser) return;
    try {
      await this.open();
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.reconnectAttempt = 0;
    if (this.id) {
      try {
        await this.request({ janus: "claim" });
        this.startKeepalive();
        this.setState("connected");
        this.emit("reclaimed");
        return;
      } catch {
        // The gateway no longer knows the session: start over.
      }
    }
    this.id = null;
    this.handles.clear();
    try {
      const created = await this.request({ janus: "create" }, { noSession: true });
      const previousNode = this.node;
      this.id = created.data.id;
      this.node = created.data.node ?? null;
      this.startKeepalive();
      this.setState("connected");
      this.emit("sessionlost", "recreated",
        { previousNode, node: this.node, closeReason: this.closeReason || "" });
    } catch {
      this.ws?.close();
    }
  }

  leave() {
    if (!this.id || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const msg = { janus: "destroy", session_id: this.id, transaction: txid() };
    if (this.lastToken) msg.token = this.lastToken;
    this.closedByUser = true;
    try { this.ws.send(JSON.stringify(msg)); } catch { /* closing anyway */ }
  }

  // Test/diagnostic helper: drop the socket as a network failure would.
  simulateDrop() { this.ws?.close(); }

  async destroy() {
    this.closedByUser = true;
    clearInterval(this.keepaliveTimer);
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.id) {
      await this.request({ janus: "destroy" }, { timeoutMs: 3000 }).catch(() => {});
    }
    this.ws?.close();
    this.ws = null;
    this.id = null;
    this.handles.clear();
    this.setState("closed");
  }
}
