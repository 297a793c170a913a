"""Policies of the fault-injection suite: a takedown list that flags chosen images, and the
correctors and detectors of the testing modules that inject the faults."""

from __future__ import annotations

from pathlib import Path


def fault_policy(path: Path, flagged_digests: list[str], *, corrector: str = "kind: testing.mirror", extra_detector: str = "",
                 max_attempts: int = 3) -> Path:
    """Flag ``flagged_digests`` for correction by ``corrector`` (a YAML fragment: kind and params)."""
    digests = ", ".join(f'"{d}"' for d in flagged_digests)
    path.write_text(
        f"""version: "faults-1"
on_detector_error: block
detectors:
  - name: takedowns
    kind: hash_blocklist
    on_flag: correct
    corrector: fixer
    params: {{digests: [{digests}]}}
{extra_detector}
correctors:
  - name: fixer
    {corrector}
max_attempts: {max_attempts}
""",
        encoding="utf-8",
    )
    return path


FAULTY_DETECTOR = """  - name: faulty
    kind: testing.faulty
    on_flag: block
    params: {marker: "[raise]"}"""


def pacing_detector(seconds: float) -> str:
    """A detector that holds each batch ``seconds``, so faults land while work is in flight."""
    return f"""  - name: pacing
    kind: testing.slow
    on_flag: block
    params: {{seconds: {seconds}}}"""
