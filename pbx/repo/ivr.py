"""IVR menus as the PBX reads them: a menu with its options (``ivr_menus``, ``ivr_options``)
and the uploaded prompts (``ivr_prompts``: 8 kHz mono PCM16 WAV kept base64-encoded in the
store, as every blob is, decoded once per process and kept while unchanged)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from webfon.rtp.wav import WavError, decode_wav_bytes
from webfon.store import Store

Samples = npt.NDArray[np.int16]


class IvrAction(StrEnum):
    """What a key (or the menu's fallback) does with the call."""

    EXTENSION = "extension"
    """Any internal number: a user or an extension (routed like a dialled call)."""
    QUEUE = "queue"
    """A group: hunt, operator or ACD, by its number."""
    VOICEMAIL = "voicemail"
    """A user's mailbox, by the user's number."""
    MENU = "menu"
    """Another IVR menu, by its number."""
    HANGUP = "hangup"


@dataclass(frozen=True, slots=True)
class IvrOption:
    digit: str
    action: IvrAction
    target: str = ""
    stats_enabled: bool = False
    vv_name: str = ""
    vv_key: str = ""


@dataclass(frozen=True, slots=True)
class IvrMenu:
    id: int
    number: str
    name: str
    greeting_prompt_id: int | None
    invalid_prompt_id: int | None
    timeout_s: int
    max_tries: int
    fallback: IvrOption
    options: dict[str, IvrOption]

    def option(self, digit: str) -> IvrOption | None:
        return self.options.get(digit)


def menu_from_rows(row: dict[str, Any], options: list[dict[str, Any]]) -> IvrMenu:
    opts = {str(o["digit"]): IvrOption(str(o["digit"]), IvrAction(o["action"]),
                                       o["target"] or "", bool(o["stats_enabled"]),
                                       o["vv_name"] or "", o["vv_key"] or "")
            for o in options}
    return IvrMenu(int(row["id"]), row["number"], row["name"], row["greeting_prompt_id"],
                   row["invalid_prompt_id"], int(row["timeout_s"]), int(row["max_tries"]),
                   IvrOption("", IvrAction(row["fallback_action"]),
                             row["fallback_target"] or ""), opts)


class IvrRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._prompts: dict[int, tuple[float, Samples]] = {}

    async def menu_by_number(self, number: str) -> IvrMenu | None:
        row = await self.store.fetchone("SELECT * FROM ivr_menus WHERE number = ?", (number,))
        if row is None:
            return None
        options = await self.store.fetchall("SELECT * FROM ivr_options WHERE menu_id = ? "
                                            "ORDER BY digit", (row["id"],))
        return menu_from_rows(row, options)

    async def prompt(self, prompt_id: int) -> Samples | None:
        """The prompt's 8 kHz samples, or None when it is gone or unreadable."""
        created = await self.store.fetchval("SELECT created_at FROM ivr_prompts WHERE id = ?",
                                            (prompt_id,))
        if created is None:
            return None
        hit = self._prompts.get(prompt_id)
        if hit is not None and hit[0] == float(created):
            return hit[1]
        data = await self.store.fetchval("SELECT data FROM ivr_prompts WHERE id = ?",
                                         (prompt_id,))
        try:
            raw = base64.b64decode(data if isinstance(data, str) else bytes(data))
            samples, rate = decode_wav_bytes(raw)
        except (WavError, TypeError, binascii.Error):
            return None
        if rate != 8000:
            return None
        if len(self._prompts) > 256:
            self._prompts.clear()
        self._prompts[prompt_id] = (float(created), samples)
        return samples
