"""Janus's own SIP demo (siptest.html + janus.js from Debian) in Chromium against the gateway:
register with a secret at a registrar, call a sipp echo, hear the echo (G.711), hang up."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
from aiohttp import web
from playwright.async_api import async_playwright

from gateway.transports.websocket import GATEWAY_KEY

DEMOS = Path("/usr/share/janus/demos")
CHROMIUM = "/usr/bin/chromium"


def write_tone(path: Path, freq: float = 440.0, seconds: float = 10.0) -> None:
    t = np.arange(int(48000 * seconds)) / 48000
    data = (0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48000)
        wav.writeframes(data.tobytes())


async def serve_demos(ws_url: str, token: str) -> web.AppRunner:
    settings = (f'var server = "{ws_url}";\nvar iceServers = [];\n'
                f'var token = "{token}";\nvar apisecret = null;\n')

    async def settings_js(request: web.Request) -> web.Response:
        return web.Response(text=settings, content_type="application/javascript")

    app = web.Application()
    app.router.add_get("/settings.js", settings_js)
    app.router.add_static("/", DEMOS, follow_symlinks=True)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


STATS_JS = """async () => {
  const pc = sipcall && sipcall.webrtcStuff && sipcall.webrtcStuff.pc;
  if (!pc) return null;
  const out = {state: pc.connectionState, packets: 0, energy: 0, codec: ""};
  (await pc.getStats()).forEach(r => {
    if (r.type === "inbound-rtp" && r.kind === "audio") {
      out.packets = r.packetsReceived; out.energy = r.totalAudioEnergy || 0;
    }
    if (r.type === "codec" && r.mimeType && r.mimeType.startsWith("audio/")
        && !r.mimeType.includes("telephone")) out.codec = r.mimeType;
  });
  return out;
}"""


async def test_janus_siptest_demo_registers_and_calls(tmp_path, gateway_factory,
                                                      registrar_factory, sipp_factory) -> None:
    gw = await gateway_factory()
    registrar = await registrar_factory("127.0.0.1")
    sipp = sipp_factory("uas_echo", rtp_echo=True, timeout=90)
    await sipp.start()
    site = await serve_demos(gw.ws_url, gw.token(sub=1001))
    port = site.addresses[0][1]
    wav = tmp_path / "tone.wav"
    write_tone(wav)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}",
            "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        try:
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/siptest.html")
            await page.click("#start")
            await page.wait_for_selector("#login", state="visible", timeout=15000)
            await page.click("#registerset")
            await page.click("#secret")
            await page.locator(".bootbox button").first.click()
            await page.fill("#server", f"sip:{registrar.address}")
            await page.fill("#username", f"sip:alice@{registrar.address}")
            await page.fill("#password", "alicepw")
            await page.click("#register")
            await page.wait_for_selector("#phone", state="visible", timeout=15000)
            assert await page.evaluate("registered") is True
            assert "alice" in registrar.bindings
            await page.fill("#peer", f"sip:echo@{sipp.sip_address}")
            await page.click("#call")
            stats = None
            for _ in range(150):
                stats = await page.evaluate(STATS_JS)
                if stats and stats["packets"] > 100 and stats["energy"] > 0:
                    break
                await asyncio.sleep(0.1)
            assert stats is not None and stats["state"] == "connected", stats
            assert stats["packets"] > 100 and stats["energy"] > 0, stats
            assert stats["codec"] in ("audio/PCMU", "audio/PCMA"), stats
            await page.click("#call")  # now "Hangup"
            for _ in range(100):
                if not gw.app[GATEWAY_KEY].registry.get("janus.plugin.sip").calls:
                    break
                await asyncio.sleep(0.1)
            assert not gw.app[GATEWAY_KEY].registry.get("janus.plugin.sip").calls
        finally:
            await browser.close()
            await site.cleanup()

