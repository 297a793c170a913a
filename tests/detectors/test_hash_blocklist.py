"""The hash blocklist flags exact bytes on the list, and its version names the list."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from swerve.detectors.hash_blocklist import HashBlocklistDetector
from swerve.detectors.protocol import Sample
from swerve.errors import ConfigurationError

LISTED, OTHER = "a" * 64, "b" * 64


def sample(digest: str) -> Sample:
    return Sample(request_id="r", image=Image.new("RGB", (2, 2)), image_sha256=digest)


def test_given_a_listed_digest_then_it_is_flagged_with_evidence(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text(f"# takedowns\n{LISTED}  # case 17\n\n")
    detector = HashBlocklistDetector(path=str(path))
    listed, other = detector.score([sample(LISTED), sample(OTHER)])
    assert (listed.flagged, listed.value, listed.evidence["listed"]) == (True, 1.0, True)
    assert (other.flagged, other.value) == (False, 0.0)


def test_given_different_lists_then_versions_differ() -> None:
    assert HashBlocklistDetector(digests=[LISTED]).version != HashBlocklistDetector(digests=[OTHER]).version


@pytest.mark.parametrize("entry", ["not-a-digest", "A" * 63])
def test_given_an_invalid_entry_then_loading_fails_with_a_configuration_error(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid digests"):
        HashBlocklistDetector(digests=[entry])


def test_given_a_missing_file_then_the_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing.txt"):
        HashBlocklistDetector(path=str(tmp_path / "missing.txt"))
