"""The SIP plugin type: one SIP endpoint for every handle, routing of incoming requests."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable
from typing import Any

from gateway.media.ports import PortAllocator
from gateway.plugins.base import HandleContext, Plugin, PluginSession
from gateway.plugins.sip.account import Account
from gateway.plugins.sip.call import Call
from gateway.plugins.sip.codes import SipPluginError
from gateway.plugins.sip.pbx import PbxControl, PbxError
from gateway.plugins.sip.session import SipSession
from gateway.settings import GatewaySettings
from webfon.control_key import control_key_path
from webfon.sip import InviteServerTransaction, Request, Response, SipEndpoint, SipError
from webfon.sip.refer import refer_target, replaces_of

log = logging.getLogger("gateway.sip")


class SipPlugin(Plugin):
    package = "vivait.plugin.webfon"
    aliases = ("janus.plugin.sip",)
    name = "webfon SIP plugin"
    version = 8
    version_string = "0.0.8"
    description = ("Registers WebRTC users at a SIP server (or logs webfon users in as "
                   "webphones) and bridges their calls, relaying G.711 without transcoding.")

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.endpoint = SipEndpoint(settings.local_ip, settings.sip_port,
                                    user_agent=settings.sip_user_agent,
                                    server_header=settings.sip_user_agent)
        self.endpoint.handler = self._on_request
        self.endpoint.on_stray_response = self._on_stray_response
        self.allocator = PortAllocator(settings.port_range())
        key = settings.pbx_control_key
        self.pbx = PbxControl(settings.pbx_control_url,
                              control_key_path(settings.data_dir) if not key else _path(key),
                              node_id=settings.local_nodo_id)
        self.accounts: dict[int, Account] = {}
        self.by_contact: dict[str, Account] = {}
        self.calls: dict[str, Call] = {}
        self.refers: dict[int, Call] = {}
        self._refer_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.setup_times: list[float] = []
        self.calls_total = 0

    @property
    def media_address(self) -> str:
        return self.settings.local_ip

    async def start(self) -> None:
        await self.endpoint.start()
        log.info("SIP endpoint listening", extra={"address": self.endpoint.address("udp")})
        if self.settings.local_nodo_id:
            self.spawn(self._release_node())

    async def _release_node(self) -> None:
        try:
            released = await self.pbx.release_node(self.settings.local_nodo_id)
            log.info("webphone extensions of this node released",
                     extra={"node_id": self.settings.local_nodo_id, "released": released})
        except PbxError as exc:
            log.warning("could not release this node's webphone extensions: %s", exc.message,
                        extra={"node_id": self.settings.local_nodo_id})

    async def stop(self) -> None:
        if self.settings.colas_limpiar_siempre and self.settings.local_nodo_id:
            await self._release_node()
        for task in list(self._tasks):
            task.cancel()
        await self.endpoint.close()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIP task failed", exc_info=task.exception())

    def create_session(self, ctx: HandleContext) -> PluginSession:
        return SipSession(self, ctx)

    # --- registries ---------------------------------------------------------------------
    def add_account(self, account: Account) -> None:
        self.accounts[account.master_id] = account
        self.by_contact[account.contact_user] = account

    def remove_account(self, account: Account) -> None:
        self.accounts.pop(account.master_id, None)
        self.by_contact.pop(account.contact_user, None)

    def register_dialog(self, call: Call) -> None:
        self.calls[call.call_id] = call

    def unregister_call(self, call: Call) -> None:
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]

    def metrics_setup(self, setup_ms: float | None) -> None:
        self.calls_total += 1
        if setup_ms is not None:
            self.setup_times.append(setup_ms)
            del self.setup_times[:-1000]

    # --- incoming SIP -------------------------------------------------------------------
    def _on_stray_response(self, response: Response) -> None:
        call = self.calls.get(response.call_id) if "Call-ID" in response.headers else None
        if call is not None and response.is_success:
            call.stray_2xx(response)

    async def _on_request(self, request: Request, tx: Any) -> None:
        try:
            call = self.calls.get(request.call_id)
        except SipError:
            return
        if request.method == "ACK":
            return  # 2xx ACKs: the server transaction's ``ack`` future has them
        if request.to_tag:
            if call is None:
                if request.method == "OPTIONS":
                    tx.respond(200)
                else:
                    tx.respond(481)
                return
            await call.on_request(request, tx)
            return
        if request.method == "INVITE":
            await self._incoming_invite(request, tx)
        elif request.method == "OPTIONS":
            tx.respond(200, headers=[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, "
                                               "REFER, NOTIFY, MESSAGE, UPDATE")])
        elif request.method == "MESSAGE":
            account = self._account_for(request)
            if account is None or not account.sessions:
                tx.respond(404)
                return
            tx.respond(200)
            account.sessions[0].event({"event": "message", "sender": str(request.from_.uri),
                                       "content_type": request.content_type or "text/plain",
                                       "content": request.body.decode("utf-8", "replace")})
        else:
            tx.respond(481 if request.method in ("BYE", "INFO", "NOTIFY", "REFER") else 405)

    def _account_for(self, request: Request) -> Account | None:
        user = request.uri.user
        if user and user in self.by_contact:
            return self.by_contact[user]
        for account in self.accounts.values():
            if account.aor.user and account.aor.user == user:
                return account
        return None

    async def _incoming_invite(self, request: Request, tx: InviteServerTransaction) -> None:
        account = self._account_for(request)
        if account is None or not account.sessions or account.kind == "guest":
            tx.respond(404)
            return
        caller = request.from_
        free = [s for s in account.sessions if s.call is None]
        busy = account.max_lines and account.active_calls() >= account.max_lines
        if not free or busy:
            tx.respond(486)
            account.sessions[0].event({"event": "missed_call", "caller": str(caller.uri),
                                       **({"displayname": caller.display_name}
                                          if caller.display_name else {}),
                                       "callee": str(request.to.uri)},
                                      call_id=request.call_id)
            return
        session = free[0]
        call = Call(self, session, account, outgoing=False, call_id=request.call_id)
        session.call = call
        self.calls[call.call_id] = call
        try:
            await call.start_incoming(request, tx)
        except SipPluginError as exc:
            log.info("incoming call refused: %s", exc.message)
            call._finish(488, exc.message, notify=False)
            return
        except (SipError, ValueError, OSError) as exc:
            log.warning("incoming call failed: %s", exc)
            if not tx.final_sent:
                tx.respond(500)
            call._finish(500, "Server error", notify=False)
            return

    async def incoming_refer(self, call: Call, request: Request, tx: Any) -> None:
        target = refer_target(request, tx)
        if target is None:
            return
        refer_id = next(self._refer_ids)
        self.refers[refer_id] = call
        tx.respond(202)
        uri = target.uri.copy(headers={})
        result: dict[str, Any] = {"event": "transfer", "refer_id": refer_id,
                                  "refer_to": str(uri)}
        referred_by = request.headers.get("Referred-By")
        if referred_by:
            result["referred_by"] = referred_by
        replaces = replaces_of(target)
        if replaces:
            result["replaces"] = replaces.split(";")[0]
        call.event(result)
        self.spawn(call.notify_refer(refer_id, 100, "Trying"))

    # --- monitoring ---------------------------------------------------------------------
    def list_calls(self) -> list[dict[str, Any]]:
        return [c.describe() for c in self.calls.values()]

    def metrics(self) -> dict[str, float]:
        calls = list(self.calls.values())
        times = sorted(self.setup_times)
        return {"sip_registered_accounts": sum(1 for a in self.accounts.values()
                                               if a.registered),
                "sip_calls": len(calls),
                "sip_calls_established": sum(1 for c in calls if c.state == "incall"),
                "sip_calls_total": self.calls_total,
                "rtp_packets_from_sip": sum(c.rtp.packets_from_sip for c in calls),
                "rtp_packets_to_sip": sum(c.rtp.packets_to_sip for c in calls),
                "rtp_lost_from_sip": sum(c.rtp.lost_from_sip for c in calls),
                "rtp_jitter_ms_max": max((c.rtp.jitter_ms() for c in calls), default=0.0),
                "call_setup_ms_p50": times[len(times) // 2] if times else 0.0}


def _path(text: str) -> Any:
    from pathlib import Path

    return Path(text)
