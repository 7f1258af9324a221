"""Exceptions of the SIP stack.

Every failure to understand bytes from the network is a :class:`ParseError`; callers never
have to catch anything else when they parse untrusted input.
"""

from __future__ import annotations


class SipError(Exception):
    """Base class of every error raised by :mod:`webfon.sip`."""


class ParseError(SipError, ValueError):
    """Malformed SIP or SDP text: bad syntax, missing mandatory header, oversized message.

    ``status`` is the response code a server should answer with (400 unless a more precise
    code applies, e.g. 513 for a message too large); ``reason`` is a short phrase safe to put
    in that response.
    """

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class TransportError(SipError, OSError):
    """A message could not be sent (no route, connection refused or closed)."""


class TransactionError(SipError):
    """Misuse of a transaction (e.g. a second final response)."""


class DialogError(SipError):
    """A request or response that does not fit the dialog's state."""


class AuthError(SipError):
    """A digest challenge or credentials that cannot be used."""
