"""Run the PBX (``python -m pbx …``) with cProfile switched by signals, for benchmarks.

``python loadtest/pbx_profiled.py OUT -m pbx [PBX ARGS]``: SIGUSR1 starts profiling,
SIGUSR2 stops it and writes the statistics gathered since the last SIGUSR1 to
``OUT.<n>`` (n = 1, 2, …), so a benchmark can profile one phase of a running PBX.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
from types import FrameType


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        raise SystemExit("usage: pbx_profiled.py OUT -m MODULE [ARGS]")
    out, module = sys.argv[1], sys.argv[3]
    state = {"profile": None, "dumps": 0}

    def start(_sig: int, _frame: FrameType | None) -> None:
        state["profile"] = cProfile.Profile()
        state["profile"].enable()

    def stop(_sig: int, _frame: FrameType | None) -> None:
        profile = state["profile"]
        if profile is None:
            return
        profile.disable()
        state["dumps"] += 1
        profile.dump_stats(f"{out}.{state['dumps']}")
        state["profile"] = None

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = [module, *sys.argv[4:]]
    sys.path[0] = os.getcwd()  # as ``python -m`` has it: the tree the PBX is started in
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
