"""Feature codes a phone dials for the PBX itself rather than for someone: ``*43#``
«Retrollamada» (book a callback to the busy number just called; ``*43*<number>#`` for a given
number) and ``*44#`` «Cancelar retrollamada» (cancel one's callbacks)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Feature(StrEnum):
    CALLBACK = "callback"
    CANCEL_CALLBACK = "cancel_callback"


@dataclass(frozen=True)
class FeatureCode:
    feature: Feature
    number: str | None = None
    """The number it is about, when dialled with one (``*43*1002#``)."""


_CODE = re.compile(r"^\*(43|44)(?:\*([0-9]{1,32}))?#$")
_FEATURES = {"43": Feature.CALLBACK, "44": Feature.CANCEL_CALLBACK}


def parse_feature_code(dialled: str) -> FeatureCode | None:
    """The feature code ``dialled`` is, or None when it is no feature code."""
    m = _CODE.match(dialled)
    if m is None or (m.group(1) == "44" and m.group(2)):
        return None
    return FeatureCode(_FEATURES[m.group(1)], m.group(2))
