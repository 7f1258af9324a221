"""Destinations: what takes a call once admission has routed it.

Each route kind (:class:`~pbx.routing.RouteKind`) has one destination, a class with
``async deliver(call, route, depth)`` registered with :class:`~.base.Delivery`:

* :mod:`.user` — a user or an extension: forwarding, the web phone «exclusivo», the phones
  rung in multiterminal rounds;
* :mod:`.queue` — an ACD queue: its strategy's rounds of members, overflow, statistics;
* :mod:`.trunks` — an outside number: the trunks in order, moving on when one is unavailable;
* :mod:`.voicemail` — a mailbox: greeting, recording, message, MWI.

A destination rings contacts with :class:`~pbx.calls.ringer.Ringer`, or answers the caller
itself (:func:`~.base.answer_here`) to play or record; it sends the call elsewhere by asking
:class:`~pbx.admission.Admission` for a route and handing it back to the delivery with
``depth + 1``. A new kind of destination (a conference room, an IVR menu) is a new module here,
a route kind and one registration where the engine is put together.
"""
