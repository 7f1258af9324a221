"""Destinations: what takes a call once admission has routed it.

Each route kind (:class:`~pbx.routing.RouteKind`) has one destination, a class with
``async deliver(call, route, depth)`` registered with :class:`~.base.Delivery`:

* :mod:`.user` — a user or an extension: forwarding, the web phone «exclusivo», the phones
  rung in multiterminal rounds;
* :mod:`.queue` — a group: hunt (ring, no waiting), operator and ACD (a waiting line with
  music and position, agents, wrap-up), overflow, statistics;
* :mod:`.ivr` — an IVR menu: greeting, RFC 4733 keys, options, the IVR/VV accumulators;
* :mod:`.trunks` — an outside number: the trunks in order, moving on when one is unavailable;
* :mod:`.voicemail` — a mailbox: greeting, recording, message, MWI.

A destination rings contacts with :class:`~pbx.calls.ringer.Ringer`, or answers the caller
itself (:func:`~.base.answer_here`) to play or record; it sends the call elsewhere by asking
:class:`~pbx.admission.Admission` for a route and handing it back to the delivery with
``depth + 1``. A new kind of destination (a conference room) is a new module here,
a route kind and one registration where the engine is put together.
"""
