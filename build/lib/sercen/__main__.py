"""``python -m sercen [--config sercen.conf] [--port N]``: run the authentication service."""

from __future__ import annotations

import sys

from sercen.app import build_app
from sercen.settings import SercenSettings
from webfon.runner import run_component


def main(argv: list[str] | None = None) -> int:
    return run_component("sercen", SercenSettings, build_app, argv)


if __name__ == "__main__":
    sys.exit(main())
