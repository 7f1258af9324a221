"""Instructions a server's processes execute in a measurement window, under callgrind.

On a shared or virtual machine, CPU time per call is noise and hardware counters are often
missing; the number of instructions a process executes is neither. A server started under
``valgrind --tool=callgrind --trace-children=yes`` (:func:`wrap`; every process of its tree,
the gateway's media workers included, gets its own profile) has its counters zeroed when the
window opens (:meth:`Callgrind.zero`) and dumped when it closes (:meth:`Callgrind.dump`):
instructions per process over exactly the window, and how often each process called the libc
wrappers of the system calls a relay makes (:data:`SYSCALLS`) — user space only, the kernel's
share is not counted, but the number of calls into it is.

Everything runs about 50 times slower under valgrind: use a few calls, and compare figures per
relayed packet or per call-second, never times.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from loadtest.servers import process_tree

SYSCALLS = ("epoll_wait", "epoll_pwait", "poll", "ppoll", "select", "recvfrom", "recvmsg",
            "recvmmsg", "recv", "read", "sendto", "sendmsg", "sendmmsg", "send", "write",
            "writev")


def wrap(folder: Path) -> list[str]:
    """The command prefix that runs a server and its children under callgrind."""
    return ["valgrind", "--tool=callgrind", "--trace-children=yes", "--dump-instr=no",
            f"--callgrind-out-file={folder}/cg.%p"]


async def _control(option: str, pid: int) -> bool:
    proc = await asyncio.create_subprocess_exec(
        "callgrind_control", option, str(pid), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return b"OK" in out


def read_dump(path: Path) -> tuple[int, dict[str, int]]:
    """A callgrind dump's total instructions and calls to each of :data:`SYSCALLS`."""
    total = 0
    calls: dict[str, int] = {}
    names: dict[str, str] = {}
    callee: str | None = None
    pattern = re.compile(r"c?fn=\((\d+)\)(?: (.*))?")
    with path.open() as fh:
        for line in fh:
            if line.startswith(("fn=", "cfn=")):
                found = pattern.match(line.strip())
                if found is None:
                    continue
                if found.group(2):
                    names[found.group(1)] = found.group(2)
                if line.startswith("cfn="):
                    callee = names.get(found.group(1), "").split("'")[0].split("@")[0]
            elif line.startswith("calls=") and callee is not None:
                if callee in SYSCALLS:
                    calls[callee] = calls.get(callee, 0) + int(line.split()[0][6:])
                callee = None
            elif line.startswith("totals:"):
                total = int(line.split()[1])
    return total, calls


class Callgrind:
    """The window's counters of a server's process tree (its root is ``pid``)."""

    def __init__(self, folder: Path, pid: int) -> None:
        self.folder = folder
        self.pid = pid
        self.pids: list[int] = []

    async def zero(self) -> None:
        self.pids = [p for p in process_tree(self.pid) if await _control("-z", p)]

    async def dump(self) -> dict[str, Any]:
        """Per process (``root`` and ``children``): instructions and system calls."""
        before = {p: set(self.folder.glob(f"cg.{p}.*")) for p in self.pids}
        done = [p for p in self.pids if await _control("-d", p)]
        out: dict[str, Any] = {"processes": {}}
        for pid in done:
            fresh = sorted(set(self.folder.glob(f"cg.{pid}.*")) - before[pid],
                           key=lambda f: int(f.suffix[1:]))
            for _ in range(50):
                if fresh:
                    break
                await asyncio.sleep(0.1)
                fresh = sorted(set(self.folder.glob(f"cg.{pid}.*")) - before[pid],
                               key=lambda f: int(f.suffix[1:]))
            if not fresh:
                continue
            total, calls = read_dump(fresh[-1])
            out["processes"][pid] = {"instructions": total, "syscalls": calls,
                                     "role": "root" if pid == self.pid else "child"}
        procs = out["processes"].values()
        out["instructions"] = sum(p["instructions"] for p in procs)
        out["root_instructions"] = sum(p["instructions"] for p in procs if p["role"] == "root")
        syscalls: dict[str, int] = {}
        for p in procs:
            for name, count in p["syscalls"].items():
                syscalls[name] = syscalls.get(name, 0) + count
        out["syscalls"] = syscalls
        return out
