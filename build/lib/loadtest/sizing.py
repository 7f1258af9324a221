"""Capacity planner: measure the gateway under a ramp of calls and of connected users, and
print a sizing table beside the seed's rules.

    .venv/bin/python -m loadtest.sizing                     # calls ramp + users ramp
    .venv/bin/python -m loadtest.sizing --calls 10,25,50,100,150 --seconds 15 --budget 600
    .venv/bin/python -m loadtest.sizing --from-json sizing.json      # re-plan from saved runs
    .venv/bin/python -m loadtest.sizing --from-json bench.jsonl      # gateway_bench.py output

Writes the whole run (steps, fitted model, tables) as JSON with ``--json`` and a PNG with
``--plot`` (matplotlib, optional extra ``loadtest``). See docs/SIZING.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from loadtest.emodel import CODECS
from loadtest.report import build_report, fill_mos


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("values must be >= 0")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest.sizing",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=_ints, default=[10, 25, 50, 100, 150, 200, 300],
                   help="ramp steps, concurrent calls (default %(default)s)")
    p.add_argument("--seconds", type=float, default=15.0, help="measurement window per step")
    p.add_argument("--warmup", type=float, default=2.0, help="media warm-up before a window")
    p.add_argument("--budget", type=float, default=900.0,
                   help="seconds for the calls ramp; steps that would not fit are skipped")
    p.add_argument("--max-loss", type=float, default=1.0, help="stop above this loss, %%")
    p.add_argument("--cpu-limit", type=float, default=90.0,
                   help="stop when the gateway uses this %% of one core")
    p.add_argument("--target", choices=("webfon", "janus"), default="webfon",
                   help="system under test for the calls ramp")
    p.add_argument("--users", type=_ints, default=[100, 250, 500, 1000],
                   help="connected-users steps (default %(default)s)")
    p.add_argument("--users-seconds", type=float, default=10.0)
    p.add_argument("--users-budget", type=float, default=300.0)
    p.add_argument("--no-calls", action="store_true", help="skip the calls ramp")
    p.add_argument("--no-users", action="store_true", help="skip the users ramp")
    p.add_argument("--from-json", type=Path, action="append", default=[],
                   help="read saved results instead of measuring (a sizing JSON or "
                        "gateway_bench.py JSON lines); may repeat")
    p.add_argument("--plan", type=_ints, default=[50, 100, 200, 500, 1000],
                   help="simultaneous calls to size for")
    p.add_argument("--plan-users", type=_ints, default=[250, 500, 1000, 2000])
    p.add_argument("--headroom", type=float, default=1.5,
                   help="cores at most 1/headroom busy (default %(default)s)")
    p.add_argument("--base-cores", type=float, default=2.0,
                   help="cores for everything but the media relay (the seed's +2)")
    p.add_argument("--jitter-buffer-ms", type=float, default=40.0,
                   help="receiver jitter buffer assumed by the E-model")
    p.add_argument("--codec", choices=sorted(CODECS), default="g711",
                   help="E-model codec: g711 (Bpl 4.3) or g711-plc (Bpl 25.1)")
    p.add_argument("--json", type=Path, help="write the run and the tables here")
    p.add_argument("--plot", type=Path, help="write a PNG here (needs matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no per-step progress lines")
    p.add_argument("--nice", type=int, default=0,
                   help="run the load generator, gateway and sipp at this niceness (e.g. -10 "
                        "on a shared machine; negative values need root)")
    return p


def load_saved(paths: list[Path], target: str) -> dict[str, Any]:
    """Merge saved results: sizing JSON documents and/or gateway_bench JSON lines."""
    doc: dict[str, Any] = {}
    wanted = "janus" if target == "janus" else "webfon"
    for path in paths:
        try:
            text = path.read_text()
        except OSError as exc:
            raise SystemExit(f"cannot read {path}: {exc.strerror}") from None
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, dict) and ("calls" in whole or "users" in whole):
            for key in ("calls", "users", "machine"):
                if whole.get(key):
                    doc[key] = whole[key]
            continue
        steps = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                raise SystemExit(f"{path}:{number}: not JSON") from None
            if not isinstance(item, dict) or "calls" not in item or "cpu_pct" not in item:
                raise SystemExit(f"{path}:{number}: not a gateway_bench result line")
            if wanted in str(item.get("target", "webfon")).lower():
                steps.append(item)
        if steps:
            steps.sort(key=lambda s: s["calls"])
            doc["calls"] = {"target": steps[0].get("target", wanted), "steps": steps,
                            "stopped": f"read from {path.name}"}
    if not doc:
        raise SystemExit("no usable results in " + ", ".join(str(p) for p in paths))
    return doc


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "python": platform.python_version(),
            "loadavg_1m_at_start": round(os.getloadavg()[0], 2), "nice": os.nice(0),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from loadtest.ramp import RampConfig, run_call_ramp
    from loadtest.users import UsersConfig, run_users_ramp

    progress = (lambda _line: None) if args.quiet else (lambda line: print(line, flush=True))
    doc: dict[str, Any] = {"machine": machine()}
    if not args.no_calls:
        ramp = await run_call_ramp(RampConfig(
            steps=args.calls, seconds=args.seconds, warmup=args.warmup, budget_s=args.budget,
            max_loss_pct=args.max_loss, cpu_limit_pct=args.cpu_limit,
            jitter_buffer_ms=args.jitter_buffer_ms, codec=args.codec, target=args.target),
            progress)
        doc["calls"] = asdict(ramp)
    if not args.no_users:
        users = await run_users_ramp(UsersConfig(steps=args.users, seconds=args.users_seconds,
                                                 budget_s=args.users_budget), progress)
        doc["users"] = asdict(users)
    return doc


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
    return await measure(args)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.headroom < 1:
        parser().error("--headroom must be >= 1")
    if args.from_json:
        doc = load_saved(args.from_json, args.target)
    else:
        if args.no_calls and args.no_users:
            parser().error("nothing to measure (--no-calls and --no-users)")
        if args.nice:
            try:
                os.nice(args.nice - os.nice(0))
            except PermissionError:
                parser().error(f"--nice {args.nice} needs root")
        try:
            doc = asyncio.run(_main(args))
        except asyncio.CancelledError:
            print("interrupted", file=sys.stderr)
            return 130
    doc["config"] = {"headroom": args.headroom, "base_cores": args.base_cores,
                     "jitter_buffer_ms": args.jitter_buffer_ms, "codec": args.codec}
    if doc.get("calls"):
        fill_mos(doc["calls"]["steps"], args.jitter_buffer_ms, args.codec)
    text = build_report(doc, args.plan, args.plan_users, args.headroom, args.base_cores)
    info = doc.get("machine")
    if info:
        print(f"# machine: {info.get('cpus')} CPUs, {info.get('cpu_model')}, "
              f"kernel {info.get('kernel')}, {info.get('date')}, load average "
              f"{info.get('loadavg_1m_at_start')} at start")
    print(text)
    if args.json:
        args.json.write_text(json.dumps(_clean(doc), indent=1) + "\n")
        print(f"results written to {args.json}")
    if args.plot:
        from loadtest.plot import write_plot

        try:
            write_plot(doc, args.plot)
        except RuntimeError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        print(f"plot written to {args.plot}")
    return 0


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True


def _clean(value: Any) -> Any:
    """NaN and infinities become null (JSON has neither)."""
    if isinstance(value, float):
        return value if _finite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.exit(main())
