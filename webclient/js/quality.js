// Live call quality from RTCPeerConnection.getStats(): packet loss, jitter and round trip over
// the last seconds → good / fair / poor (with an E-model MOS estimate for the tooltip), and the
// warnings a user must see: the other side's audio stopped arriving, the server does not
// receive ours (the gateway's "media" event), the network is poor (our figures or the
// gateway's "slowlink"). Pure logic: the phone feeds it samples, the panel shows it.

// Below the first figure good, below the second fair, otherwise poor.
export const THRESHOLDS = {
  lossPct: [2, 6],
  jitterMs: [30, 60],
  rttMs: [300, 500],
};
export const NO_AUDIO_MS = 3000;       // no packet for this long: "no audio arriving"
export const NO_AUDIO_CN_MS = 10000;   // the same when the far end may send comfort noise only
export const SLOWLINK_MS = 6000;       // a slowlink from the gateway counts for this long
const WINDOW = 5;                      // samples (one a second)
const LEVELS = ["unknown", "good", "fair", "poor"];

// One sample from a getStats() report (audio only).
export function snapshotFromReport(report, at = Date.now()) {
  const snap = { at, packetsReceived: 0, packetsLost: 0, jitter: null, rtt: null,
    remoteLoss: null, codec: "" };
  const codecs = {};
  report.forEach((s) => { if (s.type === "codec") codecs[s.id] = s.mimeType; });
  let pairRtt = null;
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      snap.packetsReceived = s.packetsReceived || 0;
      snap.packetsLost = s.packetsLost || 0;
      snap.jitter = typeof s.jitter === "number" ? s.jitter : null;
      snap.codec = codecs[s.codecId] || "";
    } else if (s.type === "remote-inbound-rtp" && s.kind === "audio") {
      if (typeof s.roundTripTime === "number") snap.rtt = s.roundTripTime;
      if (typeof s.fractionLost === "number") snap.remoteLoss = s.fractionLost;
    } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded"
               && typeof s.currentRoundTripTime === "number") {
      pairRtt = s.currentRoundTripTime;
    }
  });
  if (snap.rtt === null) snap.rtt = pairRtt;
  return snap;
}

// ITU-T G.107 E-model, simplified (as commonly used for VoIP monitoring): R from the one-way
// delay (half the round trip, plus jitter buffer) and loss, then MOS.
export function mosOf(lossPct, jitterMs, rttMs) {
  const delay = (rttMs || 0) / 2 + 2 * (jitterMs || 0) + 10;
  let r = 93.2 - (delay < 160 ? delay / 40 : (delay - 120) / 10) - 2.5 * (lossPct || 0);
  r = Math.max(0, Math.min(100, r));
  const mos = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
  return Math.round(Math.max(1, Math.min(4.5, mos)) * 10) / 10;
}

function levelFor(value, [fair, poor]) {
  if (value === null || value === undefined || Number.isNaN(value)) return "unknown";
  if (value < fair) return "good";
  return value < poor ? "fair" : "poor";
}

export function levelOf(figures) {
  let worst = 0;
  let known = false;
  for (const [key, limits] of Object.entries(THRESHOLDS)) {
    const level = levelFor(figures[key], limits);
    if (level === "unknown") continue;
    known = true;
    worst = Math.max(worst, LEVELS.indexOf(level));
  }
  return known ? LEVELS[worst] : "unknown";
}

export class QualityMeter {
  constructor(now = () => Date.now()) {
    this.now = now;
    this.reset();
  }

  reset() {
    this.samples = [];
    this.lastArrivalAt = 0;
    this.slowlinkAt = 0;
    this.uplinkLost = 0;
    this.uplinkReceiving = true;
    this.fed = false;
    this.wasExpecting = null;  // not assessed yet
  }

  // Samples from another source from now on (a new peer connection, or a test's figures).
  clearSamples() {
    this.samples = [];
    this.lastArrivalAt = 0;
  }

  add(snapshot) {
    let last = this.samples[this.samples.length - 1];
    if (last && snapshot.packetsReceived < last.packetsReceived) {  // a new peer connection
      this.clearSamples();
      last = undefined;
    }
    if (!last || snapshot.packetsReceived > last.packetsReceived) {
      this.lastArrivalAt = snapshot.at;
    }
    this.samples.push(snapshot);
    if (this.samples.length > WINDOW) this.samples.shift();
  }

  // The gateway's "slowlink": packets we sent went missing on the way to it.
  slowlink(lost) {
    this.slowlinkAt = this.now();
    this.uplinkLost = lost || 0;
  }

  // The gateway's "media" event: whether it receives our audio.
  setUplink(receiving) { this.uplinkReceiving = !!receiving; }

  figures() {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || first === last) {
      return { lossPct: null, jitterMs: last?.jitter != null ? last.jitter * 1000 : null,
        rttMs: last?.rtt != null ? last.rtt * 1000 : null };
    }
    const received = Math.max(0, last.packetsReceived - first.packetsReceived);
    const lost = Math.max(0, last.packetsLost - first.packetsLost);
    let lossPct = received + lost > 0 ? (100 * lost) / (received + lost) : null;
    if (last.remoteLoss !== null && last.remoteLoss !== undefined) {
      lossPct = Math.max(lossPct ?? 0, 100 * last.remoteLoss);
    }
    return { lossPct, jitterMs: last.jitter != null ? last.jitter * 1000 : null,
      rttMs: last.rtt != null ? last.rtt * 1000 : null };
  }

  // expectAudio: the call is up, not on hold, and the far end is meant to send to us;
  // comfortNoise: the far end may stop sending in silences (CN negotiated).
  assess({ expectAudio = true, comfortNoise = false } = {}) {
    const now = this.now();
    const figures = this.figures();
    let level = levelOf(figures);
    const slow = this.slowlinkAt && now - this.slowlinkAt < SLOWLINK_MS;
    if (slow) level = "poor";
    const last = this.samples[this.samples.length - 1];
    // Audio is expected again (resumed from hold): silence counts from now.
    if (expectAudio && this.wasExpecting === false && last) {
      this.lastArrivalAt = Math.max(this.lastArrivalAt, last.at);
    }
    this.wasExpecting = expectAudio;
    const silentFor = last && this.lastArrivalAt ? last.at - this.lastArrivalAt : 0;
    const limit = comfortNoise ? NO_AUDIO_CN_MS : NO_AUDIO_MS;
    let warning = "";
    if (expectAudio && silentFor >= limit) warning = "noaudio";
    else if (expectAudio && !this.uplinkReceiving) warning = "uplink";
    else if (level === "poor") warning = "network";
    if (warning === "noaudio" || warning === "uplink") level = "poor";  // whatever the figures
    const mos = figures.lossPct !== null || figures.rttMs !== null
      ? mosOf(figures.lossPct, figures.jitterMs, figures.rttMs) : null;
    return { level, warning, mos, lossPct: figures.lossPct, jitterMs: figures.jitterMs,
      rttMs: figures.rttMs, uplinkLost: slow ? this.uplinkLost : 0,
      silentMs: silentFor, samples: this.samples.length };
  }
}
