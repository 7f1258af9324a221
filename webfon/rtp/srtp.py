"""SDES-SRTP (RFC 4568, RFC 3711): ``a=crypto`` attributes and the SRTP sessions they key.

An offer lists ``a=crypto:<tag> <suite> inline:<key||salt>[|lifetime]`` lines; the answerer
picks one line it supports and answers with the same tag and suite and *its own* key: each side
protects what it sends with its key and unprotects what it receives with the other's. The
suites here are AES counter mode with HMAC-SHA1 (80 or 32 bit tags, RFC 4568) and AES-GCM
(RFC 7714); a line with session parameters (UNENCRYPTED_SRTP, KDR…) or an MKI is not taken up
(RFC 4568 lets the answerer skip lines it cannot honour). Keys come from the operating
system's generator. The sessions are pylibsrtp's (libsrtp), as aiortc uses.

SDES keys travel in the SDP: they are only as secret as the signalling, so SRTP is offered
on SIP over TLS (RFC 4568 §8.3).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import Any

from pylibsrtp import Policy, Session


@dataclass(frozen=True)
class Suite:
    name: str
    profile: int
    key_len: int
    """Master key plus salt, in bytes."""


SUITES = {s.name: s for s in (
    Suite("AES_CM_128_HMAC_SHA1_80", Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    Suite("AES_CM_128_HMAC_SHA1_32", Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 30),
    Suite("AEAD_AES_128_GCM", Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    Suite("AEAD_AES_256_GCM", Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
)}
DEFAULT_SUITE = "AES_CM_128_HMAC_SHA1_80"
SECURE_PROFILES = ("RTP/SAVP", "RTP/SAVPF")


class SrtpError(ValueError):
    """SRTP cannot be set up (the message says why)."""


@dataclass(frozen=True)
class Crypto:
    """One ``a=crypto`` line with a single inline key."""

    tag: int
    suite: str
    key: bytes
    """Master key and salt, concatenated."""

    @classmethod
    def parse(cls, value: str) -> Crypto | None:
        """The attribute's value (after ``crypto:``); None when it is not one we support
        (unknown suite, session parameters, several keys, an MKI, a malformed key)."""
        parts = value.split()
        if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 9:
            return None
        tag, name, key_params = int(parts[0]), parts[1].upper(), parts[2]
        suite = SUITES.get(name)
        if suite is None or ";" in key_params or not key_params.startswith("inline:"):
            return None
        fields = key_params[len("inline:"):].split("|")
        if len(fields) > 2 or (len(fields) == 2 and ":" in fields[1]):
            return None  # an MKI (and, with it, maybe a lifetime): not supported
        try:
            key = base64.b64decode(fields[0], validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(key) != suite.key_len:
            return None
        return cls(tag, suite.name, key)

    @classmethod
    def generate(cls, suite: str = DEFAULT_SUITE, tag: int = 1) -> Crypto:
        return cls(tag, suite, os.urandom(SUITES[suite].key_len))

    def encode(self) -> str:
        """The attribute's value, for ``a=crypto:``."""
        return f"{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"

    def answer(self) -> Crypto:
        """Our side of this offered line: same tag and suite, a key of our own."""
        return Crypto.generate(self.suite, self.tag)

    def __repr__(self) -> str:  # never the key
        return f"Crypto({self.tag}, {self.suite})"


def crypto_lines(media: Any) -> list[Crypto]:
    """The supported ``a=crypto`` lines of an SDP media section (``webfon.sip.sdp.Media``),
    in its order."""
    out = []
    for line in media.other:
        if line[:9].lower() == "a=crypto:":
            crypto = Crypto.parse(line[9:])
            if crypto is not None:
                out.append(crypto)
    return out


def offers_crypto(media: Any) -> bool:
    """The section carries ``a=crypto`` lines at all (supported or not)."""
    return any(line[:9].lower() == "a=crypto:" for line in media.other)


def is_secure_profile(proto: str) -> bool:
    return proto.upper() in SECURE_PROFILES


def add_crypto(media: Any, crypto: Crypto) -> None:
    media.other.append(f"a=crypto:{crypto.encode()}")


def remove_crypto(media: Any) -> None:
    media.other = [line for line in media.other if line[:9].lower() != "a=crypto:"]


def _session(suite: Suite, key: bytes, inbound: bool) -> Session:
    policy = Policy(key=key, srtp_profile=suite.profile,
                    ssrc_type=Policy.SSRC_ANY_INBOUND if inbound else Policy.SSRC_ANY_OUTBOUND)
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    return Session(policy)


class SrtpContext:
    """Both directions of one SRTP leg: ``local`` keys what we send, ``remote`` what we
    receive (same suite)."""

    __slots__ = ("local", "remote", "rx", "tx")

    def __init__(self, local: Crypto, remote: Crypto) -> None:
        if local.suite != remote.suite:
            raise SrtpError(f"suites differ: {local.suite} and {remote.suite}")
        suite = SUITES[local.suite]
        self.local = local
        self.remote = remote
        self.tx = _session(suite, local.key, inbound=False)
        self.rx = _session(suite, remote.key, inbound=True)

    def rekeyed(self, remote: Crypto) -> SrtpContext:
        """The same leg after the peer offered another key (a re-INVITE)."""
        return SrtpContext(self.local if self.local.suite == remote.suite
                           else remote.answer(), remote)
