"""Groups without a network: strategies with logged-out agents, the waiting line's order,
position prompts, IVR menus read from the store."""

from __future__ import annotations

import asyncio
from typing import Any

from pbx.acd import GroupKind, Member, plan
from pbx.acd_live import AgentState, Board
from pbx.events import Events
from pbx.repo.ivr import IvrAction, IvrRepo
from tests.support.audio import tone_bursts
from webfon.rtp.prompts import POSITION_PIP_HZ, POSITION_ZERO_HZ, position_prompt
from webfon.store import Store


def test_group_kinds_differ() -> None:
    assert not GroupKind.HUNT.waits and not GroupKind.HUNT.has_agents
    assert GroupKind.OPERATOR.waits and not GroupKind.OPERATOR.has_agents
    assert GroupKind.ACD.waits and GroupKind.ACD.has_agents


def test_plan_skips_logged_out_and_paused_members() -> None:
    members = [Member(1, "2001"), Member(2, "2002", logged_in=False),
               Member(3, "2003", paused=True, pause_reason="Descanso"), Member(4, "2004", 1)]
    assert [[m.number for m in r] for r in plan("linear", members)] == [["2001"], ["2004"]]
    assert [[m.number for m in r] for r in plan("ringall", members)] == [["2001"], ["2004"]]


class _Call:
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id

    def presented_as(self) -> tuple[str, str]:
        return "1001", "Ana"


class _Bus:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.events.append((topic, payload))


async def test_board_serves_in_order_moves_and_wraps_up() -> None:
    bus = _Bus()
    board = Board(Events(bus))
    a, b, c = (board.join(7, _Call(x)) for x in "abc")  # type: ignore[arg-type]
    assert [board.position(w) for w in (a, b, c)] == [1, 2, 3]
    assert board.may_offer(a) and not board.may_offer(b)
    a.offering = True  # the first rings someone: the second may ring another member
    assert board.may_offer(b) and not board.may_offer(c)
    assert not board.move("b", 8, 9) and board.move("b", 7, 9) and b.move_to == 9
    assert b.wake.is_set() and not board.move("b", 7, 9)  # once
    board.leave(a)
    assert board.position(b) == 1 and board.position(a) == 0 and c.wake.is_set()
    assert [w["call_id"] for w in board.listing(7)] == ["b", "c"]
    member = Member(5, "2005")
    board.start_wrapup(5, 0.2)
    assert board.state(member, registered=True, lines_in_use=0) is AgentState.WRAP_UP
    await asyncio.sleep(0.3)
    assert board.state(member, registered=True, lines_in_use=0) is AgentState.AVAILABLE
    assert board.state(Member(6, "2006", logged_in=False), registered=True,
                       lines_in_use=1) is AgentState.LOGGED_OUT
    assert board.state(member, registered=False, lines_in_use=0) is AgentState.UNAVAILABLE
    board.reserve([5], "c")
    assert board.state(member, registered=True, lines_in_use=1) is AgentState.RINGING
    await board.announce(7, "joined", call_id="c")
    assert bus.events[-1] == ("acd.queue", {"queue_id": 7, "event": "joined", "waiting": 2,
                                            "call_id": "c", "extension_id": None, "state": ""})
    board.close()


def test_position_prompt_counts_the_place_in_pips() -> None:
    for place in (1, 3, 9):
        assert tone_bursts(position_prompt(place), 8000, POSITION_PIP_HZ) == place
    twelve = position_prompt(12)
    assert tone_bursts(twelve, 8000, POSITION_PIP_HZ) == 3  # one, then two
    assert tone_bursts(position_prompt(10), 8000, POSITION_ZERO_HZ, tolerance=20) == 1


async def test_ivr_menu_with_options_from_the_store(store: Store, org: Any) -> None:
    async with store.transaction() as tx:
        await tx.execute("INSERT INTO numbering (number, kind) VALUES ('4000', 'ivr')")
        menu = await tx.insert("INSERT INTO ivr_menus (number, name, fallback_action, "
                               "fallback_target) VALUES ('4000', 'IVRPRU', 'queue', '3000')")
        await tx.execute("INSERT INTO ivr_options (menu_id, digit, action, target, "
                         "stats_enabled) VALUES (?, '1', 'queue', '3000', 1)", (menu,))
    found = await IvrRepo(store).menu_by_number("4000")
    assert found is not None and found.name == "IVRPRU"
    assert found.option("1") is not None and found.option("1").stats_enabled  # type: ignore
    assert found.option("2") is None
    assert (found.fallback.action, found.fallback.target) == (IvrAction.QUEUE, "3000")
    assert await IvrRepo(store).menu_by_number("4001") is None


def test_global_statistics_take_the_seed_name(tmp_path: Any) -> None:
    """``EstadisticasColaCorp = "Si"`` in pbx.jcfg turns on every group's statistics."""
    from pbx.settings import PbxSettings
    from pbx.stats import QueueStats

    conf = tmp_path / "pbx.jcfg"
    conf.write_text('general: {\n  EstadisticasColaCorp = "Si";\n};\n')
    settings = PbxSettings.load(conf, environ={}, data_dir=tmp_path)
    assert settings.stats_global
    stats = QueueStats(None, global_enabled=settings.stats_global)  # type: ignore[arg-type]
    assert stats.enabled_for(False) and stats.enabled_for(False, call_flag=False)
    assert PbxSettings.load(environ={}, data_dir=tmp_path).stats_global is False
    assert QueueStats(None).enabled_for(False, call_flag=True)  # type: ignore[arg-type]
