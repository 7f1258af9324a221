"""In-call features: what a connected call does with its legs' requests.

Each feature handles one kind of leg event (:mod:`pbx.calls.leg`) and is registered for it
with :class:`~.dispatch.InCallFeatures`:

* :mod:`.hold` — re-INVITE: hold and resume, music on hold to the held party;
* :mod:`.dtmf` — INFO: SIP INFO DTMF sent on as RFC 4733 events;
* :mod:`.transfer` — REFER: blind transfer (through admission) and attended transfer
  (Replaces).

A new feature (recording, a conference's controls) is a module here and one registration
where the engine is put together.
"""
