"""Dialogs (RFC 3261 §12): state from the dialog-creating exchange, in-dialog requests.

A :class:`Dialog` is pure state: it builds requests (BYE, re-INVITE, REFER, INFO, NOTIFY…)
and the ACK for a 2xx, and checks incoming in-dialog requests; sending is the caller's job
(``endpoint.send_request(dialog.create_request("BYE"))``). :class:`DialogStore` indexes dialogs
by id so a TU can find the dialog of an incoming request.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .errors import DialogError
from .headers import Address
from .message import Request, Response
from .uri import SipURI

log = logging.getLogger("webfon.sip.dialog")

TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
DialogId = tuple[str, str, str]
"""``(call_id, local_tag, remote_tag)``."""


@dataclass
class Dialog:
    """One SIP dialog seen from our side (``role`` is ``uac`` or ``uas``)."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: Address
    remote_uri: Address
    remote_target: SipURI
    route_set: list[Address] = field(default_factory=list)
    local_seq: int = 0
    remote_seq: int | None = None
    local_contact: Address | None = None
    role: str = "uac"
    state: str = "early"
    secure: bool = False
    invite_seq: int | None = None
    """CSeq number of the last INVITE we sent in this dialog (for its ACK)."""

    # ------------------------------------------------------------------ creation
    @classmethod
    def from_uac(cls, request: Request, response: Response,
                 local_contact: Address | SipURI | None = None) -> Dialog:
        """The dialog a 1xx (with To tag) or 2xx creates for the request we sent."""
        remote_tag = response.to_tag
        if not remote_tag or response.status < 101 or response.status >= 300:
            raise DialogError("response does not create a dialog")
        contact = response.contact
        route_set = list(reversed(response.record_routes))
        if local_contact is None:
            local_contact = request.contact
        from_tag = request.from_tag
        if not from_tag:
            raise DialogError("request has no From tag")
        return cls(call_id=request.call_id, local_tag=from_tag, remote_tag=remote_tag,
                   local_uri=_untagged(request._address("From")),
                   remote_uri=_untagged(response._address("To")),
                   remote_target=contact.uri if contact else request.uri.copy(),
                   route_set=route_set, local_seq=request.cseq.seq,
                   local_contact=_as_address(local_contact), role="uac",
                   state="confirmed" if response.status >= 200 else "early",
                   secure=request.uri.scheme == "sips",
                   invite_seq=request.cseq.seq if request.method == "INVITE" else None)

    @classmethod
    def from_uas(cls, request: Request, local_tag: str,
                 local_contact: Address | SipURI | None = None,
                 state: str = "early") -> Dialog:
        """The dialog we create by answering ``request`` with a 1xx/2xx carrying ``local_tag``."""
        contact = request.contact
        if contact is None:
            raise DialogError("dialog-creating request without Contact")
        remote_tag = request.from_tag
        if not remote_tag:
            raise DialogError("request has no From tag")
        return cls(call_id=request.call_id, local_tag=local_tag, remote_tag=remote_tag,
                   local_uri=_untagged(request._address("To")),
                   remote_uri=_untagged(request._address("From")),
                   remote_target=contact.uri, route_set=list(request.record_routes),
                   local_seq=secrets.randbelow(2**16) + 1, remote_seq=request.cseq.seq,
                   local_contact=_as_address(local_contact), role="uas", state=state,
                   secure=request.uri.scheme == "sips")

    @property
    def id(self) -> DialogId:
        return (self.call_id, self.local_tag, self.remote_tag)

    # ------------------------------------------------------------------ requests we send
    def create_request(self, method: str, *, body: bytes = b"",
                       content_type: str | None = None,
                       headers: Iterable[tuple[str, str]] = ()) -> Request:
        """An in-dialog request (§12.2.1.1); the local CSeq is incremented (not for ACK/CANCEL).

        Route and Request-URI follow the route set (loose or strict routing); target-refresh
        requests carry our Contact.
        """
        if self.state == "terminated":
            raise DialogError("dialog terminated")
        method = method.upper()
        if method in ("ACK", "CANCEL"):
            raise DialogError("use create_ack / the transaction's CANCEL")
        self.local_seq += 1
        req = self._base_request(method, self.local_seq)
        if method == "INVITE":
            self.invite_seq = self.local_seq
        for name, value in headers:
            req.headers.add(name, value)
        if body:
            req.set_body(body, content_type)
        return req

    def create_ack(self, cseq: int | None = None, *, body: bytes = b"",
                   content_type: str | None = None) -> Request:
        """The ACK for a 2xx to our INVITE (``cseq`` defaults to the last INVITE's)."""
        seq = cseq if cseq is not None else self.invite_seq
        if seq is None:
            raise DialogError("no INVITE to acknowledge")
        req = self._base_request("ACK", seq)
        if body:
            req.set_body(body, content_type)
        return req

    def _base_request(self, method: str, seq: int) -> Request:
        route_set = self.route_set
        if route_set and not route_set[0].uri.lr:
            # strict routing: first route becomes the Request-URI
            uri = route_set[0].uri.copy()
            uri.params = {k: v for k, v in uri.params.items()
                          if k not in ("method", "maddr", "ttl", "transport", "lr")}
            uri.headers = {}
            routes = [*map(str, route_set[1:]), str(Address(self.remote_target))]
        else:
            uri = self.remote_target.copy()
            routes = [str(r) for r in route_set]
        req = Request(method, uri)
        headers = req.headers
        headers.add("Max-Forwards", "70")
        for route in routes:
            headers.add("Route", route)
        # local_uri and remote_uri are kept without tags (see _untagged)
        headers.add("From", f"{self.local_uri};tag={self.local_tag}")
        headers.add("To", f"{self.remote_uri};tag={self.remote_tag}")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{seq} {method}")
        if self.local_contact is not None and method in TARGET_REFRESH:
            headers.add("Contact", str(self.local_contact))
        return req

    # ------------------------------------------------------------------ what we receive
    def receive_request(self, request: Request) -> bool:
        """Check and absorb an in-dialog request; False means answer 500 (CSeq out of order).

        ACK and CANCEL are not ordered. A target refresh updates the remote target.
        """
        if request.method not in ("ACK", "CANCEL"):
            seq = request.cseq.seq
            if self.remote_seq is not None and seq <= self.remote_seq:
                return False
            self.remote_seq = seq
        if request.method in TARGET_REFRESH:
            contact = request.contact
            if contact is not None:
                self.remote_target = contact.uri
        return True

    def receive_response(self, response: Response) -> None:
        """Update state from a response to one of our requests in this dialog.

        A 2xx to INVITE confirms the dialog; a 2xx to a target refresh updates the remote
        target; 481/408 to an in-dialog request terminate it (§12.2.1.2).
        """
        method = response.cseq.method
        if 200 <= response.status < 300:
            if method == "INVITE" and self.state == "early":
                self.state = "confirmed"
            if method in TARGET_REFRESH:
                contact = response.contact
                if contact is not None:
                    self.remote_target = contact.uri
        elif response.status in (481, 408) and method != "INVITE":
            self.terminate()

    def confirm(self) -> None:
        if self.state == "early":
            self.state = "confirmed"

    def terminate(self) -> None:
        self.state = "terminated"

    def matches(self, message: Request | Response) -> bool:
        """True if ``message`` belongs to this dialog."""
        return dialog_id_of(message, incoming=isinstance(message, Request)) == self.id


def dialog_id_of(message: Request | Response, *, incoming: bool = True) -> DialogId:
    """The dialog id from our point of view: for a request we received local=To tag;
    for a response to our request local=From tag."""
    from_tag = message.from_tag or ""
    to_tag = message.to_tag or ""
    if isinstance(message, Request) and incoming:
        return (message.call_id, to_tag, from_tag)
    return (message.call_id, from_tag, to_tag)


class DialogStore:
    """Dialogs by id (a plain dict with the lookups a TU needs)."""

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}

    def add(self, dialog: Dialog) -> None:
        self._dialogs[dialog.id] = dialog

    def remove(self, dialog: Dialog) -> None:
        if self._dialogs.get(dialog.id) is dialog:
            del self._dialogs[dialog.id]

    def get(self, dialog_id: DialogId) -> Dialog | None:
        return self._dialogs.get(dialog_id)

    def find(self, request: Request) -> Dialog | None:
        """The dialog an incoming in-dialog request (To tag present) belongs to."""
        if not request.to_tag:
            return None
        return self._dialogs.get(dialog_id_of(request, incoming=True))

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))


def _untagged(addr: Address) -> Address:
    """``addr`` (possibly a message's shared cached value) without its tag, as a new Address.

    The URI is shared, not copied: cached values are never modified, and neither are a
    dialog's ``local_uri`` and ``remote_uri``.
    """
    params = {k: v for k, v in addr.params.items() if k != "tag"}
    return Address(addr.uri, addr.display_name, params, addr.wildcard)


def _as_address(value: Address | SipURI | None) -> Address | None:
    if value is None or isinstance(value, Address):
        return value
    return Address(value)
