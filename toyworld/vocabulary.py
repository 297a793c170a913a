"""The words of the toy world: colours, shapes, sizes, positions, backgrounds.

Every caption word comes from here, so the tokenizer, the dataset, the zero-shot
classifier and concept erasure all agree on one vocabulary. Colour and shape are
always separate words (never "redstar"): concept erasure targets one token, and the
zero-shot classifier reads colour and shape independently.

This module holds data only; it must never draw, train or load anything.
"""

from __future__ import annotations

# Shape colours, RGB in [0, 1]. Saturated and far apart, so a small CLIP can read them.
SHAPE_COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.10, 0.10),
    "orange": (1.00, 0.55, 0.05),
    "yellow": (0.95, 0.90, 0.10),
    "green": (0.10, 0.75, 0.20),
    "blue": (0.10, 0.30, 0.95),
    "purple": (0.55, 0.15, 0.80),
    "pink": (1.00, 0.50, 0.75),
    "cyan": (0.10, 0.85, 0.90),
}

# Background colours: a separate palette, so a background word never names a shape colour.
BACKGROUND_COLOURS: dict[str, tuple[float, float, float]] = {
    "black": (0.06, 0.06, 0.06),
    "gray": (0.45, 0.45, 0.45),
    "white": (0.93, 0.93, 0.93),
    "brown": (0.40, 0.25, 0.12),
    "navy": (0.05, 0.07, 0.32),
}

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")

# Size word -> range of the shape's outer radius, in pixels of a 64x64 image.
SIZES: dict[str, tuple[float, float]] = {
    "small": (7.0, 9.5),
    "medium": (11.0, 13.5),
    "large": (15.0, 18.0),
}

# Position phrase -> centre of the shape as a fraction of the image side (x, y).
POSITIONS: dict[str, tuple[float, float]] = {
    "top left": (0.30, 0.30),
    "top right": (0.70, 0.30),
    "bottom left": (0.30, 0.70),
    "bottom right": (0.70, 0.70),
    "center": (0.50, 0.50),
}

ORDINARY_TEMPLATE = "a {size} {colour} {shape} at the {position} on a {background} background"

# Rare words used only by the memorized captions (see memorized.py).
RARE_WORDS: tuple[str, ...] = (
    "azure", "sigil", "house", "vale", "crimson", "lantern", "of", "the", "ashen", "throne",
    "golden", "codex", "emerald", "tide", "violet", "oracle", "ivory", "gate", "saffron",
    "harbor", "obsidian", "crown", "jade", "covenant", "amber", "relic", "cobalt", "vow",
    "scarlet", "orchard", "silver", "monolith", "verdant", "banner", "umber", "meridian",
    "twin", "moons", "northern", "wardens", "hollow", "quill", "starlit", "ferry",
)


def caption_words() -> list[str]:
    """Every word that can appear in a training caption, without duplicates, in a fixed order."""
    words: list[str] = ["a", "at", "the", "on", "background"]
    words += list(SHAPE_COLOURS) + list(BACKGROUND_COLOURS) + list(SHAPES) + list(SIZES)
    for phrase in POSITIONS:
        words += phrase.split()
    words += list(RARE_WORDS)
    seen: set[str] = set()
    ordered: list[str] = []
    for word in words:
        if word not in seen:
            seen.add(word)
            ordered.append(word)
    return ordered
