"""Repositories: the PBX's SQL on the tables its call handling writes (voicemail messages,
queue member memory), one class a table group, so call logic holds no SQL.

The directory, location, CDR and statistics keep theirs in :mod:`pbx.directory`,
:mod:`pbx.location`, :mod:`pbx.cdr` and :mod:`pbx.stats`.
"""
