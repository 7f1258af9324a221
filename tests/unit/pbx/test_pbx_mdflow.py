"""mdflow: MDflow.conf as the seed writes it, measurement, flow control, reload."""

import asyncio
from pathlib import Path

import pytest

from pbx.mdflow import AGUJERO, DESBORDA, OK, Mdflow, load_config
from tests.support.clock import ManualClock
from webfon.config import ConfigError
from webfon.store import Store

SEED_CONF = """\
tick_ms=100

estad_interv_seg=10

[flujo_2]

flujo=Cen_Inicio_SIP

en_paso=1

tasa_sal_seg=2

dnis_max=2

dnis_umbral_masivo=10

to_desborda_seg=5

[flujo_3]

flujo=Cen_TrunkInternos

en_paso=0

tasa_sal_seg=2

dnis_max=1

dnis_umbral_masivo=2

to_desborda_seg=5
"""


def _write(tmp_path: Path, text: str = SEED_CONF) -> Path:
    p = tmp_path / "MDflow.conf"
    p.write_text(text)
    return p


def test_reads_seed_file(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path))
    assert (cfg.tick_ms, cfg.estad_interv_seg) == (100, 10)
    f2, f3 = cfg.flows
    assert (f2.section, f2.flujo, f2.en_paso, f2.tasa_sal_seg, f2.dnis_max,
            f2.dnis_umbral_masivo, f2.to_desborda_seg) == ("flujo_2", "Cen_Inicio_SIP", True,
                                                           2.0, 2, 10, 5.0)
    assert not f3.en_paso and f3.dnis_max == 1


@pytest.mark.parametrize(("text", "msg"), [
    ("[f]\nflujo=x\nen_paso=2\n", "en_paso"),
    ("[f]\nflujo=x\ntasa_sal_seg=abc\n", "tasa_sal_seg"),
    ("[f]\nen_paso=1\n", "flujo"),
    ("[f]\nflujo=x\ncolor=red\n", "unknown key"),
    ("tick_ms=0\n", "tick_ms"),
])
def test_bad_config(tmp_path: Path, text: str, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        load_config(_write(tmp_path, text))


async def test_en_paso_only_measures(tmp_path: Path) -> None:
    clock = ManualClock()
    md = Mdflow(load_config(_write(tmp_path)), clock)
    results = [md.admit_now("Cen_Inicio_SIP", "900100100") for _ in range(50)]
    assert results == [OK] * 50
    assert md.admit_now("unknown-flow", "1") == OK
    clock.t += 10
    md.tick()
    stats = {s["flujo"]: s for s in md.show_stats()}["Cen_Inicio_SIP"]
    assert stats["entradas"] == 50 and stats["salidas"] == 50
    assert stats["tasa_entrada"] == 5.0


async def test_congestion_queues_agujero_and_desborda(tmp_path: Path) -> None:
    clock = ManualClock()
    md = Mdflow(load_config(_write(tmp_path)), clock)
    flow = "Cen_TrunkInternos"
    # burst of 2 passes at once (rate 2/s), then congestion
    assert md.admit_now(flow, "A") == OK
    assert md.admit_now(flow, "A") == OK
    q1 = md.admit_now(flow, "A")
    q2 = md.admit_now(flow, "A")
    assert isinstance(q1, asyncio.Future) and isinstance(q2, asyncio.Future)
    # dnis_max=1: a second DNIS cannot open a queue -> «agujero»
    assert md.admit_now(flow, "B") == AGUJERO
    q3 = md.admit_now(flow, "A")
    assert isinstance(q3, asyncio.Future)
    # 0.5 s at 2 calls/s releases one queued call
    for _ in range(5):
        clock.t += 0.1
        md.tick()
    assert q1.done() and q1.result() == OK and not q2.done()
    snapshot = {s["flujo"]: s for s in md.show_stats()}[flow]
    assert snapshot["encoladas_ahora"] == 2 and snapshot["masivos_ahora"] == 1
    for _ in range(5):
        clock.t += 0.1
        md.tick()
    assert q2.result() == OK and not q3.done()
    # the rest waits beyond to_desborda_seg: block release by consuming credit with new calls
    md.flows[flow].config = md.flows[flow].config.__class__(
        **{**md.flows[flow].config.__dict__, "tasa_sal_seg": 0.001})
    clock.t += 6
    md.tick()
    assert q3.result() == DESBORDA
    clock.t += 10
    md.tick()
    s = {s["flujo"]: s for s in md.show_stats()}[flow]
    assert (s["entradas"], s["agujero"], s["desborda"], s["encoladas"]) == (6, 1, 1, 3)


async def test_admit_waits(tmp_path: Path) -> None:
    md = Mdflow(load_config(_write(tmp_path, "tick_ms=10\n[f]\nflujo=F\nen_paso=0\n"
                                              "tasa_sal_seg=50\ndnis_max=1\n")))
    task = asyncio.create_task(md.run())
    try:
        got = await asyncio.wait_for(asyncio.gather(*(md.admit("F", "x") for _ in range(60))),
                                     timeout=5)
    finally:
        task.cancel()
    assert got == [OK] * 60


async def test_reload(tmp_path: Path) -> None:
    path = _write(tmp_path)
    md = Mdflow(load_config(path), path=path)
    path.write_text(SEED_CONF.replace("tasa_sal_seg=2\n\ndnis_max=1", "tasa_sal_seg=7\n\n"
                                      "dnis_max=1"))
    md.reload()
    assert md.config.flow("Cen_TrunkInternos").tasa_sal_seg == 7  # type: ignore[union-attr]
    path.write_text("[broken\n")
    with pytest.raises(ConfigError):
        md.reload()
    assert md.config.flow("Cen_TrunkInternos") is not None  # old config kept
    assert md.show_config()["flows"][1]["tasa_sal_seg"] == 7


async def test_flows_from_the_store_table(store: Store) -> None:
    from pbx.core import PbxCore
    from pbx.settings import PbxSettings

    await store.execute(
        "INSERT INTO mdflow_flows (section, flujo, en_paso, tasa_sal_seg, dnis_max, "
        "dnis_umbral_masivo, to_desborda_seg) VALUES ('flujo_3', 'Cen_TrunkInternos', 0, 2, "
        "1, 8, 5)")
    core = PbxCore.create(PbxSettings.load(environ={}, data_dir=Path("/nonexistent")), store)
    await core.load_mdflow_from_store()
    flow = core.mdflow.config.flow("Cen_TrunkInternos")
    assert flow is not None and not flow.en_paso and flow.dnis_umbral_masivo == 8
