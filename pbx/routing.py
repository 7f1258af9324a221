"""Where a dialled number goes: a user (preferred), an extension, a group, an IVR menu, a
conference room, a feature code for the PBX itself, or out by a trunk.

Routing looks the number up in the shared numbering first, so a user's number reaches the user
wherever they are logged in (the seed: «se debe buscar al usuario, no a la extensión»). The
caller's category decides which destination classes are allowed; a refusal carries a clear
reason for the 403. Call-by-call mobility codes are not numbers: admission resolves them
(:mod:`pbx.mobility`) before a number reaches the router, which refuses any it is given.

Only :class:`~pbx.admission.Admission` hands routes out for delivery: a route made here, or
by hand, is not admitted and no destination takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .categories import (
    DEFAULT_CATEGORY,
    UNRESTRICTED,
    Category,
    Classified,
    NumberError,
    classify_dialled,
    classify_external,
)
from .directory import Directory, Extension, Phone, QueueInfo, Trunk, User
from .feature_codes import FeatureCode, parse_feature_code
from .mobility import is_mobility
from .repo.conferences import ConferenceRoom
from .repo.ivr import IvrMenu


@dataclass(frozen=True)
class Caller:
    """Who a call is placed for: a phone of an extension (with its owner), a user (call-by-call
    mobility, forwarding), a trunk (calls from outside) or the PBX itself (:data:`SYSTEM`).

    The category is always explicit: a caller with none of its own has
    :data:`~pbx.categories.DEFAULT_CATEGORY`.
    """

    user: User | None = None
    extension: Extension | None = None
    phone: Phone | None = None
    trunk: Trunk | None = None
    category: Category = DEFAULT_CATEGORY
    mobility: bool = False
    address: str = ""
    """The network address the caller's request came from (limits and logs), when known."""

    @property
    def number(self) -> str:
        if self.user is not None and (self.mobility or self.extension is None):
            return self.user.login_number
        if self.extension is not None:
            return self.extension.number
        return ""

    @property
    def display_number(self) -> str:
        """The number people see (history, voicemail): the user's, whichever extension
        carried the call; an extension's own number when no user owns it."""
        return self.user.login_number if self.user is not None else self.number


SYSTEM = Caller(category=UNRESTRICTED)
"""The PBX placing a call its own configuration names (a queue's overflow target); never a
call a person asks for (a dialled number, a forward, a transfer): those are placed as that
person."""


class RouteKind(StrEnum):
    """What a number leads to; each kind but ``REJECT`` has a destination that takes the call
    (see :mod:`pbx.destinations`)."""

    USER = "user"
    EXTENSION = "extension"
    QUEUE = "queue"
    IVR = "ivr"
    EXTERNAL = "external"
    VOICEMAIL = "voicemail"
    CONFERENCE = "conference"
    FEATURE = "feature"
    """A feature code for the PBX itself (``*43#`` callback, ``*44#`` cancel)."""
    REJECT = "reject"


@dataclass(frozen=True, eq=False)
class Route:
    """The routing decision: where the number leads, for whom, or why it is refused.

    Routes compare by identity: a route is admitted (:func:`pbx.admission.admitted`) as the
    very object admission handed out, never as a copy or a look-alike.
    """

    kind: RouteKind
    number: str
    caller: Caller
    dest_class: str = "internal"
    user: User | None = None
    extension: Extension | None = None
    queue: QueueInfo | None = None
    stats: bool = False
    """Record the group's statistics for this call (the 6th «Si» of ``Cen_Sub_colaCentralita``:
    an IVR option that sends the call to a group with statistics on)."""
    ivr: IvrMenu | None = None
    conference: ConferenceRoom | None = None
    feature: FeatureCode | None = None
    trunks: list[Trunk] = field(default_factory=list)
    """The trunks an outside number may leave by, in order of preference."""
    status: int = 0
    reason: str = ""
    flow_verdict: str = ""
    """Set when flow control (mdflow) refused the call: its label («agujero», «desborda»)."""


def reject(number: str, caller: Caller, status: int, reason: str) -> Route:
    return Route(RouteKind.REJECT, number, caller, status=status, reason=reason)


class Router:
    def __init__(self, directory: Directory, *, outside_prefix: str = "0",
                 local_prefixes: tuple[str, ...] = ()) -> None:
        self.directory = directory
        self.outside_prefix = outside_prefix
        self.local_prefixes = local_prefixes

    async def caller_for_phone(self, phone: Phone) -> Caller:
        ext = await self.directory.extension(phone.extension_id)
        user = None
        if ext is not None and ext.owner_user_id is not None:
            user = await self.directory.user(ext.owner_user_id)
        if ext is not None and ext.kind == "web":
            session = await self.directory.web_session_by_extension(ext.id)
            if session is not None:
                user = await self.directory.user(session.user_id)
        cat_id = phone.category_id
        if cat_id is None and user is not None:
            cat_id = user.category_id
        if cat_id is None and ext is not None:
            cat_id = ext.category_id
        return Caller(user=user, extension=ext, phone=phone,
                      category=await self.directory.category(cat_id))

    async def route(self, dialled: str, caller: Caller) -> Route:
        if is_mobility(dialled):
            return reject("*72*", caller, 484, "Mobility code not allowed here")
        code = parse_feature_code(dialled)
        if code is not None:
            if caller.trunk is not None or caller.mobility:
                return reject(dialled, caller, 403, "Feature codes are for the PBX's own phones")
            return Route(RouteKind.FEATURE, dialled, caller, feature=code)
        kind = await self.directory.number_kind(dialled)
        if caller.trunk is not None:
            return await self._internal(dialled, kind, caller, "internal") if kind else reject(
                dialled, caller, 404, "Number not assigned")
        try:
            classified = classify_dialled(dialled, is_internal=kind is not None,
                                          outside_prefix=self.outside_prefix,
                                          local_prefixes=self.local_prefixes)
        except NumberError as exc:
            return reject(dialled, caller, 404 if kind is None else 484, str(exc))
        why = self.refusal(caller, classified)
        if why:
            return reject(dialled, caller, 403, why)
        if kind is not None:
            return await self._internal(dialled, kind, caller, classified.dest_class)
        return await self._external(classified, caller)

    def refusal(self, caller: Caller, classified: Classified) -> str | None:
        """Why ``caller`` may not call a number of this class («solo entrantes», the
        category), or None when they may."""
        if caller.user is not None and caller.user.user_type == "solo_entrantes" \
                and not caller.mobility and classified.dest_class != "emergency":
            return "Incoming-only user: outgoing calls need call-by-call mobility"
        return caller.category.check(classified)

    def outside_refusal(self, caller: Caller, number: str) -> str | None:
        """Why ``caller`` may not be connected to the outside ``number`` (as routes give it
        to the trunks), or None when they may."""
        try:
            classified = classify_external(number, self.local_prefixes)
        except NumberError as exc:
            return str(exc)
        return self.refusal(caller, classified)

    async def _internal(self, number: str, kind: str | None, caller: Caller,
                        dest_class: str) -> Route:
        if kind == "user":
            user = await self.directory.user_by_number(number)
            if user is None or not user.enabled:
                return reject(number, caller, 404, "User not available")
            ext = await self.directory.hard_extension_of(user.id)
            return Route(RouteKind.USER, number, caller, dest_class, user=user, extension=ext)
        if kind == "extension":
            ext = await self.directory.extension_by_number(number)
            if ext is None:
                return reject(number, caller, 404, "Extension not found")
            user = await self.directory.user(ext.owner_user_id) if ext.owner_user_id else None
            return Route(RouteKind.EXTENSION, number, caller, dest_class, user=user, extension=ext)
        if kind == "queue":
            queue = await self.directory.queue_by_number(number)
            if queue is None:
                return reject(number, caller, 404, "Queue not found")
            return Route(RouteKind.QUEUE, number, caller, dest_class, queue=queue)
        if kind == "ivr":
            menu = await self.directory.ivr_by_number(number)
            if menu is None:
                return reject(number, caller, 404, "IVR menu not found")
            return Route(RouteKind.IVR, number, caller, dest_class, ivr=menu)
        if kind == "conference":
            room = await self.directory.conference_by_number(number)
            if room is None:
                return reject(number, caller, 404, "Conference room not found")
            return Route(RouteKind.CONFERENCE, number, caller, dest_class, conference=room)
        return reject(number, caller, 404, "Number not assigned")

    async def _external(self, classified: Classified, caller: Caller) -> Route:
        trunks = await self.directory.trunks()
        if not trunks:
            return reject(classified.number, caller, 503, "No trunk available")
        return Route(RouteKind.EXTERNAL, classified.number, caller, classified.dest_class,
                     trunks=trunks)


def trunk_number(trunk: Trunk, number: str) -> str:
    """The number as sent on a trunk (its ``prefix_strip`` leading digits removed)."""
    return number[trunk.prefix_strip:] if trunk.prefix_strip else number


FAILOVER_STATUSES = frozenset({408, 500, 502, 503, 504})
"""Final responses that make the call move to the next trunk (seed ``CHANUNAVAIL``)."""


def should_failover(status: int | None) -> bool:
    """``None`` means no response at all (timeout or transport error)."""
    return status is None or status in FAILOVER_STATUSES
