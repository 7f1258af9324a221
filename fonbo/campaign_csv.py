"""A campaign's number list as CSV: reading it with a clear error for each bad line, and
writing its results.

The file has a ``number`` column and optionally a ``name`` one (Spanish headers too: numero,
teléfono, nombre…); without a header line, the first column is the number and the second the
name. Numbers are normalised (spaces, dashes, dots, brackets removed) and must be diallable
(digits, * #, an optional leading +, at most 32). A number twice in the file is reported on
its second line. Cells that spreadsheets quote against formulas ('=…) are read back as typed.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from fonbo.formats import LineError, csv_cell, normalise_number

_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
_HEADERS = {"number": "number", "numero": "number", "número": "number", "phone": "number",
            "telefono": "number", "teléfono": "number", "tel": "number",
            "name": "name", "nombre": "name", "contact": "name", "contacto": "name"}
RESULT_COLUMNS = ("number", "name", "state", "outcome", "attempts", "last_status",
                  "last_reason", "last_attempt_at", "answered_at")


@dataclass
class NumberList:
    numbers: list[tuple[int, str, str]]
    """(line, number, name) of every good line."""
    errors: list[LineError]


def _unguard(value: str) -> str:
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@":
        return value[1:]
    return value


def parse_numbers(text: str, max_rows: int) -> NumberList:
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    numbers: list[tuple[int, str, str]] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    columns: list[str | None] | None = None
    while True:
        line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(LineError(line, f"unreadable CSV: {exc}"))
            break
        cells = [_unguard(c.strip()) for c in record]
        if not any(cells):
            continue
        if columns is None:
            names = [_HEADERS.get(c.lower()) for c in cells]
            if "number" in names:
                unknown = [c for c, n in zip(cells, names, strict=True) if n is None and c]
                if unknown:
                    errors.append(LineError(line, "unknown columns: " + ", ".join(unknown)
                                            + " (use number and name)"))
                    break
                columns = names
                continue
            columns = ["number", "name"]  # no header: number, then name
        if len(cells) > len(columns):
            errors.append(LineError(line, f"{len(cells)} fields but "
                                          f"{len(columns)} columns (number, name)"))
            continue
        fields = {col: cell for col, cell in zip(columns, cells, strict=False) if col}
        raw = fields.get("number", "")
        number = normalise_number(raw)
        name = fields.get("name", "")
        if not number:
            errors.append(LineError(line, "no number"))
        elif not _NUMBER.match(number):
            errors.append(LineError(line, f"{raw!r} is not a phone number (digits, * #, an "
                                          f"optional leading +, at most 32)"))
        elif len(name) > 128:
            errors.append(LineError(line, "name: at most 128 characters"))
        elif number in seen:
            errors.append(LineError(line, f"{number} is already on line {seen[number]}"))
        elif len(numbers) >= max_rows:
            errors.append(LineError(line, f"too many numbers; at most {max_rows} per import"))
            break
        else:
            seen[number] = line
            numbers.append((line, number, name))
    if columns is None and not errors:
        errors.append(LineError(1, "the file is empty; expected a number on each line"))
    return NumberList(numbers, errors)


def write_results(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(RESULT_COLUMNS)
    for r in rows:
        writer.writerow([csv_cell(r.get(col)) for col in RESULT_COLUMNS])
    return out.getvalue()
