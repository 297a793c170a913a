"""How errors become HTTP answers: every body is ``{"detail": "<what was wrong>"}``.

A caller's mistake is a 4xx that names the field, header or limit: 400 (malformed body, a
tenant in the body), 401/403 (key), 413 (too large), 415 (not JSON or multipart, an image
format that is not allowed), 422 (a field or the image is invalid), 429 (over budget). Ours or
a dependency's is a 5xx: 502 (an outcome's image cannot be read), 503 (not connected yet, the
store or the broker did not answer; with ``Retry-After``). Anything else is a bug and stays a
500, logged with its traceback by the server. This module must never turn a 5xx into a 4xx.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from swerve.errors import (
    InvalidInputError,
    MediaTooLargeError,
    TransientError,
    UnsupportedMediaTypeError,
)

from swerve.gateway.body_limit import RequestBodyTooLarge
from swerve.gateway.connection import GatewayNotReady
from swerve.gateway.moderations import OutcomeUnreadable

__all__ = ["install_problem_handlers", "problem"]

# Seconds a caller should wait after a 503.
_UNAVAILABLE_RETRY_AFTER_S = 2


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The answer ``status`` with ``{"detail": detail}``."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _status_of_invalid_input(exc: InvalidInputError) -> int:
    if isinstance(exc, MediaTooLargeError):
        return 413
    if isinstance(exc, UnsupportedMediaTypeError):
        return 415
    return 422


async def _invalid_input(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInputError)
    return problem(_status_of_invalid_input(exc), f"invalid moderation request: {exc}")


async def _body_too_large(request: Request, exc: Exception) -> JSONResponse:
    # The rest of the body is never read: close the connection rather than keep it alive.
    return problem(413, str(exc), {"Connection": "close"})


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return problem(503, str(exc), {"Retry-After": str(_UNAVAILABLE_RETRY_AFTER_S)})


async def _outcome_unreadable(request: Request, exc: Exception) -> JSONResponse:
    return problem(502, str(exc))


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(map(str, e.get('loc', ()))) or '<request>'}: {e.get('msg', 'invalid')}" for e in exc.errors()[:8]
    )
    return problem(422, f"invalid request: {problems}")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer the gateway's errors as the module docstring says."""
    app.add_exception_handler(InvalidInputError, _invalid_input)
    app.add_exception_handler(RequestBodyTooLarge, _body_too_large)
    app.add_exception_handler(GatewayNotReady, _unavailable)
    app.add_exception_handler(TransientError, _unavailable)
    app.add_exception_handler(OutcomeUnreadable, _outcome_unreadable)
    app.add_exception_handler(RequestValidationError, _request_validation)
