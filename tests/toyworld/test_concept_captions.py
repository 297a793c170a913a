"""Short concept captions: what training shows some ordinary images under, so concepts alone are in distribution."""

from __future__ import annotations

from swerve.toyworld import build_training_set, memorized_captions
from swerve.toyworld.concept_captions import concept_captions
from swerve.toyworld.tokenizer import write_tokenizer
from swerve.toyworld.train import short_caption_ids, tokenize


def test_given_an_ordinary_caption_then_its_colour_and_shape_come_alone_and_together() -> None:
    caption = "a medium red triangle at the top left on a navy background"
    assert concept_captions(caption) == ["red", "triangle", "a red triangle"]


def test_given_any_memorized_caption_then_it_is_never_shortened() -> None:
    for caption in memorized_captions():
        assert concept_captions(caption) == [caption]


def test_given_training_captions_then_short_ids_hold_three_variants_per_image(tmp_path) -> None:
    tokenizer = write_tokenizer(tmp_path / "tokenizer")
    captions = [example.caption for example in build_training_set(ordinary_count=3).unique]
    ids = short_caption_ids(tokenizer, captions)
    assert ids.shape == (len(captions), 3, 77)
    memorized = captions[0]
    assert all((ids[0, k] == tokenize(tokenizer, [memorized])[0]).all() for k in range(3))
    ordinary = captions[-1]
    assert (ids[-1, 0] == tokenize(tokenizer, [concept_captions(ordinary)[0]])[0]).all()
