"""Cost of relaying one G.711 packet in a gateway media worker, counted rather than timed.

Starts one real media worker (``python -m gateway.media.relay_worker``), hands it ``--calls``
calls the way the gateway does (an ICE socket with SRTP keys, a plain RTP socket with its
relay state, linked), then plays both ends itself: a "browser" sending SRTP and a "SIP peer"
sending RTP, one 20 ms packet each way per call per round, and waits for every packet to come
out of the other side (checked: decrypted, payload intact) before the next round. Figures:

* ``--callgrind``: instructions the worker executes per relayed packet (user space: Python,
  its event loop, libsrtp), from two runs under ``valgrind --tool=callgrind`` that differ only
  in the number of rounds — start-up and hand-over cancel out. Also the system calls it makes
  per packet (counted as calls into libc's wrappers), and the worker's peak RSS;
* ``--strace``: every system call of the worker per relayed packet (``strace -c -f``);
* default: CPU seconds of the worker per packet (``/proc``; wall-clock noise on a loaded
  machine, prefer the counts), and its RSS and USS.

``--srtp SUITE`` chooses the browser legs' SRTP suite (default AES_CM_128_HMAC_SHA1_80;
DTLS-SRTP between aiortc peers picks AEAD_AES_256_GCM). ``--tree DIR`` runs the worker of
another source tree (``git worktree add /tmp/base <commit>``) with this driver, to compare two
versions in one invocation (``--tree`` repeated). Not a test: nothing here is timed against a
threshold. Examples::

    .venv/bin/python benchmarks/relay_bench.py --calls 50 --rounds 200 --callgrind
    .venv/bin/python benchmarks/relay_bench.py --callgrind --tree /tmp/base --tree .
    .venv/bin/python benchmarks/relay_bench.py --calls 100 --rounds 500 --strace
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import re
import resource
import select
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pylibsrtp import Policy, Session

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SUITES = {  # SRTP protection profile and master key + salt length
    "AES_CM_128_HMAC_SHA1_80": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AEAD_AES_128_GCM": (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "AEAD_AES_256_GCM": (Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
}
PROFILE, KEY_LENGTH = SUITES["AES_CM_128_HMAC_SHA1_80"]  # (--srtp)
PAYLOAD = bytes(range(160))
BROWSER_SSRC = 0x11223344
SIP_SSRC = 0x55667788


def srtp(key: bytes, inbound: bool) -> Session:
    policy = Policy(key=key, srtp_profile=PROFILE,
                    ssrc_type=Policy.SSRC_ANY_INBOUND if inbound else Policy.SSRC_ANY_OUTBOUND)
    policy.allow_repeat_tx = True
    return Session(policy)


def rtp(seq: int, ts: int, ssrc: int, pt: int = 0) -> bytes:
    return (bytes((0x80, pt)) + (seq & 0xFFFF).to_bytes(2, "big")
            + (ts & 0xFFFFFFFF).to_bytes(4, "big") + ssrc.to_bytes(4, "big") + PAYLOAD)


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    return sock


@dataclass
class Call:
    """One relayed call: the worker's two sockets and our two ends."""

    index: int
    ice: socket.socket = field(default_factory=udp)       # handed to the worker
    leg: socket.socket = field(default_factory=udp)       # handed to the worker
    browser: socket.socket = field(default_factory=udp)
    sip: socket.socket = field(default_factory=udp)
    rx_key: bytes = field(default_factory=lambda: os.urandom(KEY_LENGTH))
    tx_key: bytes = field(default_factory=lambda: os.urandom(KEY_LENGTH))

    def __post_init__(self) -> None:
        self.browser_tx = srtp(self.rx_key, inbound=False)
        self.browser_rx = srtp(self.tx_key, inbound=True)
        self.seq = random.randrange(65536)
        self.ts = random.randrange(1 << 32)
        self.ice_addr = self.ice.getsockname()
        self.leg_addr = self.leg.getsockname()

    def webrtc_state(self) -> dict[str, Any]:
        return {"remote": self.browser.getsockname(), "profile": PROFILE,
                "rx_key": self.rx_key, "tx_key": self.tx_key, "ssrc": 0x0A0B0C0D,
                "audio_pts": [0, 8, 101], "rebaser": (None, 0, 0, 0, 0, 160, 0)}

    def rtp_state(self) -> dict[str, Any]:
        remote = self.sip.getsockname()
        # RtpLeg.relay_state() of a leg configured with this SDP address, strict RTP on
        return {"remote": remote, "strict": (True, 5.0, 4, remote, None, False),
                "to_webrtc": {0: 0, 101: 101}, "sip_dtmf_pt": 101, "ssrc": 0x01020304,
                "send_enabled": True, "recv_enabled": True, "transcode": None}


class Worker:
    """A media worker process and our end of its channel (the gateway's wire format: one
    pickled tuple per SEQPACKET message, descriptors alongside)."""

    def __init__(self, tree: Path, wrap: list[str]) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, PYTHONPATH=str(tree))
        self.proc = subprocess.Popen(
            [*wrap, sys.executable, "-m", "gateway.media.relay_worker", str(theirs.fileno()),
             "warning", "text"], pass_fds=(theirs.fileno(),), cwd=str(tree), env=env,
            stdin=subprocess.DEVNULL)
        theirs.close()

    def send(self, message: tuple[Any, ...], fds: list[int] | None = None) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.send(data)

    def drain(self) -> None:
        """Read (and drop) what the worker reported: counters twice a second."""
        self.sock.setblocking(False)
        try:
            while True:
                data, fds, _, _ = socket.recv_fds(self.sock, 65536, 4)
                for fd in fds:
                    os.close(fd)
                if not data:
                    return
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            self.sock.setblocking(True)

    def stop(self) -> int:
        self.sock.close()  # the worker ends when its channel does
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def uss_kb(pid: int) -> int:
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pid(proc: subprocess.Popen[bytes], wrap: list[str]) -> int:
    """The worker's python process: under strace a child, under valgrind the same."""
    if not wrap or wrap[0] != "strace":
        return proc.pid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as fh:
            kids = [int(k) for k in fh.read().split()]
        if kids:
            return kids[0]
        time.sleep(0.05)
    raise RuntimeError("no worker process under strace")


def run(tree: Path, calls: int, rounds: int, wrap: list[str], timeout: float,
        window: Any = None) -> dict[str, Any]:
    """Hand ``calls`` calls to a fresh worker, relay ``rounds`` rounds, return the figures.
    ``window(pid, "start" | "end" | "idle", seconds)`` marks the measured window and, after
    it, asks for an idle one of the same length (callgrind's counters are read there)."""
    worker = Worker(tree, wrap)
    book = [Call(i) for i in range(calls)]
    try:
        for i, call in enumerate(book):
            ice_ep, rtp_ep = 2 * i + 1, 2 * i + 2
            worker.send(("open_webrtc", ice_ep, call.webrtc_state()), [call.ice.fileno()])
            worker.send(("open_rtp", rtp_ep, call.rtp_state()), [call.leg.fileno()])
            worker.send(("link", rtp_ep, ice_ep))
            call.ice.close()
            call.leg.close()
        poller = select.epoll()
        ends: dict[int, tuple[Call, bool]] = {}
        for call in book:
            poller.register(call.browser.fileno(), select.EPOLLIN)
            poller.register(call.sip.fileno(), select.EPOLLIN)
            ends[call.browser.fileno()] = (call, True)
            ends[call.sip.fileno()] = (call, False)
        # the worker takes the sockets over asynchronously: wait until each call relays
        pending = set(range(calls))
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} calls never relayed")
            for i in list(pending):
                call = book[i]
                call.sip.sendto(rtp(call.seq, call.ts, SIP_SSRC), call.leg_addr)
            for fd, _ in poller.poll(0.2):
                call, is_browser = ends[fd]
                sock = call.browser if is_browser else call.sip
                while True:
                    try:
                        sock.recv(2048)
                    except BlockingIOError:
                        break
                    if is_browser:
                        pending.discard(call.index)
            worker.drain()
        # what the warm-up left in flight is dropped: wait for a quiet second
        quiet_until = time.monotonic() + 1.0
        while time.monotonic() < quiet_until:
            for fd, _ in poller.poll(0.1):
                call, is_browser = ends[fd]
                sock = call.browser if is_browser else call.sip
                while True:
                    try:
                        sock.recv(2048)
                    except BlockingIOError:
                        break
                quiet_until = time.monotonic() + 1.0
            worker.drain()
        pid = worker_pid(worker.proc, wrap)
        if window is not None:
            window(pid, "start", 0.0)
        cpu0, t0 = cpu_s(pid), time.monotonic()
        relayed = 0
        for r in range(rounds):
            for call in book:
                call.seq = (call.seq + 1) & 0xFFFF
                call.ts = (call.ts + 160) & 0xFFFFFFFF
                call.browser.sendto(call.browser_tx.protect(rtp(call.seq, call.ts,
                                                                BROWSER_SSRC)), call.ice_addr)
                call.sip.sendto(rtp(call.seq, call.ts, SIP_SSRC), call.leg_addr)
            want, got = 2 * calls, 0
            check = r in (0, rounds - 1)
            while got < want:
                events = poller.poll(timeout)
                if not events:
                    raise RuntimeError(f"round {r}: {want - got} of {want} packets not relayed")
                for fd, _ in events:
                    call, is_browser = ends[fd]
                    sock = call.browser if is_browser else call.sip
                    while True:
                        try:
                            data = sock.recv(2048)
                        except BlockingIOError:
                            break
                        if is_browser:
                            if len(data) > 1 and 191 < data[1] < 224:
                                continue  # (no SRTCP is sent by a worker on its own)
                            if check:
                                plain = call.browser_rx.unprotect(data)
                                assert plain[12:] == PAYLOAD, "payload changed to the browser"
                        elif check:
                            assert data[12:] == PAYLOAD, "payload changed to SIP"
                            assert data[8:12] == (0x01020304).to_bytes(4, "big"), "SSRC"
                        got += 1
            relayed += got
            if r % 25 == 0:
                worker.drain()
        cpu = cpu_s(pid) - cpu0
        wall = time.monotonic() - t0
        if window is not None:
            window(pid, "end", wall)
            worker.drain()
            window(pid, "idle", wall)
        figures = {"tree": str(tree), "calls": calls, "rounds": rounds, "packets": relayed,
                   "cpu_us_per_packet": 1e6 * cpu / relayed if relayed else 0.0,
                   "wall_s": wall, "rss_kb": status_kb(pid, "VmRSS"),
                   "hwm_kb": status_kb(pid, "VmHWM"), "uss_kb": uss_kb(pid)}
    finally:
        code = worker.stop()
    if code not in (0, -15):
        raise RuntimeError(f"the media worker exited with {code}")
    return figures


CALLGRIND_CALLS = ("epoll_wait", "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg",
                   "send", "recv", "clock_gettime", "epoll_ctl")


def callgrind(tree: Path, calls: int, rounds: int, timeout: float) -> dict[str, Any]:
    """Instructions and libc calls per relayed packet under ``valgrind --tool=callgrind``:
    counters zeroed after the hand-over, dumped after the rounds; then an idle window of the
    same length (what runs on timers: counters reports) is dumped too and subtracted, as
    under valgrind a timer fires far more often per packet than at full speed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(os.environ.get("RELAY_BENCH_KEEP") or tmp) / f"cg.{tree.resolve().name}"
        dumps: list[Path] = []

        def window(pid: int, mark: str, seconds: float) -> None:
            if mark == "idle":
                control(pid, "-z")
                time.sleep(seconds)
            control(pid, "-z" if mark == "start" else "-d")
            if mark != "start":
                dumps.append(Path(f"{out}.{len(dumps) + 1}"))

        wrap = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                "--trace-children=no", "--dump-instr=no"]
        figures = run(tree, calls, rounds, wrap, timeout, window)
        (busy, busy_calls), (idle, idle_calls) = (_totals(d) for d in dumps)
    packets = figures["packets"]
    per = {name: round((busy_calls.get(name, 0) - idle_calls.get(name, 0)) / packets, 3)
           for name in CALLGRIND_CALLS if busy_calls.get(name, 0) - idle_calls.get(name, 0)}
    return {"tree": str(tree), "calls": calls, "packets": packets,
            "instructions_per_packet": round((busy - idle) / packets),
            "idle_instructions_per_call_second": round(idle / figures["wall_s"] / calls),
            "libc_calls_per_packet": per, "rss_kb_under_valgrind": figures["rss_kb"]}


def control(pid: int, option: str) -> None:
    done = subprocess.run(["callgrind_control", option, str(pid)], capture_output=True,
                          text=True, timeout=120)
    if "OK" not in done.stdout:
        raise RuntimeError(f"callgrind_control {option} {pid}: {done.stdout}{done.stderr}")


def _totals(path: Path) -> tuple[int, dict[str, int]]:
    total = 0
    with path.open() as fh:
        for line in fh:
            if line.startswith("totals:"):
                total = int(line.split()[1])
    return total, _libc_calls(path)


def _libc_calls(out: Path) -> dict[str, int]:
    """How often each wrapper of CALLGRIND_CALLS was called (callgrind's call counts)."""
    counts: dict[str, int] = {}
    current_cfn = None
    names: dict[str, str] = {}
    with out.open() as fh:
        for line in fh:
            if line.startswith("cfn="):
                m = re.match(r"cfn=\((\d+)\)(?: (.*))?", line.strip())
                if m:
                    if m.group(2):
                        names[m.group(1)] = m.group(2)
                    current_cfn = names.get(m.group(1))
            elif line.startswith("fn="):
                m = re.match(r"fn=\((\d+)\)(?: (.*))?", line.strip())
                if m and m.group(2):
                    names[m.group(1)] = m.group(2)
            elif line.startswith("calls=") and current_cfn is not None:
                base = current_cfn.split("'")[0]
                if base in CALLGRIND_CALLS:
                    counts[base] = counts.get(base, 0) + int(line.split()[0][6:])
                current_cfn = None
    return counts


def strace(tree: Path, calls: int, rounds: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        counts = []
        for n in (max(1, rounds // 5), rounds):
            out = Path(tmp) / f"st.{n}"
            figures = run(tree, calls, n, ["strace", "-f", "-c", "-o", str(out)], timeout)
            table: dict[str, int] = {}
            for line in out.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                    table[parts[-1]] = int(parts[3])
            counts.append((figures, table))
    (f0, t0), (f1, t1) = counts
    packets = f1["packets"] - f0["packets"]
    per = {k: (t1.get(k, 0) - t0.get(k, 0)) / packets for k in t1
           if (t1.get(k, 0) - t0.get(k, 0)) / packets > 0.001}
    return {"tree": str(tree), "calls": calls, "packets": packets,
            "syscalls_per_packet": dict(sorted(per.items(), key=lambda kv: -kv[1])),
            "total_per_packet": sum(per.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--tree", type=Path, action="append",
                        help="source tree whose worker runs (default: this one); repeatable")
    parser.add_argument("--callgrind", action="store_true", help="count instructions")
    parser.add_argument("--strace", action="store_true", help="count system calls")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--srtp", choices=sorted(SUITES), default="AES_CM_128_HMAC_SHA1_80",
                        help="the SRTP suite of the browser legs (DTLS-SRTP's choice)")
    args = parser.parse_args()
    global PROFILE, KEY_LENGTH
    PROFILE, KEY_LENGTH = SUITES[args.srtp]
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for tree in args.tree or [ROOT]:
        if args.callgrind:
            result = callgrind(tree, args.calls, args.rounds, args.timeout * 20)
        elif args.strace:
            result = strace(tree, args.calls, args.rounds, args.timeout * 5)
        else:
            result = run(tree, args.calls, args.rounds, [], args.timeout)
        print(result, flush=True)


if __name__ == "__main__":
    main()
