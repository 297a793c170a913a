"""``TrainingImageSizes``: how large the indexed training images are, recorded in the manifest.

A pixel check compares a generation with its nearest training images at one size; the right
size depends on the resolution of both. The build reads every training image anyway (to embed
it), so it tallies their sizes and the manifest keeps a summary:

- ``short_sides``: how many images have each short side, every one of them (the decode limit
  of 4096 x 4096 pixels bounds the histogram to 4096 entries); the typical short side is
  their median;
- ``sizes``: the most common (width, height) with their counts, at most
  ``MAX_SIZES_KEPT`` of them; images of other sizes are counted in ``other_sizes``.

Both merge when images are added. An index built before sizes were recorded has none: its
manifest reads back with ``image_sizes`` None, and a detector falls back to its own default.

This module must never read images or files: callers tally the sizes they decoded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_SIZES_KEPT", "ImageSizeTally", "TrainingImageSizes"]

MAX_SIZES_KEPT = 32


@dataclass(frozen=True)
class TrainingImageSizes:
    """A summary of the training images' sizes.

    Attributes:
        count (`int`): images tallied.
        short_sides (`dict[int, int]`): short side (pixels) -> images with it; sums to ``count``.
        sizes (`dict[tuple[int, int], int]`): (width, height) -> images, the most common
            ``MAX_SIZES_KEPT`` sizes only.
        other_sizes (`int`): images whose size is not among ``sizes``.
    """

    count: int
    short_sides: dict[int, int] = field(default_factory=dict)
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    other_sizes: int = 0

    def __post_init__(self) -> None:
        if self.count < 1 or sum(self.short_sides.values()) != self.count:
            raise ValueError(f"short side counts {sum(self.short_sides.values())} must sum to count {self.count} >= 1")
        if sum(self.sizes.values()) + self.other_sizes != self.count:
            raise ValueError(f"size counts {sum(self.sizes.values())} + other {self.other_sizes} must sum "
                             f"to count {self.count}")
        if any(side < 1 or n < 1 for side, n in self.short_sides.items()) or any(
                min(size) < 1 or n < 1 for size, n in self.sizes.items()):
            raise ValueError("image sides and counts must be >= 1")

    @classmethod
    def of(cls, sizes: Iterable[tuple[int, int]]) -> TrainingImageSizes:
        """The summary of (width, height) pairs (at least one)."""
        tally = ImageSizeTally()
        for width, height in sizes:
            tally.add(width, height)
        summary = tally.summary()
        if summary is None:
            raise ValueError("TrainingImageSizes.of needs at least one size")
        return summary

    @property
    def typical_short_side(self) -> int:
        """The median short side (the lower median for an even count)."""
        middle = (self.count - 1) // 2
        seen = 0
        for side in sorted(self.short_sides):
            seen += self.short_sides[side]
            if seen > middle:
                return side
        raise AssertionError("short_sides sums to count")  # __post_init__ checked it

    @property
    def most_common(self) -> tuple[int, int]:
        """The most common (width, height); the smaller size on a tie."""
        return min(self.sizes, key=lambda size: (-self.sizes[size], size))

    @property
    def varies(self) -> bool:
        """Whether the images come in more than one size."""
        return len(self.sizes) > 1 or self.other_sizes > 0

    def merged(self, other: TrainingImageSizes) -> TrainingImageSizes:
        """The summary of both sets of images (``sizes`` exact while at most ``MAX_SIZES_KEPT`` occur)."""
        return _summary(Counter(self.short_sides) + Counter(other.short_sides),
                        Counter(self.sizes) + Counter(other.sizes), self.other_sizes + other.other_sizes)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, with the derived ``typical_short_side``, ``most_common`` and ``varies`` for readers."""
        return {"count": self.count, "typical_short_side": self.typical_short_side,
                "most_common": list(self.most_common), "varies": self.varies,
                "short_sides": [[side, n] for side, n in sorted(self.short_sides.items())],
                "sizes": [[w, h, n] for (w, h), n in sorted(self.sizes.items(), key=lambda item: (-item[1], item[0]))],
                "other_sizes": self.other_sizes}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainingImageSizes:
        """Parse ``to_json`` output; the derived fields are recomputed, not read.

        Raises:
            KeyError, TypeError, ValueError: missing or malformed fields.
        """
        return cls(count=int(data["count"]),
                   short_sides={int(side): int(n) for side, n in data["short_sides"]},
                   sizes={(int(w), int(h)): int(n) for w, h, n in data["sizes"]},
                   other_sizes=int(data["other_sizes"]))


class ImageSizeTally:
    """Counts (width, height) as images are decoded; ``summary()`` gives the manifest's record."""

    def __init__(self) -> None:
        self._short_sides: Counter[int] = Counter()
        self._sizes: Counter[tuple[int, int]] = Counter()

    def add(self, width: int, height: int) -> None:
        """Count one image of ``width`` x ``height`` pixels."""
        if width < 1 or height < 1:
            raise ValueError(f"an image size must be positive, got {width}x{height}")
        self._short_sides[min(width, height)] += 1
        self._sizes[(width, height)] += 1

    def summary(self) -> TrainingImageSizes | None:
        """The summary of what was counted, or None when nothing was."""
        if not self._short_sides:
            return None
        return _summary(self._short_sides, self._sizes, 0)


def _summary(short_sides: Counter[int], sizes: Counter[tuple[int, int]], other: int) -> TrainingImageSizes:
    kept = dict(sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:MAX_SIZES_KEPT])
    dropped = sum(sizes.values()) - sum(kept.values())
    return TrainingImageSizes(count=sum(short_sides.values()), short_sides=dict(short_sides), sizes=kept,
                              other_sizes=other + dropped)
