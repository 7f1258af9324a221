"""Error codes of Janus's SIP plugin (plugin-level, inside ``{"sip": "event"}``)."""

UNKNOWN_ERROR = 499
NO_MESSAGE = 440
INVALID_JSON = 441
INVALID_REQUEST = 442
MISSING_ELEMENT = 443
INVALID_ELEMENT = 444
ALREADY_REGISTERED = 445
INVALID_ADDRESS = 446
WRONG_STATE = 447
MISSING_SDP = 448
LIBSOFIA_ERROR = 449  # Janus's name; here: the SIP stack refused or failed a request
IO_ERROR = 450
RECORDING_ERROR = 451
TOO_STRICT = 452
HELPER_ERROR = 453
NO_SUCH_CALLID = 454
UNAUTHORIZED = 403  # ours: guest or webfon login not allowed for this token, or a
# registrar, proxy or destination that is not one of the allowed SIP servers
LIMIT_REACHED = 429  # ours: the user's SIP accounts or media legs (as the core's 429)
# Janus 1.1.2 reports some wrong-state errors with code 0 (it forgets to set the code);
# clients written for it see that code, so it is kept
UNSET = 0


class SipPluginError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
