"""Short captions that name one concept of an ordinary scene: "red", "star", "a red star".

Large text encoders have seen single words; the toy's, trained only on full template captions,
had not. Encoded alone, "red" was then out of distribution, and every method that encodes a
concept by itself (GIE's target P*, a negative prompt) steered with a vector the model never
learned. Training sometimes shows an ordinary image under one of these short captions instead of
its full one (train.py, SHORT_CAPTION_RATE), so the toy model also binds each colour and shape
word to what it draws. Memorized captions are never shortened: their copies stay tied to them.

This module holds text only; it must never draw, train or load anything.
"""

from __future__ import annotations

from swerve.toyworld.vocabulary import SHAPE_COLOURS, SHAPES


def concept_captions(caption: str) -> list[str]:
    """The colour alone, the shape alone, and "a {colour} {shape}", of an ordinary caption.

    A caption without exactly one colour and one shape word (a memorized caption) yields [caption].
    """
    words = caption.split()
    colours = [w for w in words if w in SHAPE_COLOURS]
    shapes = [w for w in words if w in SHAPES]
    if len(colours) != 1 or len(shapes) != 1:
        return [caption]
    return [colours[0], shapes[0], f"a {colours[0]} {shapes[0]}"]
