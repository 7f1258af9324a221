"""The endpoint list of fonbo/README.md, rendered from the operation table (the same one that
routes requests and makes the OpenAPI document), so the README cannot drift from the server:
``python -m fonbo.apidoc`` prints it; a test compares it with the README."""

from __future__ import annotations

import sys
from typing import Any

from fonbo.api import Operation

NESTED_KEYS_ONLY = 6
"""A nested object with more properties than this is shown by its keys only."""


def _type(schema: dict[str, Any], depth: int) -> str:
    nullable = "?" if schema.get("nullable") else ""
    if "enum" in schema:
        return "|".join(str(v) for v in schema["enum"]) + nullable
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, depth) + nullable
    if kind == "array":
        return f"[{_type(schema.get('items') or {}, depth + 1)}]" + nullable
    return f"{kind or ''}{nullable}"


def _object(schema: dict[str, Any], depth: int) -> str:
    props: dict[str, Any] = schema.get("properties") or {}
    if not props:
        return "{}"
    if depth > 0 and len(props) > NESTED_KEYS_ONLY:
        return "{" + ", ".join(props) + "}"
    required = set(schema.get("required") or [])
    return "{" + ", ".join(f"{k}{'*' if k in required else ''}: {_type(v, depth + 1)}"
                           for k, v in props.items()) + "}"


def operation_lines(op: Operation) -> list[str]:
    head = f"- `{op.method} {op.path}`"
    if op.query:
        head += "  ?" + ", ".join(op.query)
    auth = {"admin": "  [admin]", "none": "  [public]", "media": "  [bearer or ?ticket]"}
    head += auth.get(op.auth, "") + f" — {op.summary}"
    lines = [head]
    if op.body is not None:
        lines.append(f"  - body: `{_type(op.body, 0)}`")
    elif op.raw_body:
        lines.append("  - body: raw " + ", ".join(op.raw_body))
    for status, resp in sorted(op.responses.items()):
        if status >= 300 and status != 304:
            continue
        if not resp.media:
            lines.append(f"  - {status}: no body")
        elif resp.media == "application/json":
            lines.append(f"  - {status}: `{_type(resp.schema or {}, 0)}`")
        else:
            lines.append(f"  - {status}: {resp.media}")
    return lines


def render(operations: list[Operation]) -> str:
    return "\n".join(line for op in operations for line in operation_lines(op)) + "\n"


def main() -> None:
    from fonbo.app import full_api

    sys.stdout.write(render(full_api().operations))


if __name__ == "__main__":
    main()
