"""mdflow: calls-per-second measurement and flow control, configured by ``MDflow.conf``.

The file is INI as the seed writes it: general keys ``tick_ms`` and ``estad_interv_seg`` (at
the top or in ``[general]``), then one section per flow (``[flujo_2]``) with ``flujo``,
``en_paso``, ``tasa_sal_seg``, ``dnis_max``, ``dnis_umbral_masivo`` and ``to_desborda_seg``.

Behaviour (seed): every call is counted. A flow «en paso» only measures and always answers OK.
Otherwise, while not congested (the output rate stays within ``tasa_sal_seg``) calls pass; when
congested, a new call joins its DNIS's queue, or opens a queue when fewer than ``dnis_max``
exist, or leaves at once with the label «agujero». Queued calls are released at
``tasa_sal_seg`` per second, one tick at a time; a call queued longer than ``to_desborda_seg``
leaves with «desborda». Statistics cover the last ``estad_interv_seg`` interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from webfon.config import ConfigEntry, ConfigError, read_ini

log = logging.getLogger("pbx.mdflow")

OK = "OK"
AGUJERO = "agujero"
DESBORDA = "desborda"


@dataclass(frozen=True)
class FlowConfig:
    section: str
    flujo: str
    en_paso: bool = True
    tasa_sal_seg: float = 1.0
    dnis_max: int = 1
    dnis_umbral_masivo: int = 10
    to_desborda_seg: float = 5.0


@dataclass(frozen=True)
class MdflowConfig:
    tick_ms: int = 100
    estad_interv_seg: int = 60
    flows: tuple[FlowConfig, ...] = ()

    def flow(self, name: str) -> FlowConfig | None:
        for f in self.flows:
            if f.flujo == name:
                return f
        return None


def _num(entry: ConfigEntry, kind: type, minimum: float, name: str) -> Any:
    try:
        value = kind(str(entry.value).strip())
    except ValueError:
        raise entry.error(f"{name} must be a number") from None
    if value < minimum:
        raise entry.error(f"{name} must be >= {minimum}")
    return value


def load_config(path: str | Path) -> MdflowConfig:
    """Read ``MDflow.conf``; a bad value raises ConfigError naming file, line and key."""
    sections = read_ini(path)
    general = sections.get("general", {})
    tick = _num(general["tick_ms"], int, 1, "tick_ms") if "tick_ms" in general else 100
    interval = (_num(general["estad_interv_seg"], int, 1, "estad_interv_seg")
                if "estad_interv_seg" in general else 60)
    flows: list[FlowConfig] = []
    for name, entries in sections.items():
        if name == "general":
            continue
        if "flujo" not in entries:
            raise ConfigError(f"section [{name}] has no flujo", file=str(path), key="flujo")
        unknown = set(entries) - {"flujo", "en_paso", "tasa_sal_seg", "dnis_max",
                                  "dnis_umbral_masivo", "to_desborda_seg"}
        if unknown:
            e = entries[sorted(unknown)[0]]
            raise e.error(f"unknown key in [{name}]")
        en_paso = True
        if "en_paso" in entries:
            raw = str(entries["en_paso"].value).strip()
            if raw not in ("0", "1"):
                raise entries["en_paso"].error("en_paso must be 0 or 1")
            en_paso = raw == "1"
        kw: dict[str, Any] = {}
        for key, kind, minimum in (("tasa_sal_seg", float, 0.001), ("dnis_max", int, 0),
                                   ("dnis_umbral_masivo", int, 1),
                                   ("to_desborda_seg", float, 0.001)):
            if key in entries:
                kw[key] = _num(entries[key], kind, minimum, key)
        flows.append(FlowConfig(name, str(entries["flujo"].value).strip(), en_paso, **kw))
    return MdflowConfig(tick, interval, tuple(flows))


def config_from_rows(rows: list[dict[str, Any]], tick_ms: int = 100,
                     estad_interv_seg: int = 60) -> MdflowConfig:
    """Flows kept in the store's ``mdflow_flows`` table (used when no MDflow.conf exists)."""
    flows = tuple(FlowConfig(str(r["section"]), str(r["flujo"]), bool(r["en_paso"]),
                             float(r["tasa_sal_seg"]), int(r["dnis_max"]),
                             int(r["dnis_umbral_masivo"]), float(r["to_desborda_seg"]))
                  for r in rows)
    return MdflowConfig(tick_ms, estad_interv_seg, flows)


@dataclass
class _Waiting:
    dnis: str
    since: float
    future: asyncio.Future[str]


@dataclass
class IntervalStats:
    entradas: int = 0
    salidas: int = 0
    encoladas: int = 0
    agujero: int = 0
    desborda: int = 0
    max_encoladas: int = 0
    max_colas: int = 0
    max_masivos: int = 0


@dataclass
class FlowState:
    config: FlowConfig
    queues: OrderedDict[str, deque[_Waiting]] = field(default_factory=OrderedDict)
    credit: float = 0.0
    out_times: deque[float] = field(default_factory=deque)
    current: IntervalStats = field(default_factory=IntervalStats)
    last: IntervalStats = field(default_factory=IntervalStats)
    interval_start: float = 0.0
    last_interval_s: float = 0.0

    def queued(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def masivos(self) -> int:
        return sum(1 for q in self.queues.values() if len(q) >= self.config.dnis_umbral_masivo)


class Mdflow:
    """The flow controller. Drive it with :meth:`tick` (``run`` does so every ``tick_ms``)."""

    def __init__(self, config: MdflowConfig, clock: Callable[[], float] = time.monotonic,
                 path: Path | None = None) -> None:
        self.clock = clock
        self.path = path
        self.debug = False
        self.config = config
        now = clock()
        self.flows: dict[str, FlowState] = {
            f.flujo: FlowState(f, credit=self._burst(f), interval_start=now) for f in config.flows}

    @staticmethod
    def _burst(f: FlowConfig) -> float:
        return max(1.0, f.tasa_sal_seg)

    def reload(self) -> MdflowConfig:
        """Re-read the file; counters and queued calls of flows that remain are kept."""
        if self.path is None:
            raise ConfigError("no MDflow.conf configured")
        config = load_config(self.path)
        now = self.clock()
        new: dict[str, FlowState] = {}
        for f in config.flows:
            old = self.flows.get(f.flujo)
            if old is not None:
                old.config = f
                new[f.flujo] = old
            else:
                new[f.flujo] = FlowState(f, credit=self._burst(f), interval_start=now)
        for name, old in self.flows.items():
            if name not in new:  # flow removed: let its waiting calls through
                for q in old.queues.values():
                    for w in q:
                        if not w.future.done():
                            w.future.set_result(OK)
        self.flows = new
        self.config = config
        return config

    def admit_now(self, flow: str, dnis: str) -> str | asyncio.Future[str]:
        """OK or «agujero» at once, or a future that resolves to OK or «desborda»."""
        state = self.flows.get(flow)
        if state is None:
            return OK
        state.current.entradas += 1
        cfg = state.config
        if cfg.en_paso:
            return self._out(state)
        if not state.queues and state.credit >= 1.0:
            state.credit -= 1.0
            return self._out(state)
        queue = state.queues.get(dnis)
        if queue is None:
            if len(state.queues) >= cfg.dnis_max:
                state.current.agujero += 1
                return AGUJERO
            queue = state.queues[dnis] = deque()
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        queue.append(_Waiting(dnis, self.clock(), fut))
        state.current.encoladas += 1
        self._peaks(state)
        return fut

    async def admit(self, flow: str, dnis: str) -> str:
        result = self.admit_now(flow, dnis)
        if isinstance(result, str):
            return result
        return await result

    def _out(self, state: FlowState) -> str:
        state.current.salidas += 1
        state.out_times.append(self.clock())
        return OK

    def _peaks(self, state: FlowState) -> None:
        cur = state.current
        cur.max_encoladas = max(cur.max_encoladas, state.queued())
        cur.max_colas = max(cur.max_colas, len(state.queues))
        cur.max_masivos = max(cur.max_masivos, state.masivos())

    def tick(self) -> None:
        now = self.clock()
        tick_s = self.config.tick_ms / 1000.0
        for state in self.flows.values():
            cfg = state.config
            state.credit = min(self._burst(cfg), state.credit + cfg.tasa_sal_seg * tick_s)
            # Overflow first: calls that waited too long leave with «desborda».
            for dnis in list(state.queues):
                q = state.queues[dnis]
                while q and (now - q[0].since >= cfg.to_desborda_seg or q[0].future.done()):
                    w = q.popleft()
                    if not w.future.done():
                        w.future.set_result(DESBORDA)
                        state.current.desborda += 1
                if not q:
                    del state.queues[dnis]
            # Release queued calls at the allowed rate, one DNIS after another.
            while state.credit >= 1.0 and state.queues:
                dnis, q = next(iter(state.queues.items()))
                w = q.popleft()
                state.queues.move_to_end(dnis)
                if not q:
                    del state.queues[dnis]
                if w.future.done():
                    continue
                state.credit -= 1.0
                w.future.set_result(OK)
                self._out(state)
            if now - state.interval_start >= self.config.estad_interv_seg:
                state.last = state.current
                state.last_interval_s = now - state.interval_start
                state.current = IntervalStats()
                state.interval_start = now
                self._peaks(state)
                if self.debug:
                    log.info("mdflow stats", extra={"flujo": cfg.flujo, **asdict(state.last)})

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_ms / 1000.0)
            try:
                self.tick()
            except Exception:  # never let the controller die
                log.exception("mdflow tick failed")

    def show_config(self) -> dict[str, Any]:
        return {"tick_ms": self.config.tick_ms, "estad_interv_seg": self.config.estad_interv_seg,
                "path": str(self.path) if self.path else None,
                "flows": [asdict(f) for f in self.config.flows]}

    def show_stats(self) -> list[dict[str, Any]]:
        out = []
        for state in self.flows.values():
            last = state.last
            secs = state.last_interval_s or float(self.config.estad_interv_seg)
            out.append({
                "flujo": state.config.flujo, "section": state.config.section,
                "en_paso": state.config.en_paso, "interval_s": round(secs, 3),
                "tasa_entrada": round(last.entradas / secs, 3),
                "tasa_salida": round(last.salidas / secs, 3),
                **asdict(last),
                "encoladas_ahora": state.queued(), "colas_ahora": len(state.queues),
                "masivos_ahora": state.masivos(),
            })
        return out


@contextlib.asynccontextmanager
async def running(mdflow: Mdflow):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(mdflow.run(), name="mdflow")
    try:
        yield mdflow
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
