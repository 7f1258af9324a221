"""Who may talk to the PBX, and how much: the per-address message rate and the bans that follow
digest failures.

* **Rate**: every SIP message is checked against its source address's token bucket
  (``sip_source_rate`` per second, ``sip_source_burst`` at once) *before it is parsed*
  (:attr:`webfon.sip.SipEndpoint.accept_source`), so a scanner flooding the PBX costs it a
  dict lookup per datagram and the calls of everyone else go on. Trunks' addresses and
  ``sip_trusted_sources`` (the gateway nodes, the PBX's own host) are never limited.
* **Bans**: ``auth_max_failures`` digest failures (wrong password, unknown user) from one
  address within ``auth_window_s`` ban it for ``auth_ban_s`` — doubled for each ban that
  follows, up to ``auth_max_ban_s``: its requests get 403 without a challenge, so guessing
  goes no further. Each failure is a ``pbx-auth-failure`` line for fail2ban
  (:mod:`pbx.authlog`). Trusted sources are logged but never banned (a gateway's address
  carries every web phone).
"""

from __future__ import annotations

import ipaddress
import logging
import time

from webfon.ratelimit import Clock, FailureLimiter, TokenBuckets

from . import authlog
from .settings import PbxSettings

log = logging.getLogger("pbx.guard")

_MAX_REMEMBERED = 10_000


class SourceGuard:
    def __init__(self, settings: PbxSettings, clock: Clock = time.monotonic) -> None:
        self.trusted_networks = [ipaddress.ip_network(n, strict=False)
                                 for n in settings.sip_trusted_sources]
        self.buckets = TokenBuckets(settings.sip_source_rate, settings.sip_source_burst,
                                    clock=clock) if settings.sip_source_rate > 0 else None
        self.bans = FailureLimiter(settings.auth_max_failures, settings.auth_window_s,
                                   settings.auth_ban_s, max_lock_s=settings.auth_max_ban_s,
                                   clock=clock)
        self.exempt: frozenset[str] = frozenset()
        """Addresses never limited nor banned besides the trusted networks: the trunks'."""
        self.dropped = 0
        self.admitted = 0
        """Messages taken in within their source's rate (trusted sources' not counted)."""
        self.refused = 0
        self._trusted: dict[str, bool] = {}
        self._dropping: set[str] = set()

    def trusted(self, ip: str) -> bool:
        """Whether ``ip`` is a trunk's or in ``sip_trusted_sources``."""
        if ip in self.exempt:
            return True
        known = self._trusted.get(ip)
        if known is None:
            try:
                addr = ipaddress.ip_address(ip)
                known = any(addr in net for net in self.trusted_networks)
            except ValueError:
                known = False
            if len(self._trusted) >= _MAX_REMEMBERED:
                self._trusted.clear()
            self._trusted[ip] = known
        return known

    # ------------------------------------------------------------------ rate
    def accept(self, source: tuple[str, int]) -> bool:
        """Whether a message from ``source`` is taken in (called for every datagram)."""
        buckets = self.buckets
        if buckets is None:
            return True
        ip = source[0]
        if self.trusted(ip):  # never limited (a gateway's address carries every web phone)
            return True
        if buckets.allow(ip):
            self.admitted += 1
            if self._dropping and ip in self._dropping:
                self._dropping.discard(ip)
                log.info("source back under its message rate", extra={"peer_ip": ip})
            return True
        self.dropped += 1
        if ip not in self._dropping and len(self._dropping) < _MAX_REMEMBERED:
            self._dropping.add(ip)
            log.warning("source over its message rate: dropping its messages",
                        extra={"peer_ip": ip})
        return False

    # ------------------------------------------------------------------ bans
    def banned_for(self, ip: str) -> float:
        """Seconds ``ip`` stays banned (0: not banned)."""
        left = self.bans.locked_for(ip)
        if left:
            self.refused += 1
        return left

    def auth_failed(self, ip: str, user: str | None, reason: str,
                    call_id: str | None = None) -> None:
        """A digest failure from ``ip``: logged for fail2ban, counted toward its ban."""
        authlog.failure(ip, user, "digest", reason.replace(" ", "_"), call_id)
        if self.trusted(ip):
            return
        banned = self.bans.fail(ip)
        if banned:
            authlog.ban("address", ip, banned)

    def snapshot(self) -> dict[str, int]:
        return {"dropped": self.dropped, "admitted": self.admitted, "refused_banned": self.refused,
                "sources_tracked": len(self.buckets) if self.buckets else 0,
                "sources_failing": len(self.bans)}
