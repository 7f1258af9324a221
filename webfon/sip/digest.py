"""HTTP Digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760): MD5 and SHA-256.

Server side (:class:`DigestServer`): challenges with stateless nonces (timestamp + random +
a keyed BLAKE2b MAC, so they expire without server state; an expired nonce gets
``stale=true``), checks credentials against a stored HA1 (what the phones table keeps as
``sip_ha1_md5`` / ``sip_ha1_sha256``) and tracks nonce counts against replays.

Client side (:class:`DigestClient`): answers a 401/407 with a password or an HA1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from .errors import AuthError, ParseError
from .grammar import is_token, quote, split_quoted, unquote
from .message import Request, Response
from .uri import SipURI

log = logging.getLogger("webfon.sip.auth")

ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def _hash(algorithm: str, text: str) -> str:
    base = algorithm.upper().removesuffix("-SESS")
    fn = ALGORITHMS.get(base)
    if fn is None:
        raise AuthError(f"unsupported digest algorithm {algorithm}")
    return fn(text.encode()).hexdigest()


def compute_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """HA1 = H(username:realm:password), the value to store instead of the password."""
    return _hash(algorithm, f"{username}:{realm}:{password}")


def compute_response(*, algorithm: str, ha1: str, nonce: str, method: str, uri: str,
                     qop: str | None = None, nc: str | None = None, cnonce: str | None = None,
                     body: bytes = b"") -> str:
    """The digest ``response`` value (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1)."""
    if algorithm.upper().endswith("-SESS"):
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce}")
    if qop == "auth-int":
        ha2 = _hash(algorithm, f"{method}:{uri}:{_hash(algorithm, body.decode('latin-1'))}")
    else:
        ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop:
        return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")


_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_AUTH_PARAM = re.compile(
    rf'[\s,]*({_TOKEN})\s*=\s*(?:"([^"\\]*)"|({_TOKEN}))\s*(?:,|\Z)')
"""One ``name=value`` item of a well-formed parameter list (quoted values without escapes)."""


def parse_auth_header(value: str) -> tuple[str, dict[str, str]]:
    """Parse ``Digest a=b, c="d"`` into ``("Digest", {"a": "b", "c": "d"})`` (names lowercased)."""
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if not is_token(scheme):
        raise ParseError("bad authentication scheme")
    params = _parse_simple_params(rest)
    if params is not None:
        return scheme, params
    params = {}
    try:
        items = split_quoted(rest, ",")
    except ValueError:
        raise ParseError("bad authentication parameters") from None
    for item in items:
        item = item.strip()
        if not item:
            continue
        name, sep, val = item.partition("=")
        name = name.strip().lower()
        val = val.strip()
        if not sep or not is_token(name) or not val:
            raise ParseError("bad authentication parameter")
        if val.startswith('"'):
            if len(val) < 2 or not val.endswith('"'):
                raise ParseError("bad quoted authentication parameter")
            val = unquote(val)
        elif not is_token(val):
            raise ParseError("bad authentication parameter value")
        params[name] = val
    return scheme, params


def _parse_simple_params(rest: str) -> dict[str, str] | None:
    """The parameters of ``rest`` when every item is a token or an escape-free quoted string
    (what phones send); None otherwise, for the general parser to accept or reject."""
    params: dict[str, str] = {}
    match = _AUTH_PARAM.match
    pos = 0
    end = len(rest.rstrip())
    while pos < end:
        m = match(rest, pos)
        if m is None:
            return None
        name, quoted, token = m.groups()
        if quoted is None:
            params[name.lower()] = token
        elif quoted:
            params[name.lower()] = quoted
        else:
            return None  # an empty quoted value: the general parser decides
        pos = m.end()
    return params


@dataclass
class Challenge:
    """A parsed WWW-Authenticate / Proxy-Authenticate digest challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: list[str] = field(default_factory=list)
    opaque: str | None = None
    stale: bool = False
    proxy: bool = False

    @classmethod
    def parse(cls, value: str, proxy: bool = False) -> Challenge:
        scheme, params = parse_auth_header(value)
        if scheme.lower() != "digest":
            raise ParseError("not a digest challenge")
        if "realm" not in params or "nonce" not in params:
            raise ParseError("digest challenge without realm or nonce")
        qop = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
        return cls(realm=params["realm"], nonce=params["nonce"],
                   algorithm=params.get("algorithm", "MD5").upper(), qop=qop,
                   opaque=params.get("opaque"), stale=params.get("stale", "").lower() == "true",
                   proxy=proxy)

    def __str__(self) -> str:
        parts = [f"realm={quote(self.realm)}", f"nonce={quote(self.nonce)}"]
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f'qop="{",".join(self.qop)}"')
        if self.stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)


@dataclass
class Credentials:
    """Parsed Authorization / Proxy-Authorization digest credentials."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    @classmethod
    def parse(cls, value: str) -> Credentials:
        scheme, p = parse_auth_header(value)
        if scheme.lower() != "digest":
            raise ParseError("not digest credentials")
        missing = [k for k in ("username", "realm", "nonce", "uri", "response") if k not in p]
        if missing:
            raise ParseError(f"digest credentials without {missing[0]}")
        qop = p.get("qop")
        if qop and ("nc" not in p or "cnonce" not in p):
            raise ParseError("qop without nc/cnonce")
        nc = p.get("nc")
        if nc is not None and (len(nc) != 8 or any(c not in "0123456789abcdefABCDEF"
                                                   for c in nc)):
            raise ParseError("bad nc")
        return cls(username=p["username"], realm=p["realm"], nonce=p["nonce"], uri=p["uri"],
                   response=p["response"].lower(), algorithm=p.get("algorithm", "MD5").upper(),
                   qop=qop, nc=nc, cnonce=p.get("cnonce"), opaque=p.get("opaque"))

    def __str__(self) -> str:
        parts = [f"username={quote(self.username)}", f"realm={quote(self.realm)}",
                 f"nonce={quote(self.nonce)}", f"uri={quote(self.uri)}",
                 f"response={quote(self.response)}", f"algorithm={self.algorithm}"]
        if self.qop:
            parts += [f"qop={self.qop}", f"nc={self.nc}", f"cnonce={quote(self.cnonce or '')}"]
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        return "Digest " + ", ".join(parts)


@dataclass
class AuthResult:
    """Outcome of :meth:`DigestServer.verify`.

    ``status``: ``ok``; ``missing`` (no credentials for our realm: challenge);
    ``stale`` (expired nonce: challenge with stale=true); ``failed`` (wrong password: 401/403);
    ``invalid`` (forged/replayed nonce, wrong realm/uri, unknown algorithm: challenge again).
    """

    status: str
    username: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


HA1Lookup = Callable[[str, str], Awaitable[str | None] | str | None]
"""``lookup(username, algorithm)`` → stored HA1 hex for that algorithm, or None if unknown."""


class DigestServer:
    """Challenge and verify digest credentials for one realm."""

    def __init__(self, realm: str, secret: bytes | str | None = None, *,
                 nonce_lifetime: float = 300.0,
                 algorithms: Iterable[str] = ("SHA-256", "MD5"), qop: bool = True,
                 clock: Callable[[], float] = time.time, max_tracked_nonces: int = 50000,
                 log_failures: bool = True) -> None:
        self.realm = realm
        self.log_failures = log_failures
        """Log failed attempts here; off for a server that logs them its own way."""
        key = secret if secret is not None else secrets.token_bytes(32)
        self.secret = key.encode() if isinstance(key, str) else key
        # BLAKE2b takes keys of up to 64 bytes: longer secrets are hashed down first
        self._mac_key = self.secret if len(self.secret) <= 64 else \
            hashlib.blake2b(self.secret).digest()
        self.nonce_lifetime = nonce_lifetime
        self.algorithms = [a.upper() for a in algorithms]
        for a in self.algorithms:
            if a not in ALGORITHMS:
                raise ValueError(f"unsupported algorithm {a}")
        self.qop = qop
        self.clock = clock
        self.max_tracked_nonces = max_tracked_nonces
        self._nc: OrderedDict[str, int] = OrderedDict()
        self.opaque = secrets.token_hex(8)

    # -- nonces
    def _mac(self, body: bytes) -> bytes:
        """16-byte MAC of a nonce body: keyed BLAKE2b (a MAC by construction, and computed
        without OpenSSL's per-call digest lookup, which costs tens of µs in a busy process)."""
        return hashlib.blake2b(body + self.realm.encode(), key=self._mac_key,
                               digest_size=16).digest()

    def make_nonce(self) -> str:
        """``base64url(timestamp(8) | random(8) | mac(16))``."""
        body = int(self.clock()).to_bytes(8, "big") + secrets.token_bytes(8)
        return base64.urlsafe_b64encode(body + self._mac(body)).decode().rstrip("=")

    def check_nonce(self, nonce: str) -> str:
        """``ok``, ``stale`` (genuine but expired) or ``invalid``."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return "invalid"
        if len(raw) != 32:
            return "invalid"
        body, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return "invalid"
        issued = int.from_bytes(body[:8], "big")
        age = self.clock() - issued
        if age > self.nonce_lifetime or age < -60:
            return "stale"
        return "ok"

    # -- challenges
    def challenges(self, stale: bool = False) -> list[Challenge]:
        """One challenge per algorithm (preferred first), sharing a fresh nonce."""
        nonce = self.make_nonce()
        return [Challenge(realm=self.realm, nonce=nonce, algorithm=a,
                          qop=["auth"] if self.qop else [], opaque=self.opaque, stale=stale)
                for a in self.algorithms]

    def challenge(self, request: Request, *, proxy: bool = False, stale: bool = False,
                  to_tag: str | None = None) -> Response:
        """A 401 (or 407 with ``proxy``) carrying our challenges."""
        resp = request.create_response(407 if proxy else 401, to_tag=to_tag)
        self.add_challenges(resp, proxy=proxy, stale=stale)
        return resp

    def add_challenges(self, response: Response, *, proxy: bool = False,
                       stale: bool = False) -> None:
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        for ch in self.challenges(stale):
            response.headers.add(name, str(ch))

    # -- verification
    def credentials(self, request: Request, *, proxy: bool = False) -> Credentials | None:
        """Our realm's digest credentials in ``request``; None if absent.

        Raises :class:`ParseError` when the header is malformed.
        """
        name = "Proxy-Authorization" if proxy else "Authorization"
        for value in request.headers.get_all(name):
            creds = Credentials.parse(value)
            if creds.realm == self.realm:
                return creds
        return None

    def verify(self, request: Request, creds: Credentials, ha1: str | None) -> AuthResult:
        """Check ``creds`` (from ``request``) against the stored ``ha1`` for its algorithm."""
        user = creds.username
        if creds.algorithm not in self.algorithms:
            return AuthResult("invalid", user, "algorithm not offered")
        nonce_state = self.check_nonce(creds.nonce)
        if nonce_state == "invalid":
            return AuthResult("invalid", user, "unknown nonce")
        try:
            if SipURI.parse(creds.uri) != request.uri:
                return AuthResult("invalid", user, "uri mismatch")
        except ParseError:
            return AuthResult("invalid", user, "bad uri")
        if creds.qop is not None and creds.qop != "auth":
            return AuthResult("invalid", user, "qop not supported")
        if self.qop and creds.qop is None:
            return AuthResult("invalid", user, "qop required")
        if ha1 is None:
            return AuthResult("failed", user, "unknown user")
        expected = compute_response(algorithm=creds.algorithm, ha1=ha1.lower(),
                                    nonce=creds.nonce, method=request.method, uri=creds.uri,
                                    qop=creds.qop, nc=creds.nc, cnonce=creds.cnonce)
        if not hmac.compare_digest(expected, creds.response):
            return AuthResult("failed", user, "wrong credentials")
        if nonce_state == "stale":
            return AuthResult("stale", user, "nonce expired")
        if creds.nc is not None:
            nc = int(creds.nc, 16)
            last = self._nc.get(creds.nonce, 0)
            if nc <= last:
                return AuthResult("invalid", user, "nonce count replayed")
            self._nc[creds.nonce] = nc
            self._nc.move_to_end(creds.nonce)
            while len(self._nc) > self.max_tracked_nonces:
                self._nc.popitem(last=False)
        return AuthResult("ok", user)

    async def authenticate(self, request: Request, lookup: HA1Lookup, *,
                           proxy: bool = False) -> AuthResult:
        """Find our credentials in ``request``, fetch the HA1 with ``lookup`` and verify.

        Failed attempts are logged as ``digest auth failed`` with user and peer address (a
        line a fail2ban filter can match); no secret is logged.
        """
        try:
            creds = self.credentials(request, proxy=proxy)
        except ParseError as exc:
            self._log_failure(request, None, exc.reason)
            return AuthResult("invalid", None, exc.reason)
        if creds is None:
            return AuthResult("missing")
        found = lookup(creds.username, creds.algorithm)
        ha1 = await found if isinstance(found, Awaitable) else found
        result = self.verify(request, creds, ha1)
        if result.status in ("failed", "invalid"):
            self._log_failure(request, creds.username, result.reason)
        return result

    def _log_failure(self, request: Request, user: str | None, reason: str) -> None:
        if not self.log_failures:
            return
        peer = request.source[0] if request.source else "-"
        log.warning("digest auth failed user=%s ip=%s reason=%s", user or "-", peer, reason,
                    extra={"call_id": request.headers.get("Call-ID"), "peer_ip": peer})


class DigestClient:
    """Answers challenges for one account; give a password or the HA1 for each algorithm."""

    def __init__(self, username: str, password: str | None = None, *,
                 ha1_md5: str | None = None, ha1_sha256: str | None = None) -> None:
        if password is None and ha1_md5 is None and ha1_sha256 is None:
            raise AuthError("a password or an HA1 is needed")
        self.username = username
        self.password = password
        self.ha1 = {"MD5": ha1_md5, "SHA-256": ha1_sha256}
        self._nc: dict[str, int] = {}
        self._tried: set[str] = set()
        # challenges answered so far, by (proxy?, realm): a request that must answer a
        # second challenge (a proxy's, then a registrar's) repeats the first answer with the
        # next nonce count, or a server that checks nonce counts takes it for a replay
        self._answered: dict[tuple[bool, str], Challenge] = {}

    def _ha1_for(self, algorithm: str, realm: str) -> str | None:
        base = algorithm.removesuffix("-SESS")
        if self.password is not None and base in ALGORITHMS:
            return compute_ha1(self.username, realm, self.password, base)
        return self.ha1.get(base)

    def pick_challenge(self, response: Response) -> Challenge | None:
        """The best challenge we can answer (SHA-256 before MD5), or None."""
        found: list[Challenge] = []
        for name, proxy in (("WWW-Authenticate", False), ("Proxy-Authenticate", True)):
            for value in response.headers.get_all(name):
                try:
                    ch = Challenge.parse(value, proxy)
                except ParseError:
                    continue
                if ch.qop and "auth" not in ch.qop:
                    continue
                if self._ha1_for(ch.algorithm, ch.realm) is not None:
                    found.append(ch)
        order = {"SHA-256": 0, "SHA-256-SESS": 1, "MD5": 2, "MD5-SESS": 3}
        found.sort(key=lambda c: order.get(c.algorithm, 9))
        return found[0] if found else None

    def credentials_for(self, challenge: Challenge, method: str, uri: str) -> Credentials:
        ha1 = self._ha1_for(challenge.algorithm, challenge.realm)
        if ha1 is None:
            raise AuthError(f"no secret for {challenge.algorithm}")
        qop = "auth" if challenge.qop else None
        nc = cnonce = None
        if qop:
            count = self._nc.get(challenge.nonce, 0) + 1
            self._nc[challenge.nonce] = count
            nc = f"{count:08x}"
            cnonce = secrets.token_hex(8)
        response = compute_response(algorithm=challenge.algorithm, ha1=ha1,
                                    nonce=challenge.nonce, method=method, uri=uri, qop=qop,
                                    nc=nc, cnonce=cnonce)
        return Credentials(username=self.username, realm=challenge.realm, nonce=challenge.nonce,
                           uri=uri, response=response, algorithm=challenge.algorithm, qop=qop,
                           nc=nc, cnonce=cnonce, opaque=challenge.opaque)

    def authorize(self, request: Request, response: Response) -> Request | None:
        """A copy of ``request`` answering the 401/407 ``response`` (CSeq + 1, no Via), or
        None when we cannot answer or the same nonce was already refused (not stale)."""
        challenge = self.pick_challenge(response)
        if challenge is None:
            return None
        key = f"{challenge.realm}\0{challenge.nonce}"
        if key in self._tried and not challenge.stale:
            return None
        self._tried.add(key)
        new = request.copy()
        new.headers.remove("Via")
        cseq = request.cseq
        new.headers.set("CSeq", f"{cseq.seq + 1} {cseq.method}")
        method, uri = request.method, str(request.uri)
        self._answered[(challenge.proxy, challenge.realm)] = challenge
        for proxy, header in ((False, "Authorization"), (True, "Proxy-Authorization")):
            earlier = new.headers.get_all(header)
            if not earlier:
                continue
            new.headers.remove(header)
            for value in earlier:
                realm = _realm_of(value)
                if proxy == challenge.proxy and realm == challenge.realm:
                    continue  # answered again below
                known = self._answered.get((proxy, realm or ""))
                new.headers.add(header, str(self.credentials_for(known, method, uri))
                                if known is not None else value)
        name = "Proxy-Authorization" if challenge.proxy else "Authorization"
        new.headers.add(name, str(self.credentials_for(challenge, method, uri)))
        return new


def _realm_of(value: str) -> str | None:
    try:
        return parse_auth_header(value)[1].get("realm")
    except ParseError:
        return None
