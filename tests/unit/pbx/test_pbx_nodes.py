"""Gateway node leases seen from the PBX: a heartbeat that stops releases the node's web
phones (once), the watcher's own clock decides, an unreachable store expires nobody; logouts
that name a node leave a moved session alone; a login through another node takes it over."""

from __future__ import annotations

import time
from typing import Any

from pbx.nodes import NodeWatch, end_calls_to
from pbx.webphone import CAUSE_MOVED, CAUSE_NODE_LOST, Released, Webphones
from webfon.store import Store, StoreError


def _wp(store: Store, released: list[Released]) -> Webphones:
    wp = Webphones(store, realm="webfon", registrar="sip:127.0.0.1:5060")

    async def on_logout(r: Released) -> None:
        released.append(r)

    wp.on_logout = on_logout
    return wp


async def _lease(store: Store, node_id: int, incarnation: str = "a", beat: float = 100.0,
                 state: str = "up") -> None:
    await store.upsert("gateway_nodes", {
        "node_id": node_id, "incarnation": incarnation, "name": f"gateway-{node_id}",
        "state": state, "started_at": 1.0, "heartbeat_at": beat}, ["node_id"])


async def _paused(store: Store, org: Any) -> int:
    return int(await store.fetchval(
        "SELECT paused FROM queue_members WHERE extension_id = ?", (org.exts["2001"],)))


async def test_stopped_heartbeat_releases_the_nodes_web_phones_once(store: Store,
                                                                    org: Any) -> None:
    released: list[Released] = []
    wp = _wp(store, released)
    await wp.login(org.users["1001"], 4)
    await wp.login(org.users["1002"], 5)
    assert await _paused(store, org) == 1
    await _lease(store, 4)
    await _lease(store, 5)
    watch = NodeWatch(store, wp, lease_s=2.0, check_s=0.5)
    assert await watch.check(now=10.0) == []  # first sight
    await _lease(store, 5, beat=101.0)  # node 5 beats, node 4 does not
    assert await watch.check(now=11.0) == []
    assert not watch.silent(4, now=10.5) and watch.silent(4, now=11.0)
    assert await watch.check(now=12.0) == [4]
    row = await store.fetchone("SELECT * FROM gateway_nodes WHERE node_id = 4")
    assert row is not None and row["state"] == "lost" and row["released"] == 1
    assert [r.cause for r in released] == [CAUSE_NODE_LOST]
    assert await store.fetchval("SELECT COUNT(*) FROM webphone_sessions WHERE user_id = ?",
                                (org.users["1001"],)) == 0
    assert await _paused(store, org) == 0, "desk extension unpaused in its queue"
    assert await store.fetchval("SELECT node_id FROM webphone_sessions WHERE user_id = ?",
                                (org.users["1002"],)) == 5
    await _lease(store, 5, beat=101.0, state="stopped")  # a clean exit is no loss
    assert await watch.check(now=20.0) == [], "node 4 is not released twice"
    # node 4 comes back (a new process): watched afresh, not lost
    await _lease(store, 4, incarnation="b", beat=200.0)
    assert await watch.check(now=21.0) == []
    assert await watch.check(now=22.5) == []
    await _lease(store, 4, incarnation="b", beat=201.0)
    assert await watch.check(now=24.0) == []


async def test_web_phones_left_on_a_lost_node_are_released(store: Store, org: Any) -> None:
    """A PBX process that died between declaring a node lost and releasing its web phones:
    another watcher releases them, after seeing them left there for a lease."""
    released: list[Released] = []
    wp = _wp(store, released)
    await wp.login(org.users["1001"], 4)
    await wp.login(org.users["1002"], 5)
    await _lease(store, 4, state="lost")
    await _lease(store, 5)
    watch = NodeWatch(store, wp, lease_s=2.0, check_s=0.5)
    assert await watch.check(now=10.0) == []
    await _lease(store, 5, beat=101.0)  # node 5 beats on
    assert await watch.check(now=11.9) == []
    assert released == [], "not before a lease: the declaring process may be releasing them"
    await _lease(store, 5, beat=102.0)
    assert await watch.check(now=12.0) == []
    assert [r.cause for r in released] == [CAUSE_NODE_LOST]
    row = await store.fetchone("SELECT * FROM gateway_nodes WHERE node_id = 4")
    assert row is not None and row["state"] == "lost" and row["released"] == 1
    assert await store.fetchval("SELECT node_id FROM webphone_sessions WHERE user_id = ?",
                                (org.users["1002"],)) == 5, "an up node's phones stay"
    assert await _paused(store, org) == 0, "desk extension unpaused in its queue"
    await _lease(store, 5, beat=103.0)
    assert await watch.check(now=13.0) == [] and len(released) == 1


async def test_unreachable_store_expires_nobody(store: Store, org: Any) -> None:
    released: list[Released] = []
    wp = _wp(store, released)
    await wp.login(org.users["1001"], 4)
    await _lease(store, 4)

    class Flaky:
        """The store, down between two checks (a database restart)."""

        down = False

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        async def fetchall(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
            if self.down:
                raise StoreError("mysql: (2003, \"Can't connect\")")
            return await store.fetchall(sql, params)

    flaky = Flaky()
    watch = NodeWatch(flaky, wp, lease_s=2.0, check_s=0.5)  # type: ignore[arg-type]
    assert await watch.check(now=10.0) == []
    flaky.down = True
    assert await watch.check(now=11.0) == []
    flaky.down = False
    # the heartbeats could not be written meanwhile: observation starts again
    assert await watch.check(now=13.0) == []
    assert await watch.check(now=14.9) == []
    assert released == []
    assert await watch.check(now=15.0) == [4]


async def test_logout_naming_another_node_leaves_the_session(store: Store, org: Any) -> None:
    released: list[Released] = []
    wp = _wp(store, released)
    await wp.login(org.users["1001"], 4)
    assert not await wp.logout(org.users["1001"], node_id=5)
    assert await wp.release_node(5) == 0
    assert released == []
    assert await wp.logout(org.users["1001"], node_id=4)
    assert len(released) == 1


async def test_login_through_another_node_takes_the_session_over(store: Store,
                                                                  org: Any) -> None:
    released: list[Released] = []
    wp = _wp(store, released)
    first = await wp.login(org.users["1001"], 4)
    await store.execute(
        "INSERT INTO registrations (aor, contact, username, phone_id, source, transport, "
        "call_id, cseq, user_agent, registered_at, expires_at) "
        "VALUES (?, ?, ?, NULL, '', 'udp', 'c', 1, '', ?, ?)",
        (first.extension, "sip:wfa@10.0.0.5:5062", first.sip_username, time.time(),
         time.time() + 3600))
    again = await wp.login(org.users["1001"], 5)
    assert again.extension == first.extension and again.sip_password != first.sip_password
    assert released == [Released(first.extension, first.sip_username,
                                 ("sip:wfa@10.0.0.5:5062",), CAUSE_MOVED)]
    assert await store.fetchval("SELECT COUNT(*) FROM registrations") == 0
    assert await store.fetchval("SELECT node_id FROM webphone_sessions WHERE user_id = ?",
                                (org.users["1001"],)) == 5
    assert await _paused(store, org) == 1, "still logged in: the desk stays paused"
    # through the same node again: nothing to take over
    await wp.login(org.users["1001"], 5)
    assert len(released) == 1


async def test_takeover_from_a_silent_node_says_the_node_was_lost(store: Store,
                                                                  org: Any) -> None:
    released: list[Released] = []
    wp = _wp(store, released)
    await wp.login(org.users["1001"], 4)
    wp.node_silent = lambda node_id: node_id == 4
    await wp.login(org.users["1001"], 5)
    assert [r.cause for r in released] == [CAUSE_NODE_LOST]


class _Target:
    def __init__(self, user: str, host: str, port: int | None) -> None:
        self.user, self.host, self.port = user, host, port


class _Leg:
    """Stands for a CallLeg: where its dialog reaches, and being abandoned."""

    def __init__(self, contact: tuple[str, str, int | None]) -> None:
        self.remote_target = _Target(*contact)
        self.terminated = False
        self.abandoned = ""

    def abandon(self, reason: str) -> None:
        self.abandoned = reason
        self.terminated = True


class _Call:
    def __init__(self, *legs: _Leg) -> None:
        self._legs = list(legs)
        self.hangup_cause = ""

    def legs(self) -> list[_Leg]:
        return self._legs


def test_end_calls_to_abandons_only_the_released_phones_leg() -> None:
    web = _Leg(("wfa", "10.0.0.5", 5062))
    desk = _Leg(("2002", "10.0.0.9", None))
    other = _Leg(("wfb", "10.0.0.5", 5062))  # same node, another phone
    calls = {"x": _Call(web, desk), "y": _Call(other, _Leg(("2003", "10.0.0.9", 5060)))}
    engine = type("E", (), {"calls": calls})()
    assert end_calls_to(engine, {"sip:wfa@10.0.0.5:5062;transport=udp"}, CAUSE_NODE_LOST) == 1
    assert web.abandoned == CAUSE_NODE_LOST and desk.abandoned == ""
    assert calls["x"].hangup_cause == CAUSE_NODE_LOST
    assert other.abandoned == "" and calls["y"].hangup_cause == ""
    assert end_calls_to(engine, {"not a uri"}, CAUSE_NODE_LOST) == 0
