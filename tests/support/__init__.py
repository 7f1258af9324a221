"""Test support: free ports, waits, audio checks, sipp and baresip runners, shared fixtures.

Import what a test needs from the submodules (``tests.support.sipp``, ``tests.support.baresip``,
``tests.support.audio``, ``tests.support.net``); ``tests.support.fixtures`` holds pytest fixtures
that ``tests/conftest.py`` re-exports.
"""
