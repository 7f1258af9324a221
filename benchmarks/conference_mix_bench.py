"""Cost of the PBX's conference mix per 20 ms tick, on one core, without sockets.

For rooms of N participants (default 3, 5, 10, 20, 40) it feeds each participant's
:class:`~pbx.conference.jitter.JitterBuffer` one G.711 packet per tick (A-law and µ-law
alternating, every participant speaking: the worst case), then times what a room's clock does
per tick: read one frame per participant, :meth:`~pbx.conference.mixer.Mixer.mix` and one
``bytes`` payload per participant (the RTP send itself is left out: it is the same for a relay).
Also times a tick where nobody speaks (silence is sent without mixing). Prints µs per tick and
per participant, and how many such rooms one core could mix in real time (20 ms per tick),
best of ``--repeat`` runs in the process's CPU time.

    .venv/bin/python benchmarks/conference_mix_bench.py
    .venv/bin/python benchmarks/conference_mix_bench.py --sizes 3,10 --ticks 5000 --repeat 7
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pbx.conference.jitter import FRAME, JitterBuffer  # noqa: E402
from pbx.conference.mixer import Mixer  # noqa: E402
from webfon.rtp import g711  # noqa: E402
from webfon.rtp.packet import build_header  # noqa: E402
from webfon.rtp.tones import sine  # noqa: E402


def packets(index: int, ticks: int) -> list[bytes]:
    pt = g711.PT_PCMA if index % 2 else g711.PT_PCMU
    tone = sine(300 + 37 * index, ticks * FRAME / 8000, amplitude=0.2)
    return [build_header(pt, i, i * FRAME, 1000 + index)
            + g711.encode(tone[i * FRAME:(i + 1) * FRAME], pt) for i in range(ticks)]


def run(size: int, ticks: int, speaking: bool) -> float:
    """CPU seconds for ``ticks`` ticks of a room of ``size``."""
    mixer = Mixer()
    mixer.resize(size)
    buffers = [JitterBuffer() for _ in range(size)]
    laws = [g711.PT_PCMA if i % 2 else g711.PT_PCMU for i in range(size)]
    for i, pt in enumerate(laws):
        mixer.set_payload_type(i, pt)
    feeds = [packets(i, ticks) for i in range(size)] if speaking else None
    silence = {pt: g711.silence(pt, FRAME) for pt in laws}
    frames = mixer.frames
    start = time.process_time()
    for tick in range(ticks):
        if feeds is not None:
            for i, buf in enumerate(buffers):
                buf.put(feeds[i][tick], laws[i])
        frames[:size].fill(0)
        heard = False
        for i, buf in enumerate(buffers):
            heard |= buf.read(frames[i])
        if heard:
            encoded = mixer.mix(size)
            out = [encoded[i].tobytes() for i in range(size)]
        else:
            out = [silence[pt] for pt in laws]
        assert len(out) == size
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="3,5,10,20,40")
    parser.add_argument("--ticks", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}, {args.ticks} ticks, "
          f"best of {args.repeat}")
    print(f"{'participants':>12} {'speaking':>9} {'µs/tick':>9} {'µs/participant':>15} "
          f"{'rooms/core':>11}")
    for size in (int(s) for s in args.sizes.split(",")):
        for speaking in (True, False):
            best = min(run(size, args.ticks, speaking) for _ in range(args.repeat))
            per_tick = best / args.ticks * 1e6
            print(f"{size:>12} {'yes' if speaking else 'no':>9} {per_tick:>9.1f} "
                  f"{per_tick / size:>15.2f} {20_000 / per_tick:>11.0f}")


if __name__ == "__main__":
    main()
