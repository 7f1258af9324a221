"""Corporate statistics: ACD groups per 15-minute period, IVR and free (VV) accumulators.

Everything accumulates in the period in which the call started (seed: «Las estadísticas
acumularán en el periodo de inicio de la llamada»). Group statistics are recorded for a call
when the group has ``stats_enabled`` (its own configuration asks for them, as a VDN would),
when the call carries the per-call flag (the 6th «Si» parameter of ``Cen_Sub_colaCentralita``:
an IVR option that sends callers to the group with statistics on), or for every call when
``EstadisticasColaCorp=Si`` (``stats_global``). A call answered within the group's service
level threshold (``sla_s``) counts in ``answered_in_sla``.
"""

from __future__ import annotations

from enum import StrEnum

from webfon.store import Store
from webfon.store.base import IntegrityError

PERIOD_S = 900


def period_start(t: float) -> float:
    return float(int(t // PERIOD_S) * PERIOD_S)


async def _increment(store: Store, table: str, keys: dict[str, object],
                     adds: dict[str, float], maxes: dict[str, float] | None = None) -> None:
    """Add to counters of one row, creating it when absent (portable, race-safe)."""
    maxes = maxes or {}
    sets = [f"{c} = {c} + ?" for c in adds]
    sets += [f"{c} = CASE WHEN {c} < ? THEN ? ELSE {c} END" for c in maxes]
    where = " AND ".join(f"{k} = ?" for k in keys)
    params: list[object] = list(adds.values())
    for v in maxes.values():
        params += [v, v]
    params += list(keys.values())
    for _ in range(3):
        async with store.transaction() as tx:
            exists = await tx.fetchval(f"SELECT COUNT(*) FROM {table} WHERE {where}",
                                       list(keys.values()))
            if exists:
                await tx.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {where}", params)
                return
        row = {**keys, **adds, **maxes}
        try:
            await store.insert(
                f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()))
            return
        except IntegrityError:
            continue  # someone else created it; update on the next pass
    raise RuntimeError(f"could not update {table}")


class QueueOutcome(StrEnum):
    """How a call offered to a queue ended there (a ``queue_stats`` counter each)."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"
    MOVED = "moved"
    """Sent to another group by a supervisor («Mover Cola»)."""


class QueueStats:
    """Records ACD call outcomes into ``queue_stats``."""

    def __init__(self, store: Store, *, global_enabled: bool = False,
                 sla_s: float = 20.0) -> None:
        self.store = store
        self.global_enabled = global_enabled
        self.sla_s = sla_s

    def enabled_for(self, queue_stats_enabled: bool, call_flag: bool = False) -> bool:
        return self.global_enabled or queue_stats_enabled or call_flag

    async def record(self, queue_id: int, started_at: float, outcome: QueueOutcome | str,
                     wait_s: float, talk_s: float = 0.0, *, sla_s: float | None = None) -> None:
        """Count one call offered to a group; ``sla_s`` is the group's service-level
        threshold (the settings' default without one)."""
        if outcome not in tuple(QueueOutcome):
            raise ValueError(f"unknown queue outcome {outcome!r}")
        adds: dict[str, float] = {"offered": 1, str(outcome): 1, "wait_total_s": wait_s,
                                  "talk_total_s": talk_s}
        threshold = self.sla_s if sla_s is None else sla_s
        if outcome == QueueOutcome.ANSWERED and wait_s <= threshold:
            adds["answered_in_sla"] = 1
        await _increment(self.store, "queue_stats",
                         {"queue_id": queue_id, "period_start": period_start(started_at)},
                         adds, {"max_wait_s": wait_s})


async def acumulados_ivr(store: Store, name: str, option: str, count: int,
                         started_at: float) -> None:
    """``Cen_Sub_Acumulados_IVR(name, option, count)``."""
    await _increment(store, "ivr_accumulators",
                     {"period_start": period_start(started_at), "name": name,
                      "option_value": option}, {"count": count})


async def acumulados_vv(store: Store, name: str, key: str, count: int,
                        started_at: float) -> None:
    """``Cen_Sub_Acumulados_VV(name, key, count)``."""
    await _increment(store, "vv_accumulators",
                     {"period_start": period_start(started_at), "name": name, "acc_key": key},
                     {"count": count})
