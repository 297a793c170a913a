"""``Neighbour``: one training image found near a query, with its similarity.

This module holds the record only: it must never search.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Neighbour"]


@dataclass(frozen=True)
class Neighbour:
    """A training image near a query.

    Attributes:
        id (`int`): its index id.
        similarity (`float`): cosine similarity of the embeddings, in [-1, 1]. A candidate,
            not proof of a copy: confirm in pixel space (tiled L2) before calling it one.
        uri (`str`): where the training image is.
        caption (`str`): its training caption.
        sha256 (`str | None`): sha256 of its encoded bytes.
        extra (`Mapping[str, Any]`): extra metadata recorded at build time.
    """

    id: int
    similarity: float
    uri: str
    caption: str
    sha256: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"id": self.id, "similarity": self.similarity, "uri": self.uri, "caption": self.caption,
                "sha256": self.sha256, "extra": dict(self.extra)}
