"""Test support: free ports and waits, a manual clock, audio checks, the scripted SIP phone,
sipp and baresip runners, shared fixtures.

Import what a test needs from the submodules (``tests.support.net``, ``tests.support.clock``,
``tests.support.audio``, ``tests.support.phone``, ``tests.support.sipp``,
``tests.support.baresip``); ``tests.support.fixtures`` holds pytest fixtures that
``tests/conftest.py`` re-exports. Tones are analysed with ``webfon.rtp.detect``.
"""
