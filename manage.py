#!/usr/bin/env python
"""Django's command-line utility; `fullfield <command>` does the same once installed."""

import os
import sys
from pathlib import Path

# An uninstalled checkout: make the `platform/` source root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent / "platform"))

if __name__ == "__main__":
    from fullfield.cli import manage

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
    sys.exit(manage(sys.argv[1:]))
