"""SIP protocol stack (RFC 3261 and friends) on asyncio, shared by ``pbx`` and ``gateway``.

Public API (import from ``webfon.sip``; names are stable, new ones get added)
=============================================================================

Messages (``message``, ``headers``, ``uri``)
    ``parse_message(data: bytes, *, max_size=65535, stream=False) -> Request | Response``
        Strict parser; anything malformed or oversized raises ``ParseError`` (``.status`` is
        the code to answer with, ``.reason`` a safe phrase), never another exception type.
    ``Request(method, uri, headers=None, body=b"")`` / ``Response(status, reason=None, …)``
        ``.headers`` (``Headers``: case-insensitive, compact forms expanded, multi-valued;
        ``get``, ``get_all``, ``values`` (splits comma lists), ``add(first=)``, ``set``,
        ``remove``, ``pop_first``), ``.body``, ``set_body(body, content_type)``,
        ``encode()`` / ``bytes(msg)`` (Content-Length always recomputed).
        Typed accessors (parse on first access and cache until that header changes; raise
        ``ParseError``; addresses and Vias are returned as copies): ``call_id``, ``cseq``
        (``CSeq(seq, method)``), ``from_``, ``to`` (``Address``), ``from_tag``, ``to_tag``,
        ``via`` (top), ``vias``, ``contact``, ``contacts``, ``routes``, ``record_routes``,
        ``max_forwards``, ``expires``, ``content_type``. ``validate()`` checks mandatory
        headers. Received messages carry ``source`` (host, port), ``transport``,
        ``connection``. ``Request.create_response(status, reason=None, *, to_tag=None,
        headers=(), body=b"", content_type=None)``. ``Response.local`` marks responses made up
        by the stack (408 on timeout, 503 on transport failure).
    ``SipURI.parse(text)`` (``scheme, user, host, port, params, headers, password``;
        ``transport``, ``host_port``, ``lr``, ``copy(**changes)``; ``tel:`` has the number in
        ``user``). ``Address.parse(text)`` (name-addr/addr-spec: ``uri, display_name,
        params, tag, expires``; ``Address.parse_list``). ``Via.parse(text)`` (``transport,
        host, port, params, branch, received, rport, wants_rport, sent_by``).

Transports and endpoint (``transport``, ``endpoint``)
    ``SipEndpoint(host="127.0.0.1", port=0, *, transports=("udp",), timers=Timers(),
    public_host=None, handler=None, user_agent="webfon", server_header="webfon",
    max_message_size=65535, allowed_methods=DEFAULT_METHODS, auto_trying=True,
    trying_delay=0.0, check_max_forwards=True, eager_handlers=False)``
        ``await ep.start()`` binds every transport on one port; ``await ep.close()``;
        ``async with SipEndpoint(...) as ep``. ``ep.port``, ``ep.address("udp")``,
        ``ep.advertised_host``, ``ep.contact_uri(user, transport)``.
        ``ep.handler = fn(request, tx)`` (sync or async) receives every new request with its
        ``ServerTransaction`` (``tx`` is None for an ACK to a 2xx); with ``eager_handlers`` a
        coroutine handler runs at once up to its first wait and gets a task only if it has to
        wait (``ep.handler_tasks(method=None)`` lists those still running; the helper is
        ``endpoint.start_eagerly(coro)``). ``trying_delay`` > 0 holds the automatic 100 Trying back
        until an INVITE has had no other response for that long. The endpoint itself
        answers: retransmissions, CANCEL (200 + 487 to the INVITE, ``tx.on_cancel`` called),
        unknown methods (501 with Allow), Max-Forwards 0 (483), loops and merged requests
        (482), malformed requests (400 naming the problem when the top Via is usable, never
        to an ACK; else dropped).
        ``ep.stats`` counts received, sent, parse_errors, bad_requests, dropped,
        stray_responses, retransmissions, … ``ep.on_stray_response(resp)`` gets responses that
        match no transaction (e.g. a retransmitted 2xx after the transaction ended).
        ``ep.create_request(method, uri, *, from_, to, call_id=None, cseq=1, contact=None,
        headers=(), body=b"", content_type=None)`` (no Via: added when sent).
        ``tx = ep.send_request(req, dest=None, *, branch=None, on_response=None)``
        → ``ClientTransaction``; ``await tx.wait()`` → final ``Response``;
        ``await ep.request(req)`` does both. ``ep.send_cancel(invite_tx)``,
        ``ep.send_stateless(ack, dest=None)`` (ACK for 2xx), ``ep.send_response(resp, req)``.
        ``ep.destination_for(req)`` / ``ep.response_destination(req)`` →
        ``Destination(transport, host, port, connection)``.
    ``Transport`` (abstract: ``start``, ``send``, ``send_async``, ``close``), ``UdpTransport``,
    ``TcpTransport`` (Content-Length framing by ``StreamFramer``; TLS = TcpTransport + ssl).

Transactions (``transaction``)
    ``Timers(t1=0.5, t2=4.0, t4=5.0)``. ``ServerTransaction``: ``request``, ``local_tag``,
    ``respond(status_or_response, reason=None, *, headers=(), body=b"", content_type=None)``,
    ``create_response(...)``, ``final_sent``, ``last_response``. ``InviteServerTransaction``
    adds ``cancelled``, ``on_cancel``, ``ack`` (future: the ACK for our 2xx, or None after
    64*T1; the 2xx is retransmitted until then), ``on_ack_timeout``.
    ``ClientTransaction``: ``request``, ``branch``, ``dest``, ``on_response``, ``provisional``,
    ``wait(timeout=None)``, ``create_cancel()``, ``add_done_callback``.

Dialogs (``dialog``)
    ``Dialog.from_uac(request, response, local_contact=None)`` (1xx with To tag or 2xx),
    ``Dialog.from_uas(request, local_tag, local_contact=None, state="early")``;
    fields ``call_id, local_tag, remote_tag, local_uri, remote_uri, remote_target,
    route_set, local_seq, remote_seq, local_contact, role, state, invite_seq``; ``id``;
    ``create_request(method, *, body=b"", content_type=None, headers=())`` (BYE, re-INVITE,
    REFER, INFO, NOTIFY, UPDATE…: CSeq+1, Route/Request-URI per loose/strict routing,
    Contact on target refreshes), ``create_ack(cseq=None, *, body, content_type)`` (ACK for
    2xx; send with ``ep.send_stateless``), ``receive_request(req) -> bool`` (False: CSeq
    out of order, answer 500), ``receive_response(resp)``, ``confirm()``, ``terminate()``.
    ``DialogStore`` (``add, remove, get, find(request)``), ``dialog_id_of(msg, incoming=)``.

Digest authentication (``digest``)
    ``DigestServer(realm, secret=None, *, nonce_lifetime=300, algorithms=("SHA-256","MD5"),
    qop=True)``: ``challenge(request, *, proxy=False, stale=False, to_tag=None) -> Response``
    (401/407 with one challenge per algorithm), ``add_challenges(resp, …)``,
    ``credentials(request, proxy=False) -> Credentials | None``,
    ``verify(request, creds, ha1) -> AuthResult``, ``await authenticate(request,
    lookup(username, algorithm) -> ha1 | None, proxy=False) -> AuthResult``
    (``status`` in ok/missing/stale/failed/invalid; failures logged as
    ``digest auth failed user=… ip=… reason=…``). ``compute_ha1(user, realm, password,
    algorithm="MD5")``, ``compute_response(...)``, ``Challenge``, ``Credentials``.
    ``DigestClient(username, password=None, *, ha1_md5=None, ha1_sha256=None)``:
    ``authorize(request, response_401_or_407) -> Request | None`` (copy with credentials,
    CSeq+1, no Via; None if the same nonce already failed).

SDP (``sdp``)
    ``SessionDescription.parse(bytes|str)`` / ``str(sd)`` / ``sd.encode()``; fields
    ``origin_address, session_id, session_version, connection, direction, media``; ``audio``,
    ``address_of(media)``, ``direction_of(media)``. ``Media`` (``kind, port, proto, formats,
    connection, rtpmap, fmtp, direction, ptime, rtcp, rtcp_mux, other``; ``codecs``,
    ``codec(name)``). ``make_offer(address, port, *, codecs=("PCMA","PCMU"),
    telephone_event=101, direction="sendrecv", ptime=20)``, ``make_answer(offer, address, port,
    *, codecs, telephone_event=True, direction="sendrecv") -> (answer, Codec | None)``,
    ``with_direction(sdp, "sendonly"|"sendrecv"|…)`` (hold/resume), ``answer_direction``,
    ``reverse_direction``. For rewriting a browser's SDP: ``Media.keep_formats(pts)`` (with
    their rtpmap/fmtp/rtcp-fb lines), ``Media.telephone_event``,
    ``Media.add_telephone_event(pt)``, ``Media.free_dynamic_pt()``, ``Codec.key``,
    ``SessionDescription.audio_address``. The one SDP model of webfon (SIP and WebRTC legs).

SIP INFO DTMF (``dtmf_info``)
    ``parse_dtmf_info(content_type, body) -> DtmfInfo(digit, duration_ms) | None`` (the one
    parser: ``application/dtmf-relay`` and ``application/dtmf``), ``dtmf_relay_body(digit,
    duration_ms=160)``.

User agent (``ua``; see its module docstring for the event list)
    ``Account(aor, password=None, username=None, ha1_md5=None, ha1_sha256=None,
    display_name=None, registrar=None, outbound_proxy=None, expires=3600, transport="udp",
    contact_user=None, user_agent=None, register_headers=())``. ``UserAgent(endpoint,
    account, *, on_event=None, refresh_margin=0.8, retry_after=30, queue_incoming=True)``:
    ``await register(expires=None, refresh=True)``, ``await unregister()``, ``registered``,
    ``invite(target, sdp, *, headers=(), on_event=None, call_id=None, credentials=None) ->
    Call``, ``incoming`` (queue of incoming ``Call``), ``await options(target)``, ``await
    message(target, text)``, ``await send(request, digest=None)`` (up to two challenges),
    ``receive(request, tx)``, ``await close(unregister=True)``. Several UAs may share an
    endpoint (``UaHub``; give each a distinct ``contact_user``). ``Call``: ``direction``,
    ``state``, ``dialog``,
    ``local_sdp``, ``remote_sdp``, ``events`` / ``next_event()`` / ``wait_event(*names)``,
    ``on_event``, ``wait_answer()``, ``cancel()``, ``ringing(sdp=None)``, ``accept(sdp)``,
    ``reject(code)``, ``bye()``, ``hangup()``, ``reinvite(sdp)``, ``hold(direction)``,
    ``unhold()``, ``refer(target, replaces=None)``, ``info(body, content_type)``,
    ``send_dtmf_info(digit)``, ``notify(event, body, …)``, ``notify_refer(status)``,
    ``request(method, …)``, ``on_reinvite`` + ``answer_update(tx, sdp)``.

Errors: ``SipError`` > ``ParseError`` (also a ValueError), ``TransportError``,
``TransactionError``, ``DialogError``, ``AuthError``.
"""

from .dialog import Dialog, DialogId, DialogStore, dialog_id_of
from .digest import (
    AuthResult,
    Challenge,
    Credentials,
    DigestClient,
    DigestServer,
    compute_ha1,
    compute_response,
)
from .endpoint import DEFAULT_METHODS, Destination, RequestHandler, SipEndpoint, make_501
from .errors import AuthError, DialogError, ParseError, SipError, TransactionError, TransportError
from .headers import Address, CSeq, Via, canonical_name
from .ids import new_branch, new_call_id, new_tag
from .message import MAX_MESSAGE_SIZE, REASONS, Headers, Message, Request, Response, parse_message
from .sdp import (
    Codec,
    Media,
    SessionDescription,
    answer_direction,
    make_answer,
    make_offer,
    with_direction,
)
from .transaction import (
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    Timers,
)
from .transport import StreamFramer, TcpTransport, Transport, UdpTransport
from .ua import Account, Call, UaHub, UserAgent
from .uri import SipURI

__all__ = [
    "DEFAULT_METHODS",
    "MAX_MESSAGE_SIZE",
    "REASONS",
    "Account",
    "Address",
    "AuthError",
    "AuthResult",
    "CSeq",
    "Call",
    "Challenge",
    "ClientTransaction",
    "Codec",
    "Credentials",
    "Destination",
    "Dialog",
    "DialogError",
    "DialogId",
    "DialogStore",
    "DigestClient",
    "DigestServer",
    "Headers",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "Media",
    "Message",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "ParseError",
    "Request",
    "RequestHandler",
    "Response",
    "ServerTransaction",
    "SessionDescription",
    "SipEndpoint",
    "SipError",
    "SipURI",
    "StreamFramer",
    "TcpTransport",
    "Timers",
    "TransactionError",
    "Transport",
    "TransportError",
    "UaHub",
    "UdpTransport",
    "UserAgent",
    "Via",
    "answer_direction",
    "canonical_name",
    "compute_ha1",
    "compute_response",
    "dialog_id_of",
    "make_501",
    "make_answer",
    "make_offer",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_message",
    "with_direction",
]
