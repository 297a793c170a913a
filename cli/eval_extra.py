"""The optional libraries of `swerve eval correct` and `swerve eval tradeoff` (the `eval` extra)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import typer

EVAL_EXTRA = ("skimage", "matplotlib")  # SSIM, the independent judge; the plots


@contextmanager
def eval_extra(command: str) -> Iterator[None]:
    """Turn a missing `eval` extra, met while importing the command's modules, into a clear error."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if exc.name not in EVAL_EXTRA:
            raise
        raise typer.BadParameter(f"`{command}` needs {exc.name}: pip install 'swerve[eval]'") from exc
