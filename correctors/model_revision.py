"""Which weights a replacement came from: the model directory's revision.

Replacements record the model id and revision actually used, never the submitted event's.
The revision is, in order: the one the policy declares; the commit of a Hugging Face cache
snapshot (``.../snapshots/<40 hex>/``); else ``files-<sha256>`` over every file's relative path
and size and the bytes of its JSON configs. Hashing the weights themselves would read gigabytes
at every start; a retrained or swapped weights file changes its size in practice, and its
config or file list when it changes shape. This module only reads the directory.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

__all__ = ["model_revision"]

_SNAPSHOT = re.compile(r"^[0-9a-f]{40}$")


def model_revision(directory: Path) -> str:
    """The revision of the diffusers directory ``directory`` (see the module docstring)."""
    resolved = directory.resolve()
    if resolved.parent.name == "snapshots" and _SNAPSHOT.match(resolved.name):
        return resolved.name
    digest = hashlib.sha256()
    for path in sorted(p for p in resolved.rglob("*") if p.is_file()):
        relative = path.relative_to(resolved).as_posix()
        digest.update(f"{relative}\0{path.stat().st_size}\0".encode())
        if path.suffix == ".json":
            digest.update(path.read_bytes())
    return f"files-{digest.hexdigest()[:16]}"
