// A minimal Socket.IO (protocol 5, Engine.IO 4) client over WebSocket only, enough for FONBO's
// events: connect with {token} as auth, receive "42[event, data]", answer pings, reconnect.

export class Realtime {
  constructor(path, getToken) {
    this.path = path;
    this.getToken = getToken;
    this.ws = null;
    this.handlers = new Map();
    this.stopped = false;
    this.attempt = 0;
    this.connected = false;
  }

  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
  }

  emitLocal(event, data) {
    for (const fn of this.handlers.get(event) || []) {
      try { fn(data); } catch (err) { console.error(err); }
    }
  }

  start() {
    this.stopped = false;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${this.path}?EIO=4&transport=websocket`);
    this.ws = ws;
    ws.onmessage = async (ev) => {
      const text = String(ev.data);
      const type = text[0];
      if (type === "0") {
        const token = await this.getToken().catch(() => "");
        ws.send(`40${JSON.stringify({ token })}`);
      } else if (type === "2") {
        ws.send("3");
      } else if (type === "4") {
        this.onSocketIO(text.slice(1));
      }
    };
    ws.onclose = () => {
      const was = this.connected;
      this.connected = false;
      if (was) this.emitLocal("disconnect");
      if (this.stopped) return;
      const delay = Math.min(15000, 1000 * 2 ** this.attempt++);
      setTimeout(() => { if (!this.stopped) this.start(); }, delay);
    };
  }

  onSocketIO(packet) {
    const type = packet[0];
    let rest = packet.slice(1);
    if (rest.startsWith("/")) rest = rest.slice(rest.indexOf(",") + 1);
    if (type === "0") {
      this.connected = true;
      this.attempt = 0;
      this.emitLocal("connect");
    } else if (type === "4") {
      this.emitLocal("connect_error", safeJson(rest));
    } else if (type === "2") {
      const idx = rest.indexOf("[");
      const payload = safeJson(rest.slice(idx));
      if (Array.isArray(payload) && payload.length) this.emitLocal(payload[0], payload[1]);
    }
  }

  // Send an event to the server (when connected; nothing is queued).
  send(event, data) {
    if (this.connected && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(`42${JSON.stringify([event, data ?? {}])}`);
    }
  }

  stop() {
    this.stopped = true;
    this.ws?.close();
  }
}

function safeJson(text) {
  try { return JSON.parse(text); } catch { return null; }
}
