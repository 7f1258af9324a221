"""Entry point: ``python -m launcher.front --port 8080``."""

from __future__ import annotations

import sys

from launcher.front.app import build_app
from launcher.front.settings import FrontSettings
from webfon.runner import run_component

if __name__ == "__main__":
    sys.exit(run_component("web", FrontSettings, build_app))
