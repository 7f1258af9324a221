"""What the garbage collector costs a process: collections and their pauses, per generation.

:class:`GcWatch` hooks :data:`gc.callbacks` and counts, for each generation, the collections,
the objects they freed, the total and longest pause and a histogram of pauses (upper bounds
in :data:`PAUSE_BUCKETS_MS`). Each pause is timed on the wall clock and on the thread's CPU
clock: a long pause that took little CPU was the process waiting (descheduled, a page fault),
not the collector walking objects. With ``count_objects`` it also records how many objects each
collection had to examine (the sizes of the generations it walked, read when it starts) —
that walk is what a pause is made of, and unlike a duration it does not depend on how loaded
the machine is; counting costs a pass over those generations, so it is for benchmarks
(``WEBFON_GC_COUNT_OBJECTS=1``), not for production.

:func:`tune` is the policy the gateway's processes share: freeze what start-up made (it is
never garbage, and a full collection would walk it every time) and set the thresholds.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

PAUSE_BUCKETS_MS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, float("inf"))
_BUCKET_LABELS = [f"le_{b:g}ms" if b != float("inf") else f"gt_{PAUSE_BUCKETS_MS[-2]:g}ms"
                  for b in PAUSE_BUCKETS_MS]


def _ms(seconds: list[float], digits: int = 3) -> list[float]:
    return [round(s * 1000.0, digits) for s in seconds]


class GcWatch:
    """Collections, freed objects and pauses per generation, from :data:`gc.callbacks`."""

    def __init__(self, count_objects: bool | None = None, *, start: bool = True) -> None:
        if count_objects is None:
            count_objects = os.environ.get("WEBFON_GC_COUNT_OBJECTS", "") not in ("", "0")
        self.count_objects = count_objects
        self.frozen = 0  # objects frozen at start-up (:func:`tune`; counting them walks them)
        self.reset()
        if start:
            self.start()

    def start(self) -> None:
        """Watch (again) after :meth:`stop`, or when made with ``start=False``."""
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def reset(self, frozen: int | None = None) -> None:
        """Start counting again (after start-up's own full collection, say); ``frozen``: the
        objects :func:`gc.freeze` just moved out of the collector's sight."""
        if frozen is not None:
            self.frozen = frozen
        self.collections = [0, 0, 0]
        self.collected = [0, 0, 0]
        self.pause_total = [0.0, 0.0, 0.0]
        self.pause_max = [0.0, 0.0, 0.0]
        self.pause_cpu_total = [0.0, 0.0, 0.0]
        self.pause_cpu_max = [0.0, 0.0, 0.0]
        self.cpu_of_pause_max = [0.0, 0.0, 0.0]
        """The CPU time of each generation's longest pause."""
        self.walked_max = [0, 0, 0]
        self.walked_total = [0, 0, 0]
        self.buckets = [0] * len(PAUSE_BUCKETS_MS)
        self._started = 0.0
        self._started_cpu = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            if self.count_objects:
                generation = info["generation"]
                walked = sum(len(gc.get_objects(g)) for g in range(generation + 1))
                self.walked_total[generation] += walked
                if walked > self.walked_max[generation]:
                    self.walked_max[generation] = walked
            self._started = time.perf_counter()
            self._started_cpu = time.thread_time()
            return
        pause = time.perf_counter() - self._started
        cpu = time.thread_time() - self._started_cpu
        generation = info["generation"]
        self.collections[generation] += 1
        self.collected[generation] += info["collected"]
        self.pause_total[generation] += pause
        self.pause_cpu_total[generation] += cpu
        if pause > self.pause_max[generation]:
            self.pause_max[generation] = pause
            self.cpu_of_pause_max[generation] = cpu
        if cpu > self.pause_cpu_max[generation]:
            self.pause_cpu_max[generation] = cpu
        ms = pause * 1000.0
        for i, bound in enumerate(PAUSE_BUCKETS_MS):
            if ms <= bound:
                self.buckets[i] += 1
                break

    def figures(self) -> dict[str, Any]:
        """Counters since start (``gc_`` names, pauses in milliseconds)."""
        figures: dict[str, Any] = {
            "gc_collections": list(self.collections),
            "gc_collected": list(self.collected),
            "gc_pause_total_ms": _ms(self.pause_total),
            "gc_pause_max_ms": _ms(self.pause_max),
            "gc_pause_cpu_total_ms": _ms(self.pause_cpu_total),
            "gc_pause_cpu_max_ms": _ms(self.pause_cpu_max),
            "gc_cpu_of_pause_max_ms": _ms(self.cpu_of_pause_max),
            "gc_pause_buckets": list(self.buckets),
            "gc_frozen": self.frozen,
            "gc_threshold": list(gc.get_threshold()),
        }
        if self.count_objects:
            figures["gc_walked_max"] = list(self.walked_max)
            figures["gc_walked_total"] = list(self.walked_total)
        return figures

    def snapshot(self) -> dict[str, Any]:
        """The same figures as one document (the PBX's ``/control/stats`` → ``gc``): per
        generation ``collections``, ``max_pause_ms``, ``cpu_of_max_pause_ms``,
        ``max_pause_cpu_ms``, ``total_pause_ms``, ``total_pause_cpu_ms``; the longest pause
        ``max_ms``, the histogram ``pauses`` (``le_<bound>ms``), objects ``collected``,
        ``frozen``, ``thresholds``."""
        f = self.figures()
        snap: dict[str, Any] = {
            "collections": f["gc_collections"],
            "max_pause_ms": f["gc_pause_max_ms"],
            "cpu_of_max_pause_ms": f["gc_cpu_of_pause_max_ms"],
            "max_pause_cpu_ms": f["gc_pause_cpu_max_ms"],
            "total_pause_ms": _ms(self.pause_total, 1),
            "total_pause_cpu_ms": _ms(self.pause_cpu_total, 1),
            "max_ms": max(f["gc_pause_max_ms"]),
            "pauses": dict(zip(_BUCKET_LABELS, f["gc_pause_buckets"], strict=True)),
            "collected": sum(self.collected),
            "frozen": f["gc_frozen"],
            "thresholds": f["gc_threshold"]}
        if self.count_objects:
            snap["walked_max"] = list(self.walked_max)
        return snap

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)


def tune(threshold: tuple[int, int, int] | None = None, watch: GcWatch | None = None) -> int:
    """Collect, then freeze everything alive (start-up objects: modules, classes, settings)
    and, when given, set the collection thresholds. Returns how many objects were frozen;
    ``watch`` starts counting afresh (that collection is start-up's, not the load's)."""
    gc.collect()
    gc.freeze()
    if threshold is not None:
        gc.set_threshold(*threshold)
    frozen = gc.get_freeze_count()
    if watch is not None:
        watch.reset()
        watch.frozen = frozen
    return frozen


def merge(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """Several processes' :meth:`GcWatch.figures` as one (sums; maxima for the maxima)."""
    out: dict[str, Any] = {}
    for fig in figures:
        for key, value in fig.items():
            if not isinstance(value, list) or key == "gc_threshold":
                continue
            have = out.setdefault(key, [0] * len(value))
            combine = max if key.endswith("_max") or key.endswith("_max_ms") else \
                (lambda a, b: a + b)
            out[key] = [combine(a, b) for a, b in zip(have, value, strict=False)]
    return out
