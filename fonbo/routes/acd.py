"""Live group control (the softswitch's queue API, InfoWS): agents log in and out of ACD
groups and pause with a reason; queue status (waiting callers, agents and their states);
«Mover Cola» (a waiting caller to another group).

Who may do what:

* an **agent** (a member of the group through their extension or web phone) acts on
  themselves only, sees their own state and how many callers wait; with «Mover Cola» allowed
  (``move_queue`` = 1) they also see the waiting callers and may move them;
* a **supervisor** of the group (``queue_supervisors``) and an **admin** see every caller and
  agent of it and act on any of its agents;
* anyone else gets 404 for the group, as if it did not exist.

The live part (callers waiting, ringing, busy, wrap-up) comes from the PBX's control API; the
agent state lives in the store. Every change is announced on the bus (``acd.queue``) so the
agents' and supervisors' screens follow.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.crud import audit
from fonbo.keys import CONTROL_KEY
from fonbo.repo import acd
from fonbo.schema import ID, array, boolean, integer, number, obj, string
from webfon.control_client import ControlClient, ControlError
from webfon.store.base import Row

log = logging.getLogger("fonbo.acd")

api = Api()


class Role(StrEnum):
    NONE = "none"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Access:
    queue: Row
    role: Role
    can_move: bool

    @property
    def oversees(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


async def _move_allowed(ctx: Ctx) -> bool:
    """«Mover Cola» for the user (-1 inherits: nobody grants it, so no)."""
    value = await ctx.store.fetchval("SELECT move_queue FROM users WHERE id = ?", (ctx.user_id,))
    return value == 1


async def access(ctx: Ctx, queue_id: int) -> Access:
    """What the caller may do in group ``queue_id`` (404 when nothing)."""
    queue = await acd.queue(ctx.store, queue_id)
    if queue is not None:
        if ctx.is_admin:
            return Access(queue, Role.ADMIN, True)
        if await acd.is_supervisor(ctx.store, queue_id, ctx.user_id):
            return Access(queue, Role.SUPERVISOR, True)
        if await acd.active_rows(ctx.store, queue_id, ctx.user_id):
            return Access(queue, Role.AGENT, await _move_allowed(ctx))
    not_found(f"queue {queue_id} not found")


def _control(ctx: Ctx) -> ControlClient:
    return ctx.app[CONTROL_KEY]


async def _live(ctx: Ctx, queue_id: int) -> dict[str, Any] | None:
    """The PBX's live view of a group, or None when the PBX cannot tell now."""
    try:
        return await _control(ctx).get(f"/control/queues/{queue_id}/live")
    except ControlError as exc:
        log.info("live queue status not available", extra={"queue_id": queue_id,
                                                           "reason": exc.message})
        return None


async def _wake(ctx: Ctx, queue_id: int) -> None:
    try:
        await _control(ctx).post("/control/queues/wake", {"queue_id": queue_id})
    except ControlError as exc:  # the PBX looks again by itself within a second
        log.info("PBX not told of an agent change", extra={"reason": exc.message})


async def _announce(ctx: Ctx, queue_id: int, user_id: int, state: str) -> None:
    try:
        await ctx.bus.publish("acd.queue", {"queue_id": queue_id, "event": "agent",
                                            "user_id": user_id, "state": state})
    except (OSError, ConnectionError) as exc:
        log.warning("acd.queue not published", extra={"error": str(exc)})


def _state_of(row: Row) -> str:
    if not row["logged_in"]:
        return "logged_out"
    if row["paused"]:
        return "paused"
    return "available"


def _summary(live: dict[str, Any] | None) -> dict[str, Any]:
    waiting = (live or {}).get("waiting") or []
    return {"waiting": len(waiting),
            "longest_wait_s": max((w.get("waited_s", 0) for w in waiting), default=0),
            "live": live is not None}


# --- schemas ---------------------------------------------------------------------------------
QUEUE_REF = {"queue_id": ID, "number": string(32), "name": string(128), "kind": string(16)}
MY_QUEUE = obj({**QUEUE_REF, "extension": string(32), "penalty": integer(0),
                "state": string(16), "logged_in": boolean(), "paused": boolean(),
                "pause_reason": string(64), "since": number(), "waiting": integer(0),
                "longest_wait_s": number(), "live": boolean(), "can_move": boolean(),
                "logs_in": boolean()}, closed=False)
SUPERVISED = obj({**QUEUE_REF, "waiting": integer(0), "longest_wait_s": number(),
                  "live": boolean()}, closed=False)
ME = obj({"agent": array(MY_QUEUE), "supervisor": array(SUPERVISED),
          "pause_reasons": array(string(64)), "stats": boolean()})
WAITING = obj({"call_id": string(255), "position": integer(1), "caller": string(64),
               "caller_name": string(128), "waited_s": number(), "offering": boolean()},
              closed=False)
AGENT = obj({"user_id": {"type": "integer", "nullable": True}, "name": string(128),
             "extension": string(32), "extension_id": ID, "penalty": integer(0),
             "state": string(16), "pause_reason": string(64), "since": number(),
             "wrapup_until": {"type": "number", "nullable": True}}, closed=False)
STATUS = obj({"queue": obj(QUEUE_REF, closed=False), "role": string(16), "live": boolean(),
              "can_move": boolean(), "waiting": integer(0), "longest_wait_s": number(),
              "calls": array(WAITING), "agents": array(AGENT)})
PAUSE_IN = obj({"reason": string(64, min_length=1, pattern=r"\S",
                                 message="must not be blank")}, ("reason",))
MOVE_IN = obj({"call_id": string(255, min_length=1), "to_queue_id": ID},
              ("call_id", "to_queue_id"))
AGENT_PARAMS = {"id": ID, "user_id": ID}
AGENT_OUT = obj({"queue_id": ID, "user_id": ID, "state": string(16),
                 "pause_reason": string(64)})


# --- my groups -------------------------------------------------------------------------------
@api.op("GET", "/fonbo/acd/me", summary="My groups: as agent (my state) and as supervisor",
        tag="acd", responses={200: Response("My groups", ME)})
async def acd_me(ctx: Ctx) -> web.Response:
    mine = await acd.agent_queues(ctx.store, ctx.user_id)
    watched = await (acd.all_queues(ctx.store) if ctx.is_admin
                     else acd.supervised(ctx.store, ctx.user_id))
    can_move = await _move_allowed(ctx)
    ids = list(dict.fromkeys(int(q["id"]) for q in [*mine, *watched]))
    lives = dict(zip(ids, await asyncio.gather(*(_live(ctx, i) for i in ids)), strict=True))
    agent = []
    for row in mine:
        live = lives[int(row["id"])]
        state = _state_of(row)
        for a in (live or {}).get("agents", []):
            if a.get("extension_id") == row["extension_id"]:
                state = str(a.get("state") or state)
        agent.append({"queue_id": row["id"], "number": row["number"], "name": row["name"],
                      "kind": row["kind"], "extension": row["extension"],
                      "penalty": row["penalty"], "state": state,
                      "logged_in": bool(row["logged_in"]), "paused": bool(row["paused"]),
                      "pause_reason": row["pause_reason"], "since": row["state_since"],
                      "can_move": can_move or ctx.is_admin, "logs_in": row["kind"] == "acd",
                      **_summary(live)})
    supervisor = [{"queue_id": q["id"], "number": q["number"], "name": q["name"],
                   "kind": q["kind"], **_summary(lives[int(q["id"])])} for q in watched]
    return json_response({"agent": agent, "supervisor": supervisor,
                          "pause_reasons": await acd.pause_reasons(ctx.store),
                          "stats": ctx.is_admin or bool(watched)})


# --- queue status ----------------------------------------------------------------------------
@api.op("GET", "/fonbo/acd/queues/{id}/status",
        summary="A group's waiting callers and agents (all of them for its supervisors; an "
                "agent sees themselves, and the callers only with «Mover Cola»)",
        tag="acd", path_params={"id": ID}, responses={200: Response("Status", STATUS)})
async def acd_status(ctx: Ctx) -> web.Response:
    a = await access(ctx, ctx.path["id"])
    live = await _live(ctx, ctx.path["id"])
    agents = list((live or {}).get("agents", []))
    if live is None:  # the store's view: who is logged in or paused
        rows = await ctx.store.fetchall(
            "SELECT m.extension_id, e.number, m.penalty, m.paused, m.logged_in, "
            "m.pause_reason, m.state_since, e.owner_user_id FROM queue_members m "
            "JOIN extensions e ON e.id = m.extension_id WHERE m.queue_id = ? "
            "ORDER BY m.penalty, e.number", (ctx.path["id"],))
        names = await acd.user_names(ctx.store, [int(r["owner_user_id"]) for r in rows
                                                 if r["owner_user_id"] is not None])
        agents = [{"extension_id": r["extension_id"], "extension": r["number"],
                   "user_id": r["owner_user_id"], "name": names.get(r["owner_user_id"], ""),
                   "penalty": r["penalty"], "state": _state_of(r),
                   "pause_reason": r["pause_reason"], "since": r["state_since"],
                   "wrapup_until": None} for r in rows]
    keep = ("user_id", "name", "extension", "extension_id", "penalty", "state",
            "pause_reason", "since", "wrapup_until")
    agents = [{k: x.get(k) for k in keep} for x in agents]
    if not a.oversees:
        agents = [x for x in agents if x["user_id"] == ctx.user_id]
    calls = [{k: c.get(k) for k in ("call_id", "position", "caller", "caller_name",
                                    "waited_s", "offering")}
             for c in (live or {}).get("waiting", [])] if a.can_move else []
    q = a.queue
    return json_response({"queue": {"queue_id": q["id"], "number": q["number"],
                                    "name": q["name"], "kind": q["kind"]},
                          "role": str(a.role), "can_move": a.can_move, "calls": calls,
                          "agents": agents, **_summary(live)})


# --- agent state -----------------------------------------------------------------------------
async def _agent_rows(ctx: Ctx) -> tuple[Access, list[Row]]:
    a = await access(ctx, ctx.path["id"])
    target = ctx.path["user_id"]
    if target != ctx.user_id and not a.oversees:
        fail(403, "an agent acts on themselves only; a supervisor of the queue may act on "
                  "its agents")
    rows = await acd.active_rows(ctx.store, ctx.path["id"], target)
    if not rows:
        not_found(f"user {target} is not an agent of queue {a.queue['number']}")
    return a, rows


async def _change(ctx: Ctx, action: str, **fields: Any) -> web.Response:
    _, rows = await _agent_rows(ctx)
    queue_id, user_id = ctx.path["id"], ctx.path["user_id"]
    ext_ids = [int(r["extension_id"]) for r in rows]
    async with ctx.store.transaction() as tx:
        await acd.set_state(tx, queue_id, ext_ids, **fields)
        await audit(ctx, tx, f"agent {action}", f"queues/{queue_id}/agents/{user_id}", fields)
    row = {**rows[0], **fields}
    state = _state_of(row)
    log.info("agent state changed", extra={"queue_id": queue_id, "agent_user_id": user_id,
                                           "action": action, "state": state})
    await _wake(ctx, queue_id)
    await _announce(ctx, queue_id, user_id, state)
    return json_response({"queue_id": queue_id, "user_id": user_id, "state": state,
                          "pause_reason": row["pause_reason"] if row["paused"] else ""})


def _needs_login(a: Access) -> None:
    if a.queue["kind"] != "acd":
        fail(422, f"members of a {a.queue['kind']} group do not log in or out: they always "
                  f"ring unless paused (only corporate ACD groups have agent login)")


@api.op("POST", "/fonbo/acd/queues/{id}/agents/{user_id}/login",
        summary="An agent logs in to an ACD group (receives its calls)", tag="acd",
        path_params=AGENT_PARAMS, responses={200: Response("Agent state", AGENT_OUT),
                                             403: Response("Not your agent"),
                                             422: Response("Not an ACD group")})
async def acd_login(ctx: Ctx) -> web.Response:
    _needs_login(await access(ctx, ctx.path["id"]))
    return await _change(ctx, "login", logged_in=1)


@api.op("POST", "/fonbo/acd/queues/{id}/agents/{user_id}/logout",
        summary="An agent logs out of an ACD group (receives none of its calls)", tag="acd",
        path_params=AGENT_PARAMS, responses={200: Response("Agent state", AGENT_OUT),
                                             403: Response("Not your agent"),
                                             422: Response("Not an ACD group")})
async def acd_logout(ctx: Ctx) -> web.Response:
    _needs_login(await access(ctx, ctx.path["id"]))
    return await _change(ctx, "logout", logged_in=0)


@api.op("POST", "/fonbo/acd/queues/{id}/agents/{user_id}/pause",
        summary="Pause an agent with a reason (one of the pause reasons when some are defined)",
        tag="acd", path_params=AGENT_PARAMS, body=PAUSE_IN,
        responses={200: Response("Agent state", AGENT_OUT), 403: Response("Not your agent"),
                   422: Response("Unknown reason")})
async def acd_pause(ctx: Ctx) -> web.Response:
    reason = ctx.body["reason"].strip()
    allowed = await acd.pause_reasons(ctx.store)
    if allowed and reason not in allowed:
        fail(422, "reason: must be one of " + ", ".join(allowed))
    return await _change(ctx, "pause", paused=1, pause_reason=reason)


@api.op("POST", "/fonbo/acd/queues/{id}/agents/{user_id}/unpause",
        summary="End an agent's pause", tag="acd", path_params=AGENT_PARAMS,
        responses={200: Response("Agent state", AGENT_OUT), 403: Response("Not your agent")})
async def acd_unpause(ctx: Ctx) -> web.Response:
    return await _change(ctx, "unpause", paused=0, pause_reason="")


# --- «Mover Cola» ----------------------------------------------------------------------------
@api.op("POST", "/fonbo/acd/queues/{id}/move",
        summary="«Mover Cola»: send a caller waiting in this group to another group",
        tag="acd", path_params={"id": ID}, body=MOVE_IN,
        responses={200: Response("Moved", obj({"moved": boolean()})),
                   403: Response("Moving calls is not allowed to you"),
                   404: Response("No such waiting call or group"),
                   422: Response("Refused, with the reason")})
async def acd_move(ctx: Ctx) -> web.Response:
    a = await access(ctx, ctx.path["id"])
    if not a.can_move:
        fail(403, "moving calls between queues («Mover Cola») is not allowed to you")
    to_id = ctx.body["to_queue_id"]
    # any group may receive the caller: a group's number is one anybody may dial
    if await acd.queue(ctx.store, to_id) is None:
        not_found(f"queue {to_id} not found")
    if to_id == ctx.path["id"]:
        fail(422, "to_queue_id: the caller already waits in this queue")
    try:
        await _control(ctx).post(f"/control/queues/{ctx.path['id']}/move",
                                 {"call_id": ctx.body["call_id"], "to_queue_id": to_id})
    except ControlError as exc:
        fail(exc.status if exc.status in (404, 422, 503, 504) else 503, exc.message)
    async with ctx.store.transaction() as tx:
        await audit(ctx, tx, "move waiting call", f"queues/{ctx.path['id']}",
                    {"call_id": ctx.body["call_id"], "to_queue_id": to_id})
    log.info("waiting call moved", extra={"queue_id": ctx.path["id"], "to_queue_id": to_id,
                                          "call_id": ctx.body["call_id"]})
    return json_response({"moved": True})
