"""What a worker (or an in-process ``Moderator``) builds before it takes any input, and how a
failure to build says what failed. Faust-free, so the in-process mode can use it."""

from __future__ import annotations

from typing import Any

from swerve.errors import ConfigurationError, SwerveError

__all__ = ["prepared"]


def prepared(what: str, build: Any) -> None:
    """Run a start-up ``build``; any failure becomes a ConfigurationError that says what failed."""
    try:
        build()
    except SwerveError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a model loader raises, the worker must not start
        raise ConfigurationError(f"cannot build {what}: {type(exc).__name__}: {exc}") from exc
