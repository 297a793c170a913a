"""Serve the gateway app with uvicorn on a socket bound here, so port 0 can name its real port.

The socket is bound and listening before the address is announced: a caller that reads the
announced URL can connect at once (``/readyz`` then says when the SDK client is connected).
uvicorn stops on SIGTERM or Ctrl-C, and the app's shutdown closes the client. This module must
never build the app: it serves the one it is given.
"""

from __future__ import annotations

import socket
from typing import Callable

import uvicorn
from fastapi import FastAPI

__all__ = ["bind", "serve", "url_of"]

_BACKLOG = 2048


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port) and listening.

    Raises:
        OSError: the address cannot be bound (in use, not local).
    """
    family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, protocol)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(_BACKLOG)
    except OSError:
        listener.close()
        raise
    return listener


def url_of(listener: socket.socket) -> str:
    """``http://host:port`` of a bound socket, with the port it really got."""
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(app: FastAPI, listener: socket.socket, *, log_level: str = "info", announce: Callable[[str], None] = print) -> None:
    """Run ``app`` on ``listener`` until SIGTERM or Ctrl-C; ``announce`` gets its URL first."""
    config = uvicorn.Config(app, log_level=log_level, lifespan="on", server_header=False)
    server = uvicorn.Server(config)
    announce(url_of(listener))
    server.run(sockets=[listener])
