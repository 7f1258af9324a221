"""``webfon pbx show registrations|calls`` and ``webfon mdflow show config|stats|reload|debug``.

Both query the running PBX's control API (``--url``: ``http(s)://…`` or ``unix:/path``; default
the PBX's ``unix_socket`` when set, else ``http://127.0.0.1:<pbx port>``) with the control key
from the data directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from webfon.control_key import ensure_control_key
from webfon.service_url import ServiceUrl

from .settings import PbxSettings


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


async def _call(args: argparse.Namespace, method: str, path: str,
                body: dict[str, Any] | None = None) -> Any:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    settings = PbxSettings.load(**overrides)
    default = (f"unix:{settings.unix_socket}" if settings.unix_socket is not None
               else f"http://127.0.0.1:{settings.port}")
    target = ServiceUrl.parse(args.url or default)
    key = ensure_control_key(settings.data_dir)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=target.connector(), timeout=timeout) as session, \
            session.request(method, target.base + path, json=body,
                            headers={"Authorization": f"Bearer {key}"}) as resp:
        data = await resp.json(content_type=None)
        if resp.status >= 400:
            message = data.get("error", {}).get("message") if isinstance(data, dict) else data
            raise RuntimeError(f"{resp.status}: {message}")
        return data


async def _run(args: argparse.Namespace) -> int:
    try:
        data = await _call(args, args.method, args.path, args.body)
    except (aiohttp.ClientError, OSError, RuntimeError, TimeoutError, ValueError) as exc:
        print(f"webfon: PBX control API: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        args.render(data)
    return 0


def _render_registrations(data: list[dict[str, Any]]) -> None:
    _table(["aor", "contact", "username", "transport", "source", "expires", "reachable",
            "user agent"],
           [[b["aor"], b["contact"], b["username"], b["transport"], b["source"],
             b["expires_in"], "yes" if b["reachable"] else "no", b["user_agent"]] for b in data])


def _render_calls(data: list[dict[str, Any]]) -> None:
    now = time.time()
    _table(["call-id", "caller", "callee", "state", "duration", "legs"],
           [[c["call_id"], c["caller"], c["callee"], c["state"],
             f"{now - c['started_at']:.0f}s", c.get("legs", "")] for c in data])


def _render_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _render_stats(data: list[dict[str, Any]]) -> None:
    keys = ["flujo", "en_paso", "interval_s", "tasa_entrada", "tasa_salida", "entradas",
            "salidas", "encoladas", "agujero", "desborda", "max_colas", "max_masivos",
            "encoladas_ahora"]
    _table(keys, [[row[k] for k in keys] for row in data])


def _common(p: argparse.ArgumentParser, method: str, path: str, render: Any,
            body: dict[str, Any] | None = None) -> None:
    p.add_argument("--url", help="PBX control API base URL")
    p.add_argument("--data-dir", help="data directory holding keys/pbx_control.key")
    p.add_argument("--json", action="store_true", help="print raw JSON")
    p.set_defaults(run=_run, method=method, path=path, render=render, body=body)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pbx = subparsers.add_parser("pbx", help="embedded PBX")
    pbx_sub = pbx.add_subparsers(dest="pbx_command", required=True)
    show = pbx_sub.add_parser("show", help="show PBX state")
    show_sub = show.add_subparsers(dest="what", required=True)
    _common(show_sub.add_parser("registrations", help="registered contacts"), "GET",
            "/control/registrations", _render_registrations)
    _common(show_sub.add_parser("calls", help="calls in progress"), "GET", "/control/calls",
            _render_calls)

    md = subparsers.add_parser("mdflow", help="mdflow flow control")
    md_sub = md.add_subparsers(dest="mdflow_command", required=True)
    md_show = md_sub.add_parser("show", help="show mdflow configuration or statistics")
    md_show_sub = md_show.add_subparsers(dest="what", required=True)
    _common(md_show_sub.add_parser("config"), "GET", "/control/mdflow/config", _render_json)
    _common(md_show_sub.add_parser("stats"), "GET", "/control/mdflow/stats", _render_stats)
    _common(md_sub.add_parser("reload", help="re-read MDflow.conf"), "POST",
            "/control/mdflow/reload", _render_json)
    debug = md_sub.add_parser("debug", help="log statistics every interval (on|off)")
    debug.add_argument("state", choices=["on", "off"])
    _common(debug, "POST", "/control/mdflow/debug", _render_json)
    debug.set_defaults(body=None, _debug=True)
    orig = debug.get_default("run")

    async def run_debug(args: argparse.Namespace) -> int:
        args.body = {"on": args.state == "on"}
        return await orig(args)

    debug.set_defaults(run=run_debug)
