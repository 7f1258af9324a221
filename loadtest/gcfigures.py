"""The webfon gateway's garbage-collector figures under load, read from its ``/metrics``.

The gateway and each of its media workers watch their own collector
(:class:`webfon.gcwatch.GcWatch`); ``/metrics`` exposes the gateway's as ``gc_*`` and the
workers' together as ``media_workers_gc_*``. A benchmark reads them before and after its
window (:func:`read`, or :func:`read_sync` from blocking code) and reports, per process group,
the collections and the pauses over 20 ms in the window and the longest pause since start-up
(:func:`summary`, :func:`text`) — a pause is audio not relayed, so the longest one is what a
listener could hear.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import aiohttp

PREFIX = "webfon_gateway_"
GROUPS = (("gc", ""), ("workers_gc", "media_workers_"))  # result name, metric prefix
HEARD_MS = 20.0  # a pause longer than a packet's interval delays the next packet


def parse(text: str) -> dict[str, float]:
    """Prometheus text (``name value`` lines, no labels) as a dict, without ``PREFIX``."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(PREFIX):
            continue
        name, _, value = line.partition(" ")
        try:
            values[name[len(PREFIX):]] = float(value)
        except ValueError:
            continue
    return values


async def read(base_url: str) -> dict[str, float]:
    """The gateway's metrics (``base_url``: ``http://host:port``); empty when unreadable."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, \
                http.get(f"{base_url}/metrics") as response:
            if response.status != 200:
                return {}
            return parse(await response.text())
    except (aiohttp.ClientError, TimeoutError):
        return {}


def read_sync(base_url: str) -> dict[str, float]:
    """:func:`read` for blocking (gevent-patched) code such as Locust's master."""
    try:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
            return parse(response.read().decode("utf-8", "replace"))
    except (OSError, urllib.error.URLError, ValueError):
        return {}


def summary(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """For the gateway (``gc_*``) and its workers (``workers_gc_*``): collections per
    generation and pauses over 20 ms within the window, longest pause since start-up."""
    out: dict[str, float] = {}
    for name, prefix in GROUPS:
        maxima = [after.get(f"{prefix}gc_pause_max_ms_gen{g}") for g in range(3)]
        if all(m is None for m in maxima):
            continue
        out[f"{name}_pause_max_ms"] = max(m for m in maxima if m is not None)
        over = f"{prefix}gc_pauses_over_20ms_total"
        out[f"{name}_pauses_over_20ms"] = after.get(over, 0.0) - before.get(over, 0.0)
        for g in range(3):
            key = f"{prefix}gc_collections_gen{g}_total"
            out[f"{name}_collections_gen{g}"] = after.get(key, 0.0) - before.get(key, 0.0)
    return out


def text(step: dict[str, float]) -> str:
    """The longest pauses of a step for a progress line (``""`` without figures)."""
    if "gc_pause_max_ms" not in step:
        return ""
    line = f", GC max {step['gc_pause_max_ms']} ms"
    if "workers_gc_pause_max_ms" in step:
        line += f" (workers {step['workers_gc_pause_max_ms']} ms)"
    over = step.get("gc_pauses_over_20ms", 0) + step.get("workers_gc_pauses_over_20ms", 0)
    return line + (f", {over:.0f} pauses over 20 ms" if over else "")
