"""Corporate statistics per 15-minute period and IVR/VV accumulators (both backends)."""

import asyncio
from typing import Any

from pbx.stats import QueueStats, acumulados_ivr, acumulados_vv, period_start
from webfon.store import Store

T0 = 1_699_999_260.0  # one minute into the period that starts at 1_699_999_200


def test_period_start() -> None:
    assert period_start(T0) == 1_699_999_200.0
    assert period_start(1_700_000_000.0) == 1_699_999_200.0
    assert period_start(1_699_999_200.0) == 1_699_999_200.0
    assert period_start(1_699_999_200.0 + 899.9) == 1_699_999_200.0
    assert period_start(1_699_999_200.0 + 900) == 1_700_000_100.0


async def test_queue_stats_accumulate(store: Store, org: Any) -> None:
    qs = QueueStats(store, sla_s=20)
    qid = org.queues["3000"]
    await qs.record(qid, T0, "answered", wait_s=5, talk_s=60)
    await qs.record(qid, T0 + 100, "answered", wait_s=30, talk_s=10)
    await qs.record(qid, T0 + 200, "abandoned", wait_s=12)
    await qs.record(qid, T0 + 900, "overflowed", wait_s=120)  # next period
    rows = await store.fetchall("SELECT * FROM queue_stats ORDER BY period_start")
    assert len(rows) == 2
    a, b = rows
    assert a["period_start"] == 1_699_999_200.0
    assert (a["offered"], a["answered"], a["abandoned"], a["overflowed"],
            a["answered_in_sla"]) == (3, 2, 1, 0, 1)
    assert (a["wait_total_s"], a["talk_total_s"], a["max_wait_s"]) == (47, 70, 30)
    assert (b["offered"], b["overflowed"], b["max_wait_s"]) == (1, 1, 120)


async def test_queue_stats_concurrent(store: Store, org: Any) -> None:
    qs = QueueStats(store)
    await asyncio.gather(*(qs.record(org.queues["3000"], T0, "answered", 1, 1)
                           for _ in range(10)))
    assert await store.fetchval("SELECT offered FROM queue_stats") == 10


def test_stats_enabled_rules() -> None:
    assert QueueStats(None, global_enabled=True).enabled_for(False)  # type: ignore[arg-type]
    qs = QueueStats(None)  # type: ignore[arg-type]
    assert qs.enabled_for(True) and qs.enabled_for(False, call_flag=True)
    assert not qs.enabled_for(False)


async def test_accumulators(store: Store) -> None:
    await acumulados_ivr(store, "IVRPRU", "TIMEOUT", 1, T0)
    await acumulados_ivr(store, "IVRPRU", "TIMEOUT", 1, T0 + 10)
    await acumulados_ivr(store, "IVRPRU", "2", 1, T0)
    await acumulados_vv(store, "VVPRU", "5", 3, T0)
    await acumulados_vv(store, "VVPRU", "5", 2, T0 + 900)
    ivr = await store.fetchall("SELECT * FROM ivr_accumulators ORDER BY option_value")
    assert [(r["option_value"], r["count"]) for r in ivr] == [("2", 1), ("TIMEOUT", 2)]
    vv = await store.fetchall("SELECT * FROM vv_accumulators ORDER BY period_start")
    assert [(r["period_start"], r["count"]) for r in vv] == [(1_699_999_200.0, 3),
                                                              (1_700_000_100.0, 2)]
