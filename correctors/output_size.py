"""The size a replacement is generated at and delivered at.

A platform producing 512x768 images must get 512x768 replacements. So by default a corrector
generates at the flagged original's own width and height (``size: original``). A model accepts
any size whose sides are multiples of its VAE's scale factor (8 for Stable Diffusion; diffusers'
UNet carries odd latent sizes through its upsamplers), within ``max_side``. Where the original's
size is not one of those, the policy chooses (``unsupported_size``):

- ``resize`` (the default): generate at the nearest accepted size of the same aspect, then
  resize to the original's size (Lanczos); the replacement records both sizes;
- ``refuse``: ``UnsupportedSizeError``; the correction stops and the request is blocked, with
  the reason.

``size: native`` generates at the UNet's trained square (``sample_size * vae_scale_factor``),
and ``height``/``width`` set a fixed size; both are then delivered at the original's size
too, resized, so a consumer never receives another shape than it sent. This module only
plans sizes; ``generator.DiffusersGenerator`` follows the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from swerve.errors import ConfigurationError, UnsupportedSizeError

__all__ = ["OutputSize", "SizePlan"]

SizeMode = Literal["original", "native"]
Unsupported = Literal["resize", "refuse"]
DEFAULT_MAX_SIDE = 2048


@dataclass(frozen=True)
class SizePlan:
    """Generate at (width, height) ``generate``; deliver at ``deliver`` (resized when they differ)."""

    generate: tuple[int, int]
    deliver: tuple[int, int]

    @property
    def resized(self) -> bool:
        return self.generate != self.deliver


@dataclass(frozen=True)
class OutputSize:
    """How a corrector sizes its output.

    Args:
        mode: ``original`` (the flagged image's size) or ``native`` (the UNet's square).
        height, width: a fixed generation size instead; both or neither.
        unsupported: what to do with a size the model cannot generate: ``resize`` or ``refuse``.
        max_side: the largest side generated (GPU memory grows with the pixel count).
    """

    mode: SizeMode = "original"
    height: int | None = None
    width: int | None = None
    unsupported: Unsupported = "resize"
    max_side: int = DEFAULT_MAX_SIDE

    def __post_init__(self) -> None:
        if self.mode not in ("original", "native"):
            raise ConfigurationError(f"size must be 'original' or 'native', got {self.mode!r}")
        if self.unsupported not in ("resize", "refuse"):
            raise ConfigurationError(f"unsupported_size must be 'resize' or 'refuse', got {self.unsupported!r}")
        if (self.height is None) != (self.width is None):
            raise ConfigurationError("set both height and width, or neither (then the size follows `size`)")
        if self.max_side < 8:
            raise ConfigurationError(f"max_side must be at least 8, got {self.max_side}")
        for name, side in (("height", self.height), ("width", self.width)):
            if side is not None and not 8 <= side <= self.max_side:
                raise ConfigurationError(f"{name} must be within 8..{self.max_side} (max_side), got {side}")

    def check_model(self, multiple: int) -> None:
        """Refuse at load a fixed size the model cannot generate (``multiple``: its VAE scale factor)."""
        for name, side in (("height", self.height), ("width", self.width)):
            if side is not None and side % multiple:
                raise ConfigurationError(f"{name} {side} is not a multiple of the model's VAE scale factor {multiple}")

    def plan(self, original: tuple[int, int], native: int, multiple: int) -> SizePlan:
        """The sizes for an original of (width, height) ``original`` on a model with a ``native``
        square side whose sides must be multiples of ``multiple``.

        Raises:
            UnsupportedSizeError: the original's size cannot be generated and ``unsupported`` is ``refuse``.
        """
        if self.width is not None and self.height is not None:
            return SizePlan((self.width, self.height), original)
        if self.mode == "native":
            return SizePlan((native, native), original)
        width, height = original
        if self._accepts(width, multiple) and self._accepts(height, multiple):
            return SizePlan(original, original)
        if self.unsupported == "refuse":
            raise UnsupportedSizeError(
                f"the original is {width}x{height}; this model generates sides that are multiples of {multiple} "
                f"up to {self.max_side} px, and the policy refuses to resize (unsupported_size: refuse)",
                stage="correct")
        return SizePlan(self._nearest(width, height, multiple), original)

    def _accepts(self, side: int, multiple: int) -> bool:
        return side % multiple == 0 and multiple <= side <= self.max_side

    def _nearest(self, width: int, height: int, multiple: int) -> tuple[int, int]:
        """The accepted size closest to (width, height) with about the same aspect."""
        shrink = min(1.0, self.max_side / max(width, height))
        limit = self.max_side // multiple * multiple

        def side(value: float) -> int:
            return min(limit, max(multiple, round(value / multiple) * multiple))

        return side(width * shrink), side(height * shrink)
