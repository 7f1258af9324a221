"""``python -m pbx``: run the embedded PBX (SIP on 5060 udp/tcp, control API on 8500)."""

import sys

from webfon.runner import run_component

from .app import build
from .settings import PbxSettings

if __name__ == "__main__":
    sys.exit(run_component("pbx", PbxSettings, build))
