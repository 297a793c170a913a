"""Given a policy that names something that cannot be built (a detector's file, a corrector's
model directory, an unwritable image store), when a worker starts, then it exits 78 before
consuming anything and names what is wrong, instead of failing at the first message."""

from __future__ import annotations

from pathlib import Path

import pytest

from swerve.streams.exit_codes import CONFIGURATION
from swerve.toyworld.weights_paths import PIPELINE_DIR

from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def policy_with(path: Path, detector_params: str, corrector: str) -> Path:
    path.write_text(
        f"""version: "startup-1"
detectors:
  - name: takedowns
    kind: hash_blocklist
    on_flag: correct
    params: {detector_params}
correctors:
  - name: fixer
    {corrector}
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("role", "detector_params", "corrector", "named"),
    [
        ("detect", "{path: /nonexistent/takedowns.txt}", "kind: testing.mirror", "/nonexistent/takedowns.txt"),
        ("correct", "{digests: []}", "kind: nudging\n    params: {model_dir: /nonexistent/sd-1.5}", "/nonexistent/sd-1.5"),
        ("all", "{digests: []}", "kind: no_such_corrector", "no_such_corrector"),
        ("correct", "{digests: []}", f"kind: gie\n    params: {{model_dir: {PIPELINE_DIR}}}", "has no concepts to erase"),
        ("correct", "{digests: []}", f"kind: nudging\n    params: {{model_dir: {PIPELINE_DIR}, dtype: float8}}", "dtype"),
    ],
)
def test_given_a_policy_naming_what_cannot_be_built_when_the_worker_starts_then_it_exits_78_naming_it(
    settings, start_worker, tmp_path: Path, role: str, detector_params: str, corrector: str, named: str
) -> None:
    policy = policy_with(tmp_path / "policy.yaml", detector_params, corrector)
    worker = start_worker(role, SWERVE_POLICY_PATH=str(policy))
    assert wait_until(lambda: not worker.alive, timeout_s=120), worker.log_tail()
    assert worker.process.returncode == CONFIGURATION, worker.log_tail()
    assert named in worker.log_tail(50) and "cannot start" in worker.log_tail(50)


def test_given_an_image_store_that_cannot_be_written_when_the_correct_role_starts_then_it_exits_78_naming_it(
    settings, start_worker, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a directory")
    worker = start_worker("correct", SWERVE_IMAGE_STORE_URI=(blocker / "images").as_uri())
    assert wait_until(lambda: not worker.alive, timeout_s=120), worker.log_tail()
    assert worker.process.returncode == CONFIGURATION, worker.log_tail()
    assert "a-file/images" in worker.log_tail(50)
