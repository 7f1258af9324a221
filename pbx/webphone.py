"""Web phone activation for the control API: login, logout and node release.

Login follows the seed («Cuando el usuario se valida en WebFon»): activate the user's fixed web
extension or the first free one of their pool; copy the hard extension's settings (lines,
conference rooms, beep; -1 in the user means inherit); pause the hard extension in its queues
and add the web extension with the same penalty; while logged in, calls to the user's number
ring the web extension only («exclusivo»). In «multiterminal» mode the web phone is one more
phone of the user's own extension. Logout puts everything back as it was. Every step runs in
one store transaction.

Each session belongs to the gateway node it logged in through (``node_id``). A logout that names
a node releases the session only while it is still that node's, so a node that comes back, or
whose late clean-up arrives, never releases what its users re-activated through another node.
A login through another node than the session's takes the session over: the old node's
registration and calls are dropped (the new node registers at once), and they are reported
with a cause («gateway node lost» when that node stopped beating).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from webfon.store import Store
from webfon.store.base import Executor

from .errors import Refusal

MAX_POSITIONS = 8


CAUSE_LOGOUT = "web phone logged out"
CAUSE_NODE_LOST = "gateway node lost"
CAUSE_MOVED = "web phone moved to another node"


@dataclass(frozen=True)
class Released:
    """A web phone taken out of service: the PBX drops its registrations and calls."""

    extension: str
    sip_username: str
    contacts: tuple[str, ...]
    cause: str


class WebphoneError(Refusal):
    """A web phone login or logout refused, with the HTTP status for the control API."""


@dataclass(frozen=True)
class LoginResult:
    extension: str
    sip_username: str
    sip_password: str
    domain: str
    registrar: str
    lines: int
    mode: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    h = hashlib.md5 if algorithm == "MD5" else hashlib.sha256
    return h(f"{username}:{realm}:{password}".encode()).hexdigest()


def expand_ranges(text: str) -> list[str]:
    """``'7000-7009, 7020'`` → every number in order (keeps leading zeros and widths)."""
    out: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "-" in part:
            lo, hi = (s.strip() for s in part.split("-", 1))
            if not (lo.isdigit() and hi.isdigit()) or not 0 <= int(hi) - int(lo) <= 10000:
                raise WebphoneError(500, f"bad pool range {part!r}")
            out.extend(str(n).zfill(len(lo)) for n in range(int(lo), int(hi) + 1))
        elif part.isdigit():
            out.append(part)
        else:
            raise WebphoneError(500, f"bad pool entry {part!r}")
    return out


class Webphones:
    def __init__(self, store: Store, *, realm: str, registrar: str,
                 on_logout: Any = None) -> None:
        self.store = store
        self.realm = realm
        self.registrar = registrar
        # async callable(Released) to drop the phone's registrations and calls
        self.on_logout = on_logout
        self.on_change: Any = None  # callable() after any login/logout (cache invalidation)
        # callable(node_id) -> bool: has that gateway node stopped beating? (pbx.nodes)
        self.node_silent: Any = None

    async def login(self, user_id: int, node_id: int) -> LoginResult:
        moved: list[Released] = []
        try:
            result = await self._login(user_id, node_id, moved)
        finally:
            if self.on_change is not None:
                self.on_change()
        for released in moved:
            if self.on_logout is not None:
                await self.on_logout(released)
        return result

    async def _login(self, user_id: int, node_id: int,
                     moved: list[Released]) -> LoginResult:
        async with self.store.transaction() as tx:
            user = await tx.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
            if user is None:
                raise WebphoneError(404, "unknown user")
            if not user["enabled"]:
                raise WebphoneError(403, "user disabled")
            existing = await tx.fetchone("SELECT * FROM webphone_sessions WHERE user_id = ?",
                                         (user_id,))
            if existing is not None:
                old_node = int(existing["node_id"])
                if old_node != node_id:
                    silent = self.node_silent is not None and self.node_silent(old_node)
                    moved.append(Released(
                        existing["extension"], existing["sip_username"],
                        await _contacts(tx, existing["sip_username"]),
                        CAUSE_NODE_LOST if silent else CAUSE_MOVED))
                    await tx.execute("DELETE FROM registrations WHERE username = ?",
                                     (existing["sip_username"],))
                return await self._renew(tx, user, existing, node_id)
            hard = await tx.fetchone(
                "SELECT * FROM extensions WHERE owner_user_id = ? AND kind = 'hard' "
                "ORDER BY id LIMIT 1", (user_id,))
            if user["webphone_mode"] == "multiterminal":
                return await self._login_multiterminal(tx, user, hard, node_id)
            return await self._login_exclusive(tx, user, hard, node_id)

    async def _renew(self, tx: Executor, user: dict[str, Any], session: dict[str, Any],
                     node_id: int) -> LoginResult:
        password = secrets.token_urlsafe(18)
        await self._set_secret(tx, int(session["phone_id"]), session["sip_username"], password)
        await tx.execute("UPDATE webphone_sessions SET node_id = ? WHERE user_id = ?",
                         (node_id, user["id"]))
        ext = await tx.fetchone("SELECT * FROM extensions WHERE id = ?",
                                (session["extension_id"],))
        return LoginResult(session["extension"], session["sip_username"], password, self.realm,
                           self.registrar, int(ext["line_count"]) if ext else 1, session["mode"])

    async def _set_secret(self, tx: Executor, phone_id: int, username: str,
                          password: str) -> None:
        await tx.execute(
            "UPDATE phones SET sip_ha1_md5 = ?, sip_ha1_sha256 = ? WHERE id = ?",
            (ha1("MD5", username, self.realm, password),
             ha1("SHA-256", username, self.realm, password), phone_id))

    async def _free_number(self, tx: Executor, user: dict[str, Any]) -> tuple[str, int | None]:
        if user["webphone_extension"]:
            number = str(user["webphone_extension"])
            busy = await tx.fetchval(
                "SELECT COUNT(*) FROM webphone_sessions WHERE extension = ?", (number,))
            if busy:
                raise WebphoneError(409, f"web extension {number} is in use")
            return number, None
        if user["webphone_pool_id"] is None:
            raise WebphoneError(409, "user has no web extension and no webphone pool")
        pool = await tx.fetchone("SELECT * FROM webphone_pools WHERE id = ?",
                                 (user["webphone_pool_id"],))
        if pool is None:
            raise WebphoneError(409, "webphone pool not found")
        used = {r["extension"]
                for r in await tx.fetchall("SELECT extension FROM webphone_sessions")}
        for number in expand_ranges(pool["ranges"]):
            if number in used:
                continue
            kind = await tx.fetchval("SELECT kind FROM numbering WHERE number = ?", (number,))
            if kind not in (None, "extension"):
                continue  # the number belongs to a user or a queue
            if kind == "extension":
                ext = await tx.fetchone("SELECT kind, pool_id FROM extensions WHERE number = ?",
                                        (number,))
                if ext is None or ext["kind"] != "web":
                    continue
            return number, int(pool["id"])
        raise WebphoneError(409, "no free extension in the webphone pool")

    async def _login_exclusive(self, tx: Executor, user: dict[str, Any],
                               hard: dict[str, Any] | None, node_id: int) -> LoginResult:
        number, pool_id = await self._free_number(tx, user)
        # extensions.node_id references nodes: an unknown node id is kept on the session only
        node_ref = node_id if await tx.fetchval(
            "SELECT COUNT(*) FROM nodes WHERE id = ?", (node_id,)) else None
        saved: dict[str, Any] = {"created_extension": False, "created_phone": False,
                                 "queues_paused": [], "queues_added": []}
        ext = await tx.fetchone("SELECT * FROM extensions WHERE number = ?", (number,))
        if ext is None:
            kind = await tx.fetchval("SELECT kind FROM numbering WHERE number = ?", (number,))
            if kind is None:
                await tx.execute("INSERT INTO numbering (number, kind) VALUES (?, 'extension')",
                                 (number,))
                saved["created_numbering"] = True
            ext_id = await tx.insert(
                "INSERT INTO extensions (number, kind, node_id, pool_id, category_id) "
                "VALUES (?, 'web', ?, ?, ?)",
                (number, node_ref, pool_id,
                 hard["category_id"] if hard else user["category_id"]))
            saved["created_extension"] = True
            ext = await tx.fetchone("SELECT * FROM extensions WHERE id = ?", (ext_id,))
        elif ext["kind"] != "web":
            raise WebphoneError(409, f"extension {number} is not a web extension")
        assert ext is not None
        ext_id = int(ext["id"])
        saved["extension_before"] = {k: ext[k] for k in ("line_count", "conference_rooms",
                                                         "beep", "node_id")}
        lines = _inherit(user["webphone_lines"], hard, "line_count", int(ext["line_count"]))
        rooms = _inherit(user["conference_rooms"], hard, "conference_rooms",
                         int(ext["conference_rooms"]))
        beep = _inherit(user["beep"], hard, "beep", int(ext["beep"]))
        await tx.execute("UPDATE extensions SET line_count = ?, conference_rooms = ?, beep = ?, "
                         "node_id = ? WHERE id = ?",
                         (max(1, lines), rooms, beep, node_ref or ext["node_id"], ext_id))
        phone_id, username, saved["created_phone"] = await _webcall_phone(tx, ext_id, number, 0)
        if hard is not None:
            for m in await tx.fetchall("SELECT * FROM queue_members WHERE extension_id = ?",
                                       (hard["id"],)):
                saved["queues_paused"].append([int(m["queue_id"]), int(m["paused"])])
                await tx.execute("UPDATE queue_members SET paused = 1 WHERE queue_id = ? AND "
                                 "extension_id = ?", (m["queue_id"], hard["id"]))
                present = await tx.fetchval(
                    "SELECT COUNT(*) FROM queue_members WHERE queue_id = ? AND extension_id = ?",
                    (m["queue_id"], ext_id))
                if not present:
                    # the same characteristics: penalty and agent state (logged in, paused
                    # and why)
                    await tx.execute(
                        "INSERT INTO queue_members (queue_id, extension_id, penalty, paused, "
                        "dynamic, logged_in, pause_reason, state_since) "
                        "VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
                        (m["queue_id"], ext_id, m["penalty"], m["paused"], m["logged_in"],
                         m["pause_reason"], m["state_since"]))
                    saved["queues_added"].append(int(m["queue_id"]))
        password = secrets.token_urlsafe(18)
        await self._set_secret(tx, phone_id, username, password)
        await tx.execute(
            "INSERT INTO webphone_sessions (user_id, node_id, extension_id, extension, "
            "hard_extension_id, phone_id, mode, sip_username, created_at, saved_state) "
            "VALUES (?, ?, ?, ?, ?, ?, 'exclusivo', ?, ?, ?)",
            (user["id"], node_id, ext_id, number, hard["id"] if hard else None, phone_id,
             username, time.time(), json.dumps(saved)))
        return LoginResult(number, username, password, self.realm, self.registrar, max(1, lines),
                           "exclusivo")

    async def _login_multiterminal(self, tx: Executor, user: dict[str, Any],
                                   hard: dict[str, Any] | None, node_id: int) -> LoginResult:
        if hard is None:
            raise WebphoneError(409, "multiterminal mode needs the user's own extension")
        ext_id = int(hard["id"])
        saved: dict[str, Any] = {"created_phone": False}
        wanted = user["webphone_position"]
        phone_id, username, saved["created_phone"] = await _webcall_phone(
            tx, ext_id, hard["number"], 1 if wanted is None else int(wanted))
        password = secrets.token_urlsafe(18)
        await self._set_secret(tx, phone_id, username, password)
        await tx.execute(
            "INSERT INTO webphone_sessions (user_id, node_id, extension_id, extension, "
            "hard_extension_id, phone_id, mode, sip_username, created_at, saved_state) "
            "VALUES (?, ?, ?, ?, ?, ?, 'multiterminal', ?, ?, ?)",
            (user["id"], node_id, ext_id, hard["number"], ext_id, phone_id, username,
             time.time(), json.dumps(saved)))
        lines = _inherit(user["webphone_lines"], hard, "line_count", int(hard["line_count"]))
        return LoginResult(hard["number"], username, password, self.realm, self.registrar,
                           max(1, lines), "multiterminal")

    async def logout(self, user_id: int, node_id: int | None = None,
                     cause: str = CAUSE_LOGOUT) -> bool:
        """Undo a login; False when the user had no web phone session (on ``node_id``, when
        given: a session that moved to another node is left alone)."""
        async with self.store.transaction() as tx:
            session = await tx.fetchone("SELECT * FROM webphone_sessions WHERE user_id = ?",
                                        (user_id,))
            if session is None:
                return False
            if node_id is not None and int(session["node_id"]) != node_id:
                return False
            contacts = await _contacts(tx, session["sip_username"])
            await self._undo(tx, session)
        if self.on_change is not None:
            self.on_change()
        if self.on_logout is not None:
            await self.on_logout(Released(session["extension"], session["sip_username"],
                                          contacts, cause))
        return True

    async def _undo(self, tx: Executor, session: dict[str, Any]) -> None:
        saved = json.loads(session["saved_state"] or "{}")
        ext_id = int(session["extension_id"])
        phone_id = session["phone_id"]
        await tx.execute("DELETE FROM webphone_sessions WHERE user_id = ?", (session["user_id"],))
        await tx.execute("DELETE FROM registrations WHERE username = ?",
                         (session["sip_username"],))
        for queue_id in saved.get("queues_added", []):
            await tx.execute("DELETE FROM queue_members WHERE queue_id = ? AND extension_id = ?",
                             (queue_id, ext_id))
        hard_id = session["hard_extension_id"]
        for queue_id, paused in saved.get("queues_paused", []):
            await tx.execute("UPDATE queue_members SET paused = ? WHERE queue_id = ? AND "
                             "extension_id = ?", (paused, queue_id, hard_id))
        before = saved.get("extension_before")
        if before:
            await tx.execute("UPDATE extensions SET line_count = ?, conference_rooms = ?, "
                             "beep = ?, node_id = ? WHERE id = ?",
                             (before["line_count"], before["conference_rooms"], before["beep"],
                              before["node_id"], ext_id))
        if phone_id is not None:
            if saved.get("created_phone"):
                await tx.execute("DELETE FROM phones WHERE id = ?", (phone_id,))
            else:  # the password handed out must stop working
                await tx.execute("UPDATE phones SET sip_ha1_md5 = '', sip_ha1_sha256 = '' "
                                 "WHERE id = ?", (phone_id,))
        if saved.get("created_extension"):
            await tx.execute("DELETE FROM queue_member_memory WHERE extension_id = ?", (ext_id,))
            await tx.execute("DELETE FROM extensions WHERE id = ?", (ext_id,))
            if saved.get("created_numbering"):
                await tx.execute("DELETE FROM numbering WHERE number = ? AND kind = 'extension'",
                                 (session["extension"],))

    async def release_node(self, node_id: int, cause: str = CAUSE_LOGOUT) -> int:
        """Log out every web phone still on ``node_id``; returns how many."""
        rows = await self.store.fetchall(
            "SELECT user_id FROM webphone_sessions WHERE node_id = ?", (node_id,))
        released = 0
        for r in rows:
            if await self.logout(int(r["user_id"]), node_id=node_id, cause=cause):
                released += 1
        return released


async def _contacts(tx: Executor, sip_username: str) -> tuple[str, ...]:
    rows = await tx.fetchall("SELECT contact FROM registrations WHERE username = ?",
                             (sip_username,))
    return tuple(str(r["contact"]) for r in rows)


def _inherit(user_value: Any, hard: dict[str, Any] | None, column: str, fallback: int) -> int:
    if user_value is not None and int(user_value) != -1:
        return int(user_value)
    if hard is not None:
        return int(hard[column])
    return fallback


async def _webcall_phone(tx: Executor, ext_id: int, number: str,
                         first_position: int) -> tuple[int, str, bool]:
    """The extension's web phone (id, SIP username), created at the first free position from
    ``first_position`` if it has none; whether it was created."""
    phone = await tx.fetchone(
        "SELECT * FROM phones WHERE extension_id = ? AND is_webcall = 1 ORDER BY position "
        "LIMIT 1", (ext_id,))
    if phone is not None:
        return int(phone["id"]), phone["sip_username"], False
    position = await _free_position(tx, ext_id, first_position)
    username = await _unique_username(tx, f"web{number}")
    phone_id = await tx.insert(
        "INSERT INTO phones (extension_id, model, position, ring_order, is_webcall, "
        "sip_username) VALUES (?, 'webcall', ?, 1, 1, ?)", (ext_id, position, username))
    return phone_id, username, True


async def _free_position(tx: Executor, extension_id: int, wanted: int) -> int:
    used = {int(r["position"]) for r in await tx.fetchall(
        "SELECT position FROM phones WHERE extension_id = ?", (extension_id,))}
    if wanted not in used and 0 <= wanted < MAX_POSITIONS:
        return wanted
    for pos in range(MAX_POSITIONS):
        if pos not in used:
            return pos
    raise WebphoneError(409, "the extension already has 8 phones")


async def _unique_username(tx: Executor, base: str) -> str:
    name = base
    n = 1
    while await tx.fetchval("SELECT COUNT(*) FROM phones WHERE sip_username = ?", (name,)):
        n += 1
        name = f"{base}-{n}"
    return name
