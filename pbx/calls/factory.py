"""Making and dropping the B2BUA's legs on the PBX's SIP endpoint.

Incoming legs are the INVITEs the PBX answers itself (it is the far end of every caller's
dialog); outgoing legs are the INVITEs it sends to phones and trunks, From the caller's number.
Both are ``webfon.sip.ua`` calls of the PBX's user agents (one per transport, so in-dialog
requests come back on the transport the call used). This module builds those calls itself (an
INVITE the PBX authenticated and routed, an INVITE with the caller's From) with the user
agent's public ``Call``, ``Call.start`` and ``Call.cancelled``, and registers their dialogs in
the agents' hub.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from webfon.sip import Address, ParseError, Request, SipEndpoint, SipError, SipURI, new_tag
from webfon.sip.dialog import Dialog
from webfon.sip.transaction import InviteServerTransaction
from webfon.sip.ua import ALLOW, Account, UaHub, UserAgent
from webfon.sip.ua import Call as SipCall

from ..media import Leg as MediaLeg
from ..media import MediaManager
from ..tasks import Background
from .leg import CallLeg

log = logging.getLogger("pbx.calls")

SDP_TYPE = "application/sdp"

SipEventCallback = Callable[[str, dict[str, Any]], Any]


class LegFactory:
    def __init__(self, endpoint: SipEndpoint, media: MediaManager, realm: str,
                 background: Background) -> None:
        self.endpoint = endpoint
        self.media = media
        self.realm = realm
        self.background = background
        self.ua: UserAgent | None = None
        self.uas: dict[str, UserAgent] = {}

    def start(self) -> UaHub:
        """Create the PBX's user agents once the endpoint listens; their hub routes
        in-dialog requests to the legs."""
        self.ua = UserAgent(self.endpoint, Account(aor=f"sip:pbx@{self.realm}",
                                                   contact_user="pbx"))
        self.uas = {"udp": self.ua}
        for transport in ("tcp", "tls"):
            if transport in self.endpoint.transports:
                # calls on TCP/TLS need a Contact that says so, or in-dialog requests come
                # back on UDP
                self.uas[transport] = UserAgent(self.endpoint, Account(
                    aor=f"sip:pbx@{self.realm}", contact_user=f"pbx-{transport}",
                    transport=transport))
        return self.ua.hub

    def _ua(self, transport: str | None) -> UserAgent:
        assert self.ua is not None, "LegFactory.start() first"
        return self.uas.get((transport or "udp").lower(), self.ua)

    async def media_leg(self, name: str) -> MediaLeg:
        """A media endpoint from the RTP port range (``OSError`` when none is free)."""
        return await self.media.leg(name)

    def incoming(self, request: Request, tx: InviteServerTransaction, media: MediaLeg) -> CallLeg:
        """The caller's leg for ``request``, which the PBX answers itself. Raises
        ``SipError``/``ParseError`` for an INVITE that cannot make a dialog (no Contact)."""
        ua = self._ua(request.transport)
        sip = SipCall(ua, "in", request, server_tx=tx)
        sip.remote_sdp = request.body
        sip.dialog = Dialog.from_uas(request, tx.local_tag, ua.contact)
        ua.hub.calls[sip.dialog.id] = sip
        tx.on_cancel = sip.cancelled
        return CallLeg(sip, media)

    def caller_id(self, number: str, name: str | None) -> Address:
        """The From of an outgoing leg: ``number`` at the PBX's realm, a fresh tag."""
        addr = Address(SipURI("sip", number, self.realm), name)
        addr.tag = new_tag()
        return addr

    def dial(self, uri: str, from_: Address, offer: bytes,
             on_event: SipEventCallback | None) -> SipCall:
        """Send an INVITE to ``uri`` (raises ``SipError``/``ParseError``/``OSError`` when it
        cannot be sent); ``on_event`` hears its progress."""
        target = SipURI.parse(uri)
        ua = self._ua(target.transport)
        req = self.endpoint.create_request(
            "INVITE", target, from_=from_, to=Address(target.copy()), contact=ua.contact,
            headers=[("Allow", ALLOW)], body=offer, content_type=SDP_TYPE)
        sip = SipCall(ua, "out", req, on_event=on_event)
        sip.local_sdp = offer
        sip.start()
        return sip

    def release(self, leg: CallLeg) -> None:
        """Give the leg's media ports back."""
        self.media.release(leg.media)

    def release_media(self, media: MediaLeg) -> None:
        """Give back the ports of a media endpoint that never became a leg's."""
        self.media.release(media)

    def drop(self, leg: CallLeg) -> None:
        """The leg leaves its call: no more events, hung up in the background, ports back."""
        leg.detach()
        self.background.spawn(leg.hangup())
        self.media.release(leg.media)

    def end_quietly(self, sip: SipCall, *, bye: bool = False) -> None:
        """End an outgoing leg that never joined a call (lost the race, or answered late)."""
        self.background.spawn(_quietly(sip.bye() if bye else sip.hangup()))


async def _quietly(coro: Any) -> None:
    try:
        await coro
    except (SipError, ParseError, OSError) as exc:
        log.debug("ending a leg: %s", exc)
