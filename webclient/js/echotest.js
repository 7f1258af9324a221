// Audio test through janus.plugin.echotest: the gateway sends our own audio back.

import { JanusSession } from "./janus.js";
import { RemoteAudio, getMicrophone } from "./audio.js";

export class EchoTest {
  constructor({ janusUrl, getToken, iceServers = [] }) {
    this.janusUrl = janusUrl;
    this.getToken = getToken;
    this.iceServers = iceServers;
    this.session = null;
    this.handle = null;
    this.pc = null;
    this.stream = null;
    this.remote = null;
    this.state = "idle";
  }

  async start() {
    this.state = "starting";
    this.session = new JanusSession(this.janusUrl, this.getToken);
    await this.session.connect();
    this.handle = await this.session.attach("janus.plugin.echotest", "webfon-echotest");
    this.pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.remote = new RemoteAudio("echo");
    this.pc.ontrack = (ev) => this.remote.attach(ev.streams[0] || new MediaStream([ev.track]));
    this.stream = await getMicrophone();
    for (const track of this.stream.getAudioTracks()) this.pc.addTrack(track, this.stream);
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await new Promise((resolve) => {
      if (this.pc.iceGatheringState === "complete") { resolve(); return; }
      const timer = setTimeout(resolve, 3000);
      this.pc.addEventListener("icegatheringstatechange", () => {
        if (this.pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
    const offer = { type: "offer", sdp: this.pc.localDescription.sdp, trickle: false };
    const res = await this.handle.message({ audio: true, video: false }, offer);
    if (res?.data?.error) throw new Error(res.data.error);
    let jsep = res?.jsep;
    if (!jsep) {
      jsep = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no answer from echotest")), 10000);
        const off = this.handle.on("event", (data, j) => {
          if (j) { clearTimeout(timer); off(); resolve(j); }
        });
      });
    }
    await this.pc.setRemoteDescription(jsep);
    this.state = "running";
  }

  dominantFrequency() { return this.remote?.dominantFrequency() || { frequency: 0, level: 0 }; }

  level() { return this.remote?.level() || 0; }

  async stats() {
    if (!this.pc) return null;
    const report = await this.pc.getStats();
    let inbound = null;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        inbound = { packetsReceived: s.packetsReceived, totalAudioEnergy: s.totalAudioEnergy };
      }
    });
    return { inbound };
  }

  async stop() {
    this.state = "idle";
    this.stream?.getTracks().forEach((tr) => tr.stop());
    try { this.pc?.close(); } catch { /* closed */ }
    this.remote?.close();
    await this.handle?.detach().catch(() => {});
    await this.session?.destroy().catch(() => {});
    this.session = null;
    this.handle = null;
    this.pc = null;
    this.remote = null;
  }
}
