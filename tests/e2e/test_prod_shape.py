"""The production shape with real processes: two gateway nodes behind nginx (TLS), MariaDB and
Redis, started by ``webfon up --nodes 2 --mariadb start --redis start``; Chromium browsers with
fake microphones playing tones.

* two browsers land on different nodes, stay on theirs, and call each other with audio;
* a node drained (SIGTERM) carries its call to the end while new logins go elsewhere;
* a node killed (SIGKILL) with a browser in a call and an idle one on it: both are back on the
  other node and registered within 5 s, the page says what happened, the dead node's web phones
  are released by lease expiry (extension free, desk phone back in its queues, the call's CDR
  closed with its cause), the next call works, and the node coming back releases nothing twice;
* the PBX killed and started again: registrations kept, calls work again;
* MariaDB and Redis killed under traffic: the CDR of a call that ended meanwhile is written
  once the database is back, nodes are not declared lost, events reach the browser again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.sync_api import Playwright

from tests.e2e.conftest import Phone, launch_phone
from tests.e2e.prodstack import NODE_LEASE_S, RESTART_DELAY, ProdStack
from tests.support.webphone import RawWebphone
from webfon.directory import create_extension, create_user
from webfon.store import open_store

TONE_A = 500.0
TONE_B = 1200.0
TONE_C = 800.0
CAUSES = ("gateway node lost", "web phone moved to another node")


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProdStack]:
    stack = ProdStack(tmp_path_factory.mktemp("webfon-prod"))
    try:
        stack.start()
        _add_user(stack, "1004", "Pablo Gil", "2004")
        yield stack
    finally:
        stack.stop()


def _add_user(stack: ProdStack, login: str, name: str, ext: str) -> None:
    """One more user like the demo's (pool web phone, desk extension in the hunt group)."""
    password = (stack.data_dir / "keys" / "mariadb.password").read_text().strip()
    url = f"mysql://webfon:{password}@127.0.0.1:{stack.ports['mariadb']}/webfon"

    async def add() -> None:
        store = await open_store(url)
        try:
            async with store.transaction() as tx:
                ref = await tx.fetchone("SELECT * FROM users WHERE login_number = '1003'")
                assert ref is not None
                uid = await create_user(
                    tx, display_name=name, login_number=login, password=f"webfon-{login}",
                    role="user", category_id=ref["category_id"],
                    webphone_pool_id=ref["webphone_pool_id"], webphone_lines=2)
                eid = await create_extension(tx, number=ext, kind="hard", owner_user_id=uid,
                                             category_id=ref["category_id"], line_count=2)
                queue = await tx.fetchval("SELECT id FROM queues WHERE number = '3000'")
                await tx.execute("INSERT INTO queue_members (queue_id, extension_id, penalty) "
                                 "VALUES (?, ?, 0)", (queue, eid))
        finally:
            await store.close()

    asyncio.run(add())


@pytest.fixture
def make_browser(pw: Playwright, prod: ProdStack, tones_dir: Path,
                 request: pytest.FixtureRequest) -> Iterator[Callable[[float], Phone]]:
    phones: list[Phone] = []

    def make(tone_hz: float) -> Phone:
        phone = launch_phone(pw, prod, tones_dir, tone_hz, https=True)
        phones.append(phone)
        return phone

    request.node.webfon_phones = phones
    yield make
    for phone in phones:
        try:
            phone.close()
        except Exception:
            pass


def node_of(phone: Phone) -> int:
    return int(phone.page.evaluate("() => window.webfonTest.phone().node"))


def uid(prod: ProdStack, login: str) -> int:
    return int(prod.db("SELECT id FROM users WHERE login_number = %s", (login,))[0]["id"])


def session_of(prod: ProdStack, login: str) -> dict[str, Any] | None:
    rows = prod.db("SELECT * FROM webphone_sessions WHERE user_id = %s", (uid(prod, login),))
    return rows[0] if rows else None


def call(a: Phone, b: Phone, number: str) -> int:
    """``a`` dials ``number`` (``b``'s), ``b`` answers; audio checked both ways."""
    a.page.get_by_test_id("dial-input").fill(number)
    a.page.get_by_test_id("call-button").click()
    line = b.wait_incoming()
    b.page.get_by_test_id(f"answer-{line}").click()
    a.wait_line_state(0, "active")
    a.wait_hearing(0, b.tone_hz)
    b.wait_hearing(line, a.tone_hz)
    return line


def wait_back(phone: Phone, node: int, timeout_ms: int) -> None:
    phone.page.wait_for_function(
        "(n) => { const s = window.webfonTest.phone();"
        " return s && s.node === n && s.registration.state === 'registered'; }",
        arg=node, timeout=timeout_ms)


def wait_both_nodes_serving(prod: ProdStack, timeout: float = 30.0) -> None:
    """Every node up (lease, /healthz), and nginx handing new clients to both: after a node
    restarted, nginx keeps it aside for its fail_timeout (10 s). Two clients held open at once
    through nginx must land on two nodes."""
    token = token_for(prod, "1003")

    async def probe() -> set[int]:
        # no cookie jar: the cookie of the first answer would pin the second to its node
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            sockets = [await http.ws_connect(f"wss://localhost:{prod.ports['https']}/janus",
                                             protocols=("janus-protocol",), ssl=False)
                       for _ in prod.node_ids()]
            nodes = set()
            for i, ws in enumerate(sockets):
                await ws.send_json({"janus": "create", "transaction": f"p{i}", "token": token})
                reply = await ws.receive_json(timeout=5)
                nodes.add(int(reply["data"]["node"]))
                await ws.send_json({"janus": "destroy", "session_id": reply["data"]["id"],
                                    "transaction": f"d{i}", "token": token})
            for ws in sockets:
                await ws.close()
            return nodes

    prod.wait("every node up", lambda: all(
        r["state"] == "up" for r in prod.db("SELECT state FROM gateway_nodes")) and all(
        prod.health(f"http://127.0.0.1:{prod.node_port(n)}/healthz") == 200
        for n in prod.node_ids()), timeout=timeout)
    def probe_once() -> set[int]:
        # in a thread of its own: Playwright's sync API keeps an event loop in this one
        found: list[set[int]] = []
        worker = threading.Thread(target=lambda: found.append(asyncio.run(probe())))
        worker.start()
        worker.join(30)
        return found[0] if found else set()

    prod.wait("nginx sending new clients to every node",
              lambda: probe_once() == set(prod.node_ids()), timeout=timeout, poll=1.0)


# --------------------------------------------------------------------------------------------
def test_two_browsers_on_two_nodes_call_each_other(
        prod: ProdStack, make_browser: Callable[[float], Phone]) -> None:
    a, b = make_browser(TONE_A), make_browser(TONE_B)
    a.login("1001")
    b.login("1002")
    node_a, node_b = node_of(a), node_of(b)
    assert {node_a, node_b} == set(prod.node_ids()), "each browser on its own node"
    assert session_of(prod, "1001")["node_id"] == node_a
    assert session_of(prod, "1002")["node_id"] == node_b
    line = call(a, b, "1002")
    # sticky: a dropped socket comes back to the same node and claims the same session, with
    # the call and its audio intact
    a.page.evaluate("() => window.webfonTest.dropConnection()")
    a.page.wait_for_function(
        "() => window.webfonTest.phone().connection === 'reconnecting'", timeout=5_000)
    a.page.wait_for_function(
        "() => window.webfonTest.phone().connection === 'connected'", timeout=15_000)
    assert node_of(a) == node_a and a.line(0)["state"] == "active"
    assert a.page.evaluate("() => window.webfonTest.phone().notice") is None
    a.page.evaluate("() => { window.__streak = {}; }")
    a.wait_hearing(0, TONE_B)
    a.page.get_by_test_id("hangup-0").click()
    b.wait_line_state(line, "idle")
    # `webfon status --all` lists both nodes from the store, in service, with their load
    status = subprocess.run(
        [sys.executable, "-m", "launcher.cli", "status", "--all", "--data-dir",
         str(prod.data_dir)], capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("WEBFON_")})
    assert status.returncode == 0, status.stdout + status.stderr
    lines = {ln.split()[0]: ln.split() for ln in status.stdout.splitlines()
             if ln.split() and ln.split()[0].isdigit()}
    assert sorted(lines) == [str(n) for n in prod.node_ids()], status.stdout
    assert all(row[2:5] == ["up", "ok", "yes"] for row in lines.values()), status.stdout
    assert "webfon:***@" in status.stdout and "mariadb.password" not in status.stdout
    # the admin page lists both nodes, in service
    a.page.goto(prod.base_url + "/#/admin/nodes")
    a.page.get_by_test_id("node-row").nth(1).wait_for(timeout=10_000)
    health = a.page.eval_on_selector_all(
        "[data-testid=node-row]", "(rows) => rows.map((r) => [r.dataset.node, r.dataset.health])")
    assert sorted(health) == sorted([[str(n), "ok"] for n in prod.node_ids()])
    a.screenshot("admin-nodes")


def test_a_phone_that_moved_is_not_released_by_the_node_it_left(prod: ProdStack) -> None:
    """A user's web phone logs in through one node, then again through the other (the newer
    wins: the first node's registration is dropped at once); when the first node then lets
    its session go, the phone on the second node stays logged in and registered."""
    first, second = prod.node_ids()
    token = token_for(prod, "1003")
    old = RawWebphone(f"ws://127.0.0.1:{prod.node_port(first)}/janus", token)
    old.start()
    session = session_of(prod, "1003")
    assert session["node_id"] == first

    def contacts() -> list[str]:
        return [r["contact"] for r in prod.db(
            "SELECT contact FROM registrations WHERE username = %s",
            (session["sip_username"],))]

    (old_contact,) = prod.wait("registered through the first node", contacts)
    new = RawWebphone(f"ws://127.0.0.1:{prod.node_port(second)}/janus", token)
    new.start()
    try:
        assert session_of(prod, "1003")["node_id"] == second
        (new_contact,) = prod.wait("only the second node's registration left", lambda: (
            found if len(found := contacts()) == 1 and found[0] != old_contact else None))
        moved = session_of(prod, "1003")
        old.destroy()  # the first node logs the user out: the phone is no longer its
        time.sleep(1.0)
        assert session_of(prod, "1003") == moved
        assert contacts() == [new_contact]
        paused = prod.db("SELECT m.paused FROM queue_members m JOIN extensions e "
                         "ON e.id = m.extension_id WHERE e.number = '2003'")
        assert all(r["paused"] == 1 for r in paused), "desk phone still paused while logged in"
    finally:
        old.stop()
        new.destroy()
        new.stop()
    prod.wait("logged out at last", lambda: session_of(prod, "1003") is None)


def test_drained_node_finishes_its_call_and_takes_no_new_sessions(
        prod: ProdStack, make_browser: Callable[[float], Phone]) -> None:
    wait_both_nodes_serving(prod)
    a, b = make_browser(TONE_A), make_browser(TONE_B)
    a.login("1001")
    b.login("1002")
    line = call(a, b, "1002")
    drained = node_of(a)
    other = node_of(b)
    old_pid = prod.pid(f"gateway-{drained}")
    api = f"http://127.0.0.1:{prod.node_port(drained)}"
    os.kill(old_pid, signal.SIGTERM)
    prod.wait("lease says draining", lambda: prod.db(
        "SELECT state FROM gateway_nodes WHERE node_id = %s", (drained,))[0]["state"]
        == "draining")
    assert prod.health(f"{api}/healthz") == 503
    # a new login goes to the other node (nginx skips the one answering 503)
    c = make_browser(TONE_C)
    c.login("1004")
    assert node_of(c) == other
    # the call on the draining node goes on, with audio both ways
    a.page.evaluate("() => { window.__streak = {}; }")
    b.page.evaluate("() => { window.__streak = {}; }")
    a.wait_hearing(0, TONE_B)
    b.wait_hearing(line, TONE_A)
    assert a.line(0)["state"] == "active"
    a.page.get_by_test_id("hangup-0").click()
    b.wait_line_state(line, "idle")
    # with its last call over the node lets its session go and exits; the browser is back on
    # the other node, told why
    wait_back(a, other, 15_000)
    notice = a.page.evaluate("() => window.webfonTest.phone().notice")
    assert notice["kind"] == "node-drained" and notice["calls"] == 0
    prod.wait("drained node exited", lambda: prod.db(
        "SELECT state FROM gateway_nodes WHERE node_id = %s", (drained,))[0]["state"]
        == "stopped" or prod.pid(f"gateway-{drained}") != old_pid, timeout=15)
    prod.wait("drained node back (rolling upgrade)", lambda: prod.pid(
        f"gateway-{drained}") != old_pid and prod.health(f"{api}/healthz") == 200,
        timeout=RESTART_DELAY + 20)


def test_killed_node_browsers_recover_and_its_web_phones_are_released(
        prod: ProdStack, make_browser: Callable[[float], Phone]) -> None:
    wait_both_nodes_serving(prod)
    a, b = make_browser(TONE_A), make_browser(TONE_B)
    a.login("1001")
    b.login("1002")
    c = make_browser(TONE_C)
    c.login("1004")
    victim = node_of(c)
    survivor = next(n for n in prod.node_ids() if n != victim)
    in_call, peer = (a, b) if node_of(a) == victim else (b, a)
    assert node_of(in_call) == victim and node_of(peer) == survivor
    # a web phone that will not come back (its user closed the laptop): 1003, straight to the
    # victim node; its desk extension 2003 is paused in its queues meanwhile
    lone = RawWebphone(f"ws://127.0.0.1:{prod.node_port(victim)}/janus",
                       token_for(prod, "1003"))
    lone.start()
    assert session_of(prod, "1003")["node_id"] == victim
    paused = prod.db("SELECT m.paused FROM queue_members m JOIN extensions e "
                     "ON e.id = m.extension_id WHERE e.number = '2003'")
    assert paused and all(r["paused"] == 1 for r in paused)
    web_ext = session_of(prod, "1003")["extension"]

    started = time.time()
    line = call(in_call, peer, "1002" if in_call is a else "1001")
    old_pid = prod.pid(f"gateway-{victim}")
    t0 = time.monotonic()
    os.kill(old_pid, signal.SIGKILL)

    # both browsers of the dead node are back, on the other one, registered, within 5 s
    wait_back(in_call, survivor, 5_000)
    wait_back(c, survivor, max(1, int(5_000 - (time.monotonic() - t0) * 1000)))
    assert time.monotonic() - t0 <= 5.0
    for phone, calls in ((in_call, 1), (c, 0)):
        notice = phone.page.get_by_test_id("connection-notice")
        notice.wait_for(timeout=2_000)
        assert notice.get_attribute("data-kind") == "node-lost"
        assert notice.get_attribute("data-calls") == str(calls)
        assert f"nodo {victim}" in notice.inner_text()
    in_call.screenshot("node-lost")
    assert in_call.line(0)["state"] in ("ended", "idle")
    assert in_call.line(0)["failure"] in ("nodelost", None)
    peer.wait_line_state(line, "idle")

    # the lease expires and the PBX releases what stayed on the dead node, before the node
    # comes back (it is restarted RESTART_DELAY s after it died); the node is marked lost
    # first, its count of released web phones written once they are released
    lost = prod.wait("dead node declared lost and its web phones released", lambda: next(
        (r for r in prod.db("SELECT * FROM gateway_nodes WHERE node_id = %s", (victim,))
         if r["state"] == "lost" and (r["released"] or 0) >= 1), None),
        timeout=NODE_LEASE_S + 4)
    assert time.monotonic() - t0 < RESTART_DELAY, "released only when the node came back"
    assert prod.pid(f"gateway-{victim}") == old_pid
    assert lost["released"] >= 1
    assert session_of(prod, "1003") is None
    assert not prod.db("SELECT * FROM registrations WHERE username IN (SELECT sip_username "
                       "FROM phones p JOIN extensions e ON e.id = p.extension_id "
                       "WHERE e.number = %s)", (web_ext,))
    unpaused = prod.db("SELECT m.paused FROM queue_members m JOIN extensions e "
                       "ON e.id = m.extension_id WHERE e.number = '2003'")
    assert unpaused and all(r["paused"] == 0 for r in unpaused), "desk phone back in its queues"
    assert lone.closed.wait(5)
    # the interrupted call's record is closed, with the cause
    rows = prod.wait("CDR of the interrupted call", lambda: prod.db(
        "SELECT * FROM cdr WHERE leg = 0 AND user_id = %s AND started_at >= %s",
        (uid(prod, "1001"), started - 1)))
    assert rows[-1]["disposition"] == "answered"
    assert rows[-1]["hangup_cause"] in CAUSES, rows[-1]
    # the in-call browser and the idle one are the sessions of the surviving node now
    for login in ("1004", "1001" if in_call is a else "1002"):
        assert session_of(prod, login)["node_id"] == survivor

    # the next call works, audio both ways
    line = call(in_call, peer, "1002" if in_call is a else "1001")
    in_call.page.get_by_test_id("hangup-0").click()
    peer.wait_line_state(line, "idle")

    # the node comes back: a new lease, and nothing of the moved phones released or doubled
    prod.wait("dead node back", lambda: prod.pid(f"gateway-{victim}") != old_pid and prod.db(
        "SELECT state FROM gateway_nodes WHERE node_id = %s", (victim,))[0]["state"] == "up",
        timeout=RESTART_DELAY + 20)
    time.sleep(2 * NODE_LEASE_S)
    for phone, login in ((in_call, "1001" if in_call is a else "1002"), (c, "1004")):
        session = session_of(prod, login)
        assert session is not None and session["node_id"] == survivor, login
        bindings = prod.db("SELECT contact FROM registrations WHERE username = %s",
                           (session["sip_username"],))
        assert len(bindings) == 1, bindings
        assert phone.page.evaluate("() => window.webfonTest.registered()")
    lone.stop()


def test_pbx_restart_keeps_the_registrations(
        prod: ProdStack, make_browser: Callable[[float], Phone]) -> None:
    """The PBX dies and is started again: the web phones' registrations are in the store, so
    calls reach them again without a new login, and the pages never left «registered»."""
    a, b = make_browser(TONE_A), make_browser(TONE_B)
    a.login("1001")
    b.login("1002")
    # registrations are written to the store behind the REGISTER's answer (batched every
    # 0.1 s): the ones in the store are what a restarted PBX knows
    for login in ("1001", "1002"):
        user = session_of(prod, login)
        prod.wait(f"{login}'s registration stored", lambda u=user: prod.db(
            "SELECT 1 FROM registrations WHERE username = %s", (u["sip_username"],)))
    pbx_pid = prod.pid("pbx")
    os.kill(pbx_pid, signal.SIGKILL)
    prod.wait("PBX back", lambda: prod.pid("pbx") != pbx_pid and prod.health(
        f"http://127.0.0.1:{prod.ports['pbx']}/healthz") == 200, timeout=RESTART_DELAY + 20)
    for phone in (a, b):
        assert phone.page.evaluate("() => window.webfonTest.registered()")
    line = call(a, b, "1002")
    a.page.get_by_test_id("hangup-0").click()
    b.wait_line_state(line, "idle")
    # no node was lost on the way: the new PBX process watched the leases from scratch
    states = {r["node_id"]: r["state"] for r in prod.db(
        "SELECT node_id, state FROM gateway_nodes")}
    assert all(states[n] == "up" for n in prod.node_ids()), states


def test_database_and_redis_restarts_under_traffic(
        prod: ProdStack, make_browser: Callable[[float], Phone]) -> None:
    a, b = make_browser(TONE_A), make_browser(TONE_B)
    a.login("1001")
    b.login("1002")
    started = time.time()
    line = call(a, b, "1002")
    db_pid = prod.pid("mariadb")
    os.kill(db_pid, signal.SIGKILL)
    # the call ends while the database is down: its record waits in the PBX
    a.page.get_by_test_id("hangup-0").click()
    b.wait_line_state(line, "idle")
    # a login meanwhile gets a clear error, no traceback
    status, body = post_json(f"{prod.base_url}/sercen/login",
                             {"login": "1003", "password": "webfon-1003"})
    assert status == 503 and "Traceback" not in body, (status, body)
    assert "database is unavailable" in json.loads(body)["error"]["message"]
    # the database is back (restarted by webfon up): the record is written
    prod.wait("MariaDB back", lambda: prod.pid("mariadb") != db_pid and prod.db("SELECT 1"),
              timeout=RESTART_DELAY + 30)
    rows = prod.wait("CDR written after the restart", lambda: prod.db(
        "SELECT * FROM cdr WHERE leg = 0 AND user_id = %s AND started_at >= %s",
        (uid(prod, "1001"), started - 1)), timeout=20)
    assert len(rows) == 1 and rows[0]["disposition"] == "answered"
    # no node was taken for dead because its heartbeats could not be written meanwhile
    time.sleep(NODE_LEASE_S + 1)
    states = {r["node_id"]: r["state"] for r in prod.db(
        "SELECT node_id, state FROM gateway_nodes")}
    assert all(states[n] == "up" for n in prod.node_ids()), states
    assert a.page.evaluate("() => window.webfonTest.registered()")
    assert b.page.evaluate("() => window.webfonTest.registered()")

    # Redis dies and comes back: events flow again to the browser (call ended → FONBO →
    # Socket.IO → badge of missed calls)
    redis_pid = prod.pid("redis")
    os.kill(redis_pid, signal.SIGKILL)
    prod.wait("Redis back", lambda: prod.pid("redis") != redis_pid and prod.health(
        f"http://127.0.0.1:{prod.ports['fonbo']}/healthz") == 200, timeout=RESTART_DELAY + 20)
    prod.wait("FONBO subscribed again", lambda: "subscriptions restored" in prod.tail(
        "fonbo", 200), timeout=15)
    before = b.page.evaluate("() => window.webfonTest.badges().missed")
    a.page.get_by_test_id("dial-input").fill("1002")
    a.page.get_by_test_id("call-button").click()
    b.wait_incoming()
    a.page.get_by_test_id("hangup-0").click()
    b.page.wait_for_function("(n) => window.webfonTest.badges().missed > n", arg=before,
                             timeout=15_000)


# --------------------------------------------------------------------------------------------
def post_json(url: str, body: dict[str, Any]) -> tuple[int, str]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the stack's self-signed certificate
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15, context=ctx) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def token_for(prod: ProdStack, login: str) -> str:
    status, body = post_json(f"{prod.base_url}/sercen/login",
                             {"login": login, "password": f"webfon-{login}"})
    assert status == 200, body
    return str(json.loads(body)["access_token"])
