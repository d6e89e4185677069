"""``python -m assistant`` runs the command line."""

from __future__ import annotations

import sys

from assistant.interfaces.cli import main

sys.exit(main())
