// Audio: microphone capture, speaker/ringer output, WebAudio tones (ringtone, ringback,
// busy) and analysers used by the level meters and by the test hooks.

const prefs = { input: "", output: "", ringer: "", processing: true };
let ctx = null;

export function audioContext() {
  if (!ctx) ctx = new AudioContext({ latencyHint: "interactive" });
  if (ctx.state === "suspended") ctx.resume().catch(() => {});
  return ctx;
}

export function setDevicePrefs(next) {
  Object.assign(prefs, next || {});
}

export function devicePrefs() { return { ...prefs }; }

export async function listDevices() {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return {
      inputs: devices.filter((d) => d.kind === "audioinput"),
      outputs: devices.filter((d) => d.kind === "audiooutput"),
    };
  } catch {
    return { inputs: [], outputs: [] };
  }
}

export async function getMicrophone() {
  const audio = {
    echoCancellation: prefs.processing,
    noiseSuppression: prefs.processing,
    autoGainControl: prefs.processing,
  };
  if (prefs.input) audio.deviceId = { ideal: prefs.input };
  return navigator.mediaDevices.getUserMedia({ audio, video: false });
}

async function applySink(el, deviceId) {
  if (deviceId && typeof el.setSinkId === "function") {
    try { await el.setSinkId(deviceId); } catch (err) { console.warn("setSinkId", err); }
  }
}

// Plays a remote stream on an <audio> element (so Chrome pulls the WebRTC audio) and taps it
// with an AnalyserNode for the meter and the tests.
export class RemoteAudio {
  constructor(label) {
    this.el = document.createElement("audio");
    this.el.autoplay = true;
    this.el.dataset.testid = `remote-audio-${label}`;
    this.el.hidden = true;
    document.body.append(this.el);
    this.analyser = null;
    this.source = null;
  }

  async attach(stream) {
    this.el.srcObject = stream;
    await applySink(this.el, prefs.output);
    this.el.play().catch(() => {});
    const ac = audioContext();
    this.source?.disconnect();
    this.source = ac.createMediaStreamSource(stream);
    this.analyser = ac.createAnalyser();
    this.analyser.fftSize = 4096;
    this.analyser.smoothingTimeConstant = 0;
    this.source.connect(this.analyser);
  }

  setMuted(muted) { this.el.muted = muted; }

  dominantFrequency() { return dominant(this.analyser); }

  levels(freqs) { return bandLevels(this.analyser, freqs); }

  level() { return rms(this.analyser); }

  close() {
    this.source?.disconnect();
    this.el.srcObject = null;
    this.el.remove();
  }
}

// Analyser on the local microphone track (level meter in settings).
export function analyseStream(stream) {
  const ac = audioContext();
  const source = ac.createMediaStreamSource(stream);
  const analyser = ac.createAnalyser();
  analyser.fftSize = 4096;
  analyser.smoothingTimeConstant = 0;
  source.connect(analyser);
  return { analyser, close: () => source.disconnect() };
}

export function dominant(analyser) {
  if (!analyser) return { frequency: 0, level: 0 };
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = -1;
  let bestDb = -Infinity;
  for (let i = 2; i < bins.length; i++) {
    if (bins[i] > bestDb) { bestDb = bins[i]; best = i; }
  }
  if (best < 0 || !Number.isFinite(bestDb)) return { frequency: 0, level: -Infinity };
  // Parabolic interpolation between neighbouring bins for a sub-bin estimate.
  const a = bins[best - 1];
  const b = bins[best];
  const c = bins[best + 1] ?? b;
  const denom = a - 2 * b + c;
  const offset = denom !== 0 && Number.isFinite(denom) ? 0.5 * (a - c) / denom : 0;
  const binHz = analyser.context.sampleRate / analyser.fftSize;
  return { frequency: (best + offset) * binHz, level: bestDb };
}

// The level (dB) of the strongest bin near each frequency: several tones at once (a
// conference) are each seen, where dominant() sees only the loudest.
export function bandLevels(analyser, freqs) {
  if (!analyser) return freqs.map(() => -Infinity);
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  const binHz = analyser.context.sampleRate / analyser.fftSize;
  return freqs.map((f) => {
    const centre = Math.round(f / binHz);
    let best = -Infinity;
    for (let i = Math.max(1, centre - 2); i <= Math.min(bins.length - 1, centre + 2); i++) {
      if (bins[i] > best) best = bins[i];
    }
    return best;
  });
}

export function rms(analyser) {
  if (!analyser) return 0;
  const data = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(data);
  let sum = 0;
  for (const v of data) sum += v * v;
  return Math.sqrt(sum / data.length);
}

// --- tones -----------------------------------------------------------------------------------
// Spanish call-progress tones: ringback 425 Hz 1.5 s on / 3 s off; busy 425 Hz 0.2/0.2 s.
const PATTERNS = {
  ringback: { freqs: [425], on: 1.5, off: 3.0 },
  busy: { freqs: [425], on: 0.2, off: 0.2 },
  congestion: { freqs: [425], on: 0.2, off: 0.2, then: [0.2, 0.6] },
  ringtone: { freqs: [660, 880], on: 0.4, off: 0.2, repeat: 2, pause: 2.0 },
  waiting: { freqs: [425], on: 0.175, off: 0.175, repeat: 1, pause: 3.5 },
};

export class TonePlayer {
  constructor() {
    this.stopFn = null;
    this.el = null;
    this.current = "";
  }

  async play(name) {
    if (this.current === name) return;
    this.stop();
    const pattern = PATTERNS[name];
    if (!pattern) return;
    const ac = audioContext();
    const gain = ac.createGain();
    gain.gain.value = 0;
    const oscs = pattern.freqs.map((f) => {
      const o = ac.createOscillator();
      o.frequency.value = f;
      o.connect(gain);
      o.start();
      return o;
    });
    // The ringtone goes to the ringer device; other tones to the speaker.
    const sinkId = name === "ringtone" || name === "waiting" ? prefs.ringer : prefs.output;
    let out;
    if (sinkId && typeof HTMLMediaElement.prototype.setSinkId === "function") {
      const dest = ac.createMediaStreamDestination();
      gain.connect(dest);
      this.el = new Audio();
      this.el.srcObject = dest.stream;
      await applySink(this.el, sinkId);
      this.el.play().catch(() => {});
      out = dest;
    } else {
      gain.connect(ac.destination);
      out = ac.destination;
    }
    const level = name === "ringtone" ? 0.15 : 0.1;
    const schedule = () => {
      const t0 = ac.currentTime + 0.02;
      let t = t0;
      const repeat = pattern.repeat || 1;
      for (let r = 0; r < repeat; r++) {
        gain.gain.setValueAtTime(level, t);
        gain.gain.setValueAtTime(0, t + pattern.on);
        t += pattern.on + pattern.off;
      }
      return (t - t0 + (pattern.pause || 0)) * 1000;
    };
    let timer = null;
    const loop = () => { timer = setTimeout(loop, schedule()); };
    loop();
    this.current = name;
    this.stopFn = () => {
      clearTimeout(timer);
      gain.gain.cancelScheduledValues(0);
      gain.gain.value = 0;
      oscs.forEach((o) => o.stop());
      gain.disconnect();
      if (out !== ac.destination) out.disconnect?.();
      if (this.el) { this.el.srcObject = null; this.el = null; }
    };
  }

  stop() {
    if (this.stopFn) this.stopFn();
    this.stopFn = null;
    this.current = "";
  }
}

// One short beep per DTMF key, for feedback.
const DTMF = {
  1: [697, 1209], 2: [697, 1336], 3: [697, 1477], A: [697, 1633],
  4: [770, 1209], 5: [770, 1336], 6: [770, 1477], B: [770, 1633],
  7: [852, 1209], 8: [852, 1336], 9: [852, 1477], C: [852, 1633],
  "*": [941, 1209], 0: [941, 1336], "#": [941, 1477], D: [941, 1633],
};

export function keyBeep(digit) {
  const pair = DTMF[digit];
  if (!pair) return;
  const ac = audioContext();
  const gain = ac.createGain();
  gain.gain.value = 0.05;
  gain.connect(ac.destination);
  for (const f of pair) {
    const o = ac.createOscillator();
    o.frequency.value = f;
    o.connect(gain);
    o.start();
    o.stop(ac.currentTime + 0.12);
  }
  setTimeout(() => gain.disconnect(), 300);
}
