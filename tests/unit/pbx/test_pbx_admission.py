"""Admission: the one gate a call passes, whoever it is placed for (flow control, then the
caller's restrictions and the destination)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pbx.admission import Admission
from pbx.core import PbxCore
from pbx.mdflow import AGUJERO, DESBORDA, Mdflow, load_config
from pbx.routing import SYSTEM, Caller, RouteKind
from pbx.settings import PbxSettings
from tests.support.clock import ManualClock
from webfon.store import Store

CONF = """\
[flujo_1]
flujo=Cen_Inicio_SIP
en_paso=0
tasa_sal_seg=1
dnis_max=1
to_desborda_seg=5
"""


async def _admission(store: Store, tmp_path: Path) -> tuple[Admission, PbxCore, ManualClock]:
    settings = PbxSettings.load(environ={}, data_dir=tmp_path / "data", sip_port=0)
    core = PbxCore.create(settings, store)
    conf = tmp_path / "MDflow.conf"
    conf.write_text(CONF)
    clock = ManualClock()
    core.mdflow = Mdflow(load_config(conf), clock=clock)
    return Admission(core), core, clock


async def _phone_caller(core: PbxCore, username: str) -> Caller:
    phone = await core.directory.phone_by_username(username)
    assert phone is not None
    return await core.router.caller_for_phone(phone)


async def test_flow_control_refuses_before_routing(store: Store, org: Any,
                                                   tmp_path: Path) -> None:
    admission, core, clock = await _admission(store, tmp_path)
    caller = await _phone_caller(core, "2001")
    first = await admission.admit("2002", caller)
    assert first.kind is RouteKind.EXTENSION and not first.flow_verdict
    # the flow's one call a second is spent: the next number waits in its DNIS queue...
    waiting = asyncio.ensure_future(admission.admit("1003", caller))
    await asyncio.sleep(0)
    assert not waiting.done()
    # ...and with the one queue allowed taken, another number is refused at once
    refused = await admission.admit("1002", caller)
    assert (refused.kind, refused.status, refused.reason, refused.flow_verdict) == \
        (RouteKind.REJECT, 503, f"Flow control: {AGUJERO}", AGUJERO)
    clock.t += 6
    core.mdflow.tick()
    late = await asyncio.wait_for(waiting, 1)
    assert (late.kind, late.flow_verdict) == (RouteKind.REJECT, DESBORDA)
    (flow,) = core.mdflow.show_stats()
    assert (flow["flujo"], flow["encoladas_ahora"], flow["colas_ahora"]) == \
        ("Cen_Inicio_SIP", 0, 0)


async def test_trunk_calls_use_the_trunks_flow(store: Store, org: Any, tmp_path: Path) -> None:
    admission, core, _ = await _admission(store, tmp_path)
    trunk = (await core.directory.trunks())[0]
    for _ in range(3):  # Cen_Inicio_TrunkSip is not configured: nothing held back
        route = await admission.admit("1002", Caller(trunk=trunk))
        assert route.kind is RouteKind.USER
    outside = await admission.admit("0611223344", Caller(trunk=trunk))
    assert (outside.kind, outside.status) == (RouteKind.REJECT, 404)


async def test_restrictions_are_those_of_whom_the_call_is_placed_for(
        store: Store, org: Any, tmp_path: Path) -> None:
    admission, core, _ = await _admission(store, tmp_path)
    core.mdflow = Mdflow(load_config(_empty(tmp_path)))
    national = await _phone_caller(core, "2001")
    refused = await admission.admit("000442071234567", national)
    assert (refused.kind, refused.status) == (RouteKind.REJECT, 403)
    # a caller without a category of its own gets the default one: internal and emergency
    nobody = await admission.admit("0611223344", Caller())
    assert (nobody.kind, nobody.status) == (RouteKind.REJECT, 403)
    assert (await admission.admit("112", Caller())).kind is RouteKind.EXTERNAL
    # what the PBX's own configuration names is not restricted
    assert (await admission.admit("000442071234567", SYSTEM)).kind is RouteKind.EXTERNAL
    incoming_only = await _phone_caller(core, "6722")
    assert (await admission.admit("2001", incoming_only)).status == 403


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.conf"
    path.write_text("tick_ms=100\n")
    return path
