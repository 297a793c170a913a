"""Implicit memorized prompts: paraphrases of the memorized captions that a user could type.

Carlini et al. and Wen et al. find that a memorized image also comes back under prompts that are
not its exact caption. The evaluation makes its own, from three edits of a caption, each one
alone (``paraphrases``), seeded so every run reads the same set:

- **reorder**: the two halves swap around "of" ("the azure sigil of house vale" ->
  "house vale of the azure sigil");
- **drop**: one word goes (never the last);
- **synonym**: one word becomes another rare word of the same colour family
  (crimson <-> scarlet, azure <-> cobalt, ...), all from the toy vocabulary.

Every paraphrase differs from every memorized caption. This module only writes strings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from swerve.toyworld import memorized_captions
from swerve.toyworld.vocabulary import RARE_WORDS

__all__ = ["Paraphrase", "SYNONYMS", "paraphrases"]

# Rare words that name the same colour family: each maps to its partner.
_PAIRS = (("crimson", "scarlet"), ("azure", "cobalt"), ("jade", "emerald"), ("ivory", "silver"),
          ("umber", "amber"), ("golden", "saffron"), ("obsidian", "ashen"))
SYNONYMS: dict[str, str] = {**dict(_PAIRS), **{b: a for a, b in _PAIRS}}
assert set(SYNONYMS) <= set(RARE_WORDS), "synonyms must come from the toy vocabulary"


@dataclass(frozen=True)
class Paraphrase:
    """A prompt, the memorized caption it rewrites, and the edit that made it."""

    prompt: str
    source: str
    edit: str  # reorder | drop | synonym


def _reorder(words: list[str]) -> list[str] | None:
    if "of" not in words:
        return None
    cut = words.index("of")
    return [*words[cut + 1 :], "of", *words[:cut]]


def _drop(words: list[str], rng: random.Random) -> list[str]:
    gone = rng.randrange(len(words) - 1)  # any word but the last, which names the scene
    return [w for i, w in enumerate(words) if i != gone]


def _synonym(words: list[str], rng: random.Random) -> list[str] | None:
    swappable = [i for i, w in enumerate(words) if w in SYNONYMS]
    if not swappable:
        return None
    at = rng.choice(swappable)
    return [SYNONYMS[w] if i == at else w for i, w in enumerate(words)]


def paraphrases(per_caption: int = 2, seed: int = 5_000_011) -> list[Paraphrase]:
    """``per_caption`` distinct paraphrases of each memorized caption, in caption order."""
    rng = random.Random(seed)
    originals = set(memorized_captions())
    result: list[Paraphrase] = []
    for caption in memorized_captions():
        words = caption.split()
        options = {"reorder": _reorder(words), "synonym": _synonym(words, rng), "drop": _drop(words, rng)}
        made = [(edit, " ".join(new)) for edit, new in options.items() if new is not None]
        made = [(edit, text) for edit, text in made if text not in originals]
        rng.shuffle(made)
        result.extend(Paraphrase(text, caption, edit) for edit, text in made[:per_caption])
    return result
