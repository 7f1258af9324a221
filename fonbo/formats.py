"""Contacts as CSV and vCard: parsing with line numbers for every bad line, and writing.

Parsers return the contacts they could read plus a list of :class:`LineError`; the caller
decides whether any error cancels the whole import. Numbers are normalised (spaces, dashes,
dots and brackets removed) and then checked with the same schema as the JSON API.
"""

from __future__ import annotations

import csv
import io
import quopri
import re
from dataclasses import dataclass
from typing import Any

from fonbo.schema import EMAIL, PHONE_NUMBER, SchemaError, string, validate

csv.field_size_limit(64 * 1024)

CSV_COLUMNS = ("name", "number", "email", "company", "notes", "favourite")
_ALIASES = {
    "name": "name", "nombre": "name", "fn": "name", "full name": "name", "display name": "name",
    "number": "number", "numero": "number", "número": "number", "phone": "number",
    "telephone": "number", "telefono": "number", "teléfono": "number", "tel": "number",
    "email": "email", "e-mail": "email", "correo": "email", "mail": "email",
    "company": "company", "empresa": "company", "organization": "company", "org": "company",
    "notes": "notes", "notas": "notes", "note": "notes",
    "favourite": "favourite", "favorite": "favourite", "favorito": "favourite",
}
_TRUE = {"1", "true", "yes", "y", "si", "sí", "x"}
_FALSE = {"", "0", "false", "no", "n"}
_FIELD_SCHEMAS = {"name": string(128, min_length=1), "number": PHONE_NUMBER, "email": EMAIL,
                  "company": string(128), "notes": string(1024)}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "message": self.message}


@dataclass
class Parsed:
    contacts: list[tuple[int, dict[str, Any]]]
    errors: list[LineError]


def decode_text(raw: bytes) -> str:
    """UTF-8 (with or without BOM); files saved by spreadsheet tools in Windows-1252 too."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def normalise_number(text: str) -> str:
    return re.sub(r"[\s\-.()/]", "", text.strip())


def check_fields(fields: dict[str, Any]) -> str | None:
    """The first problem of a contact read from a file, or None."""
    for key, schema in _FIELD_SCHEMAS.items():
        value = fields.get(key, "")
        if key == "number" and value == "":
            continue
        try:
            validate(schema, value, key)
        except SchemaError as exc:
            return str(exc)
    if not fields.get("number") and not fields.get("email"):
        return "a contact needs a number or an email"
    return None


def _unguard(value: str) -> str:
    """Undo the quote the CSV writer puts before formula-like cells."""
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@":
        return value[1:]
    return value


# --- CSV -------------------------------------------------------------------------------------
def parse_csv(text: str, max_rows: int) -> Parsed:
    contacts: list[tuple[int, dict[str, Any]]] = []
    errors: list[LineError] = []
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    columns: list[str | None] | None = None
    line = 0
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(LineError(start, f"unreadable CSV: {exc}"))
            break
        line = start
        if not any(cell.strip() for cell in record):
            continue
        if columns is None:
            columns = [_ALIASES.get(c.strip().lower()) for c in record]
            if "name" not in columns:
                errors.append(LineError(line, "the first line must be a header with a 'name' "
                                              "column (and number, email, company, notes, "
                                              "favourite)"))
                break
            unknown = [c for c, m in zip(record, columns, strict=True) if m is None]
            if unknown:
                errors.append(LineError(line, "unknown columns: " + ", ".join(unknown)))
                break
            continue
        if len(record) > len(columns):
            errors.append(LineError(line, f"{len(record)} fields but the header has "
                                          f"{len(columns)}"))
            continue
        if len(contacts) >= max_rows:
            errors.append(LineError(line, f"too many contacts; at most {max_rows} per import"))
            break
        fields: dict[str, Any] = {}
        for col, cell in zip(columns, record, strict=False):
            if col is not None:
                fields[col] = _unguard(cell.strip())
        contact = _finish(fields)
        problem = contact if isinstance(contact, str) else check_fields(contact)
        if problem:
            errors.append(LineError(line, problem))
        else:
            assert isinstance(contact, dict)
            contacts.append((line, contact))
    if columns is None and not errors:
        errors.append(LineError(1, "the file is empty; expected a header line with a 'name' "
                                   "column"))
    return Parsed(contacts, errors)


def _finish(fields: dict[str, Any]) -> dict[str, Any] | str:
    fav = str(fields.get("favourite", "")).strip().lower()
    if fav in _TRUE:
        fields["favourite"] = True
    elif fav in _FALSE:
        fields["favourite"] = False
    else:
        return f"favourite: must be yes/no or 1/0, got {fields.get('favourite')!r}"
    if "number" in fields:
        fields["number"] = normalise_number(str(fields["number"]))
    return {k: fields.get(k, "" if k != "favourite" else False) for k in CSV_COLUMNS}


def csv_cell(value: Any) -> str:
    """One CSV cell as text, safe to open in a spreadsheet: a cell that a spreadsheet would
    take for a formula (``=``, ``+``, ``-``, ``@``, tab or carriage return first) gets a
    leading quote, unless it is a dialable number such as ``+34600111222``. ``None`` is an
    empty cell and booleans are ``1``/``0``. Every CSV this service writes goes through here."""
    if value is None:
        return ""
    text = "1" if value is True else "0" if value is False else str(value)
    if text.startswith(_FORMULA_START) and not re.fullmatch(r"\+?[0-9*#]+", text):
        return "'" + text
    return text


def write_csv(contacts: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for c in contacts:
        writer.writerow([csv_cell(c.get(col, "")) for col in CSV_COLUMNS])
    return out.getvalue()


# --- vCard -----------------------------------------------------------------------------------
_PROP = re.compile(r"^(?:[A-Za-z0-9-]+\.)?([A-Za-z0-9-]+)((?:;[^:]*)?):(.*)$", re.S)


def _unfold(text: str) -> list[tuple[int, str]]:
    logical: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") and logical:
            start, previous = logical[-1]
            logical[-1] = (start, previous + raw[1:])
        else:
            logical.append((number, raw))
    return logical


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _split_unescaped(value: str, sep: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            current.append(value[i:i + 2])
            i += 2
            continue
        if value[i] == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(value[i])
        i += 1
    parts.append("".join(current))
    return parts


def parse_vcard(text: str, max_rows: int) -> Parsed:
    contacts: list[tuple[int, dict[str, Any]]] = []
    errors: list[LineError] = []
    card: dict[str, Any] | None = None
    card_line = 0
    for line, content in _unfold(text):
        if not content.strip():
            continue
        m = _PROP.match(content)
        if not m:
            errors.append(LineError(line, "malformed line: expected NAME:value"))
            if card is not None:
                card["_bad"] = True
            continue
        name, params, value = m.group(1).upper(), m.group(2).upper(), m.group(3)
        if name == "BEGIN":
            if value.strip().upper() != "VCARD":
                errors.append(LineError(line, f"BEGIN:{value.strip()} is not a vCard"))
                continue
            if card is not None:
                errors.append(LineError(card_line, "card not closed with END:VCARD"))
            card, card_line = {}, line
            continue
        if card is None:
            errors.append(LineError(line, f"{name} outside a BEGIN:VCARD … END:VCARD block"))
            continue
        if name == "END":
            if card.pop("_bad", False):
                card = None
                continue
            if len(contacts) >= max_rows:
                errors.append(LineError(card_line, f"too many contacts; at most {max_rows} "
                                                   f"per import"))
                return Parsed(contacts, errors)
            contact = _card_contact(card)
            problem = contact if isinstance(contact, str) else check_fields(contact)
            if problem:
                errors.append(LineError(card_line, problem))
            else:
                assert isinstance(contact, dict)
                contacts.append((card_line, contact))
            card = None
            continue
        if "QUOTED-PRINTABLE" in params:
            value = quopri.decodestring(value.encode("latin-1", errors="replace")).decode(
                "utf-8", errors="replace")
        card.setdefault(name, []).append((params, value))
    if card is not None:
        errors.append(LineError(card_line, "card not closed with END:VCARD"))
    if not contacts and not errors:
        errors.append(LineError(1, "no vCard found (expected BEGIN:VCARD)"))
    return Parsed(contacts, errors)


def _first(card: dict[str, Any], name: str, prefer: str = "") -> str | None:
    values = card.get(name) or []
    if prefer:
        for params, value in values:
            if prefer in params:
                return str(value)
    return str(values[0][1]) if values else None


def _card_contact(card: dict[str, Any]) -> dict[str, Any] | str:
    name = _first(card, "FN")
    if name is not None:
        name = _unescape(name).strip()
    if not name:
        n = _first(card, "N")
        if n is not None:
            parts = [_unescape(p).strip() for p in _split_unescaped(n, ";")]
            family = parts[0] if parts else ""
            given = parts[1] if len(parts) > 1 else ""
            name = " ".join(p for p in (given, family) if p)
    if not name:
        return "card has no name (FN or N)"
    number = _first(card, "TEL", prefer="PREF") or ""
    number = normalise_number(_unescape(number).removeprefix("tel:"))
    org = _first(card, "ORG") or ""
    fav_flag = (_first(card, "X-WEBFON-FAVOURITE") or "").strip()
    categories = ",".join(_unescape(v) for _, v in card.get("CATEGORIES", [])).lower()
    favourite = fav_flag in ("1", "true") or any(
        c.strip() in ("favourite", "favorite", "favorito", "favoritos")
        for c in categories.split(","))
    return {"name": name, "number": number,
            "email": _unescape(_first(card, "EMAIL") or "").strip(),
            "company": _unescape(_split_unescaped(org, ";")[0]).strip(),
            "notes": _unescape(_first(card, "NOTE") or "").strip(), "favourite": favourite}


def _escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _fold(line: str) -> str:
    """Fold at 75 octets without splitting a UTF-8 character."""
    out: list[str] = []
    current = ""
    size = 0
    limit = 75
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += ch
        size += width
    out.append(current)
    return "\r\n".join(out)


def write_vcard(contacts: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for c in contacts:
        lines += ["BEGIN:VCARD", "VERSION:3.0", f"FN:{_escape(c['name'])}",
                  f"N:;{_escape(c['name'])};;;"]
        if c.get("number"):
            lines.append(f"TEL;TYPE=VOICE:{_escape(c['number'])}")
        if c.get("email"):
            lines.append(f"EMAIL;TYPE=INTERNET:{_escape(c['email'])}")
        if c.get("company"):
            lines.append(f"ORG:{_escape(c['company'])}")
        if c.get("notes"):
            lines.append(f"NOTE:{_escape(c['notes'])}")
        if c.get("favourite"):
            lines.append("X-WEBFON-FAVOURITE:1")
        lines.append("END:VCARD")
    return "".join(_fold(line) + "\r\n" for line in lines)
