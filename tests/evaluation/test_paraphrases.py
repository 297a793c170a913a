"""The implicit memorized prompts: each a real edit of a memorized caption, never the caption itself."""

from __future__ import annotations

from swerve.evaluation.paraphrases import SYNONYMS, paraphrases
from swerve.toyworld import memorized_captions
from swerve.toyworld.vocabulary import caption_words


def test_given_the_paraphrase_set_then_each_differs_from_every_caption_and_edits_its_source() -> None:
    made = paraphrases(per_caption=2)
    captions = memorized_captions()
    assert len(made) == 2 * len(captions) and len({p.prompt for p in made}) == len(made)
    for paraphrase in made:
        assert paraphrase.prompt not in captions and paraphrase.source in captions
        words, source = paraphrase.prompt.split(), paraphrase.source.split()
        if paraphrase.edit == "reorder":
            assert sorted(words) == sorted(source)
        elif paraphrase.edit == "drop":
            assert len(words) == len(source) - 1 and set(words) <= set(source)
        else:
            assert len(words) == len(source) and sum(a != b and SYNONYMS.get(b) == a for a, b in zip(words, source)) == 1


def test_given_the_same_seed_then_the_same_set_and_every_word_is_in_the_toy_vocabulary() -> None:
    assert paraphrases(seed=7) == paraphrases(seed=7)
    vocabulary = set(caption_words())
    assert all(word in vocabulary for p in paraphrases() for word in p.prompt.split())
