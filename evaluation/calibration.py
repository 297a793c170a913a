"""Calibration: pick a detector's threshold from labeled examples for a target false-positive rate.

Scores are not comparable across deployments (Wen's magnitude depends on the model, resolution,
scheduler and step count; CLIP similarities on the embedder), so each deployment calibrates on
its own labeled data: positives (memorized, or showing the concept) and negatives. The
threshold is the smallest score above the negatives' (1 - FPR) quantile; the report gives the
AUC, the TPR at that threshold, and the detector parameters to put in the policy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from swerve.detectors.protocol import Detector, Sample
from swerve.errors import ConfigurationError
from swerve.evaluation.metrics import roc_auc, tpr_at_fpr
from swerve.media import decode_bytes, sha256_hex


@dataclass(frozen=True)
class LabeledExample:
    """One example: an image file and/or a prompt, and whether it is a positive."""

    label: bool
    image: Path | None = None
    prompt: str = ""
    seed: int | None = None


@dataclass(frozen=True)
class CalibrationReport:
    detector: str
    positives: int
    negatives: int
    target_fpr: float
    auc: float
    tpr_at_target_fpr: float
    score_threshold: float
    policy_params: dict[str, Any]


def read_examples(path: Path) -> list[LabeledExample]:
    """Examples from JSONL: ``{"label": 1, "image": "a.png", "prompt": "...", "seed": 3}`` per line.

    Relative image paths are relative to the JSONL file.
    """
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            image = Path(row["image"]) if row.get("image") else None
            if image is not None and not image.is_absolute():
                image = path.parent / image
            examples.append(LabeledExample(bool(row["label"]), image, row.get("prompt", ""), row.get("seed")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"{path}:{number}: not a labeled example ({exc})") from exc
    return examples


def to_samples(examples: Sequence[LabeledExample]) -> list[Sample]:
    samples = []
    for index, example in enumerate(examples):
        if example.image is None:
            samples.append(Sample(f"example-{index}", None, None, example.prompt, example.seed))
            continue
        data = example.image.read_bytes()
        samples.append(Sample(f"example-{index}", decode_bytes(data), sha256_hex(data), example.prompt, example.seed))
    return samples


def policy_params_for(detector: Detector, score_threshold: float) -> dict[str, Any]:
    """The detector parameters that make it flag exactly the scores >= ``score_threshold``."""
    kind = type(detector).__name__
    if kind == "MemorizationDetector":
        return {"tiled_l2_threshold": round(1.0 - score_threshold, 6)}
    if kind in ("PromptMemorizationDetector", "NudeNetDetector"):
        return {"threshold": score_threshold}
    if kind == "ConceptDetector" and len(getattr(detector, "concepts", [])) == 1:
        return {"concepts": [{**detector.concepts[0].model_dump(), "threshold": score_threshold}]}  # type: ignore[attr-defined]
    return {"score_threshold": score_threshold}


def calibrate(detector: Detector, examples: Sequence[LabeledExample], target_fpr: float, batch_size: int = 32) -> CalibrationReport:
    """Score ``examples`` with ``detector`` and choose the threshold for ``target_fpr``."""
    samples = to_samples(examples)
    values: list[float] = []
    for start in range(0, len(samples), batch_size):
        values += [score.value for score in detector.score(samples[start:start + batch_size])]
    scores = np.array(values)
    labels = np.array([e.label for e in examples])
    tpr, negative_cut = tpr_at_fpr(scores, labels, target_fpr)
    # tpr_at_fpr flags scores strictly above the cut; detectors flag scores >= their threshold.
    threshold = float(np.nextafter(negative_cut, np.inf))
    return CalibrationReport(
        detector=detector.name,
        positives=int(labels.sum()),
        negatives=int((~labels).sum()),
        target_fpr=target_fpr,
        auc=roc_auc(scores, labels),
        tpr_at_target_fpr=tpr,
        score_threshold=threshold,
        policy_params=policy_params_for(detector, threshold),
    )


def report_json(report: CalibrationReport) -> str:
    return json.dumps(asdict(report), indent=2)
