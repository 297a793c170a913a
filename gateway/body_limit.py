"""The request body cap, enforced while the body is read, whatever the request declares.

A ``Content-Length`` over the cap is answered 413 at once, before a byte of the body is read.
A body without one (chunked) is counted as it arrives: the read that crosses the cap raises
``RequestBodyTooLarge``, which the app answers 413, so no more than the cap plus one chunk is
ever held. This module must never buffer a body itself: it only counts what passes.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodySizeLimit", "RequestBodyTooLarge"]


class RequestBodyTooLarge(Exception):
    """The body sent so far is over the cap (raised while the app reads it).

    Args:
        max_bytes (`int`): the cap.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the request body is over the limit of {max_bytes} bytes")
        self.max_bytes = max_bytes


class BodySizeLimit:
    """ASGI middleware: refuse bodies over ``max_bytes`` (413).

    Args:
        app (`ASGIApp`): the application it wraps.
        max_bytes (`int`): the most bytes a request body may hold.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, f"the request body is {declared} bytes, over the limit of {self.max_bytes} bytes")
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestBodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we see it
    return None


async def _refuse(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})
