"""Serve the chat UI: ``python app.py [--host 127.0.0.1] [--port 7860]`` (the same as ``assistant app``).

Builds the index first if it is missing or out of date, then serves on http://127.0.0.1:7860.
"""

from __future__ import annotations

import sys

from assistant.interfaces.cli import app_main

if __name__ == "__main__":
    sys.exit(app_main())
