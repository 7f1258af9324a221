"""Typed keys of the values the FONBO application keeps (store, settings, bus, realtime, the
PBX control client)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fonbo.settings import FonboSettings
from webfon.bus import Bus
from webfon.control_client import ControlClient
from webfon.runner import STORE_KEY
from webfon.tokens import TokenVerifier

SETTINGS_KEY = web.AppKey("fonbo_settings", FonboSettings)
BUS_KEY = web.AppKey("fonbo_bus", Bus)
VERIFIER_KEY = web.AppKey("fonbo_verifier", TokenVerifier)
REALTIME_KEY = web.AppKey("fonbo_realtime", Any)
MEDIA_KEY = web.AppKey("fonbo_media_key", bytes)
CONTROL_KEY = web.AppKey("fonbo_pbx_control", ControlClient)

__all__ = ["BUS_KEY", "CONTROL_KEY", "MEDIA_KEY", "REALTIME_KEY", "SETTINGS_KEY", "STORE_KEY",
           "VERIFIER_KEY"]
