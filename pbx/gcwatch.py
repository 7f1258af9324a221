"""The garbage collector's pauses, watched: how many collections of each generation, how long
they stopped the event loop (the longest, the total, a histogram), for ``/control/stats`` and
``/metrics``.

A pause stops everything on the loop, relayed media included: a 0.1 s collection is heard as a
gap. :mod:`pbx.gcpolicy` keeps them short; this tells whether it does. Each pause is timed on
the wall clock and on the thread's CPU clock: a long pause that took little CPU was the process
waiting (descheduled, a page fault), not the collector walking objects.
"""

from __future__ import annotations

import gc
import time
from typing import Any

BUCKETS_MS = (1.0, 5.0, 20.0, 50.0, 100.0)
"""Upper bounds of the pause histogram's buckets (the last bucket is everything above)."""


class GcWatch:
    """Times every collection through :data:`gc.callbacks` while started."""

    def __init__(self) -> None:
        self.reset()
        self._started_at = 0.0
        self._started_cpu = 0.0
        self._installed = False

    def reset(self, frozen: int = 0) -> None:
        """Forget the collections so far (start-up's full collection is no pause under
        load); ``frozen``: the objects :func:`gc.freeze` moved out of the collector's sight
        (counting them walks them all: asked once, at start-up, not at every snapshot)."""
        self.frozen = frozen
        self.counts = [0, 0, 0]
        self.max_ms = [0.0, 0.0, 0.0]
        self.cpu_of_max_ms = [0.0, 0.0, 0.0]
        """CPU time of each generation's longest pause."""
        self.max_cpu_ms = [0.0, 0.0, 0.0]
        self.total_ms = [0.0, 0.0, 0.0]
        self.total_cpu_ms = [0.0, 0.0, 0.0]
        self.histogram = [0] * (len(BUCKETS_MS) + 1)
        self.collected = 0

    def start(self) -> None:
        if not self._installed:
            gc.callbacks.append(self._callback)
            self._installed = True

    def close(self) -> None:
        if self._installed:
            gc.callbacks.remove(self._callback)
            self._installed = False

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started_at = time.perf_counter()
            self._started_cpu = time.thread_time()
            return
        pause_ms = (time.perf_counter() - self._started_at) * 1000.0
        cpu_ms = (time.thread_time() - self._started_cpu) * 1000.0
        generation = info.get("generation", 0)
        self.counts[generation] += 1
        self.total_ms[generation] += pause_ms
        self.total_cpu_ms[generation] += cpu_ms
        if pause_ms > self.max_ms[generation]:
            self.max_ms[generation] = pause_ms
            self.cpu_of_max_ms[generation] = cpu_ms
        if cpu_ms > self.max_cpu_ms[generation]:
            self.max_cpu_ms[generation] = cpu_ms
        self.collected += info.get("collected", 0)
        for i, bound in enumerate(BUCKETS_MS):
            if pause_ms <= bound:
                self.histogram[i] += 1
                break
        else:
            self.histogram[-1] += 1

    def snapshot(self) -> dict[str, Any]:
        labels = [f"le_{b:g}ms" for b in BUCKETS_MS] + [f"gt_{BUCKETS_MS[-1]:g}ms"]
        return {"collections": list(self.counts),
                "max_pause_ms": [round(m, 3) for m in self.max_ms],
                "cpu_of_max_pause_ms": [round(m, 3) for m in self.cpu_of_max_ms],
                "max_pause_cpu_ms": [round(m, 3) for m in self.max_cpu_ms],
                "total_pause_ms": [round(t, 1) for t in self.total_ms],
                "total_pause_cpu_ms": [round(t, 1) for t in self.total_cpu_ms],
                "max_ms": round(max(self.max_ms), 3),
                "pauses": dict(zip(labels, self.histogram, strict=True)),
                "collected": self.collected,
                "frozen": self.frozen,
                "thresholds": list(gc.get_threshold())}
