"""Where an embedder's weights come from: a local file, or a hub tag only on explicit opt-in.

``resolve_checkpoint`` turns the user's ``checkpoint`` argument into a local file and its
sha256. A path must exist (``ModelNotFoundError`` names it). A string that is one of
open_clip's pretrained tags for the model (``"laion2b_s34b_b79k"``) is a hub download: it
is refused unless ``allow_hub_download`` is set, and then the file is downloaded into the
cache and loaded from there like any local file, so its sha256 is known too.

This module must never download anything unless ``allow_hub_download`` is True, and never
build a model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from swerve.errors import ConfigurationError, ModelNotFoundError

__all__ = ["LocalCheckpoint", "file_sha256", "resolve_checkpoint"]

_CHUNK_BYTES = 8 * 1024 * 1024
SHORT_SHA_CHARS = 12


@dataclass(frozen=True)
class LocalCheckpoint:
    """A weights file on local disk.

    Attributes:
        path (`Path`): absolute path of the file.
        sha256 (`str`): sha256 of its bytes, 64 hex characters.
        hub_tag (`str | None`): the pretrained tag it was downloaded for, if any.
    """

    path: Path
    sha256: str
    hub_tag: str | None = None

    @property
    def short_sha(self) -> str:
        """The first 12 hex characters of the sha256, for version strings."""
        return self.sha256[:SHORT_SHA_CHARS]


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 8 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_checkpoint(
    model_name: str, checkpoint: str | Path | None, *, allow_hub_download: bool = False
) -> LocalCheckpoint:
    """Find the local weights file for ``model_name``.

    Args:
        model_name (`str`): the open_clip model name (its config must already be registered).
        checkpoint (`str | Path | None`): a local file path, or an open_clip pretrained tag.
        allow_hub_download (`bool`, defaults to False): permit downloading a pretrained tag.

    Raises:
        ModelNotFoundError: no checkpoint given, or the path is not a file.
        ConfigurationError: ``checkpoint`` is a hub tag and downloads are not allowed.
    """
    if checkpoint is None:
        raise ModelNotFoundError(
            f"no checkpoint given for embedder {model_name!r}: pass a local weights file "
            "(an embedder with random weights would index noise)"
        )
    if isinstance(checkpoint, str) and _is_hub_tag(model_name, checkpoint):
        if not allow_hub_download:
            raise ConfigurationError(
                f"checkpoint {checkpoint!r} is an open_clip hub tag for {model_name!r}; swerve loads "
                "weights only from local files. Download the file and pass its path, or opt in "
                "with allow_hub_download=True"
            )
        return _download(model_name, checkpoint)
    path = Path(checkpoint).expanduser().resolve()
    if not path.is_file():
        raise ModelNotFoundError(f"embedder checkpoint for {model_name!r} not found at {path}")
    return LocalCheckpoint(path=path, sha256=file_sha256(path))


def _is_hub_tag(model_name: str, value: str) -> bool:
    import open_clip

    return value in open_clip.list_pretrained_tags_by_model(model_name)


def _download(model_name: str, tag: str) -> LocalCheckpoint:
    import open_clip

    config = open_clip.get_pretrained_cfg(model_name, tag)
    try:
        downloaded = Path(open_clip.download_pretrained(config))
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelNotFoundError(f"could not download {model_name!r} weights for tag {tag!r}: {exc}") from exc
    return LocalCheckpoint(path=downloaded, sha256=file_sha256(downloaded), hub_tag=tag)
