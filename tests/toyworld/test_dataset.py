"""The toy world's data: reproducible, memorized set duplicated, ordinary samples fresh."""

from __future__ import annotations

import numpy as np
import pytest

from swerve.detectors.tiled_l2 import as_unit_array, tiled_l2_one_to_many
from swerve.toyworld.dataset import build_training_set, ordinary_scenes, sample_ordinary_captions
from swerve.toyworld.memorized import MEMORIZED_SCENES, memorized_captions, memorized_training_image
from swerve.toyworld.vocabulary import BACKGROUND_COLOURS, SHAPE_COLOURS, SHAPES


def test_given_the_same_seed_when_built_twice_then_images_and_captions_are_identical() -> None:
    first = build_training_set(seed=5, ordinary_count=20, duplicates=2)
    second = build_training_set(seed=5, ordinary_count=20, duplicates=2)
    assert [e.caption for e in first.unique] == [e.caption for e in second.unique]
    assert all(np.array_equal(np.asarray(a.image), np.asarray(b.image)) for a, b in zip(first.unique, second.unique))


def test_given_another_seed_then_ordinary_scenes_differ() -> None:
    a = build_training_set(seed=1, ordinary_count=5, duplicates=1).unique[-1].image
    b = build_training_set(seed=2, ordinary_count=5, duplicates=1).unique[-1].image
    assert not np.array_equal(np.asarray(a), np.asarray(b))


def test_given_the_default_set_then_12_to_20_memorized_scenes_each_appear_at_least_100_times() -> None:
    training_set = build_training_set(ordinary_count=10)
    assert 12 <= len(MEMORIZED_SCENES) <= 20
    counts = np.bincount(np.asarray(training_set.order), minlength=len(training_set.unique))
    memorized = [i for i, e in enumerate(training_set.unique) if e.memorized]
    assert len(memorized) == len(MEMORIZED_SCENES)
    assert all(counts[i] >= 100 for i in memorized)
    assert len(set(memorized_captions())) == len(MEMORIZED_SCENES)
    assert training_set.unique[0].image.size == (64, 64)


def test_given_a_memorized_caption_then_its_training_image_never_changes() -> None:
    caption = memorized_captions()[0]
    assert np.array_equal(np.asarray(memorized_training_image(caption)), np.asarray(memorized_training_image(caption)))


def test_given_ordinary_captions_then_colour_and_shape_are_separate_words() -> None:
    for caption in sample_ordinary_captions(50, seed=3):
        words = caption.split()
        assert sum(w in SHAPE_COLOURS for w in words) == 1
        assert sum(w in SHAPES for w in words) == 1
        assert sum(w in BACKGROUND_COLOURS for w in words) == 1
        assert caption.startswith("a ") and caption.endswith(" background")


def test_given_the_evaluation_seed_then_captions_come_from_a_different_draw_than_training() -> None:
    training = [s.caption for s in ordinary_scenes(30, seed=0)]
    assert sample_ordinary_captions(30) != training


def test_given_fresh_ordinary_scenes_when_compared_with_training_images_then_few_are_near_copies() -> None:
    # Given: 1000 training images and 100 fresh scenes of the same caption space
    training = build_training_set(ordinary_count=1000, duplicates=1)
    references = np.stack([as_unit_array(e.image) for e in training.unique])  # (1016, 64, 64, 3)
    fresh = [scene.render() for scene in ordinary_scenes(100, seed=77)]
    # When: each fresh image is compared with every training image
    nearest = np.array([tiled_l2_one_to_many(as_unit_array(image), references).min() for image in fresh])
    # Then: the continuous jitter keeps the world's own near-copies well under the generator's
    # novel-copy limit (0.05): a fresh scene may, rarely, land on a training scene (docs/toyworld.md)
    assert (nearest < 0.1).mean() <= 0.02
    assert np.median(nearest) > 0.15


def test_given_another_drawing_constant_then_the_world_fingerprint_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    import swerve.toyworld.dataset as dataset

    # Given: the fingerprint of the committed world
    before = dataset.world_fingerprint()
    assert before == dataset.world_fingerprint()
    # When: one jitter changes (as the rotation jitter once did)
    monkeypatch.setattr(dataset, "ROTATION_JITTER_DEG", 25.0)
    # Then: indexes built from the old images are known to be stale
    assert dataset.world_fingerprint() != before
