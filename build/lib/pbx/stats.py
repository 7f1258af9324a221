"""Corporate statistics: ACD groups per 15-minute period, IVR and free (VV) accumulators.

Everything accumulates in the period in which the call started (seed: «Las estadísticas
acumularán en el periodo de inicio de la llamada»). Queue statistics are recorded when the
queue has ``stats_enabled`` (the 6th «Si» parameter of ``Cen_Sub_colaCentralita``) or when
``EstadisticasColaCorp=Si`` (``stats_global``).
"""

from __future__ import annotations

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


class QueueStats:
    """Records ACD call outcomes into ``queue_stats``."""

    def __init__(self, store: Store, *, global_enabled: bool = False,
                 sla_s: float = 20.0) -> None:
        self.store = store
        self.global_enabled = global_enabled
        self.sla_s = sla_s

    def enabled_for(self, queue_stats_enabled: bool, call_flag: bool = False) -> bool:
        return self.global_enabled or queue_stats_enabled or call_flag

    async def record(self, queue_id: int, started_at: float, outcome: str,
                     wait_s: float, talk_s: float = 0.0) -> None:
        """``outcome``: answered, abandoned or overflowed."""
        if outcome not in ("answered", "abandoned", "overflowed"):
            raise ValueError(f"unknown queue outcome {outcome!r}")
        adds: dict[str, float] = {"offered": 1, outcome: 1, "wait_total_s": wait_s,
                                  "talk_total_s": talk_s}
        if outcome == "answered" and wait_s <= self.sla_s:
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
