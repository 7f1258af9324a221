"""Pairing of relayed packets in a capture (``loadtest.relay_delay``), on synthetic pcaps."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from loadtest.relay_delay import PAYLOAD_FORMAT, CallPorts, read_pcap, relay_delays

SERVER = "127.0.0.1"
SIP = ("127.0.0.1", 6000)


def _udp_frame(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes(int(x) for x in src[0].split(".")),
                     bytes(int(x) for x in dst[0].split(".")))
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


def _write_pcap(path: Path, frames: list[tuple[float, bytes]]) -> None:
    with path.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, frame in frames:
            sec = int(t)
            fh.write(struct.pack("<IIII", sec, round((t - sec) * 1e6), len(frame), len(frame)))
            fh.write(frame)


def _rtp(seq: int, payload: bytes, pt: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, 0, 1234) + payload


def _body(index: int, n: int, flag: int = 1) -> bytes:
    return struct.pack(PAYLOAD_FORMAT, 0.0, flag, index, n).ljust(160, b"\xff")


def test_both_directions_are_paired_with_the_servers_sequence_offset(tmp_path: Path) -> None:
    client = ("127.0.0.1", 40000)
    gw_ice = ("127.0.0.1", 30000)
    gw_rtp = ("127.0.0.1", 30002)
    seq0, offset = 65530, 1000  # wraps, and the server rebases what it sends the browser
    frames: list[tuple[float, bytes]] = []
    t = 100.0
    for n in range(1, 21):
        seq = seq0 + n
        # browser -> server (SRTP: header clear, payload encrypted) -> SIP peer
        frames.append((t, _udp_frame(client, gw_ice, _rtp(seq, b"\x00" * 170))))
        frames.append((t + 0.0004, _udp_frame(gw_rtp, SIP, _rtp(seq, _body(7, n)))))
        # SIP peer echoes -> server -> browser
        frames.append((t + 0.001, _udp_frame(SIP, gw_rtp, _rtp(seq, _body(7, n)))))
        frames.append((t + 0.0013 + (0.002 if n == 10 else 0),
                       _udp_frame(gw_ice, client, _rtp(seq + offset, b"\x00" * 170))))
        # an RTCP packet and a STUN binding request are not media
        frames.append((t + 0.002, _udp_frame(client, gw_ice, bytes([0x80, 200]) + b"\0" * 30)))
        frames.append((t + 0.003, _udp_frame(client, gw_ice, b"\x00\x01" + b"\0" * 30)))
        t += 0.02
    pcap = tmp_path / "media.pcap"
    _write_pcap(pcap, frames)
    packets = list(read_pcap(pcap))
    assert len(packets) == 120
    delays = relay_delays(packets, [CallPorts(7, client[1], seq0)], SIP)
    assert delays.unmatched_to_sip == delays.unmatched_to_browser == 0
    assert len(delays.to_sip) == len(delays.to_browser) == 20
    assert all(d == pytest.approx(0.0004, abs=2e-6) for d in delays.to_sip)
    slow = sorted(delays.to_browser)
    assert slow[0] == pytest.approx(0.0003, abs=2e-6)
    assert slow[-1] == pytest.approx(0.0023, abs=2e-6)


def test_packets_outside_the_window_or_lost_are_not_counted(tmp_path: Path) -> None:
    client = ("127.0.0.1", 40000)
    gw_ice = ("127.0.0.1", 30000)
    gw_rtp = ("127.0.0.1", 30002)
    frames = [
        (1.0, _udp_frame(client, gw_ice, _rtp(11, b"x" * 170))),
        (1.001, _udp_frame(gw_rtp, SIP, _rtp(11, _body(0, 1, flag=0)))),  # warm-up packet
        (1.02, _udp_frame(gw_rtp, SIP, _rtp(12, _body(0, 2)))),  # its input was not captured
        (1.04, _udp_frame(client, gw_ice, _rtp(13, b"x" * 170))),
        (1.041, _udp_frame(gw_rtp, SIP, _rtp(13, _body(0, 3)))),
    ]
    pcap = tmp_path / "media.pcap"
    _write_pcap(pcap, frames)
    delays = relay_delays(read_pcap(pcap), [CallPorts(0, client[1], 10)], SIP)
    assert delays.to_sip == [pytest.approx(0.001, abs=2e-6)]
    assert delays.unmatched_to_sip == 1
    assert delays.to_browser == []


def test_not_a_pcap_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture file at all")
    with pytest.raises(ValueError):
        list(read_pcap(bad))


def test_tcpdumps_drop_count_is_read() -> None:
    from loadtest.relay_delay import dropped_by_kernel

    log = ("tcpdump: listening on lo, link-type EN10MB (Ethernet), snapshot length 128 bytes\n"
           "225463 packets captured\n225463 packets received by filter\n"
           "17 packets dropped by kernel\n")
    assert dropped_by_kernel(log) == 17
    assert dropped_by_kernel("tcpdump: lo: No such device exists\n") is None
