"""The CHAR / hmobile connect message format, both ways.

A request is INI-like text with two sections, as in VIVAit Call's integration::

    [credentials]
    user=userid
    password=12345
    [action]
    site=hotelid
    address=100
    action=DND
    data={"DND": [{"room": "100", "status": "1"}]}

``data`` is JSON: an object holding, under the action's name, one entry or a list of entries
(each about one room). The reply is JSON::

    {"action_result": {"result": {"code": "0", "description": "Successfull"}}}

with a non-zero :class:`ResultCode` and a description saying what was wrong otherwise; a reply
that returns something (the calls of a stay) carries it next to ``result`` under ``data``.
The PBX speaks the same format when it tells the PMS something (calls, room status codes,
wake-up results), through hmobile connect's API.
"""

from __future__ import annotations

import configparser
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MAX_REQUEST_BYTES = 64 * 1024
"""Largest request accepted (a check-in of a whole group of rooms fits many times)."""

SUCCESS_DESCRIPTION = "Successfull"
"""The seed's spelling, which CHAR expects."""


class ResultCode(StrEnum):
    """The ``code`` of a reply."""

    OK = "0"
    MALFORMED = "1"
    """Not a request in the [credentials]/[action] format (a section or key missing)."""
    BAD_CREDENTIALS = "2"
    LOCKED = "3"
    """Too many failed logins from that address or for that user: try later."""
    UNKNOWN_SITE = "4"
    UNKNOWN_ACTION = "5"
    BAD_JSON = "6"
    INVALID_DATA = "7"
    """The JSON is fine but an entry lacks a field or has a value that cannot be (a time)."""
    UNKNOWN_ROOM = "8"
    CONFLICT = "9"
    """The room is not in the state the action needs (checking out a vacant room)."""
    NOT_ALLOWED = "10"
    """The request came from a network the PBX does not take CHAR's requests from."""
    INTERNAL = "99"
    """The PBX could not do it now (its store failed): the PMS may retry."""


class CharError(Exception):
    """A request that cannot be carried out: its result code and a description."""

    def __init__(self, code: ResultCode, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(frozen=True)
class CharRequest:
    user: str
    password: str
    site: str
    address: str
    action: str
    data: str
    """The raw JSON text (parsed by :meth:`entries` once the caller is authenticated)."""

    def entries(self) -> list[dict[str, Any]]:
        """The entries of ``data`` under the action's name: a JSON object or a list of them
        (the seed shows both), each a flat object of strings, numbers or booleans."""
        return parse_entries(self.action, self.data)


def parse_request(text: str) -> CharRequest:
    """Parse a request; :class:`CharError` (``MALFORMED``) when it is not one."""
    parser = configparser.ConfigParser(delimiters=("=",), comment_prefixes=(";", "#"),
                                       inline_comment_prefixes=None, strict=True,
                                       interpolation=None, empty_lines_in_values=False)
    parser.optionxform = str.lower  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise CharError(ResultCode.MALFORMED,
                        f"Malformed request: {_first_line(str(exc))}") from None
    for section in ("credentials", "action"):
        if not parser.has_section(section):
            raise CharError(ResultCode.MALFORMED, f"Malformed request: no [{section}] section")

    def get(section: str, key: str, *, required: bool = True) -> str:
        value = parser.get(section, key, fallback="").strip()
        if required and not value:
            raise CharError(ResultCode.MALFORMED,
                            f"Malformed request: [{section}] {key} is missing")
        return value

    return CharRequest(user=get("credentials", "user"),
                       password=get("credentials", "password"),
                       site=get("action", "site"), address=get("action", "address",
                                                                 required=False),
                       action=get("action", "action").upper(),
                       data=get("action", "data", required=False) or "{}")


def parse_entries(action: str, data: str) -> list[dict[str, Any]]:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise CharError(ResultCode.BAD_JSON, f"Invalid JSON in data: {exc}") from None
    if not isinstance(doc, dict):
        raise CharError(ResultCode.BAD_JSON, "Invalid JSON in data: must be an object")
    body = next((v for k, v in doc.items() if str(k).upper() == action), None)
    if body is None:
        return []
    items = body if isinstance(body, list) else [body]
    entries: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or any(
                isinstance(v, dict | list) for v in item.values()):
            raise CharError(ResultCode.INVALID_DATA,
                            f"data {action}[{i}] must be an object of plain values")
        entries.append({str(k).lower(): v for k, v in item.items()})
    return entries


def format_request(user: str, password: str, site: str, address: str, action: str,
                   data: dict[str, Any]) -> str:
    """A request in the same format, as the PBX sends it to hmobile connect."""
    for name, value in (("user", user), ("password", password), ("site", site),
                        ("address", address), ("action", action)):
        if "\n" in value or "\r" in value:
            raise ValueError(f"{name} must be one line")
    return ("[credentials]\n"
            f"user={user}\n"
            f"password={password}\n"
            "[action]\n"
            f"site={site}\n"
            f"address={address}\n"
            f"action={action}\n"
            f"data={json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n")


def reply(code: ResultCode = ResultCode.OK, description: str = SUCCESS_DESCRIPTION,
          data: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"result": {"code": str(code), "description": description}}
    if data is not None:
        result["data"] = data
    return {"action_result": result}


def parse_reply(body: bytes) -> tuple[str, str]:
    """The (code, description) of a reply; :class:`CharError` when it is not one."""
    try:
        doc = json.loads(body)
        result = doc["action_result"]["result"]
        code, description = result["code"], result.get("description", "")
    except (ValueError, KeyError, TypeError, RecursionError):
        raise CharError(ResultCode.MALFORMED,
                        "reply is not an action_result document") from None
    return str(code), str(description)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else "unreadable"
