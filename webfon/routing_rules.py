"""Dynamic routing rules: ordered, admin-defined regular expressions on the dialled number and
the caller, with a weekly time window, choosing where a call goes.

A rule (a row of ``routing_rules``) says: calls from *origin* (phones, trunks or any) whose
dialled number matches ``number_pattern`` and whose caller's number matches
``caller_pattern`` (empty: any caller), within its time window, go to ``action``:

* ``extension``, ``queue``, ``ivr`` — the internal number ``target`` (a user's or an
  extension's number; a group or queue; an IVR menu);
* ``trunk`` — out by ``trunk_id`` (none: every trunk by priority), the number ``target`` sent
  with ``trunk_prefix`` in front of it (prefix rewrite, e.g. a carrier selection code);
* ``rewrite`` — the dialled number becomes ``target`` and the following rules (then the
  fixed number classes) carry on with it;
* ``reject`` — the call is refused with ``reject_status``.

``target`` may use the number pattern's captures: ``$1``…``$9``, ``${1}`` or ``${name}``
for a named group ``(?P<name>…)``. Rules are tried in ``position`` order; the first that
matches decides (a ``rewrite`` decides only the number).

Patterns are RE2 expressions (``google-re2``): matching takes time linear in the number's
length whatever the pattern, so no pattern can stall the PBX (no catastrophic backtracking),
and what RE2 cannot do in linear time (back-references, look-around) is refused when the rule
is saved. Patterns are bounded in length and compiled program size too.

This module is shared: FONBO validates rules with it when they are saved, the PBX evaluates
them (:mod:`pbx.rules`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import re2

from webfon.timewindow import ALL_DAYS, DEFAULT_TIMEZONE, TimeWindow, WindowError

MAX_PATTERN_LENGTH = 200
"""Characters in a pattern: enough for any numbering plan, too few to hide a monster."""
MAX_PROGRAM_BYTES = 256 * 1024
"""Memory RE2 may use for one compiled pattern; larger ones are refused."""
MAX_SUBJECT_LENGTH = 64
"""Numbers longer than this are never matched (no dialable number is that long)."""
TARGET_RE = re.compile(r"^(?:[0-9*#+]|\$[1-9]|\$\{(?:[1-9]|[A-Za-z_][A-Za-z0-9_]{0,31})\})+$")
_PLACEHOLDER = re.compile(r"\$(?:([1-9])|\{([1-9]|[A-Za-z_][A-Za-z0-9_]{0,31})\})")
_DIALLABLE = re.compile(r"^\+?[0-9*#]{1,32}$")
_REJECT_STATUSES = (403, 404, 480, 486, 503, 603)


class Action(StrEnum):
    EXTENSION = "extension"
    QUEUE = "queue"
    IVR = "ivr"
    TRUNK = "trunk"
    REWRITE = "rewrite"
    REJECT = "reject"


class Origin(StrEnum):
    ANY = "any"
    PHONES = "phones"
    TRUNKS = "trunks"


ACTIONS = tuple(a.value for a in Action)
ORIGINS = tuple(o.value for o in Origin)
REJECT_STATUSES = _REJECT_STATUSES


class RuleError(ValueError):
    """A rule that cannot be used; ``field`` names the column at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # errors come back as exceptions, not lines on stderr
    options.max_mem = MAX_PROGRAM_BYTES
    return options


_OPTIONS = _options()


def compile_pattern(text: str, field: str) -> Any:
    """``text`` as a compiled RE2 pattern, or :class:`RuleError` saying why not."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise RuleError(field, f"at most {MAX_PATTERN_LENGTH} characters")
    if "\n" in text or "\r" in text:
        raise RuleError(field, "must be one line")
    try:
        return re2.compile(text, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        if "perl operator" in str(reason) or "escape sequence" in str(reason):
            reason = f"{reason} (back-references and look-around are not supported: they " \
                     f"can make matching take exponential time)"
        raise RuleError(field, f"not a usable regular expression: {reason}") from None


@dataclass(frozen=True)
class Match:
    """A rule that matched: the number it produced and the captures it used."""

    rule: Rule
    number: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    position: int
    origin: Origin
    number_re: Any
    caller_re: Any | None
    window: TimeWindow
    action: Action
    target: str
    trunk_id: int | None
    trunk_prefix: str
    reject_status: int

    def applies(self, *, from_trunk: bool, caller: str, at: float) -> bool:
        """Whether origin, caller and time allow this rule (the number aside)."""
        if self.origin is Origin.PHONES and from_trunk:
            return False
        if self.origin is Origin.TRUNKS and not from_trunk:
            return False
        if self.caller_re is not None and (
                len(caller) > MAX_SUBJECT_LENGTH or self.caller_re.fullmatch(caller) is None):
            return False
        return self.window.contains(at)

    def match(self, number: str) -> Match | None:
        """The number this rule makes of ``number``, or None when it does not match."""
        if len(number) > MAX_SUBJECT_LENGTH:
            return None
        m = self.number_re.fullmatch(number)
        if m is None:
            return None
        groups = tuple(g or "" for g in m.groups())
        named = {k: (v or "") for k, v in m.groupdict().items()}
        return Match(self, expand(self.target, groups, named), groups)


def expand(template: str, groups: tuple[str, ...], named: Mapping[str, str]) -> str:
    """``template`` with ``$1``/``${1}``/``${name}`` replaced by the captures."""
    def sub(m: re.Match[str]) -> str:
        key = m.group(1) or m.group(2)
        if key.isdigit():
            i = int(key)
            return groups[i - 1] if i <= len(groups) else ""
        return named.get(key, "")
    return _PLACEHOLDER.sub(sub, template)


def placeholders(template: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in _PLACEHOLDER.finditer(template)]


def is_diallable(number: str) -> bool:
    return bool(_DIALLABLE.match(number))


def compile_rule(row: Mapping[str, Any]) -> Rule:
    """A ``routing_rules`` row (or an admin's request body merged with it) as a rule;
    :class:`RuleError` names the first field that is wrong."""
    try:
        action = Action(str(row.get("action", "")))
    except ValueError:
        raise RuleError("action", f"must be one of {', '.join(ACTIONS)}") from None
    try:
        origin = Origin(str(row.get("origin") or "any"))
    except ValueError:
        raise RuleError("origin", f"must be one of {', '.join(ORIGINS)}") from None
    number_pattern = str(row.get("number_pattern") or "")
    if not number_pattern:
        raise RuleError("number_pattern", "is required")
    number_re = compile_pattern(number_pattern, "number_pattern")
    caller_pattern = str(row.get("caller_pattern") or "")
    caller_re = compile_pattern(caller_pattern, "caller_pattern") if caller_pattern else None
    try:
        window = TimeWindow.parse(str(row.get("days") or ALL_DAYS),
                                  str(row.get("time_from") or "00:00"),
                                  str(row.get("time_to") or "24:00"),
                                  str(row.get("timezone") or DEFAULT_TIMEZONE))
    except WindowError as exc:
        raise RuleError(exc.field, exc.message) from None
    target = str(row.get("target") or "")
    if action is Action.REJECT:
        target = ""
    else:
        if not target:
            raise RuleError("target", f"a {action} rule needs a target number")
        if not TARGET_RE.match(target):
            raise RuleError("target", "digits, * # + and captures $1…$9 or ${name} only")
        for key in placeholders(target):
            if key.isdigit() and int(key) > number_re.groups:
                raise RuleError("target", f"${key} but number_pattern has only "
                                          f"{number_re.groups} group(s)")
            if not key.isdigit() and key not in number_re.groupindex:
                raise RuleError("target", f"${{{key}}} but number_pattern has no group "
                                          f"named {key}")
    trunk_id = row.get("trunk_id")
    prefix = str(row.get("trunk_prefix") or "")
    if action is not Action.TRUNK:
        trunk_id, prefix = None, ""
    elif prefix and not re.fullmatch(r"[0-9*#+]{1,16}", prefix):
        raise RuleError("trunk_prefix", "digits, * # + only (at most 16)")
    status = int(row.get("reject_status") or 403)
    if status not in _REJECT_STATUSES:
        raise RuleError("reject_status", "one of " + ", ".join(map(str, _REJECT_STATUSES)))
    return Rule(int(row.get("id") or 0), str(row.get("name") or ""),
                int(row.get("position") or 0), origin, number_re, caller_re, window, action,
                target, int(trunk_id) if trunk_id is not None else None, prefix, status)


@dataclass(frozen=True)
class Decision:
    """What the rules made of a number: the deciding match (None when only rewrites, or
    nothing, matched), the number after the rewrites, and every rule that matched in order."""

    match: Match | None
    number: str
    matched: tuple[Match, ...]

    @property
    def rewritten(self) -> bool:
        return any(m.rule.action is Action.REWRITE for m in self.matched)


def decide(rules: Iterable[Rule], number: str, *, caller: str, from_trunk: bool,
           at: float) -> Decision:
    """Try ``rules`` in order on ``number`` (see the module docstring)."""
    matched: list[Match] = []
    for rule in rules:
        # cheapest first: the origin, then the number (most rules fail there), then the rest
        if rule.origin is not Origin.ANY and (rule.origin is Origin.TRUNKS) != from_trunk:
            continue
        m = rule.match(number)
        if m is None or not rule.applies(from_trunk=from_trunk, caller=caller, at=at):
            continue
        matched.append(m)
        if rule.action is Action.REWRITE:
            number = m.number
            continue
        return Decision(m, number, tuple(matched))
    return Decision(None, number, tuple(matched))
