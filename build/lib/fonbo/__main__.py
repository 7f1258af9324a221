"""``python -m fonbo``: run the portal API (default port 8400)."""

from __future__ import annotations

import sys

from fonbo.app import build_app
from fonbo.settings import FonboSettings
from webfon.runner import run_component

if __name__ == "__main__":
    sys.exit(run_component("fonbo", FonboSettings, build_app))
