"""Serving on a network address: the checks the chat UI and the HTTP API share.

Example:
    >>> exposure_warning("0.0.0.0", "the API")
    'warning: bound to 0.0.0.0: anyone who can reach this address can search and ask the API (reading needs no login)'
"""

from __future__ import annotations

import socket

from assistant.errors import AssistantError
from assistant.service import is_loopback


def exposure_warning(host: str, what: str) -> str | None:
    """A warning to print when ``what`` is bound beyond this machine (reading needs no login)."""
    if is_loopback(host):
        return None
    reach = f"anyone who can reach this address can search and ask {what}"
    return f"warning: bound to {host}: {reach} (reading needs no login)"


def check_port(host: str, port: int) -> None:
    """Fail at once, before the model loads, if ``host:port`` cannot be served.

    Raises:
        AssistantError: The address is invalid or the port is in use.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise AssistantError(f"cannot bind to {host!r}: {exc.strerror or exc}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is fine
        try:
            probe.bind(address)
        except OSError as exc:
            raise AssistantError(
                f"cannot serve on {host}:{port} ({exc.strerror or exc}); is another app using the port? "
                "choose one with --port"
            ) from exc
