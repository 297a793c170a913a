"""The memorization detector: kNN in the training index, confirmed on pixels with tiled L2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from swerve.detectors.embedders import shared_embedder
from swerve.detectors.memorization import MemorizationDetector
from swerve.detectors.protocol import Sample
from swerve.errors import DetectorError
from swerve.index import TrainingIndex
from swerve.index.training_image import TrainingImage
from swerve.media import sha256_hex

from tests.index.builders import drawn_image


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory, tiny_open_clip: dict[str, str]) -> tuple[Path, list[Path]]:
    folder = tmp_path_factory.mktemp("training")
    paths, records = [], []
    for index in range(40):
        path = folder / f"{index:03d}.png"
        drawn_image(index, size=64).save(path)
        paths.append(path)
        records.append(TrainingImage(uri=path.as_uri(), caption=f"image {index}", sha256=sha256_hex(path.read_bytes())))
    TrainingIndex.build(folder / "index", records, shared_embedder(tiny_open_clip, "test"))
    return folder / "index", paths


def detector(training: tuple[Path, list[Path]], embedder: dict[str, str], **params: float) -> MemorizationDetector:
    return MemorizationDetector(index_dir=str(training[0]), embedder=embedder, candidate_similarity=0.0, **params)


def sample(image: Image.Image) -> Sample:
    return Sample("r", image, "0" * 64)


def test_given_a_copy_of_a_training_image_then_it_is_flagged_with_confirmed_evidence(training, tiny_open_clip) -> None:
    [score] = detector(training, tiny_open_clip).score([sample(drawn_image(7, size=64))])
    assert score.flagged and score.value == pytest.approx(1.0, abs=1e-6)
    best = min((m for m in score.evidence["matches"] if m["confirmed"]), key=lambda m: m["tiled_l2"])
    assert best["caption"] == "image 7" and best["near_copy"] and best["tiled_l2"] < 1e-6
    assert score.evidence["index_version"] and score.evidence["pixels_confirmed"]


def test_given_a_slightly_noisy_copy_then_it_is_still_a_near_copy(training, tiny_open_clip) -> None:
    pixels = np.asarray(drawn_image(11, size=64)).astype(np.int16) + np.random.default_rng(0).integers(-6, 7, (64, 64, 3))
    [score] = detector(training, tiny_open_clip).score([sample(Image.fromarray(pixels.clip(0, 255).astype(np.uint8)))])
    assert score.flagged and score.evidence["min_tiled_l2"] < 0.1


def test_given_a_novel_image_then_pixels_overrule_embedding_similarity(training, tiny_open_clip) -> None:
    # candidate_similarity 0 makes every neighbour a candidate: only the pixel check can clear it
    [score] = detector(training, tiny_open_clip).score([sample(drawn_image(1000, size=64))])
    assert not score.flagged and score.evidence["min_tiled_l2"] > 0.1
    assert all(m["candidate"] and not m["near_copy"] for m in score.evidence["matches"])


def test_given_unreadable_training_pixels_then_only_a_very_close_embedding_flags_and_says_unconfirmed(training, tiny_open_clip, tmp_path) -> None:
    index_dir, paths = training
    moved = tmp_path / "moved.png"
    paths[5].rename(moved)
    try:
        fresh = detector(training, tiny_open_clip, unconfirmed_similarity=0.999)
        [score] = fresh.score([sample(drawn_image(5, size=64))])
        match = next(m for m in score.evidence["matches"] if m["caption"] == "image 5")
        assert match["confirmed"] is False and match["near_copy"] and score.flagged
    finally:
        moved.rename(paths[5])


def test_given_a_prompt_only_sample_then_it_raises(training, tiny_open_clip) -> None:
    with pytest.raises(DetectorError):
        detector(training, tiny_open_clip).score([Sample("r", None, None, prompt="p")])


def test_given_a_near_copy_then_the_evidence_names_the_training_image_for_correctors(training, tiny_open_clip) -> None:
    from swerve.correctors.findings import matched_images_in
    from swerve.correctors.protocol import CorrectionRequest, Finding

    [score] = detector(training, tiny_open_clip).score([sample(drawn_image(9, size=64))])
    request = CorrectionRequest("r", "p", drawn_image(9, size=64), [Finding("memorization", score.evidence)])
    [matched] = matched_images_in(request)
    assert np.array_equal(np.asarray(matched), np.asarray(drawn_image(9, size=64)))


def brightened(index: int, offset: int) -> Image.Image:
    pixels = np.asarray(drawn_image(index, size=64)).astype(np.int16) + offset
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def original_evidence(training, tiny_open_clip, index: int, **tamper: object) -> dict[str, dict[str, object]]:
    [score] = detector(training, tiny_open_clip).score([sample(drawn_image(index, size=64))])
    matches = [{**m, **tamper} if m["near_copy"] else m for m in score.evidence["matches"]]
    return {"memorization": {**score.evidence, "matches": matches}}


def test_given_a_candidate_just_past_the_detection_line_then_as_a_replacement_it_is_held_to_the_clearance(training, tiny_open_clip) -> None:
    # Given the copy of image 7, brightened until it passes detection (tiled L2 > 0.1) but stays under 0.2
    candidate = brightened(7, 36)
    memorization = MemorizationDetector(index_dir=str(training[0]), embedder=tiny_open_clip, candidate_similarity=0.0,
                                        clearance={"tiled_l2": 0.2})
    [as_generation] = memorization.score([sample(candidate)])
    assert not as_generation.flagged and 0.1 < as_generation.evidence["min_tiled_l2"] < 0.2
    # When it is judged as the replacement of the flagged copy
    replaces = original_evidence(training, tiny_open_clip, 7)
    [as_replacement] = memorization.score([Sample("r", candidate, "0" * 64, replaces=replaces)])
    # Then it is flagged: it does not reach the clearance against the image its original copied
    assert as_replacement.flagged and as_replacement.threshold == pytest.approx(0.8)
    assert as_replacement.evidence["judged_as"] == "replacement"
    assert any(c["too_near"] and c["caption"] == "image 7" for c in as_replacement.evidence["checked"])


def test_given_a_candidate_far_from_every_match_then_it_clears(training, tiny_open_clip) -> None:
    replaces = original_evidence(training, tiny_open_clip, 7)
    [score] = detector(training, tiny_open_clip).score([Sample("r", drawn_image(1000, size=64), "0" * 64, replaces=replaces)])
    assert not score.flagged and score.evidence["min_tiled_l2"] >= 0.15


def test_given_evidence_naming_another_uri_then_the_matched_image_is_read_from_the_index_by_id(training, tiny_open_clip) -> None:
    # A flagged event's evidence is data: its URIs are never opened, only its ids looked up
    replaces = original_evidence(training, tiny_open_clip, 7, uri="file:///etc/passwd")
    strict = MemorizationDetector(index_dir=str(training[0]), embedder=tiny_open_clip, candidate_similarity=0.0, k=1,
                                  clearance={"tiled_l2": 0.2})
    [score] = strict.score([Sample("r", brightened(7, 36), "0" * 64, replaces=replaces)])
    assert score.flagged and any(c["caption"] == "image 7" and c["tiled_l2"] is not None for c in score.evidence["checked"])


def test_given_a_cosine_ceiling_then_a_candidate_whose_embedding_stays_too_alike_is_flagged(training, tiny_open_clip) -> None:
    replaces = original_evidence(training, tiny_open_clip, 7)
    strict = MemorizationDetector(index_dir=str(training[0]), embedder=tiny_open_clip, candidate_similarity=0.0,
                                  clearance={"tiled_l2": 0.2, "max_cosine": -0.99})
    [score] = strict.score([Sample("r", drawn_image(1000, size=64), "0" * 64, replaces=replaces)])
    assert score.flagged and any(c["too_alike"] for c in score.evidence["checked"])


@pytest.mark.parametrize("clearance", [{"tiled_l2": 0.1}, {"tiled_l2": 0.05}, {"max_cosine": 1.5}, {"distance": 0.3}])
def test_given_a_clearance_no_stricter_than_detection_or_malformed_then_the_detector_refuses_it(training, tiny_open_clip, clearance) -> None:
    with pytest.raises(DetectorError, match="clearance"):
        MemorizationDetector(index_dir=str(training[0]), embedder=tiny_open_clip, clearance=clearance)
