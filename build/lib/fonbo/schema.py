"""A small JSON-schema checker for request bodies and query strings, with readable messages.

The same schema dictionaries go into the OpenAPI document, so what the spec promises is what
the server enforces. Supported keywords: ``type`` (one name), ``nullable``, ``properties``,
``required``, ``additionalProperties`` (false), ``minProperties``, ``items``, ``minItems``,
``maxItems``, ``minLength``, ``maxLength``, ``pattern``, ``enum``, ``minimum``, ``maximum``.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

Schema = dict[str, Any]

MAX_ID = 2**53 - 1


class SchemaError(ValueError):
    """Input that does not match its schema; ``errors`` lists (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(f"{first[0]}: {first[1]}" if first[0] else first[1])


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))
    return True


def _check(schema: Schema, value: Any, where: str, errors: list[tuple[str, str]]) -> None:
    if value is None:
        if not schema.get("nullable"):
            errors.append((where, "must not be null"))
        return
    kind = schema.get("type")
    if kind and not _type_ok(kind, value):
        noun = {"object": "an object", "array": "a list", "string": "a string",
                "boolean": "true or false", "integer": "an integer",
                "number": "a finite number"}.get(kind, kind)
        errors.append((where, f"must be {noun}"))
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append((where, "must be one of " + ", ".join(map(str, schema["enum"]))))
        return
    if isinstance(value, str):
        _check_string(schema, value, where, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append((where, f"must be at least {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append((where, f"must be at most {schema['maximum']}"))
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append((where, f"needs at least {schema['minItems']} items"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append((where, f"allows at most {schema['maxItems']} items"))
        item_schema = schema.get("items")
        if item_schema:
            for i, item in enumerate(value):
                _check(item_schema, item, f"{where}[{i}]", errors)
    elif isinstance(value, dict):
        _check_object(schema, value, where, errors)


def _check_string(schema: Schema, value: str, where: str,
                  errors: list[tuple[str, str]]) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors.append((where, "must be valid Unicode text"))
        return
    if "\x00" in value:
        errors.append((where, "must not contain NUL characters"))
        return
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append((where, "must not be empty" if schema["minLength"] == 1
                       else f"must be at least {schema['minLength']} characters"))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append((where, f"must be at most {schema['maxLength']} characters"))
    if "pattern" in schema and not _regex(schema["pattern"]).search(value):
        errors.append((where, schema.get("x-pattern-message", "has an invalid format")))


def _check_object(schema: Schema, value: dict[str, Any], where: str,
                  errors: list[tuple[str, str]]) -> None:
    props: dict[str, Schema] = schema.get("properties", {})
    prefix = f"{where}." if where else ""
    for name in schema.get("required", ()):
        if name not in value:
            errors.append((f"{prefix}{name}", "is required"))
    if schema.get("additionalProperties") is False:
        for name in value:
            if name not in props:
                errors.append((f"{prefix}{name}", "is not a known field"))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errors.append((where, "must name at least one field"))
    for name, sub in props.items():
        if name in value:
            _check(sub, value[name], f"{prefix}{name}", errors)


def validate(schema: Schema, value: Any, where: str = "") -> Any:
    """Return ``value`` when it matches ``schema``; raise :class:`SchemaError` otherwise."""
    errors: list[tuple[str, str]] = []
    _check(schema, value, where, errors)
    if errors:
        raise SchemaError(errors)
    return value


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def parse_param(schema: Schema, raw: str, name: str) -> Any:
    """Convert a query/path string to the schema's type, then validate it."""
    kind = schema.get("type", "string")
    value: Any = raw
    if kind == "integer":
        if not re.fullmatch(r"-?\d{1,18}", raw.strip()):
            raise SchemaError([(name, "must be an integer")])
        value = int(raw)
    elif kind == "number":
        try:
            value = float(raw)
        except ValueError:
            raise SchemaError([(name, "must be a number")]) from None
        if not math.isfinite(value):
            raise SchemaError([(name, "must be a finite number")])
    elif kind == "boolean":
        text = raw.strip().lower()
        if text in _TRUE:
            value = True
        elif text in _FALSE:
            value = False
        else:
            raise SchemaError([(name, "must be true or false")])
    return validate(schema, value, name)


# --- reusable field schemas ------------------------------------------------------------------
def string(max_length: int, *, min_length: int = 0, pattern: str | None = None,
           message: str | None = None, nullable: bool = False, **extra: Any) -> Schema:
    s: Schema = {"type": "string", "maxLength": max_length, **extra}
    if min_length:
        s["minLength"] = min_length
    if pattern:
        s["pattern"] = pattern
        if message:
            s["x-pattern-message"] = message
    if nullable:
        s["nullable"] = True
    return s


def integer(minimum: int | None = None, maximum: int | None = None, *,
            nullable: bool = False, **extra: Any) -> Schema:
    s: Schema = {"type": "integer", **extra}
    if minimum is not None:
        s["minimum"] = minimum
    if maximum is not None:
        s["maximum"] = maximum
    if nullable:
        s["nullable"] = True
    return s


def number(minimum: float | None = None, maximum: float | None = None, **extra: Any) -> Schema:
    s: Schema = {"type": "number", **extra}
    if minimum is not None:
        s["minimum"] = minimum
    if maximum is not None:
        s["maximum"] = maximum
    return s


def boolean(**extra: Any) -> Schema:
    return {"type": "boolean", **extra}


def enum(*values: str, **extra: Any) -> Schema:
    return {"type": "string", "enum": list(values), **extra}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), *,
        closed: bool = True, min_properties: int = 0, **extra: Any) -> Schema:
    s: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        s["required"] = list(required)
    if closed:
        s["additionalProperties"] = False
    if min_properties:
        s["minProperties"] = min_properties
    return s


def array(items: Schema, *, max_items: int | None = None, min_items: int = 0) -> Schema:
    s: Schema = {"type": "array", "items": items}
    if max_items is not None:
        s["maxItems"] = max_items
    if min_items:
        s["minItems"] = min_items
    return s


ID = integer(1, MAX_ID)
NULLABLE_ID = integer(1, MAX_ID, nullable=True)
PHONE_NUMBER = string(32, min_length=1, pattern=r"^\+?[0-9*#]{1,31}$",
                      message="must be a phone number: digits, *, # and an optional leading +")
DIAL_NUMBER = string(32, pattern=r"^(\+?[0-9*#]{1,31})?$",
                     message="must be empty or a phone number: digits, *, # and a leading +")
EMAIL = string(255, pattern=r"^$|^[^@\s]+@[^@\s]+$", message="must be an email address")
TIMESTAMP = number(0, 1e11)
