"""Destination classes of dialled numbers (Spanish numbering plan) and category checks.

A number is first looked up in the PBX's own numbering (``internal``); anything else is an
outside number, dialled after the outside-line prefix (``0`` by default, as in the seed's
``*72*6721*1111#0611223344``). Outside numbers are classified by the Spanish plan:

* ``emergency``: 112, 016, 061, 062, 080, 085, 088, 091, 092 (dialled with or without prefix);
* ``international``: ``00`` or ``+`` followed by a country code other than 34;
* ``mobile``: nine digits starting with 6, or 7 followed by 1-9;
* ``premium``: 803, 806, 807, 905 (nine digits) and 118xx directory services;
* ``special``: 800/900 freephone, 901/902 shared cost;
* ``local``: geographic (8x/9x, nine digits) within one of the configured local prefixes;
* ``national``: any other geographic number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CLASSES = ("internal", "emergency", "local", "national", "mobile", "international", "premium",
           "special")
DEFAULT_ALLOWED = frozenset({"internal", "emergency"})
EMERGENCY = frozenset({"112", "016", "061", "062", "080", "085", "088", "091", "092"})

_MOBILE = re.compile(r"^(6\d{8}|7[1-9]\d{7})$")
_PREMIUM = re.compile(r"^(80[367]\d{6}|905\d{6}|118\d{2})$")
_SPECIAL = re.compile(r"^(800\d{6}|900\d{6}|90[12]\d{6})$")
_GEOGRAPHIC = re.compile(r"^[89]\d{8}$")
_INTERNATIONAL = re.compile(r"^(00|\+)([1-9]\d{4,16})$")
_DIALLABLE = re.compile(r"^\+?[0-9*#]{1,32}$")


class NumberError(ValueError):
    """The dialled string is not a number this PBX can route."""


@dataclass(frozen=True)
class Classified:
    """What a dialled string is: its class and the number to send onwards (E.164-ish)."""

    dest_class: str
    number: str


def classify_external(dialled: str, local_prefixes: tuple[str, ...] = ()) -> Classified:
    """Class of an outside number given without the outside-line prefix."""
    if dialled in EMERGENCY:
        return Classified("emergency", dialled)
    m = _INTERNATIONAL.match(dialled)
    if m:
        digits = m.group(2)
        if digits.startswith("34") and len(digits) == 11:
            return classify_external(digits[2:], local_prefixes)
        return Classified("international", "00" + digits)
    if _MOBILE.match(dialled):
        return Classified("mobile", dialled)
    if _PREMIUM.match(dialled):
        return Classified("premium", dialled)
    if _SPECIAL.match(dialled):
        return Classified("special", dialled)
    if _GEOGRAPHIC.match(dialled):
        if any(dialled.startswith(p) for p in local_prefixes if p):
            return Classified("local", dialled)
        return Classified("national", dialled)
    raise NumberError(f"{dialled!r} is not a valid Spanish or international number")


def classify_dialled(dialled: str, *, is_internal: bool, outside_prefix: str = "0",
                     local_prefixes: tuple[str, ...] = ()) -> Classified:
    """Class of what a phone dialled; ``is_internal`` says our numbering knows it."""
    if not _DIALLABLE.match(dialled):
        raise NumberError(f"{dialled!r} contains characters that cannot be dialled")
    if is_internal:
        return Classified("internal", dialled)
    if dialled in EMERGENCY:
        return Classified("emergency", dialled)
    if dialled.startswith("+"):
        return classify_external(dialled, local_prefixes)
    if outside_prefix:
        if not dialled.startswith(outside_prefix) or len(dialled) == len(outside_prefix):
            raise NumberError(f"{dialled!r} is not an internal number "
                              f"(outside numbers need the prefix {outside_prefix!r})")
        dialled = dialled[len(outside_prefix):]
    return classify_external(dialled, local_prefixes)


def parse_allowed(text: str | None) -> frozenset[str]:
    """A category's ``allowed`` column (comma separated) as a set of known classes."""
    if text is None:
        return DEFAULT_ALLOWED
    return frozenset(part.strip() for part in text.split(",") if part.strip() in CLASSES)


@dataclass(frozen=True)
class Category:
    id: int | None
    name: str
    allowed: frozenset[str]

    def check(self, classified: Classified) -> str | None:
        """None when allowed, else the reason phrase for the 403."""
        if classified.dest_class in self.allowed:
            return None
        return (f"Category {self.name} does not allow {classified.dest_class} calls")


DEFAULT_CATEGORY = Category(None, "default", DEFAULT_ALLOWED)
