"""Malformed SIP never crashes the PBX: 400/501/513 when a response is possible, else dropped."""

from __future__ import annotations

import asyncio
import random
import socket

from tests.integration.pbx.pbxrun import RunningPbx
from tests.integration.pbx.test_pbx_calls import registered


def _request(method: str, pbx: RunningPbx, *, headers: dict[str, str] | None = None,
             body: bytes = b"", content_length: int | None = None, drop: str = "") -> bytes:
    h = {"Via": "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-test1;rport",
         "From": "<sip:probe@127.0.0.1>;tag=abc", "To": f"<sip:2001@{pbx.host}>",
         "Call-ID": "malformed-1@127.0.0.1", "CSeq": f"1 {method}", "Max-Forwards": "70",
         "Contact": "<sip:probe@127.0.0.1:9>"}
    h.update(headers or {})
    h.pop(drop, None)
    h["Content-Length"] = str(len(body) if content_length is None else content_length)
    head = f"{method} sip:2001@{pbx.host}:{pbx.port} SIP/2.0\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    return head.encode() + body


class Probe:
    def __init__(self, pbx: RunningPbx) -> None:
        self.pbx = pbx
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)

    async def send(self, data: bytes, wait: float = 2.0) -> str | None:
        loop = asyncio.get_running_loop()
        port = self.sock.getsockname()[1]
        data = data.replace(b"127.0.0.1:9;", f"127.0.0.1:{port};".encode())
        self.sock.sendto(data, (self.pbx.host, self.pbx.port))
        try:
            while True:
                reply = await asyncio.wait_for(loop.sock_recv(self.sock, 65535), wait)
                line = reply.split(b"\r\n", 1)[0].decode()
                if " 100 " not in line:
                    return line
        except TimeoutError:
            return None

    def close(self) -> None:
        self.sock.close()


async def test_bad_requests_get_clear_errors(pbx: RunningPbx) -> None:
    probe = Probe(pbx)
    try:
        dropped = pbx.engine.endpoint.stats["dropped"] + pbx.engine.endpoint.stats["parse_errors"]
        assert await probe.send(b"hello, this is not SIP", wait=0.5) is None
        stats = pbx.engine.endpoint.stats
        assert stats["dropped"] + stats["parse_errors"] > dropped
        assert (await probe.send(_request("OPTIONS", pbx))).startswith("SIP/2.0 200")
        # a mandatory header missing: answered 400 naming it while the Via is usable (the
        # Via names a dead port, so the answer arriving shows rport was followed)
        for header in ("Call-ID", "From", "To", "CSeq"):
            before = stats["bad_requests"]
            bad = _request("INVITE", pbx, drop=header, headers={
                "Via": f"SIP/2.0/UDP 127.0.0.1:7;branch=z9hG4bK-miss-{header};rport"})
            assert await probe.send(bad) == f"SIP/2.0 400 Missing {header}"
            assert stats["bad_requests"] == before + 1
        assert (await probe.send(_request("OPTIONS", pbx))).startswith("SIP/2.0 200")
        # no Via, or a malformed ACK: nothing is answered, the datagram is dropped and counted
        for bad in (_request("INVITE", pbx, drop="Via"),
                    _request("ACK", pbx, drop="Call-ID", headers={"To": "<sip:x@y>;tag=1"})):
            before = stats["dropped"]
            assert await probe.send(bad, wait=0.5) is None
            assert stats["dropped"] == before + 1
        bad_value = await probe.send(_request("OPTIONS", pbx, headers={"Max-Forwards": "x"}))
        assert bad_value is not None and bad_value.startswith("SIP/2.0 400")
        bad_cseq = await probe.send(_request("OPTIONS", pbx, headers={"CSeq": "1 INVITE"}))
        assert bad_cseq is not None and bad_cseq.startswith("SIP/2.0 400")
        unknown = await probe.send(_request("FOO", pbx))
        assert unknown is not None and unknown.startswith("SIP/2.0 501")
        wrong_len = await probe.send(_request("OPTIONS", pbx, body=b"abc", content_length=50))
        assert wrong_len is not None and wrong_len.startswith("SIP/2.0 400")
        big = _request("MESSAGE", pbx, body=b"x" * 64000,
                       headers={"Content-Type": "text/plain"})
        pbx.engine.endpoint.max_message_size = 32000
        oversized = await probe.send(big, wait=1.0)
        assert oversized is None or oversized.startswith(("SIP/2.0 513", "SIP/2.0 400"))
        pbx.engine.endpoint.max_message_size = 65535
        # still alive
        assert (await probe.send(_request("OPTIONS", pbx))).startswith("SIP/2.0 200")
    finally:
        probe.close()


async def test_bad_sdp_and_no_codec(pbx: RunningPbx) -> None:
    a = await registered(pbx, "2001")
    await registered(pbx, "2002")
    bad = a.ua.invite(f"sip:2002@{pbx.host}:{pbx.port}", b"this is not sdp")
    resp = await bad.wait_answer(5)
    assert resp.status == 400 and "SDP" in resp.reason
    sdp = a.offer(codecs=("PCMU",)).replace(b"RTP/AVP 0 101", b"RTP/AVP 18 101")
    sdp = sdp.replace(b"a=rtpmap:0 PCMU/8000", b"a=rtpmap:18 G729/8000")
    g729 = a.ua.invite(f"sip:2002@{pbx.host}:{pbx.port}", sdp)
    resp = await g729.wait_answer(5)
    assert resp.status == 488
    assert not pbx.engine.calls


async def test_mutated_messages_do_not_break_the_engine(pbx: RunningPbx) -> None:
    """Byte flips, truncations and duplicated headers of valid requests (seeded, bounded)."""
    rng = random.Random(20261122)
    seeds = [_request(m, pbx, body=b"v=0\r\n" if m == "INVITE" else b"")
             for m in ("OPTIONS", "INVITE", "REGISTER", "BYE", "ACK", "CANCEL")]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _ in range(400):
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 6)):
                op = rng.random()
                pos = rng.randrange(len(data))
                if op < 0.4:
                    data[pos] = rng.randrange(256)
                elif op < 0.6:
                    del data[pos:pos + rng.randint(1, 40)]
                elif op < 0.8:
                    line_end = data.find(b"\r\n", pos)
                    line_start = data.rfind(b"\r\n", 0, pos) + 2
                    if line_end > line_start:
                        data[line_end:line_end] = b"\r\n" + data[line_start:line_end]
                else:
                    data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
            sock.sendto(bytes(data), (pbx.host, pbx.port))
            if rng.random() < 0.05:
                await asyncio.sleep(0.01)
    finally:
        sock.close()
    await asyncio.sleep(0.5)
    probe = Probe(pbx)
    try:
        assert (await probe.send(_request("OPTIONS", pbx))).startswith("SIP/2.0 200")
    finally:
        probe.close()
    assert pbx.engine.endpoint.stats["handler_errors"] == 0
