"""coturn (Debian's ``turnserver``) on 127.0.0.1 for a test: started on a port free for UDP
and TCP (coturn answers nothing while its TCP port is taken: it keeps retrying that bind),
waited for until it answers a STUN binding request, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.net import free_port


@contextlib.contextmanager
def running_coturn(folder: Path, auth: list[str], relay_ports: tuple[int, int]
                   ) -> Iterator[int]:
    """coturn with the ``auth`` options (e.g. ``["--lt-cred-mech", "--user=u:p"]``),
    relaying on ``relay_ports``; yields its port."""
    port = free_port("both")
    turn = subprocess.Popen(
        ["turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
         f"--listening-port={port}", *auth, "--realm=webfon", "--no-tls", "--no-dtls",
         "--allow-loopback-peers", "--no-cli", f"--min-port={relay_ports[0]}",
         f"--max-port={relay_ports[1]}", f"--log-file={folder / 'turn.log'}", "--simple-log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not _answers_stun(port):
            logs = "".join(p.read_text(errors="replace")[-2000:]
                           for p in sorted(folder.glob("turn*.log")))
            raise RuntimeError(f"coturn did not answer on port {port} (running: "
                               f"{turn.poll() is None}); its log: {logs}")
        yield port
    finally:
        turn.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            turn.wait(5)


def _answers_stun(port: int, timeout: float = 15.0) -> bool:
    request = struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, os.urandom(12))
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            sock.sendto(request, ("127.0.0.1", port))
            try:
                if sock.recv(2048)[:2] == b"\x01\x01":
                    return True
            except OSError:
                continue
    return False
