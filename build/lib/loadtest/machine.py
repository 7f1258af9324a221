"""How busy and how fast the machine was during a measurement: CPU time taken by the
hypervisor (steal) and by everything else, from ``/proc/stat``, and a reference workload timed
on the spot.

On a virtual machine, steal time is CPU the guest was ready to use but did not get; a
benchmark taken while steal is high measures the neighbours as much as the code. A vCPU can
also run slower without any steal being reported (shared cores, frequency changes): the
reference time (:func:`reference_ms`) shows it, so figures from two runs can be put side by
side only when their reference times agree.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuTimes:
    """Aggregate jiffies of all CPUs."""

    busy: int
    idle: int
    steal: int

    @property
    def total(self) -> int:
        return self.busy + self.idle + self.steal


def cpu_times(text: str | None = None) -> CpuTimes:
    """The first ``cpu`` line of /proc/stat (``text`` for tests)."""
    line = (text if text is not None else STAT.read_text()).splitlines()[0]
    fields = [int(x) for x in line.split()[1:]]
    fields += [0] * (8 - len(fields))
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    return CpuTimes(busy=user + nice + system + irq + softirq, idle=idle + iowait, steal=steal)


def usage(before: CpuTimes, after: CpuTimes) -> dict[str, float]:
    """Steal and busy time between two samples, in % of all CPUs' time, with the 1-minute
    load average at the end."""
    total = max(1, after.total - before.total)
    return {"machine_steal_pct": round(100.0 * (after.steal - before.steal) / total, 1),
            "machine_busy_pct": round(100.0 * (after.busy - before.busy) / total, 1),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def reference_ms(repeat: int = 5) -> float:
    """Best-of-``repeat`` time in ms of a fixed pure-Python workload (about 1.3 ms on an
    idle 2.5 GHz Xeon vCPU with Python 3.11): larger means a slower CPU at that moment. Take
    it while nothing else runs on the CPU, or it measures the contention instead."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        total = 0
        for i in range(20_000):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000.0, 3)


def reference_ms_on(cpus: set[int] | None, repeat: int = 5) -> float:
    """:func:`reference_ms` measured on ``cpus`` (this process moves there for the time of
    the measurement; None: wherever it runs). vCPUs of one guest can run at different speeds."""
    if not cpus:
        return reference_ms(repeat)
    home = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        return reference_ms(repeat)
    finally:
        os.sched_setaffinity(0, home)
