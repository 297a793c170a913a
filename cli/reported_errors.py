"""How a command reports swerve's own errors: for the operator, one line and exit code 2, no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a ``SwerveError`` raised inside into ``error: <message>`` on stderr and exit code 2."""
    from swerve.errors import SwerveError  # imported late: commands load only what they run

    try:
        yield
    except SwerveError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
