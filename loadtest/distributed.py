"""Load generation spread over worker processes with Locust's master/worker mode.

The controller (``webfon loadtest``) is Locust's master; each worker (``webfon loadtest worker
--master HOST:PORT``, any number per machine, on any number of machines) is a Locust worker.
Locust distributes the users — :class:`CallUser` (one WebRTC call each) and
:class:`PhoneUser` (one connected idle web phone each) — over the workers, spawns them at the
requested rate, keeps the workers' heartbeats and aggregates its request statistics (call setup
and phone connect times). The load itself runs on each worker's asyncio engine
(:class:`loadtest.engine.Engine` on a :class:`loadtest.bridge.AsyncioThread`): a Locust user is
a greenlet that asks the engine to set up its call or phone and to tear it down.

The load test's own messages over Locust's channel:

* ``lt_configure`` (master → workers): where to call and register; answered by
  ``lt_configured``. It carries no credentials: a worker takes the gateway's token from its own
  environment (``WEBFON_LOADTEST_TOKEN_<TARGET>``) or ``--token-file``, and the callers' SIP
  password pattern from ``WEBFON_LOADTEST_SIP_SECRET`` or ``--sip-secret-file``.
* ``lt_window_open`` / ``lt_window_close`` (master → workers): a measurement window; closing it
  is answered by ``lt_window`` with the worker's counters.
* ``lt_status`` (worker → master, twice a second): calls and phones up, failures.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust import User, constant, events, task
from locust.env import Environment

from gateway.media.ice import configure_ice
from loadtest.bridge import AsyncioThread
from loadtest.caller import CallTarget
from loadtest.engine import Engine, PhoneTarget
from loadtest.servers import raise_open_files_limit

log = logging.getLogger("loadtest.worker")
STATUS_INTERVAL_S = 0.5
WORKER_INDEX_SPAN = 1_000_000  # caller/phone indexes of worker k start at k * span


@dataclass
class WorkerState:
    """The worker process's engine, set up by :func:`run_worker`."""

    bridge: AsyncioThread | None = None
    engine: Engine | None = None
    tokens: dict[str, str | None] = field(default_factory=dict)
    sip_secret: str = ""


WORKER = WorkerState()


def _fire(user: User, name: str, started: float, exc: BaseException | None) -> None:
    user.environment.events.request.fire(
        request_type="WebRTC" if name == "call setup" else "Janus", name=name,
        response_time=(time.perf_counter() - started) * 1000, response_length=0,
        exception=exc, context={})


class CallUser(User):
    """One browser in a call for as long as the user lives."""

    wait_time = constant(600)  # the task does nothing: wake the greenlet rarely

    def on_start(self) -> None:
        self.caller: Any = None
        assert WORKER.bridge is not None and WORKER.engine is not None
        started = time.perf_counter()
        try:
            self.caller = WORKER.bridge.run(WORKER.engine.add_caller(), timeout=60)
        except Exception as exc:
            _fire(self, "call setup", started, exc)
            return
        _fire(self, "call setup", started, None)

    @task
    def hold(self) -> None:
        """The call goes on in the engine; nothing to do but wait."""

    def on_stop(self) -> None:
        if self.caller is not None and WORKER.bridge is not None and WORKER.engine is not None:
            caller, self.caller = self.caller, None
            WORKER.bridge.run(WORKER.engine.remove_caller(caller), timeout=15)


class PhoneUser(User):
    """One logged-in web phone, idle."""

    wait_time = constant(600)

    def on_start(self) -> None:
        self.phone: Any = None
        assert WORKER.bridge is not None and WORKER.engine is not None
        started = time.perf_counter()
        try:
            self.phone = WORKER.bridge.run(WORKER.engine.add_phone(), timeout=90)
        except Exception as exc:
            _fire(self, "phone connect", started, exc)
            return
        _fire(self, "phone connect", started, None)

    @task
    def idle(self) -> None:
        """Keepalives are sent by the engine for all phones on one timer."""

    def on_stop(self) -> None:
        if self.phone is not None and WORKER.bridge is not None and WORKER.engine is not None:
            phone, self.phone = self.phone, None
            WORKER.bridge.run(WORKER.engine.remove_phone(phone), timeout=15)


USER_CLASSES: list[type[User]] = [CallUser, PhoneUser]


def token_for(target: str) -> str | None:
    """The gateway token of ``target`` (main, compare) from this worker's environment."""
    return os.environ.get(f"WEBFON_LOADTEST_TOKEN_{target.upper()}") or None


def _configure(environment: Environment, msg: Any) -> None:
    data = msg.data
    assert WORKER.bridge is not None and WORKER.engine is not None
    token = WORKER.tokens.get(data["target"]) or token_for(data["target"])
    call = phone = None
    if data.get("call"):
        secret = WORKER.sip_secret or os.environ.get("WEBFON_LOADTEST_SIP_SECRET", "")
        call = CallTarget(token=token, secret=secret, **data["call"])
    if data.get("phone"):
        phone = PhoneTarget(token=token, **data["phone"])
    addresses = data.get("ice_addresses")

    async def apply() -> None:
        configure_ice(addresses, None)
        assert WORKER.engine is not None
        WORKER.engine.configure(call, phone)

    WORKER.bridge.run(apply())
    environment.runner.send_message("lt_configured", {"target": data["target"]})


def _window_open(environment: Environment, msg: Any) -> None:
    engine = WORKER.engine
    assert engine is not None and WORKER.bridge is not None

    async def open_() -> None:
        engine.open_window(int(msg.data["number"]))

    WORKER.bridge.run(open_())


def _window_close(environment: Environment, msg: Any) -> None:
    assert WORKER.bridge is not None and WORKER.engine is not None
    stats = WORKER.bridge.run(WORKER.engine.close_window(), timeout=30)
    stats["number"] = msg.data["number"]
    environment.runner.send_message("lt_window", stats)


def _status_loop(environment: Environment) -> None:
    while True:
        gevent.sleep(STATUS_INTERVAL_S)
        engine = WORKER.engine
        runner = environment.runner
        if engine is None or runner is None:
            continue
        try:
            runner.send_message("lt_status", engine.status())
        except Exception:  # the master is gone: the runner quits by itself
            log.debug("status not sent", exc_info=True)


def run_worker(master_host: str, master_port: int, tokens: dict[str, str | None],
               sip_secret: str = "") -> int:
    """Run one Locust worker with its engine until the master tells it to quit."""
    raise_open_files_limit()
    bridge = AsyncioThread()
    bridge.start()
    runner = None
    env = Environment(user_classes=USER_CLASSES, events=events)
    try:
        runner = env.create_worker_runner(master_host, master_port)
        engine = Engine(index_base=0)
        WORKER.bridge, WORKER.engine, WORKER.tokens = bridge, engine, tokens
        WORKER.sip_secret = sip_secret
        bridge.run(engine.start())
        runner.register_message("lt_configure", _configure, concurrent=True)
        runner.register_message("lt_window_open", _window_open)
        runner.register_message("lt_window_close", _window_close, concurrent=True)
        gevent.spawn(_status_loop, env)
        # indexes must differ between workers (SIP user names); the master assigns each
        # worker its index when it connects
        while runner.worker_index < 0:
            gevent.sleep(0.05)
        engine.index_base = (runner.worker_index + 1) * WORKER_INDEX_SPAN
        runner.greenlet.join()
    finally:
        if WORKER.engine is not None:
            try:
                bridge.run(WORKER.engine.stop(), timeout=30)
            except Exception:
                log.warning("engine did not stop cleanly", exc_info=True)
        bridge.stop()
    return 0
