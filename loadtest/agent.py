"""CPU and memory of a server on another machine: a small HTTP agent run beside it, and the
probes the controller reads a server's usage with.

``webfon loadtest agent --pid PID`` (or ``--match janus``) serves ``GET /sample``: the CPU
seconds (user + system) and resident memory of that process and all its descendants (a
gateway's media workers, Janus's threads are counted with their process), read from ``/proc``.
Every request needs ``Authorization: Bearer <token>`` with the token of ``--token-file``
(compared in constant time); the agent answers nothing else.

Probes: :class:`LocalProbe` (a process on this machine), :class:`AgentProbe` (an agent's URL)
and :class:`NoProbe` (a remote server without an agent: the report then has no server CPU or
memory, and says so).
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import secrets
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.servers import proc_cpu_seconds, proc_rss_mb, process_tree


@dataclass(frozen=True)
class Sample:
    cpu_seconds: float
    rss_mb: float
    processes: int
    at: float  # the server machine's monotonic clock, seconds


def sample_process(pid: int) -> Sample:
    return Sample(proc_cpu_seconds(pid), proc_rss_mb(pid), len(process_tree(pid)),
                  time.monotonic())


class LocalProbe:
    how = "from /proc on this machine (the process and its descendants)"

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def sample(self) -> Sample | None:
        if not os.path.exists(f"/proc/{self.pid}"):
            return None
        return sample_process(self.pid)


class AgentProbe:
    how = "from the load test agent on the server's machine"

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/") + "/sample"
        self.token = token

    def sample(self) -> Sample | None:
        req = urllib.request.Request(self.url,
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            data = json.loads(resp.read())
        return Sample(float(data["cpu_seconds"]), float(data["rss_mb"]),
                      int(data["processes"]), float(data["at"]))


class NoProbe:
    how = ("not measured: a remote server without an agent (run `webfon loadtest agent` "
           "beside it and pass --agent)")

    def sample(self) -> Sample | None:
        return None


Probe = LocalProbe | AgentProbe | NoProbe


def usage(before: Sample | None, after: Sample | None) -> dict[str, Any]:
    """Server CPU (% of one core) and memory between two samples."""
    if before is None or after is None or after.at <= before.at:
        return {}
    return {"cpu_pct": (after.cpu_seconds - before.cpu_seconds) / (after.at - before.at) * 100,
            "rss_mb": after.rss_mb, "server_processes": after.processes}


def find_pid(pattern: str) -> int:
    """The oldest process whose command line contains ``pattern`` (not this one)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            start = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[19])
        except (OSError, ValueError, IndexError):
            continue
        if pattern in cmd and "loadtest agent" not in cmd:
            found.append((start, int(entry)))
    if not found:
        raise SystemExit(f"no process matches {pattern!r}")
    return min(found)[1]


def make_app(pid: int, token: str) -> Any:
    from aiohttp import web

    async def sample(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            s = sample_process(pid)
        except (OSError, ValueError):
            s = None
        if s is None or s.processes == 0 or s.rss_mb == 0:
            return web.json_response({"error": "the process has exited"}, status=410)
        return web.json_response({"cpu_seconds": s.cpu_seconds, "rss_mb": s.rss_mb,
                                  "processes": s.processes, "at": s.at, "pid": pid})

    app = web.Application()
    app.router.add_get("/sample", sample)
    return app


def add_arguments(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--pid", type=int, help="the server's process id")
    who.add_argument("--match", help="the server: oldest process whose command line has this")
    p.add_argument("--listen", default="127.0.0.1:9187", metavar="HOST:PORT")
    p.add_argument("--token-file", type=Path, required=True,
                   help="file with the bearer token (created with a random token if missing)")


def run_agent(args: argparse.Namespace) -> int:
    from aiohttp import web

    pid = args.pid if args.pid is not None else find_pid(args.match)
    if not os.path.exists(f"/proc/{pid}"):
        print(f"no process {pid}", file=sys.stderr)
        return 2
    path: Path = args.token_file
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
        print(f"token written to {path}", file=sys.stderr)
    token = path.read_text().strip()
    if len(token) < 16:
        print(f"{path}: the token must be at least 16 characters", file=sys.stderr)
        return 2
    host, _, port = args.listen.rpartition(":")
    print(f"agent for process {pid} on http://{host}:{port}/sample", file=sys.stderr)
    web.run_app(make_app(pid, token), host=host or "127.0.0.1", port=int(port),
                print=None, handle_signals=True)
    return 0
