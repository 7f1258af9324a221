"""Generated audio prompts (no speech synthesis): beeps, ringback, busy and greetings.

Each prompt is a short tone pattern at 8 kHz, usable as a PBX announcement, voicemail greeting
or music-on-hold stand-in. :func:`write_prompt` saves one as an 8 kHz mono PCM16 WAV.

:func:`position_prompt` announces a caller's place in a waiting line as countable pips: a
rising chime, then each decimal digit of the number as that many short 1400 Hz pips (a zero is
one long low 700 Hz tone), digits half a second apart — "third" is chime, pip pip pip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from webfon.rtp.tones import tone_sequence
from webfon.rtp.wav import write_wav

Samples = npt.NDArray[np.int16]

RATE = 8000

PROMPTS: dict[str, list[tuple[float | tuple[float, ...] | None, float]]] = {
    # the classic "record after the tone" beep
    "beep": [(1000.0, 0.25)],
    # conferences: someone came in (rising), someone left (falling), key in the PIN, wrong PIN
    "conference_enter": [(1200.0, 0.12), (None, 0.04), (1600.0, 0.18)],
    "conference_leave": [(1600.0, 0.12), (None, 0.04), (1200.0, 0.18)],
    "conference_pin": [(660.0, 0.15), (None, 0.05), (880.0, 0.15), (None, 1.5)],
    "conference_pin_wrong": [(480.0, 0.25), (None, 0.1), (480.0, 0.25), (None, 0.4)],
    # a callback («Retrollamada») was booked, or cancelled («Cancelar retrollamada»)
    "callback_booked": [(880.0, 0.15), (None, 0.05), (1100.0, 0.15), (None, 0.05),
                        (1320.0, 0.3)],
    "callback_cancelled": [(1320.0, 0.15), (None, 0.05), (880.0, 0.3)],
    # a short rising three-note greeting, then the beep
    "voicemail_greeting": [(523.25, 0.25), (659.25, 0.25), (783.99, 0.4), (None, 0.4),
                           (1000.0, 0.25)],
    # European ringback: 425 Hz, 1 s on, 4 s off (one cadence)
    "ringback": [(425.0, 1.0), (None, 4.0)],
    # European busy: 425 Hz, 0.5 s on / 0.5 s off
    "busy": [(425.0, 0.5), (None, 0.5)],
    # special information tone, then silence: "number not available"
    "unavailable": [(950.0, 0.33), (1400.0, 0.33), (1800.0, 0.33), (None, 1.0)],
    # an IVR menu with no greeting of its own: two soft chimes, then listen for a key
    "ivr_menu": [(587.33, 0.2), (None, 0.05), (783.99, 0.3), (None, 0.3)],
    # a key the menu does not know
    "ivr_invalid": [(480.0, 0.25), (None, 0.1), (480.0, 0.25), (None, 0.4)],
    # a calm two-tone loop for music on hold
    "hold_music": [((440.0, 554.37), 0.5), ((392.0, 493.88), 0.5), ((349.23, 440.0), 0.5),
                   ((392.0, 493.88), 0.5)],
}


def prompt(name: str, repeat: int = 1, rate: int = RATE) -> Samples:
    """Samples of a named prompt (see :data:`PROMPTS`), repeated ``repeat`` times."""
    try:
        steps = PROMPTS[name]
    except KeyError:
        raise ValueError(f"unknown prompt {name!r}; known: {', '.join(sorted(PROMPTS))}") from None
    once = tone_sequence(steps, rate)
    return np.tile(once, max(1, repeat))


POSITION_PIP_HZ = 1400.0
POSITION_ZERO_HZ = 700.0
POSITION_CHIME: list[tuple[float | tuple[float, ...] | None, float]] = [
    (659.25, 0.15), (880.0, 0.25), (None, 0.35)]


def position_steps(position: int) -> list[tuple[float | tuple[float, ...] | None, float]]:
    """The tone steps announcing place ``position`` (1 = next to be served)."""
    if position < 1:
        raise ValueError("a position starts at 1")
    steps = list(POSITION_CHIME)
    for i, digit in enumerate(str(position)):
        if i:
            steps.append((None, 0.5))
        count = int(digit)
        if count == 0:
            steps.append((POSITION_ZERO_HZ, 0.5))
            continue
        for j in range(count):
            if j:
                steps.append((None, 0.12))
            steps.append((POSITION_PIP_HZ, 0.12))
    steps.append((None, 0.5))
    return steps


def position_prompt(position: int, rate: int = RATE) -> Samples:
    """Samples announcing place ``position`` in a waiting line (see the module's doc)."""
    return tone_sequence(position_steps(position), rate)


def write_prompt(path: str | Path, name: str, repeat: int = 1, rate: int = RATE) -> Path:
    """Write a named prompt as a mono PCM16 WAV."""
    return write_wav(path, prompt(name, repeat, rate), rate)
