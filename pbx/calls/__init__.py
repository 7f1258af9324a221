"""Calls through the B2BUA: the call and its legs (:mod:`.model`, :mod:`.leg`), making legs on
the SIP endpoint (:mod:`.factory`), ringing (:mod:`.ringer`), the calls in progress
(:mod:`.active`), a call's life to its CDR rows (:mod:`.lifecycle`, :mod:`.records`).

Where a call goes is decided by :mod:`pbx.admission` and carried out by a destination
(:mod:`pbx.destinations`); what happens inside a connected call by :mod:`pbx.features`.
"""
