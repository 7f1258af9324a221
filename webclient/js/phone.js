// The phone: one Janus session, a master handle of vivait.plugin.webfon registered as the
// user's web extension, and helper handles for the extra lines (call waiting). Each line owns
// its RTCPeerConnection. The UI listens to "change" and reads phone.lines.

import { JanusSession } from "./janus.js";
import { RemoteAudio, TonePlayer, getMicrophone } from "./audio.js";
import { QualityMeter, snapshotFromReport } from "./quality.js";

export const PLUGIN = "vivait.plugin.webfon";
const GATHER_TIMEOUT_MS = 3000;
const PREFERRED_CODECS = ["audio/PCMA", "audio/PCMU", "audio/opus", "audio/telephone-event",
  "audio/CN"];

function newCallId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return `wf-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// Why a call ended, from the SIP code (names match i18n keys "fail.<name>").
export function failureOf(code, reason) {
  if (!code || code === 200) return "";
  if (code === 486 || code === 600) return "busy";
  if (code === 603) return "rejected";
  if (code === 403 && /categor/i.test(reason || "")) return "category";
  if (code === 403) return "forbidden";
  if (code === 404 || code === 484 || code === 410) return "notfound";
  if (code === 480 || code === 408 || code === 503 || code === 502 || code === 504) {
    return "unreachable";
  }
  if (code === 487) return "cancelled";
  if (code === 488 || code === 415) return "media";
  return "failed";
}

class Line {
  constructor(phone, index) {
    this.phone = phone;
    this.index = index;
    this.handle = null;
    this.reset();
    this.remote = new RemoteAudio(`line${index}`);
  }

  reset() {
    this.state = "idle"; // idle | calling | ringing | incoming | active | ended
    this.peer = "";
    this.peerName = "";
    this.callId = "";
    this.direction = "";
    this.startedAt = 0;
    this.answeredAt = 0;
    this.held = false;
    this.heldByPeer = false;
    this.muted = false;
    this.offer = null;
    this.failure = "";
    this.failureCode = 0;
    this.failureReason = "";
    this.dtmfSent = "";
    this.pc = null;
    this.stream = null;
    this.transfer = null;
    this.quality = new QualityMeter();
    this.qualityState = null;
    this.mediaReceiving = true;
    this.recording = false;
    this.conference = "";
  }

  get busy() { return this.state !== "idle" && this.state !== "ended"; }
}

function mediaBroken(pc) {
  return ["failed", "closed"].includes(pc.connectionState)
    || ["failed", "disconnected", "closed"].includes(pc.iceConnectionState);
}

export class Phone {
  constructor({ janusUrl, getToken, iceServers = [], lines = 2, registerBody }) {
    this.janusUrl = janusUrl;
    this.getToken = getToken;
    this.iceServers = iceServers;
    this.lineCount = Math.max(1, lines);
    this.registerBody = registerBody;
    this.session = null;
    this.lines = [];
    this.registration = { state: "unregistered", extension: "", username: "", reason: "" };
    this.connection = "idle";
    this.notice = null; // what happened to the connection, for the user (see rebuild)
    this.listeners = new Set();
    this.tones = new TonePlayer();
    this.events = [];
    this.dtmfMode = "auto";
    this.timer = null;
  }

  onChange(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  changed(what) {
    this.updateTones();
    for (const fn of this.listeners) {
      try { fn(what); } catch (err) { console.error(err); }
    }
  }

  log(event) {
    this.events.push({ t: Date.now(), ...event });
    if (this.events.length > 200) this.events.shift();
  }

  // --- connection and registration ---------------------------------------------------------
  async start() {
    this.session = new JanusSession(this.janusUrl, this.getToken);
    this.session.on("state", (s) => { this.connection = s; this.changed("connection"); });
    this.session.on("reclaimed", () => this.afterReclaim());
    this.session.on("sessionlost", (reason, info) => this.rebuild(reason, info));
    this.session.on("ended", () => this.changed("ended"));
    await this.session.connect();
    for (let i = 0; i < this.lineCount; i++) this.lines.push(new Line(this, i));
    await this.attachLines();
    this.timer = setInterval(() => {
      this.changed("tick");
      this.sampleQuality();
    }, 1000);
  }

  async attachLines() {
    const master = this.lines[0];
    master.handle = await this.session.attach(PLUGIN, "webfon-line0");
    this.bindHandle(master);
    await this.register(master);
    await this.waitRegistered();
    // Extra lines: helper handles of the same account, so a second call can ring while
    // the first is in progress (call waiting).
    const lines = Math.min(this.lines.length, Math.max(1, this.registration.lines || 2));
    for (const line of this.lines.slice(1, lines)) {
      try {
        line.handle = await this.session.attach(PLUGIN, `webfon-line${line.index}`);
        this.bindHandle(line);
        const body = { request: "register", type: "helper",
          master_id: this.registration.masterId, username: this.registration.username };
        const res = await line.handle.message(body);
        if (res?.data?.error) throw new Error(res.data.error);
      } catch (err) {
        console.warn("helper line not available", err);
        line.handle = null;
      }
    }
    this.changed("lines");
  }

  waitRegistered(timeoutMs = 20000) {
    if (this.registration.state === "registered") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new Error("registration timeout")); },
        timeoutMs);
      const off = this.onChange(() => {
        if (this.registration.state === "registered") {
          clearTimeout(timer); off(); resolve();
        } else if (this.registration.state === "failed") {
          clearTimeout(timer); off(); reject(new Error(this.registration.reason));
        }
      });
    });
  }

  async register(master) {
    this.registration = { ...this.registration, state: "registering", reason: "" };
    this.changed("registration");
    const body = await this.registerBody();
    const res = await master.handle.message(body);
    const data = res?.data || {};
    if (data.error) {
      this.registration = { ...this.registration, state: "failed", reason: data.error };
      this.changed("registration");
      throw new Error(data.error);
    }
    const result = data.result || {};
    if (result.event === "registered") this.onRegistered(result);
    return result;
  }

  onRegistered(result) {
    this.registration = {
      state: "registered",
      masterId: result.master_id ?? this.registration.masterId,
      // the SIP identity (``identity``, ours on webfon logins; Janus's ``username`` is its
      // user part only)
      username: result.identity || result.username || this.registration.username,
      extension: result.extension || result.username?.replace(/^sip:/, "").split("@")[0] || "",
      lines: result.lines,
      reason: "",
    };
    this.changed("registration");
  }

  async afterReclaim() {
    // Same session on the gateway: handles and calls are intact. Calls whose media path
    // broke meanwhile get a new peer connection; the others go on as they are.
    for (const line of this.lines) {
      if (line.pc && line.state === "active" && mediaBroken(line.pc)) this.restoreMedia(line);
    }
  }

  async rebuild(reason = "", info = null) {
    // The gateway lost our session: calls are gone; attach and register again. When the new
    // session is on another node, ours went with its node: the user is told so.
    const moved = !!(info && info.previousNode && info.node && info.previousNode !== info.node);
    const drained = info?.closeReason === "node draining";
    const calls = this.lines.filter((l) => l.busy).length;
    const kind = drained ? "node-drained" : moved ? "node-lost" : "session-lost";
    this.notice = { kind, calls, at: Date.now(), from: info?.previousNode ?? null,
      to: info?.node ?? null };
    this.log({ event: "session-lost", reason, ...this.notice });
    for (const line of this.lines) {
      this.cleanupMedia(line, moved ? "nodelost" : "unreachable", 0, "");
    }
    this.changed("notice");
    this.registration = { ...this.registration, state: "registering" };
    this.changed("registration");
    try {
      await this.attachLines();
    } catch (err) {
      this.registration = { ...this.registration, state: "failed", reason: String(err) };
      this.changed("registration");
    }
  }

  async stop() {
    clearInterval(this.timer);
    this.tones.stop();
    for (const line of this.lines) {
      if (line.busy) await this.hangup(line.index).catch(() => {});
      this.cleanupMedia(line);
      line.remote.close();
    }
    if (this.lines[0]?.handle) {
      await this.lines[0].handle.message({ request: "unregister" }).catch(() => {});
    }
    await this.session?.destroy();
    this.lines = [];
    this.registration = { state: "unregistered", extension: "", username: "", reason: "" };
  }

  // --- handle events -----------------------------------------------------------------------
  bindHandle(line) {
    const handle = line.handle;
    handle.on("event", (data, jsep) => this.onPluginEvent(line, data, jsep));
    handle.on("hangup", (msg) => {
      this.log({ line: line.index, event: "pc-hangup", reason: msg.reason });
    });
    handle.on("webrtcup", () => { line.webrtcUp = true; this.changed("media"); });
    handle.on("media", (msg) => {
      line.mediaReceiving = msg.receiving;
      line.quality.setUplink(msg.receiving);
      this.log({ line: line.index, event: "media", receiving: msg.receiving });
      this.assessQuality(line);
    });
    handle.on("slowlink", (msg) => {
      line.quality.slowlink(msg.lost);
      this.log({ line: line.index, event: "slowlink", lost: msg.lost, uplink: msg.uplink });
      this.assessQuality(line);
    });
    handle.on("detached", () => { line.handle = null; });
  }

  async onPluginEvent(line, data, jsep) {
    if (data.error) {
      this.log({ line: line.index, event: "error", code: data.error_code, error: data.error });
      if (line.state === "calling" || line.state === "ringing") {
        this.cleanupMedia(line, failureOf(data.error_code, data.error) || "failed",
          data.error_code, data.error);
      }
      this.changed("error");
      return;
    }
    const result = data.result || {};
    const event = result.event;
    this.log({ line: line.index, event, code: result.code, reason: result.reason });
    if (data.call_id && !line.callId && line.busy) line.callId = data.call_id;
    switch (event) {
      case "registered":
        if (line.index === 0 && !result.helper) this.onRegistered(result);
        break;
      case "registration_failed":
        this.registration = { ...this.registration, state: "failed",
          reason: `${result.code || ""} ${result.reason || ""}`.trim() };
        this.changed("registration");
        break;
      case "unregistered":
        if (line.index === 0) {
          this.registration = { ...this.registration, state: "unregistered" };
          this.changed("registration");
        }
        break;
      case "calling":
        break;
      case "ringing":
      case "proceeding":
        if (line.state === "calling") line.state = "ringing";
        break;
      case "progress":
        if (jsep) await this.applyAnswer(line, jsep);
        line.earlyMedia = true;
        break;
      case "accepted":
        if (jsep) await this.applyAnswer(line, jsep);
        line.state = "active";
        line.answeredAt = Date.now();
        break;
      case "incomingcall":
        this.onIncoming(line, data, result, jsep);
        break;
      case "missed_call":
        this.emitMissed(result);
        break;
      case "updatingcall":
        if (jsep && line.pc) await this.answerUpdate(line, jsep);
        break;
      case "holding":
        line.held = true;
        break;
      case "resuming":
        line.held = false;
        break;
      case "transfer":
        this.onTransferRequest(line, result);
        break;
      case "hangup":
        this.cleanupMedia(line, failureOf(result.code, result.reason), result.code,
          result.reason);
        break;
      default:
        break;
    }
    this.changed(event || "event");
  }

  emitMissed(result) {
    for (const fn of this.listeners) fn("missed", result);
  }

  onIncoming(line, data, result, jsep) {
    line.state = "incoming";
    line.direction = "inbound";
    line.peer = (result.username || "").replace(/^sips?:/, "").split("@")[0];
    line.peerName = (result.displayname || "").replace(/^"|"$/g, "");
    line.callId = data.call_id || result.call_id || "";
    line.offer = jsep || null;
    line.startedAt = Date.now();
    line.failure = "";
    for (const fn of this.listeners) fn("incoming", line);
  }

  onTransferRequest(line, result) {
    // The far end asks us to call someone else (REFER): place that call on a free line.
    const target = result.refer_to;
    if (!target) return;
    this.call(target, { referId: result.refer_id }).catch((err) => console.warn(err));
  }

  // --- media -------------------------------------------------------------------------------
  newPeerConnection(line) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle",
      rtcpMuxPolicy: "require" });
    pc.ontrack = (ev) => {
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      line.remote.attach(stream);
    };
    pc.oniceconnectionstatechange = () => {
      line.iceState = pc.iceConnectionState;
      if (pc.iceConnectionState === "failed" && line.state === "active" && line.pc === pc
          && this.connection === "connected") {
        // Otherwise the reconnection (afterReclaim) restores it.
        this.restoreMedia(line);
      }
      this.changed("ice");
    };
    line.pc = pc;
    return pc;
  }

  preferCodecs(pc) {
    const caps = RTCRtpSender.getCapabilities?.("audio");
    if (!caps) return;
    const rank = (c) => {
      const i = PREFERRED_CODECS.indexOf(c.mimeType);
      return i < 0 ? PREFERRED_CODECS.length : i;
    };
    const codecs = [...caps.codecs].sort((a, b) => rank(a) - rank(b));
    for (const t of pc.getTransceivers()) {
      try { t.setCodecPreferences(codecs); } catch (err) { console.warn(err); }
    }
  }

  async addMicrophone(line, pc) {
    line.stream = await getMicrophone();
    for (const track of line.stream.getAudioTracks()) pc.addTrack(track, line.stream);
  }

  async gathered(pc) {
    if (pc.iceGatheringState === "complete") return;
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
  }

  async localJsep(pc, kind, options) {
    const desc = kind === "offer" ? await pc.createOffer(options) : await pc.createAnswer();
    await pc.setLocalDescription(desc);
    await this.gathered(pc);
    return { type: pc.localDescription.type, sdp: pc.localDescription.sdp, trickle: false };
  }

  async applyAnswer(line, jsep) {
    if (!line.pc || line.pc.signalingState !== "have-local-offer") return;
    await line.pc.setRemoteDescription(jsep);
  }

  async answerUpdate(line, jsep) {
    if (jsep.type === "offer") {
      await line.pc.setRemoteDescription(jsep);
      const answer = await this.localJsep(line.pc, "answer");
      await line.handle.message({ request: "update" }, answer);
    } else {
      await this.applyAnswer(line, jsep);
    }
  }

  async restoreMedia(line) {
    // A new peer connection for a call in progress (after a network change): offered to the
    // gateway in an "update"; the call on the SIP side is not touched. The old connection is
    // closed only once the new one is negotiated.
    if (!line.handle || line.restoring) return;
    line.restoring = true;
    const oldPc = line.pc;
    const oldStream = line.stream;
    try {
      const pc = this.newPeerConnection(line);
      await this.addMicrophone(line, pc);
      line.stream.getAudioTracks().forEach((t) => { t.enabled = !line.muted && !line.held; });
      this.preferCodecs(pc);
      const offer = await this.localJsep(pc, "offer");
      const res = await line.handle.message({ request: "update" }, offer);
      if (res?.data?.error) throw new Error(res.data.error);
      if (res?.jsep?.type !== "answer") throw new Error("no answer to the update");
      await pc.setRemoteDescription(res.jsep);
      this.log({ line: line.index, event: "media-restored" });
      if (oldPc && oldPc !== pc) { try { oldPc.close(); } catch { /* closed */ } }
      if (oldStream && oldStream !== line.stream) oldStream.getTracks().forEach((t) => t.stop());
    } catch (err) {
      this.log({ line: line.index, event: "restore-error", error: String(err) });
    } finally {
      line.restoring = false;
      this.changed("media");
    }
  }

  cleanupMedia(line, failure = "", code = 0, reason = "") {
    const wasBusy = line.busy;
    if (line.pc) { try { line.pc.close(); } catch { /* closed */ } }
    if (line.stream) line.stream.getTracks().forEach((t) => t.stop());
    const record = wasBusy ? { peer: line.peer, peerName: line.peerName } : null;
    line.reset();
    if (wasBusy && (failure && failure !== "cancelled")) {
      line.state = "ended";
      line.failure = failure;
      line.failureCode = code || 0;
      line.failureReason = reason || "";
      line.peer = record.peer;
      line.peerName = record.peerName;
      setTimeout(() => {
        if (line.state === "ended") { line.reset(); this.changed("line"); }
      }, 4000);
    }
  }

  // --- actions -----------------------------------------------------------------------------
  freeLine() {
    return this.lines.find((l) => l.handle && !l.busy) || null;
  }

  activeLine() {
    return this.lines.find((l) => l.state === "active" && !l.held) || null;
  }

  targetUri(number) {
    const clean = String(number).trim();
    if (/^sips?:/.test(clean)) return clean;
    const user = this.registration.username || "";
    const domain = user.includes("@") ? user.split("@")[1] : "webfon";
    // "#" ends a URI's user part: a feature code such as *43# goes as *43%23
    return `sip:${clean.replace(/#/g, "%23")}@${domain}`;
  }

  async call(number, { referId } = {}) {
    const dial = String(number).replace(/[\s().-]/g, "");
    if (!dial) throw new Error("empty");
    const line = this.freeLine();
    if (!line) throw new Error("nolines");
    // Only one line talks at a time: hold the others.
    for (const other of this.lines) {
      if (other !== line && other.state === "active" && !other.held) await this.hold(other.index);
    }
    line.reset();
    line.state = "calling";
    line.direction = "outbound";
    line.peer = dial.replace(/^sips?:/, "").split("@")[0];
    line.callId = newCallId();
    line.startedAt = Date.now();
    this.changed("line");
    try {
      const pc = this.newPeerConnection(line);
      await this.addMicrophone(line, pc);
      this.preferCodecs(pc);
      const offer = await this.localJsep(pc, "offer");
      const body = { request: "call", uri: this.targetUri(dial), call_id: line.callId };
      if (referId) body.refer_id = referId;
      const res = await line.handle.message(body, offer);
      if (res?.data?.error) {
        this.cleanupMedia(line, failureOf(res.data.error_code, res.data.error) || "failed",
          res.data.error_code, res.data.error);
      }
    } catch (err) {
      console.warn("call failed", err);
      this.cleanupMedia(line, err?.name === "NotAllowedError" ? "microphone" : "failed");
    }
    this.changed("line");
    return line;
  }

  async answer(index) {
    const line = this.lines[index];
    if (!line || line.state !== "incoming") return;
    for (const other of this.lines) {
      if (other !== line && other.state === "active" && !other.held) await this.hold(other.index);
    }
    line.state = "active";
    line.answeredAt = Date.now();
    this.changed("line");
    try {
      const pc = this.newPeerConnection(line);
      let jsep;
      if (line.offer) {
        await pc.setRemoteDescription(line.offer);
        await this.addMicrophone(line, pc);
        jsep = await this.localJsep(pc, "answer");
      } else {
        await this.addMicrophone(line, pc);
        this.preferCodecs(pc);
        jsep = await this.localJsep(pc, "offer");
      }
      const res = await line.handle.message({ request: "accept" }, jsep);
      if (res?.data?.error) throw new Error(res.data.error);
      if (res?.jsep && res.jsep.type === "answer") await this.applyAnswer(line, res.jsep);
    } catch (err) {
      console.warn("answer failed", err);
      await line.handle.message({ request: "hangup" }).catch(() => {});
      this.cleanupMedia(line, err?.name === "NotAllowedError" ? "microphone" : "failed");
    }
    this.changed("line");
  }

  async decline(index, code = 486) {
    const line = this.lines[index];
    if (!line || line.state !== "incoming") return;
    await line.handle.message({ request: "decline", code }).catch(() => {});
    line.reset();
    this.changed("line");
  }

  async hangup(index) {
    const line = this.lines[index];
    if (!line || !line.busy) return;
    if (line.state === "incoming") return this.decline(index, 603);
    await line.handle?.message({ request: "hangup" }).catch(() => {});
    this.cleanupMedia(line);
    this.changed("line");
  }

  async hold(index) {
    const line = this.lines[index];
    if (!line || line.state !== "active" || line.held) return;
    line.held = true;
    line.stream?.getAudioTracks().forEach((t) => { t.enabled = false; });
    line.remote.setMuted(true);
    this.changed("line");
    const res = await line.handle.message({ request: "hold", direction: "sendonly" })
      .catch((err) => ({ data: { error: String(err) } }));
    if (res?.data?.error) this.log({ line: index, event: "hold-error", error: res.data.error });
  }

  async unhold(index) {
    const line = this.lines[index];
    if (!line || line.state !== "active" || !line.held) return;
    for (const other of this.lines) {
      if (other !== line && other.state === "active" && !other.held) await this.hold(other.index);
    }
    line.held = false;
    line.stream?.getAudioTracks().forEach((t) => { t.enabled = !line.muted; });
    line.remote.setMuted(false);
    this.changed("line");
    const res = await line.handle.message({ request: "unhold" })
      .catch((err) => ({ data: { error: String(err) } }));
    if (res?.data?.error) this.log({ line: index, event: "unhold-error", error: res.data.error });
  }

  toggleMute(index) {
    const line = this.lines[index];
    if (!line || !line.stream) return;
    line.muted = !line.muted;
    line.stream.getAudioTracks().forEach((t) => { t.enabled = !line.muted && !line.held; });
    this.changed("line");
  }

  async dtmf(index, digit) {
    const line = this.lines[index];
    if (!line || line.state !== "active") return;
    line.dtmfSent += digit;
    const sender = line.pc?.getSenders().find((s) => s.track?.kind === "audio" || s.dtmf);
    const sdp = line.pc?.remoteDescription?.sdp || "";
    const rfc4733 = sender?.dtmf?.canInsertDTMF && /telephone-event/i.test(sdp);
    if (this.dtmfMode !== "info" && rfc4733) {
      // insertDTMF replaces the tones not yet played: keys pressed quickly (a PIN) are
      // appended to them instead of cutting them off
      sender.dtmf.insertDTMF(sender.dtmf.toneBuffer + digit, 120, 80);
    } else {
      await line.handle.message({ request: "dtmf_info", digit, duration: 160 })
        .catch(() => {});
    }
    this.changed("dtmf");
  }

  async blindTransfer(index, number) {
    const line = this.lines[index];
    if (!line || line.state !== "active") return;
    const res = await line.handle.message({ request: "transfer", uri: this.targetUri(number) });
    if (res?.data?.error) throw new Error(res.data.error);
    line.transfer = { kind: "blind", to: number };
    this.changed("line");
  }

  // Resolves once cond(line) holds (the line's state changes as the calls go), or fails.
  waitLine(line, cond, timeoutMs = 15000) {
    if (cond(line)) return Promise.resolve(line);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new Error("timeout")); }, timeoutMs);
      const off = this.onChange(() => {
        if (cond(line)) { clearTimeout(timer); off(); resolve(line); }
      });
    });
  }

  // «Conferencia»: the parties of a held line and of the active line go into the ad-hoc
  // room `number` the PBX bridges (each by a blind transfer, REFER to the room), and this
  // phone dials into it on the line the held call leaves free. The room belongs to this user,
  // so the PBX lets them in without its PIN.
  async conference(activeIndex, heldIndex, number) {
    const active = this.lines[activeIndex];
    const held = this.lines[heldIndex];
    if (!active || !held || active === held || active.state !== "active"
        || held.state !== "active") throw new Error("noconference");
    const gone = (l) => !l.busy || l.state === "ended";
    await this.blindTransfer(heldIndex, number);
    await this.waitLine(held, gone);
    const mine = await this.call(number);
    await this.waitLine(mine, (l) => l.state === "active" || gone(l));
    if (mine.state !== "active") throw new Error("noconference");
    mine.conference = number;
    await this.blindTransfer(activeIndex, number);
    await this.waitLine(active, gone);
    this.changed("line");
    return mine;
  }

  markRecording(index, on) {
    const line = this.lines[index];
    if (!line) return;
    line.recording = on;
    this.changed("line");
  }

  // Consult: hold the current line and call the third party on another line.
  async consult(index, number) {
    const line = this.lines[index];
    if (!line || line.state !== "active") return null;
    if (!line.held) await this.hold(index);
    const consult = await this.call(number);
    consult.consultFor = index;
    line.transfer = { kind: "attended", consultLine: consult.index, to: number };
    this.changed("line");
    return consult;
  }

  // Complete the attended transfer: the held party is connected to the consulted one.
  async completeTransfer(index) {
    const line = this.lines[index];
    const consult = line?.transfer ? this.lines[line.transfer.consultLine] : null;
    if (!line || !consult || consult.state !== "active") throw new Error("noconsult");
    const res = await line.handle.message({ request: "transfer",
      uri: this.targetUri(consult.peer), replace: consult.callId });
    if (res?.data?.error) throw new Error(res.data.error);
    this.changed("line");
  }

  // --- tones -------------------------------------------------------------------------------
  updateTones() {
    const ringing = this.lines.filter((l) => l.state === "incoming");
    const inCall = this.lines.some((l) => l.state === "active");
    const calling = this.lines.some((l) => l.state === "ringing" && !l.earlyMedia);
    const ended = this.lines.find((l) => l.state === "ended" && l.failure === "busy");
    if (ringing.length && inCall) this.tones.play("waiting");
    else if (ringing.length) this.tones.play("ringtone");
    else if (calling) this.tones.play("ringback");
    else if (ended && !inCall) this.tones.play("busy");
    else this.tones.stop();
  }

  // --- call quality ------------------------------------------------------------------------
  async sampleQuality() {
    if (this.sampling) return;
    this.sampling = true;
    try {
      for (const line of this.lines) {
        if (line.state !== "active" || !line.pc || line.restoring || line.quality.fed) continue;
        const pc = line.pc;
        const report = await pc.getStats().catch(() => null);
        if (!report || pc !== line.pc || line.state !== "active") continue;
        line.quality.add(snapshotFromReport(report));
        this.assessQuality(line);
      }
    } finally {
      this.sampling = false;
    }
  }

  // Whether the far end is meant to send us audio now: not on hold either way. A far end
  // that holds us offers sendonly (we are recvonly) and often sends nothing at all.
  expectsAudio(line) {
    if (line.state !== "active" || line.held || !line.pc) return false;
    const tr = line.pc.getTransceivers().find((x) => x.receiver.track?.kind === "audio");
    const dir = tr?.currentDirection;
    return !dir || dir === "sendrecv";
  }

  assessQuality(line) {
    if (line.state !== "active") return;
    const sdp = line.pc?.remoteDescription?.sdp || "";
    const next = line.quality.assess({ expectAudio: this.expectsAudio(line),
      comfortNoise: /^a=rtpmap:\d+ CN\//im.test(sdp) });
    const prev = line.qualityState;
    line.qualityState = next;
    if (!prev || prev.level !== next.level || prev.warning !== next.warning
        || prev.lossPct !== next.lossPct || prev.jitterMs !== next.jitterMs
        || prev.rttMs !== next.rttMs) {
      if (!prev || prev.level !== next.level || prev.warning !== next.warning) {
        this.log({ line: line.index, event: "quality", level: next.level,
          warning: next.warning });
      }
      this.changed("quality");
    }
  }

  // --- test/diagnostic summaries -----------------------------------------------------------
  async stats(index) {
    const line = this.lines[index];
    if (!line?.pc) return null;
    const report = await line.pc.getStats();
    const out = { inbound: null, outbound: null, codec: "", candidatePair: null };
    const codecs = {};
    report.forEach((s) => { if (s.type === "codec") codecs[s.id] = s.mimeType; });
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        out.inbound = { packetsReceived: s.packetsReceived, packetsLost: s.packetsLost,
          jitter: s.jitter, totalAudioEnergy: s.totalAudioEnergy, bytesReceived: s.bytesReceived,
          codec: codecs[s.codecId] || "" };
        out.codec = codecs[s.codecId] || out.codec;
      } else if (s.type === "outbound-rtp" && s.kind === "audio") {
        out.outbound = { packetsSent: s.packetsSent, bytesSent: s.bytesSent,
          codec: codecs[s.codecId] || "" };
      } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
        out.candidatePair = { rtt: s.currentRoundTripTime };
      }
    });
    return out;
  }

  summary() {
    return {
      connection: this.connection,
      node: this.session?.node ?? null,
      notice: this.notice ? { ...this.notice } : null,
      registration: { ...this.registration },
      lines: this.lines.map((l) => ({ index: l.index, state: l.state, peer: l.peer,
        peerName: l.peerName, held: l.held, muted: l.muted, callId: l.callId,
        failure: l.failure, failureCode: l.failureCode, direction: l.direction,
        dtmfSent: l.dtmfSent, hasHandle: !!l.handle, ice: l.iceState || "",
        recording: l.recording, conference: l.conference,
        quality: l.qualityState ? { ...l.qualityState } : null,
        mediaReceiving: l.mediaReceiving })),
    };
  }
}
