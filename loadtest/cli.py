"""``webfon loadtest``: capacity measurement of a Janus-API SIP gateway, with a report.

    webfon loadtest [TARGET] [--compare TARGET] [ramp options] --out DIR
    webfon loadtest worker --master HOST:PORT [--processes N]      (on load machines)
    webfon loadtest agent --pid PID --token-file FILE              (beside a remote server)
    webfon loadtest report FILE.json [planning options] --out DIR  (re-plan, no measuring)

TARGET is ``webfon`` (start our gateway here, the default), ``janus`` (start Debian's Janus 1.1.2
here, in a network namespace: needs root) or the WebSocket URL of any Janus-API gateway
(``ws://host:8188/janus``). The controller is Locust's master and starts ``--workers`` local
worker processes (2 by default); ``--expect-workers N`` waits for N more started elsewhere.
See docs/SIZING.md.

The run and worker modes import Locust first, which monkey-patches the standard library with
gevent, so they run in a process of their own (``webfon loadtest`` re-executes
``python -m loadtest.cli``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_MASTER_PORT = 5557


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("values must be >= 0")
    return values


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host or "127.0.0.1", int(port)


def _target(text: str) -> str:
    if text in ("webfon", "janus") or text.startswith(("ws://", "wss://")):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r}: expected webfon, janus or a Janus WebSocket URL (ws://host:port/janus)")


def add_planning(p: argparse.ArgumentParser) -> None:
    from webfon.rtp.emodel import CODECS

    g = p.add_argument_group("planning and report")
    g.add_argument("--out", type=Path, default=Path("loadtest-report"),
                   help="directory for report.html, report.json and the plots "
                        "(default %(default)s)")
    g.add_argument("--plan", type=_ints, default=[50, 100, 200, 500, 1000],
                   help="simultaneous calls to size for (default %(default)s)")
    g.add_argument("--plan-users", type=_ints, default=[250, 500, 1000, 2000, 10000])
    g.add_argument("--headroom", type=float, default=1.5,
                   help="cores planned at most 1/headroom busy (default %(default)s)")
    g.add_argument("--base-cores", type=float, default=2.0,
                   help="cores for everything but the media relay (the seed's +2)")
    g.add_argument("--jitter-buffer-ms", type=float, default=40.0,
                   help="receiver jitter buffer assumed by the E-model")
    g.add_argument("--codec", choices=sorted(CODECS), default="g711",
                   help="E-model codec: g711 (Bpl 4.3) or g711-plc (Bpl 25.1)")


def run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="webfon loadtest", description=__doc__.split("\n\n")[0],
                                epilog="Sub-commands: worker, agent, report (each with --help).")
    p.add_argument("target", nargs="?", type=_target, default="webfon",
                   help="webfon | janus | ws://host:port/janus (default webfon)")
    p.add_argument("--compare", type=_target, metavar="TARGET",
                   help="run the same ramps against this gateway too, in the same run")
    s = p.add_argument_group("servers")
    s.add_argument("--media-workers", type=int, default=-1, metavar="N",
                   help="our gateway's media_workers (-1: one per CPU but one, 0: relay in "
                        "its loop)")
    s.add_argument("--token-file", type=Path,
                   help="gateway token for a TARGET URL (our gateway: role test or admin)")
    s.add_argument("--compare-token-file", type=Path)
    s.add_argument("--agent", metavar="URL", help="agent beside a remote TARGET (CPU, memory)")
    s.add_argument("--agent-token-file", type=Path)
    s.add_argument("--compare-agent", metavar="URL")
    s.add_argument("--compare-agent-token-file", type=Path)
    s.add_argument("--server-pid", type=int, default=0,
                   help="process of a TARGET URL that runs on this machine")
    s.add_argument("--compare-pid", type=int, default=0)
    s.add_argument("--server-cores", type=int, default=0, metavar="N",
                   help="cores a TARGET URL's server uses at once (its CPU limit is N x "
                        "--cpu-limit; default: known for local servers, 1 for URLs)")
    s.add_argument("--compare-cores", type=int, default=0, metavar="N")
    c = p.add_argument_group("calls ramp")
    c.add_argument("--calls", type=_ints, default=[10, 25, 50, 100, 150, 200, 300],
                   help="concurrent calls per step (default %(default)s)")
    c.add_argument("--hold", type=float, default=15.0, help="measured seconds per step")
    c.add_argument("--warmup", type=float, default=2.0, help="media warm-up before a window")
    c.add_argument("--setup-rate", type=float, default=10.0, help="call setups per second")
    c.add_argument("--budget", type=float, default=900.0, help="seconds for the calls ramp")
    c.add_argument("--max-loss", type=float, default=1.0, help="stop above this loss, %%")
    c.add_argument("--cpu-limit", type=float, default=90.0,
                   help="stop when a gateway process uses this %% of one core")
    c.add_argument("--media", choices=("g711", "opus"), default="g711",
                   help="the callers' codec: g711 (PCMU, relayed) or opus (the browser offers "
                        "Opus only: the gateway transcodes to G.711; no round trip measured)")
    c.add_argument("--echo-uri", default="",
                   help="SIP URI that echoes RTP (e.g. on a PBX); default: a sipp echo here")
    c.add_argument("--sip-user", default="",
                   help="register callers with this account (a pattern: {n} is the caller's "
                        "number, e.g. sip:load{n}@pbx); default: guests, no REGISTER")
    c.add_argument("--sip-secret", default="", help="password pattern for --sip-user")
    c.add_argument("--sip-proxy", default="", help="registrar/proxy URI for --sip-user")
    u = p.add_argument_group("idle-users ramp")
    u.add_argument("--users", type=_ints, default=[100, 250, 500, 1000],
                   help="connected idle web phones per step (default %(default)s)")
    u.add_argument("--users-hold", type=float, default=10.0)
    u.add_argument("--connect-rate", type=float, default=100.0, help="phones connected per s")
    u.add_argument("--users-budget", type=float, default=900.0)
    u.add_argument("--register-expires", type=int, default=60,
                   help="seconds the registrar grants; the last step lasts 1.2x this so "
                        "every registration must be refreshed")
    u.add_argument("--keepalive", type=float, default=25.0, help="Janus keepalive period")
    p.add_argument("--no-calls", action="store_true")
    p.add_argument("--no-users", action="store_true")
    w = p.add_argument_group("network and workers")
    w.add_argument("--sip-host", default="127.0.0.1",
                   help="address of this machine that a remote gateway reaches sipp and the "
                        "registrar at")
    w.add_argument("--ice-address", action="append", default=None,
                   help="local address the WebRTC callers gather on (repeat; default: "
                        "loopback for a local gateway, every interface otherwise)")
    w.add_argument("--workers", type=int, default=2, help="local worker processes")
    w.add_argument("--expect-workers", type=int, default=0,
                   help="workers started elsewhere (webfon loadtest worker) to wait for")
    w.add_argument("--master-bind", type=_host_port, default=("127.0.0.1", 0),
                   metavar="HOST:PORT",
                   help="where workers connect (default loopback, any free port; Locust's "
                        "channel is not authenticated: bind beyond loopback only on a "
                        "trusted network)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_planning(p)
    return p


def worker_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="webfon loadtest worker",
                                description="a load worker; connects to the controller")
    p.add_argument("--master", type=_host_port, required=True, metavar="HOST:PORT")
    p.add_argument("--processes", type=int, default=1,
                   help="worker processes to run here (one per core is a good start)")
    p.add_argument("--token-file", type=Path, help="gateway token of the target (a URL)")
    p.add_argument("--compare-token-file", type=Path)
    p.add_argument("--sip-secret-file", type=Path,
                   help="password pattern of the callers' SIP accounts (--sip-user)")
    return p


def report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="webfon loadtest report",
                                description="the report again from a saved report.json")
    p.add_argument("json", type=Path)
    add_planning(p)
    return p


def _read_token(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text().strip() or None
    except OSError as exc:
        raise SystemExit(f"cannot read {path}: {exc.strerror}") from None


def _planning(args: argparse.Namespace) -> dict[str, Any]:
    return {"plan": args.plan, "plan_users": args.plan_users, "headroom": args.headroom,
            "base_cores": args.base_cores, "jitter_buffer_ms": args.jitter_buffer_ms,
            "codec": args.codec}


def run(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)
    p = run_parser()
    if args.headroom < 1:
        p.error("--headroom must be >= 1")
    if args.no_calls and args.no_users:
        p.error("nothing to measure (--no-calls and --no-users)")
    if args.workers < 0 or args.workers + args.expect_workers < 1:
        p.error("at least one worker is needed")
    if "janus" in (args.target, args.compare) and os.geteuid() != 0:
        p.error("a local Janus runs in a network namespace: run as root")
    import locust  # noqa: F401  (gevent's monkey-patching before anything else)

    _dump_on_sigusr1()
    from loadtest.controller import Controller, Target
    from loadtest.figures import Limits
    from loadtest.machine import machine_info
    from loadtest.plan import Plan

    targets = [Target("main", args.target, args.media_workers, args.agent or "",
                      _read_token(args.agent_token_file) or "", args.server_pid,
                      _read_token(args.token_file), args.server_cores)]
    if args.compare:
        targets.append(Target("compare", args.compare, args.media_workers,
                              args.compare_agent or "",
                              _read_token(args.compare_agent_token_file) or "",
                              args.compare_pid, _read_token(args.compare_token_file),
                              args.compare_cores))
    plan = Plan(calls=args.calls, hold_s=args.hold, warmup_s=args.warmup,
                setup_rate=args.setup_rate, budget_s=args.budget, users=args.users,
                users_hold_s=args.users_hold, connect_rate=args.connect_rate,
                users_budget_s=args.users_budget, register_expires=args.register_expires,
                keepalive_s=args.keepalive,
                limits=Limits(args.max_loss, args.cpu_limit, 1, args.jitter_buffer_ms,
                              args.codec),
                media="opus" if args.media == "opus" else "pcmu", echo_uri=args.echo_uri,
                sip_user=args.sip_user, sip_secret=args.sip_secret,
                sip_proxy=args.sip_proxy, sip_host=args.sip_host,
                ice_addresses=args.ice_address)
    info = machine_info()
    controller = Controller(plan, targets, args.workers, args.expect_workers,
                            args.master_bind, quiet=args.quiet)
    try:
        doc = controller.run(not args.no_calls, not args.no_users)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"webfon loadtest: {exc}", file=sys.stderr)
        return 1
    doc["machine"] = info
    doc["command"] = "webfon loadtest " + " ".join(argv)
    doc["settings"] = {"calls": list(args.calls), "hold_s": args.hold,
                       "warmup_s": args.warmup, "setup_rate": args.setup_rate,
                       "users": list(args.users), "users_hold_s": args.users_hold,
                       "register_expires_s": args.register_expires,
                       "max_loss_pct": args.max_loss, "cpu_limit_pct": args.cpu_limit}
    import json

    from loadtest.report import clean

    args.out.mkdir(parents=True, exist_ok=True)
    saved = args.out / "report.json"
    saved.write_text(json.dumps(clean(doc), indent=1) + "\n")
    # the report is drawn in a fresh process: this one is gevent-patched and its SIGCHLD
    # belongs to libuv, so a subprocess started by a library (matplotlib) could not be reaped
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "loadtest.cli", "report", str(saved),
                              "--out", str(args.out), *_planning_argv(args)])


def _planning_argv(args: argparse.Namespace) -> list[str]:
    p = _planning(args)
    return ["--plan", ",".join(map(str, p["plan"])),
            "--plan-users", ",".join(map(str, p["plan_users"])),
            "--headroom", str(p["headroom"]), "--base-cores", str(p["base_cores"]),
            "--jitter-buffer-ms", str(p["jitter_buffer_ms"]), "--codec", p["codec"]]


def _dump_on_sigusr1() -> None:
    """``kill -USR1`` prints every greenlet's and thread's stack (where a run waits)."""
    import signal

    def dump(*_: Any) -> None:
        from gevent.util import format_run_info

        print("\n".join(format_run_info()), file=sys.stderr, flush=True)

    signal.signal(signal.SIGUSR1, dump)


def worker(argv: list[str]) -> int:
    args = worker_parser().parse_args(argv)
    tokens = {"main": _read_token(args.token_file),
              "compare": _read_token(args.compare_token_file)}
    if args.processes > 1:
        import subprocess

        rest = [a for a in argv]
        i = rest.index("--processes")
        del rest[i:i + 2]
        procs = [subprocess.Popen([sys.executable, "-m", "loadtest.cli", "worker", *rest])
                 for _ in range(args.processes)]
        try:
            return max(p.wait() for p in procs)
        except KeyboardInterrupt:
            for proc in procs:
                proc.terminate()
            return 130
    import locust  # noqa: F401  (gevent's monkey-patching before anything else)

    from loadtest.distributed import run_worker

    _dump_on_sigusr1()

    host, port = args.master
    return run_worker(host, port, tokens, _read_token(args.sip_secret_file) or "")


def agent(argv: list[str]) -> int:
    from loadtest.agent import add_arguments, run_agent

    p = argparse.ArgumentParser(prog="webfon loadtest agent",
                                description="CPU and memory of a server for a remote "
                                            "load test controller")
    add_arguments(p)
    return run_agent(p.parse_args(argv))


def report(argv: list[str]) -> int:
    import json

    from loadtest.report import write_report

    args = report_parser().parse_args(argv)
    try:
        doc = json.loads(args.json.read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.json}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(doc, dict) or not isinstance(doc.get("targets"), list):
        print(f"{args.json}: not a load test report", file=sys.stderr)
        return 2
    try:
        html = write_report(doc, args.out, **_planning(args))
    except RuntimeError as exc:  # matplotlib missing
        print(f"webfon loadtest: {exc}", file=sys.stderr)
        return 2
    print(f"report: {html}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    modes = {"worker": worker, "agent": agent, "report": report}
    if argv and argv[0] in modes:
        return modes[argv[0]](argv[1:])
    return run(argv)


def register(sub: Any) -> None:
    """``webfon loadtest …``: runs ``python -m loadtest.cli …`` in a fresh process (Locust's
    gevent patching must come before the launcher's imports)."""
    p = sub.add_parser("loadtest", help="capacity test of a gateway, with a report",
                       add_help=False, prefix_chars="\0")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(run=_exec, sync=True)


def _exec(args: argparse.Namespace) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "loadtest.cli", *args.rest])


if __name__ == "__main__":
    sys.exit(main())
