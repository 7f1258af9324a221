"""Throughput of the SIP message parser and serializer (``webfon.sip.message``) on one core.

For each realistic message kind (INVITE with SDP and three Vias, 200 OK with SDP and
Record-Route, ACK, BYE, REGISTER with Authorization, 401 with WWW-Authenticate) it times:

* ``parse``: ``parse_message(data)``;
* ``parse+validate``: what the endpoint does with every received message;
* ``parse+access``: parse, validate and read what a proxy/B2BUA reads per message
  (``call_id``, ``cseq``, ``vias[0].branch``, ``from_tag``, ``to_tag``, ``contact``);
* ``encode``: ``msg.encode()`` of an already parsed message.

Each figure cycles through 256 variants of the message with distinct branches, tags and
Call-IDs. Prints ops/s and µs/op per kind and operation, best of ``--repeat`` runs, timed in
CPU time of the process (``--wall`` for wall-clock time). On a loaded machine, prefer many
short runs (the best of them is the least disturbed).

    .venv/bin/python benchmarks/sip_parse_bench.py
    .venv/bin/python benchmarks/sip_parse_bench.py --seconds 0.5 --repeat 20 --kinds INVITE BYE

Instructions per operation, independent of the machine's load (difference of two runs)::

    for n in 0 500; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python benchmarks/sip_parse_bench.py --kinds BYE --ops parse+validate \
        --loop $n 2>&1 | grep refs; done

To measure another version of the stack (e.g. a baseline) from an unpacked tree::

    git archive <commit> webfon | tar -x -C /tmp/base
    cd /tmp && PYTHONPATH=/tmp/base /work/main/.venv/bin/python -S \
        /work/main/benchmarks/sip_parse_bench.py
"""
# ruff: noqa: E501 - sample messages keep their real, long header lines

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # after PYTHONPATH: another checkout can be measured

import webfon.sip  # noqa: E402
from webfon.sip import Message, parse_message  # noqa: E402

SDP = (
    b"v=0\r\n"
    b"o=- 3912345678 3912345678 IN IP4 192.0.2.10\r\n"
    b"s=webfon\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 8 0 101\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)


def _msg(head: str, body: bytes = b"") -> bytes:
    lines = head.strip("\n").split("\n")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


INVITE = _msg("""
INVITE sip:2002@192.0.2.20:5060;transport=udp SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-proxy-77aa11;rport
Via: SIP/2.0/TCP 198.51.100.7:5060;branch=z9hG4bK-edge-5d2c9e;received=198.51.100.7
Via: SIP/2.0/UDP 192.0.2.10:5062;received=192.0.2.10;rport=5062;branch=z9hG4bK-ua-0f3b7a61
Record-Route: <sip:192.0.2.1;lr>
Max-Forwards: 68
From: "Alice Example" <sip:2001@webfon>;tag=9fxced76sl
To: <sip:2002@webfon>
Call-ID: 3848276298220188511@192.0.2.10
CSeq: 314159 INVITE
Contact: <sip:2001@192.0.2.10:5062;transport=udp>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE
Supported: replaces, timer
User-Agent: Yealink SIP-T46S 66.86.0.15
Content-Type: application/sdp
""", SDP)

OK_200 = _msg("""
SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-proxy-77aa11;rport=5060
Via: SIP/2.0/UDP 192.0.2.10:5062;received=192.0.2.10;rport=5062;branch=z9hG4bK-ua-0f3b7a61
Record-Route: <sip:192.0.2.1;lr>, <sip:198.51.100.7;lr;transport=tcp>
From: "Alice Example" <sip:2001@webfon>;tag=9fxced76sl
To: <sip:2002@webfon>;tag=8321234356
Call-ID: 3848276298220188511@192.0.2.10
CSeq: 314159 INVITE
Contact: <sip:2002@192.0.2.20:5060>
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE
Supported: replaces
Server: webfon
Content-Type: application/sdp
""", SDP)

ACK = _msg("""
ACK sip:2002@192.0.2.20:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;rport;branch=z9hG4bK-ua-ack-81c2
Route: <sip:192.0.2.1;lr>
Max-Forwards: 70
From: "Alice Example" <sip:2001@webfon>;tag=9fxced76sl
To: <sip:2002@webfon>;tag=8321234356
Call-ID: 3848276298220188511@192.0.2.10
CSeq: 314159 ACK
""")

BYE = _msg("""
BYE sip:2001@192.0.2.10:5062 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.20:5060;rport;branch=z9hG4bK-bye-23ab
Max-Forwards: 70
From: <sip:2002@webfon>;tag=8321234356
To: "Alice Example" <sip:2001@webfon>;tag=9fxced76sl
Call-ID: 3848276298220188511@192.0.2.10
CSeq: 2 BYE
""")

REGISTER = _msg("""
REGISTER sip:webfon SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;rport;branch=z9hG4bK-reg-5f1d
Max-Forwards: 70
From: <sip:2001@webfon>;tag=reg-1234
To: <sip:2001@webfon>
Call-ID: reg-77aa-11bb@192.0.2.10
CSeq: 2 REGISTER
Contact: <sip:2001@192.0.2.10:5062;transport=udp>;expires=3600;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"
Authorization: Digest username="2001", realm="webfon", nonce="MTcwMDAwMDAwMC4wOjk4NzY1NDMyMQ", uri="sip:webfon", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001
Expires: 3600
User-Agent: Yealink SIP-T46S 66.86.0.15
""")

UNAUTHORIZED = _msg("""
SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 192.0.2.10:5062;rport=5062;branch=z9hG4bK-reg-5f1d;received=192.0.2.10
From: <sip:2001@webfon>;tag=reg-1234
To: <sip:2001@webfon>;tag=srv-99
Call-ID: reg-77aa-11bb@192.0.2.10
CSeq: 1 REGISTER
WWW-Authenticate: Digest realm="webfon", nonce="MTcwMDAwMDAwMC4wOjk4NzY1NDMyMQ", algorithm=SHA-256, qop="auth"
WWW-Authenticate: Digest realm="webfon", nonce="MTcwMDAwMDAwMC4wOjk4NzY1NDMyMQ", algorithm=MD5, qop="auth"
Server: webfon
""")

MESSAGES: dict[str, bytes] = {
    "INVITE": INVITE, "200-OK": OK_200, "ACK": ACK, "BYE": BYE,
    "REGISTER": REGISTER, "401": UNAUTHORIZED,
}


VARIANTS = 256


def variants(data: bytes, count: int = VARIANTS) -> list[bytes]:
    """``count`` copies of ``data`` with distinct branches, tags and Call-IDs (as on a real
    network: per-message values differ, so no cache keyed on header text can help)."""
    return [data.replace(b"z9hG4bK-", b"z9hG4bK-%d-" % i).replace(b"tag=", b"tag=%d" % i)
            .replace(b"Call-ID: ", b"Call-ID: %d-" % i) for i in range(count)]


def _cycle(samples: list[Any], op: Callable[[Any], object]) -> Callable[[], object]:
    """A no-argument callable applying ``op`` to the next sample at each call."""
    state = [0]

    def run() -> object:
        i = state[0]
        state[0] = (i + 1) % VARIANTS
        return op(samples[i])
    return run


def _validated(data: bytes) -> object:
    msg = parse_message(data)
    msg.validate()
    return msg


def _accessed(data: bytes) -> object:
    msg = parse_message(data)
    msg.validate()
    return (msg.call_id, msg.cseq, msg.vias[0].branch, msg.from_tag, msg.to_tag, msg.contact)


def _parse(data: bytes) -> Callable[[], object]:
    return _cycle(variants(data), parse_message)


def _parse_validate(data: bytes) -> Callable[[], object]:
    return _cycle(variants(data), _validated)


def _parse_access(data: bytes) -> Callable[[], object]:
    return _cycle(variants(data), _accessed)


def _encode(data: bytes) -> Callable[[], object]:
    return _cycle([parse_message(d) for d in variants(data)], Message.encode)


OPERATIONS: dict[str, Callable[[bytes], Callable[[], object]]] = {
    "parse": _parse, "parse+validate": _parse_validate, "parse+access": _parse_access,
    "encode": _encode,
}


def measure(fn: Callable[[], object], seconds: float, repeat: int,
            clock: Callable[[], float] = time.process_time) -> float:
    """Best ops/s over ``repeat`` runs of about ``seconds`` each, timed with ``clock``
    (CPU time of this process by default, so other load on the machine matters less)."""
    n = 1
    while True:  # calibrate a batch size lasting ~seconds/10
        start = clock()
        for _ in range(n):
            fn()
        elapsed = clock() - start
        if elapsed >= seconds / 10:
            break
        n *= 2
    batch = max(1, int(n * (seconds / 10) / elapsed))
    best = 0.0
    for _ in range(repeat):
        count = 0
        start = clock()
        deadline = start + seconds
        while True:
            for _ in range(batch):
                fn()
            count += batch
            now = clock()
            if now >= deadline:
                break
        best = max(best, count / (now - start))
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=0.2, help="length of one timed run")
    ap.add_argument("--repeat", type=int, default=10, help="runs per figure (best is kept)")
    ap.add_argument("--kinds", nargs="*", default=list(MESSAGES), choices=list(MESSAGES))
    ap.add_argument("--ops", nargs="*", default=list(OPERATIONS), choices=list(OPERATIONS))
    ap.add_argument("--wall", action="store_true",
                    help="time with the wall clock instead of this process's CPU time")
    ap.add_argument("--loop", type=int, metavar="N",
                    help="only run each selected operation N times, untimed (for "
                         "instruction counts under valgrind --tool=callgrind)")
    args = ap.parse_args(argv)
    clock = time.perf_counter if args.wall else time.process_time
    if args.loop is not None:
        for kind in args.kinds:
            for op in args.ops:
                fn = OPERATIONS[op](MESSAGES[kind])
                for _ in range(args.loop):
                    fn()
        return 0

    for kind in args.kinds:  # sanity: every sample is valid and round-trips
        msg = parse_message(MESSAGES[kind])
        msg.validate()
        parse_message(msg.encode()).validate()

    print(f"python {platform.python_version()} on {platform.machine()}, pid {os.getpid()}, "
          f"{args.repeat} x {args.seconds:.1f} s {'wall' if args.wall else 'CPU'} time per figure "
          f"(best), {VARIANTS} variants of each message")
    print(f"parser: {Path(webfon.sip.__file__).parent}")
    print(f"{'message':<10} {'bytes':>5}  {'operation':<15} {'ops/s':>10} {'µs/op':>8}")
    for kind in args.kinds:
        data = MESSAGES[kind]
        for op in args.ops:
            rate = measure(OPERATIONS[op](data), args.seconds, args.repeat, clock)
            print(f"{kind:<10} {len(data):>5}  {op:<15} {rate:>10,.0f} {1e6 / rate:>8.1f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
