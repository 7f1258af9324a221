// The call-quality logic of the web client (webclient/js/quality.js), with node:test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { QualityMeter, levelOf, mosOf, snapshotFromReport, NO_AUDIO_MS }
  from "../../../webclient/js/quality.js";

function meter() {
  let now = 100_000;
  const m = new QualityMeter(() => now);
  m.advance = (ms) => { now += ms; };
  m.sample = (received, lost = 0, jitter = 0.002, rtt = 0.02) => {
    m.add({ at: now, packetsReceived: received, packetsLost: lost, jitter, rtt,
      remoteLoss: null });
    now += 1000;
  };
  return m;
}

test("levels from loss, jitter and round trip: the worst one counts", () => {
  assert.equal(levelOf({ lossPct: 0, jitterMs: 5, rttMs: 20 }), "good");
  assert.equal(levelOf({ lossPct: 3, jitterMs: 5, rttMs: 20 }), "fair");
  assert.equal(levelOf({ lossPct: 0, jitterMs: 45, rttMs: 20 }), "fair");
  assert.equal(levelOf({ lossPct: 0, jitterMs: 5, rttMs: 350 }), "fair");
  assert.equal(levelOf({ lossPct: 7, jitterMs: 5, rttMs: 20 }), "poor");
  assert.equal(levelOf({ lossPct: 0, jitterMs: 5, rttMs: 800 }), "poor");
  assert.equal(levelOf({ lossPct: null, jitterMs: null, rttMs: null }), "unknown");
  assert.equal(levelOf({ lossPct: null, jitterMs: 10, rttMs: null }), "good");
});

test("MOS falls with loss and delay", () => {
  const clean = mosOf(0, 2, 20);
  assert.ok(clean >= 4.3 && clean <= 4.5, `clean line MOS ${clean}`);
  assert.ok(mosOf(5, 20, 200) < clean);
  assert.ok(mosOf(15, 60, 600) < 3);
});

test("loss is measured over the window, from the counters' increase", () => {
  const m = meter();
  m.sample(1000, 100);  // what was lost before the window does not count
  m.sample(1050, 100);
  m.sample(1095, 105);
  const q = m.assess();
  assert.equal(Math.round(q.lossPct), 5);
  assert.equal(q.level, "fair");
  assert.equal(q.warning, "");
});

test("no audio arriving: a warning after a few seconds, gone when packets come again", () => {
  const m = meter();
  m.sample(50);
  m.sample(100);
  for (let i = 0; i < NO_AUDIO_MS / 1000; i++) m.sample(100);
  assert.equal(m.assess().warning, "noaudio");
  m.sample(150);
  assert.equal(m.assess().warning, "");
});

test("no warning when no audio is expected (on hold), nor right after resuming", () => {
  const m = meter();
  m.sample(50);
  for (let i = 0; i < 6; i++) m.sample(50);
  assert.equal(m.assess({ expectAudio: false }).warning, "");
  assert.equal(m.assess({ expectAudio: true }).warning, "");
  for (let i = 0; i < 3; i++) m.sample(50);
  assert.equal(m.assess({ expectAudio: true }).warning, "noaudio");
});

test("comfort noise negotiated: silence is allowed for longer", () => {
  const m = meter();
  m.sample(50);
  for (let i = 0; i < 5; i++) m.sample(50);
  assert.equal(m.assess({ comfortNoise: true }).warning, "");
  for (let i = 0; i < 6; i++) m.sample(50);
  assert.equal(m.assess({ comfortNoise: true }).warning, "noaudio");
});

test("the gateway's media and slowlink events", () => {
  const m = meter();
  m.sample(50);
  m.sample(100);
  m.setUplink(false);
  assert.equal(m.assess().warning, "uplink");
  assert.equal(m.assess().level, "poor");
  m.setUplink(true);
  assert.equal(m.assess().warning, "");
  m.slowlink(9);
  const q = m.assess();
  assert.equal(q.level, "poor");
  assert.equal(q.warning, "network");
  assert.equal(q.uplinkLost, 9);
  m.advance(10_000);
  m.sample(600);
  assert.equal(m.assess().warning, "");
});

test("a new peer connection (counters start again) starts a new window", () => {
  const m = meter();
  m.sample(5000, 40);
  m.sample(5050, 40);
  m.sample(10, 0);
  m.sample(60, 0);
  assert.equal(m.assess().lossPct, 0);
  assert.equal(m.assess().samples, 2);
});

test("a getStats() report: inbound, remote-inbound and candidate pair", () => {
  const report = new Map([
    ["c1", { type: "codec", id: "c1", mimeType: "audio/PCMA" }],
    ["in", { type: "inbound-rtp", kind: "audio", packetsReceived: 500, packetsLost: 3,
      jitter: 0.004, codecId: "c1" }],
    ["rin", { type: "remote-inbound-rtp", kind: "audio", roundTripTime: 0.031,
      fractionLost: 0.01 }],
    ["cp", { type: "candidate-pair", nominated: true, state: "succeeded",
      currentRoundTripTime: 0.002 }],
  ]);
  const snap = snapshotFromReport(report, 7);
  assert.deepEqual(snap, { at: 7, packetsReceived: 500, packetsLost: 3, jitter: 0.004,
    rtt: 0.031, remoteLoss: 0.01, codec: "audio/PCMA" });
  report.delete("rin");
  assert.equal(snapshotFromReport(report).rtt, 0.002);
});
