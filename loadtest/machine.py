"""How busy the whole machine was during a measurement: CPU time taken by the hypervisor
(steal) and by everything else, from ``/proc/stat``.

On a virtual machine, steal time is CPU the guest was ready to use but did not get; a
benchmark taken while steal is high measures the neighbours as much as the code.
"""

from __future__ import annotations

import os
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
