"""Read access to the PBX's configuration in the shared store (users, extensions, phones…).

Every query the call logic needs lives here so that routing, hunting and the registrar work
on small typed records and never on SQL.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from webfon.routing_rules import Rule
from webfon.store import Store

from .categories import DEFAULT_CATEGORY, Category, parse_allowed
from .repo.conferences import ConferenceRepo, ConferenceRoom
from .repo.ivr import IvrMenu, IvrRepo
from .rules import load_rules


@dataclass(frozen=True)
class User:
    id: int
    display_name: str
    login_number: str
    external_number: str
    user_type: str
    enabled: bool
    category_id: int | None
    forward_category_id: int | None
    mobility_group_id: int | None
    pin_hash: str | None
    webphone_mode: str

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> User:
        return cls(int(r["id"]), r["display_name"], r["login_number"], r["external_number"] or "",
                   r["user_type"], bool(r["enabled"]), r["category_id"],
                   r["forward_category_id"], r["mobility_group_id"], r["pin_hash"],
                   r["webphone_mode"])


@dataclass(frozen=True)
class Extension:
    id: int
    number: str
    kind: str
    owner_user_id: int | None
    category_id: int | None
    mobility_enabled: bool
    line_count: int

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Extension:
        return cls(int(r["id"]), r["number"], r["kind"], r["owner_user_id"], r["category_id"],
                   bool(r["mobility_enabled"]), int(r["line_count"]))


@dataclass(frozen=True)
class Phone:
    id: int
    extension_id: int
    position: int
    ring_order: int
    enabled: bool
    is_webcall: bool
    category_id: int | None
    sip_username: str
    ha1_md5: str
    ha1_sha256: str
    secret_expires_at: float | None
    publishable: bool = False
    """«Publicable en internet»: it must register and call over TLS, with SRTP media."""

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Phone:
        return cls(int(r["id"]), int(r["extension_id"]), int(r["position"]), int(r["ring_order"]),
                   bool(r["enabled"]), bool(r["is_webcall"]), r["category_id"],
                   r["sip_username"], r["sip_ha1_md5"] or "", r["sip_ha1_sha256"] or "",
                   r["secret_expires_at"], bool(r.get("publishable") or 0))


@dataclass(frozen=True)
class Trunk:
    id: int
    name: str
    host: str
    port: int
    transport: str
    priority: int
    prefix_strip: int
    srtp: bool = False
    """Calls to it are offered SDES-SRTP (RTP/SAVP) only (its transport is then TLS)."""
    tls_server_name: str = ""
    """TLS: the name its certificate must bear (SNI), when ``host`` is an address."""


@dataclass(frozen=True)
class QueueInfo:
    """A group (``kind``: hunt, operator or acd; see :class:`pbx.acd.GroupKind`)."""

    id: int
    number: str
    name: str
    kind: str
    strategy: str
    ring_timeout_s: int
    timeout_s: int
    overflow_target: str
    stats_enabled: bool
    wrapup_s: int = 0
    sla_s: int = 20
    announce_s: int = 30
    max_waiting: int = 0
    sticky_window_s: int = 0
    """Offer a returning caller to the member who last spoke with them within this many
    seconds, first (0: off; see :mod:`pbx.sticky`)."""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QueueInfo:
        return cls(int(row["id"]), row["number"], row["name"], row["kind"], row["strategy"],
                   int(row["ring_timeout_s"]), int(row["timeout_s"]),
                   row["overflow_target"] or "", bool(row["stats_enabled"]),
                   int(row["wrapup_s"]), int(row["sla_s"]), int(row["announce_s"]),
                   int(row["max_waiting"]), int(row.get("sticky_window_s") or 0))


@dataclass(frozen=True)
class RoomState:
    """What the PBX needs of a hotel room on every call (see :mod:`pbx.pms`): whether a guest
    is checked in (a vacant room's extension is closed) and whether they asked not to be
    disturbed."""

    room: str
    extension_id: int
    occupied: bool
    dnd: bool


@dataclass(frozen=True)
class WebSession:
    user_id: int
    node_id: int
    extension_id: int
    extension: str
    hard_extension_id: int | None
    phone_id: int | None
    mode: str
    sip_username: str


class Directory:
    """Typed lookups over the store.

    With ``phone_ttl`` > 0 every lookup is cached for that many seconds (the registrar, digest
    checks and routing ask on every request, and configuration changes rarely);
    :meth:`invalidate` drops the cache at once (web phone login and logout do, so routing
    follows the session and a revoked password stops working immediately on this node).
    """

    def __init__(self, store: Store, phone_ttl: float = 0.0) -> None:
        self.store = store
        self.phone_ttl = phone_ttl
        self._phones: dict[str, tuple[float, Phone | None]] = {}
        self._memo: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self.ivr = IvrRepo(store)

    def invalidate(self) -> None:
        self._phones.clear()
        self._memo.clear()

    async def _cached(self, key: tuple[Any, ...], load: Any) -> Any:
        if self.phone_ttl <= 0:
            return await load()
        hit = self._memo.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        pending = self._inflight.get(key)
        if pending is not None:  # one load per key at a time, the others wait for it
            return await asyncio.shield(pending)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            value = await load()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters re-raise it
            raise
        finally:
            self._inflight.pop(key, None)
        fut.set_result(value)
        if len(self._memo) > 200_000:
            self._memo.clear()
        self._memo[key] = (time.monotonic() + self.phone_ttl, value)
        return value

    async def number_kind(self, number: str) -> str | None:
        return await self._cached(
            ("number_kind", number),
            lambda: self._load_number_kind(number))

    async def _load_number_kind(self, number: str) -> str | None:
        return await self.store.fetchval("SELECT kind FROM numbering WHERE number = ?", (number,))

    async def user_by_number(self, number: str) -> User | None:
        return await self._cached(
            ("user_by_number", number),
            lambda: self._load_user_by_number(number))

    async def _load_user_by_number(self, number: str) -> User | None:
        row = await self.store.fetchone("SELECT * FROM users WHERE login_number = ?", (number,))
        return User.from_row(row) if row else None

    async def user(self, user_id: int) -> User | None:
        return await self._cached(
            ("user", user_id),
            lambda: self._load_user(user_id))

    async def _load_user(self, user_id: int) -> User | None:
        row = await self.store.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        return User.from_row(row) if row else None

    async def extension_by_number(self, number: str) -> Extension | None:
        return await self._cached(
            ("extension_by_number", number),
            lambda: self._load_extension_by_number(number))

    async def _load_extension_by_number(self, number: str) -> Extension | None:
        row = await self.store.fetchone("SELECT * FROM extensions WHERE number = ?", (number,))
        return Extension.from_row(row) if row else None

    async def extension(self, extension_id: int) -> Extension | None:
        return await self._cached(
            ("extension", extension_id),
            lambda: self._load_extension(extension_id))

    async def _load_extension(self, extension_id: int) -> Extension | None:
        row = await self.store.fetchone("SELECT * FROM extensions WHERE id = ?", (extension_id,))
        return Extension.from_row(row) if row else None

    async def hard_extension_of(self, user_id: int) -> Extension | None:
        return await self._cached(
            ("hard_extension_of", user_id),
            lambda: self._load_hard_extension_of(user_id))

    async def _load_hard_extension_of(self, user_id: int) -> Extension | None:
        row = await self.store.fetchone(
            "SELECT * FROM extensions WHERE owner_user_id = ? AND kind = 'hard' "
            "ORDER BY id LIMIT 1", (user_id,))
        return Extension.from_row(row) if row else None

    async def phones(self, extension_id: int) -> list[Phone]:
        return await self._cached(
            ("phones", extension_id),
            lambda: self._load_phones(extension_id))

    async def _load_phones(self, extension_id: int) -> list[Phone]:
        rows = await self.store.fetchall(
            "SELECT * FROM phones WHERE extension_id = ? ORDER BY position", (extension_id,))
        return [Phone.from_row(r) for r in rows]

    async def phone_by_username(self, username: str) -> Phone | None:
        if self.phone_ttl > 0:
            hit = self._phones.get(username)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        row = await self.store.fetchone("SELECT * FROM phones WHERE sip_username = ?",
                                        (username,))
        phone = Phone.from_row(row) if row else None
        if self.phone_ttl > 0:
            if len(self._phones) > 100_000:
                self._phones.clear()
            self._phones[username] = (time.monotonic() + self.phone_ttl, phone)
        return phone

    async def category(self, category_id: int | None) -> Category:
        return await self._cached(
            ("category", category_id),
            lambda: self._load_category(category_id))

    async def _load_category(self, category_id: int | None) -> Category:
        if category_id is None:
            return DEFAULT_CATEGORY
        row = await self.store.fetchone("SELECT * FROM categories WHERE id = ?", (category_id,))
        if row is None:
            return DEFAULT_CATEGORY
        return Category(int(row["id"]), row["name"], parse_allowed(row["allowed"]))

    async def routing_rules(self) -> list[Rule]:
        """The enabled routing rules in order, compiled."""
        return await self._cached(("routing_rules",), lambda: load_rules(self.store))

    async def conference_by_number(self, number: str) -> ConferenceRoom | None:
        """A conference room (not cached: an ad-hoc room is dialled right after FONBO made
        it, and a changed PIN applies at once)."""
        return await ConferenceRepo(self.store).by_number(number)

    async def trunks(self) -> list[Trunk]:
        return await self._cached(
            ("trunks",),
            lambda: self._load_trunks())

    async def _load_trunks(self) -> list[Trunk]:
        rows = await self.store.fetchall(
            "SELECT * FROM trunks WHERE enabled = 1 ORDER BY priority, name")
        return [Trunk(int(r["id"]), r["name"], r["host"], int(r["port"]), r["transport"],
                      int(r["priority"]), int(r["prefix_strip"]), bool(r.get("srtp") or 0),
                      str(r.get("tls_server_name") or "")) for r in rows]

    async def trunk_hosts(self) -> frozenset[str]:
        """The addresses of the enabled trunks, read now (not cached)."""
        return frozenset(t.host for t in await self._load_trunks())

    async def trunk_by_address(self, host: str) -> Trunk | None:
        for trunk in await self.trunks():
            if trunk.host == host:
                return trunk
        return None

    async def queue_by_number(self, number: str) -> QueueInfo | None:
        return await self._cached(
            ("queue_by_number", number),
            lambda: self._load_queue_by_number(number))

    async def _load_queue_by_number(self, number: str) -> QueueInfo | None:
        row = await self.store.fetchone("SELECT * FROM queues WHERE number = ?", (number,))
        return QueueInfo.from_row(row) if row else None

    async def ivr_by_number(self, number: str) -> IvrMenu | None:
        return await self._cached(("ivr_by_number", number),
                                  lambda: self.ivr.menu_by_number(number))

    async def queue(self, queue_id: int) -> QueueInfo | None:
        """A group by id (not cached: «Mover Cola» and the control API ask rarely)."""
        row = await self.store.fetchone("SELECT * FROM queues WHERE id = ?", (queue_id,))
        return QueueInfo.from_row(row) if row else None

    async def forwarding_rules(self, user_id: int) -> list[dict[str, Any]]:
        return await self._cached(
            ("forwarding_rules", user_id),
            lambda: self._load_forwarding_rules(user_id))

    async def _load_forwarding_rules(self, user_id: int) -> list[dict[str, Any]]:
        return await self.store.fetchall(
            "SELECT * FROM forwarding_rules WHERE user_id = ? AND enabled = 1", (user_id,))

    async def extension_numbers_of(self, user_id: int) -> list[str]:
        """The numbers of the extensions ``user_id`` owns (not cached)."""
        return [r["number"] for r in await self.store.fetchall(
            "SELECT number FROM extensions WHERE owner_user_id = ?", (user_id,))]

    async def room_of_extension(self, extension_id: int) -> RoomState | None:
        """The hotel room whose extension this is, or None (most extensions)."""
        return await self._cached(
            ("room_of_extension", extension_id),
            lambda: self._load_room_of_extension(extension_id))

    async def _load_room_of_extension(self, extension_id: int) -> RoomState | None:
        row = await self.store.fetchone(
            "SELECT room, extension_id, state, dnd FROM hotel_rooms WHERE extension_id = ?",
            (extension_id,))
        if row is None:
            return None
        return RoomState(row["room"], int(row["extension_id"]), row["state"] == "occupied",
                         bool(row["dnd"]))

    async def web_session(self, user_id: int) -> WebSession | None:
        return await self._cached(
            ("web_session", user_id),
            lambda: self._load_web_session(user_id))

    async def _load_web_session(self, user_id: int) -> WebSession | None:
        row = await self.store.fetchone("SELECT * FROM webphone_sessions WHERE user_id = ?",
                                        (user_id,))
        if row is None:
            return None
        return WebSession(int(row["user_id"]), int(row["node_id"]), int(row["extension_id"]),
                          row["extension"], row["hard_extension_id"], row["phone_id"],
                          row["mode"], row["sip_username"])

    async def web_session_by_extension(self, extension_id: int) -> WebSession | None:
        return await self._cached(
            ("web_session_by_extension", extension_id),
            lambda: self._load_web_session_by_extension(extension_id))

    async def _load_web_session_by_extension(self, extension_id: int) -> WebSession | None:
        uid = await self.store.fetchval(
            "SELECT user_id FROM webphone_sessions WHERE extension_id = ?", (extension_id,))
        return await self.web_session(int(uid)) if uid is not None else None

    async def mobility_group_allows(self, group_id: int | None, extension_id: int) -> bool:
        return await self._cached(
            ("mobility_group_allows", group_id, extension_id),
            lambda: self._load_mobility_group_allows(group_id, extension_id))

    async def _load_mobility_group_allows(self, group_id: int | None, extension_id: int) -> bool:
        """A user may use call-by-call mobility only on extensions of their mobility group.

        Membership is ``mobility_group_extensions``; an extension group with the same name as
        the mobility group («Grupo Extensiones») counts too.
        """
        if group_id is None:
            return False
        direct = await self.store.fetchval(
            "SELECT COUNT(*) FROM mobility_group_extensions WHERE group_id = ? "
            "AND extension_id = ?", (group_id, extension_id))
        if direct:
            return True
        found = await self.store.fetchval(
            "SELECT COUNT(*) FROM mobility_groups mg "
            "JOIN extension_groups eg ON eg.name = mg.name "
            "JOIN extension_group_members m ON m.group_id = eg.id "
            "WHERE mg.id = ? AND m.extension_id = ?", (group_id, extension_id))
        return bool(found)
