"""SIP registrar: digest-authenticated REGISTER, several contacts per AOR, expiry, qualify.

The AOR is the user part of the To URI (an extension number); the credentials are those of
one of the extension's phones (``phones.sip_username`` with its stored HA1s). Each phone may
register its own contact; at most ``max_contacts_per_aor`` live contacts are kept per AOR.
Expired bindings are swept periodically and live ones are probed with OPTIONS («qualify»);
a contact that does not answer is marked unreachable and skipped when ringing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from email.utils import formatdate

from webfon.sip import Address, ParseError, Request, ServerTransaction, SipEndpoint, SipURI
from webfon.sip.digest import DigestServer

from .directory import Directory, Extension, Phone
from .events import Events, RegistrationChanged
from .guard import SourceGuard
from .location import Binding, Location
from .settings import PbxSettings

log = logging.getLogger("pbx.registrar")

class PhoneAuth:
    """Digest authentication of phones against ``phones.sip_ha1_*``; failures go to the
    :class:`~pbx.guard.SourceGuard` (fail2ban line, and a ban after too many)."""

    def __init__(self, directory: Directory, realm: str, algorithms: tuple[str, ...],
                 nonce_ttl: float, guard: SourceGuard | None = None) -> None:
        self.directory = directory
        self.guard = guard
        self.digest = DigestServer(realm, nonce_lifetime=nonce_ttl, algorithms=algorithms,
                                   log_failures=guard is None)

    async def _lookup(self, username: str, algorithm: str) -> str | None:
        phone = await self.directory.phone_by_username(username)
        if phone is None or not phone.enabled:
            return None
        if phone.secret_expires_at is not None and phone.secret_expires_at < time.time():
            return None
        ha1 = phone.ha1_sha256 if algorithm.upper().startswith("SHA-256") else phone.ha1_md5
        return ha1 or None

    async def check(self, request: Request, tx: ServerTransaction, *,
                    proxy: bool) -> Phone | None:
        """The authenticated phone, or None after answering the request (challenge/403)."""
        result = await self.digest.authenticate(request, self._lookup, proxy=proxy)
        if result.ok and result.username:
            phone = await self.directory.phone_by_username(result.username)
            if phone is not None:
                return phone
        if result.status == "failed":
            if self.guard is not None and request.source is not None:
                self.guard.auth_failed(request.source[0], result.username, result.reason,
                                       request.call_id)
            tx.respond(403, "Wrong credentials")
            return None
        if result.status == "invalid" and self.guard is not None:
            log.info("digest credentials not usable: challenged again",
                     extra={"call_id": request.call_id, "reason": result.reason,
                            "peer_ip": request.source[0] if request.source else "-"})
        resp = self.digest.challenge(request, proxy=proxy, stale=result.status == "stale",
                                     to_tag=tx.local_tag if request.method == "INVITE" else None)
        tx.respond(resp)
        return None


class Registrar:
    def __init__(self, settings: PbxSettings, directory: Directory, location: Location,
                 auth: PhoneAuth, events: Events | None = None) -> None:
        self.settings = settings
        self.directory = directory
        self.location = location
        self.auth = auth
        self.events = events
        self.registered = 0
        self.on_registered: list[Callable[[Extension], None]] = []
        """Told after a phone of an extension registered (or refreshed) and was answered."""

    async def handle(self, request: Request, tx: ServerTransaction) -> None:
        try:
            aor_uri = request.to.uri
            contacts = request.contacts
            header_expires = request.expires
        except ParseError as exc:
            tx.respond(400, getattr(exc, "reason", "Bad Request"))
            return
        aor = aor_uri.user or ""
        if not aor:
            tx.respond(404, "No user in To")
            return
        phone = await self.auth.check(request, tx, proxy=False)
        if phone is None:
            return
        if phone.publishable and (request.transport or "udp").lower() != "tls":
            # «publicable en internet»: only over TLS (its calls then carry SRTP)
            tx.respond(403, "TLS required (publicable phone)")
            log.warning("register refused: publicable phone without TLS user=%s ip=%s "
                        "transport=%s", phone.sip_username,
                        request.source[0] if request.source else "-", request.transport)
            return
        ext = await self.directory.extension(phone.extension_id)
        if ext is None or (aor != ext.number and aor != phone.sip_username):
            tx.respond(403, "Credentials do not belong to this address")
            log.warning("register forbidden user=%s aor=%s ip=%s", phone.sip_username, aor,
                        request.source[0] if request.source else "-")
            return
        aor = ext.number
        now = time.time()
        star = any(str(c.uri) == "*" for c in contacts) if contacts else False
        if request.headers.get("Contact", "").strip() == "*":
            star = True
        if star:
            if header_expires != 0:
                tx.respond(400, "Wildcard Contact needs Expires: 0")
                return
            for b in await self.location.lookup(aor):
                if b.username == phone.sip_username:
                    await self.location.remove(aor, b.contact)
            await self._reply(tx, request, aor)
            await self._event(aor, "*", "unregistered")
            return
        s = self.settings
        for c in contacts:
            expires = c.expires if c.expires is not None else header_expires
            if expires is None:
                expires = s.register_default_expires
            contact = str(c.uri)
            if expires == 0:
                await self.location.remove(aor, contact)
                await self._event(aor, contact, "unregistered")
                continue
            if expires < s.register_min_expires:
                tx.respond(423, headers=[("Min-Expires", str(s.register_min_expires))])
                return
            expires = min(expires, s.register_max_expires)
            existing = await self.location.lookup(aor)
            if len(existing) >= s.max_contacts_per_aor and \
                    contact not in {b.contact for b in existing}:
                oldest = min(existing, key=lambda b: b.registered_at)
                await self.location.remove(aor, oldest.contact)
            source = f"{request.source[0]}:{request.source[1]}" if request.source else ""
            await self.location.save(Binding(
                aor, contact, phone.sip_username, phone.id, source,
                (request.transport or "udp").lower(), request.call_id, request.cseq.seq,
                (request.headers.get("User-Agent") or "")[:255], now, now + expires))
            self.registered += 1
            await self._event(aor, contact, "registered")
        await self._reply(tx, request, aor)
        for hook in self.on_registered:
            hook(ext)

    async def _reply(self, tx: ServerTransaction, request: Request, aor: str) -> None:
        headers = [("Date", formatdate(usegmt=True))]
        now = time.time()
        for b in await self.location.lookup(aor):
            headers.append(("Contact", f"<{b.contact}>;expires={b.expires_in(now)}"))
        tx.respond(200, headers=headers)

    async def _event(self, aor: str, contact: str, state: str) -> None:
        log.info("registration", extra={"aor": aor, "contact": contact, "state": state})
        if self.events is not None:
            await self.events.emit(RegistrationChanged(aor, contact, state))


class Maintenance:
    """Expiry sweep and OPTIONS qualify of registered contacts."""

    def __init__(self, settings: PbxSettings, location: Location, endpoint: SipEndpoint,
                 events: Events | None = None) -> None:
        self.settings = settings
        self.location = location
        self.endpoint = endpoint
        self.events = events

    async def sweep_once(self) -> int:
        gone = await self.location.sweep()
        for b in gone:
            log.info("registration expired", extra={"aor": b.aor, "contact": b.contact})
            if self.events is not None:
                await self.events.emit(RegistrationChanged(b.aor, b.contact, "expired"))
        return len(gone)

    async def qualify(self, b: Binding) -> bool:
        try:
            uri = SipURI.parse(b.contact)
        except ParseError:
            return False
        ep = self.endpoint
        host = ep.advertised_host
        req = ep.create_request("OPTIONS", uri, from_=Address(SipURI("sip", "pbx", host)),
                                to=Address(SipURI("sip", b.aor, self.settings.realm)))
        try:
            resp = await asyncio.wait_for(ep.request(req), self.settings.qualify_timeout_s)
            ok = not getattr(resp, "local", False) and resp.status < 500 and resp.status != 408
        except (TimeoutError, OSError, Exception):
            ok = False
        if ok != b.reachable:
            await self.location.set_reachable(b.aor, b.contact, ok)
            log.info("contact reachability", extra={"aor": b.aor, "contact": b.contact,
                                                    "reachable": ok})
        return ok

    async def qualify_all(self) -> None:
        bindings = await self.location.all()
        await asyncio.gather(*(self.qualify(b) for b in bindings), return_exceptions=True)

    async def run(self) -> None:
        interval = self.settings.qualify_interval_s
        sweep_every = 5.0
        next_qualify = time.monotonic() + interval if interval > 0 else float("inf")
        while True:
            await asyncio.sleep(sweep_every if interval <= 0 else min(sweep_every, interval))
            with contextlib.suppress(Exception):
                await self.sweep_once()
            if time.monotonic() >= next_qualify:
                next_qualify = time.monotonic() + interval
                try:
                    await self.qualify_all()
                except Exception:
                    log.exception("qualify failed")
