"""Janus API error codes (the numbers Janus clients expect) and the exception carrying them."""

from __future__ import annotations

UNAUTHORIZED = 403
UNAUTHORIZED_PLUGIN = 405
TRANSPORT_SPECIFIC = 450
MISSING_REQUEST = 452
UNKNOWN_REQUEST = 453
INVALID_JSON = 454
INVALID_JSON_OBJECT = 455
MISSING_MANDATORY_ELEMENT = 456
INVALID_REQUEST_PATH = 457
SESSION_NOT_FOUND = 458
HANDLE_NOT_FOUND = 459
PLUGIN_NOT_FOUND = 460
PLUGIN_ATTACH = 461
PLUGIN_MESSAGE = 462
PLUGIN_DETACH = 463
JSEP_UNKNOWN_TYPE = 464
JSEP_INVALID_SDP = 465
TRICKLE_INVALID_STREAM = 466
INVALID_ELEMENT_TYPE = 467
SESSION_CONFLICT = 468
UNEXPECTED_ANSWER = 469
TOKEN_NOT_FOUND = 470
WEBRTC_STATE = 471
NOT_ACCEPTING_SESSIONS = 472
LIMIT_REACHED = 429  # ours: a per-user, per-session or per-connection limit (gateway.limits)
UNKNOWN = 490


class JanusError(Exception):
    """A request failed; ``code`` is one of the constants above."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.session_id: int | None = None
        """Session id for the reply when it is not the request's (e.g. a create's id)."""
        self.transaction_known = True
        """False when the request failed before its transaction could be read (as Janus,
        the reply then carries none)."""
