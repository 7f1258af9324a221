// Stable hooks for browser tests (window.webfonTest): state summaries, received-audio
// dominant frequency (AnalyserNode, fftSize 4096) and getStats() summaries per line.

export function installTestHooks(app) {
  window.webfonTest = {
    version: 1,
    loggedIn: () => app.auth.loggedIn,
    user: () => app.auth.user,
    phone: () => app.phone?.summary() || null,
    registered: () => app.phone?.registration.state === "registered",
    line: (i) => app.phone?.summary().lines[i] || null,
    frequency: (i) => app.phone?.lines[i]?.remote.dominantFrequency()
      || { frequency: 0, level: -Infinity },
    level: (i) => app.phone?.lines[i]?.remote.level() || 0,
    levels: (i, freqs) => app.phone?.lines[i]?.remote.levels(freqs)
      || freqs.map(() => -Infinity),
    stats: (i) => app.phone?.stats(i) ?? null,
    events: () => app.phone?.events.slice() || [],
    call: (number) => app.phone?.call(number).then((l) => l.index),
    answer: (i) => app.phone?.answer(i),
    hangup: (i) => app.phone?.hangup(i),
    echo: {
      running: () => app.echo?.state === "running",
      frequency: () => app.echo?.dominantFrequency() || { frequency: 0, level: -Infinity },
      stats: () => app.echo?.stats() ?? null,
    },
    dropConnection: () => app.phone?.session?.simulateDrop(),
    // A network change: the socket drops and the calls' media paths are gone too.
    dropNetwork: () => {
      for (const line of app.phone?.lines || []) line.pc?.close();
      app.phone?.session?.simulateDrop();
    },
    badges: () => ({ ...app.badges }),
    // Call quality: what the indicator shows, and samples fed in place of getStats() (from
    // then on the line's own statistics are no longer read): [{packetsReceived, packetsLost,
    // jitter (s), rtt (s), at (ms, optional)}].
    quality: (i) => app.phone?.lines[i]?.qualityState || null,
    feedStats: (i, samples) => {
      const line = app.phone?.lines[i];
      if (!line || line.state !== "active") return false;
      if (!line.quality.fed) line.quality.clearSamples();
      line.quality.fed = true;
      let at = Date.now() - 1000 * samples.length;
      for (const s of samples) {
        at += 1000;
        line.quality.add({ at: s.at ?? at, packetsReceived: s.packetsReceived || 0,
          packetsLost: s.packetsLost || 0, jitter: s.jitter ?? null, rtt: s.rtt ?? null,
          remoteLoss: s.remoteLoss ?? null, codec: "" });
      }
      app.phone.assessQuality(line);
      return true;
    },
    online: () => app.connectivity?.online ?? null,
  };
}
