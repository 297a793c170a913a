"""Calibration: pick a detector's threshold from labeled examples for a target false-positive rate.

Scores are not comparable across deployments (Wen's magnitude depends on the model, resolution,
scheduler and step count; CLIP similarities on the embedder), so each deployment calibrates on
its own labeled data: positives (memorized, or showing the concept) and negatives. The
threshold is the smallest score above the negatives' (1 - FPR) quantile; the report gives the
AUC, the TPR at that threshold, and the detector parameters to put in the policy.

Examples either name an image (and/or a prompt) for the detector to score, or carry the scores
already recorded for them (``scores``: detector name -> score), as ``swerve review export``
writes them from people's decisions on flagged items; those are calibrated without scoring.
"""

from __future__ import annotations

import json
from functools import partial
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from swerve.detectors.protocol import Detector, Sample
from swerve.errors import ConfigurationError
from swerve.evaluation.metrics import roc_auc, tpr_at_fpr
from swerve.media import decode_bytes, sha256_hex


@dataclass(frozen=True)
class LabeledExample:
    """One example: an image file and/or a prompt, and whether it is a positive; or the scores
    detectors already gave it (``scores``, by detector name)."""

    label: bool
    image: Path | None = None
    prompt: str = ""
    seed: int | None = None
    scores: Mapping[str, float] = field(default_factory=dict)


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
    examples_without_score: int = 0  # recorded-score examples that have no score for this detector


def read_examples(path: Path) -> list[LabeledExample]:
    """Examples from JSONL: ``{"label": 1, "image": "a.png", "prompt": "...", "seed": 3}`` per line,
    or ``{"label": 0, "scores": {"memorization": 0.93}}`` (other keys are ignored).

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
            scores = {str(name): float(value) for name, value in (row.get("scores") or {}).items()}
            examples.append(LabeledExample(bool(row["label"]), image, row.get("prompt", ""), row.get("seed"), scores))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
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


# The policy kind of each built-in detector class whose threshold has a parameter of its own.
_KIND_OF_CLASS = {
    "MemorizationDetector": "memorization",
    "PromptMemorizationDetector": "prompt_memorization",
    "NudeNetDetector": "nudenet",
    "ConceptDetector": "concept",
}


def policy_params_for(detector: Detector, score_threshold: float) -> dict[str, Any]:
    """The detector parameters that make it flag exactly the scores >= ``score_threshold``."""
    concepts = [c.model_dump() for c in getattr(detector, "concepts", [])]
    return policy_params_for_kind(_KIND_OF_CLASS.get(type(detector).__name__, ""), score_threshold, concepts)


def policy_params_for_kind(kind: str, score_threshold: float, concepts: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The same, from the policy's ``kind`` (and a concept detector's ``concepts`` params)."""
    if kind == "memorization":
        return {"tiled_l2_threshold": round(1.0 - score_threshold, 6)}
    if kind in ("prompt_memorization", "nudenet"):
        return {"threshold": score_threshold}
    if kind == "concept" and len(concepts) == 1:
        return {"concepts": [{**concepts[0], "threshold": score_threshold}]}
    return {"score_threshold": score_threshold}


def calibrate(detector: Detector, examples: Sequence[LabeledExample], target_fpr: float, batch_size: int = 32) -> CalibrationReport:
    """Score ``examples`` with ``detector`` and choose the threshold for ``target_fpr``."""
    samples = to_samples(examples)
    values: list[float] = []
    for start in range(0, len(samples), batch_size):
        values += [score.value for score in detector.score(samples[start:start + batch_size])]
    return _report(detector.name, values, [e.label for e in examples], target_fpr, partial(policy_params_for, detector))


def calibrate_recorded(
    detector: str, examples: Sequence[LabeledExample], target_fpr: float, policy_params: Callable[[float], dict[str, Any]]
) -> CalibrationReport:
    """Choose ``detector``'s threshold from the scores recorded with ``examples`` (no scoring).

    Args:
        policy_params: the threshold -> the detector parameters to set (``policy_params_for_kind``).

    Raises:
        ConfigurationError: no example has a score for ``detector``.
        MetricInputError: the examples with a score are all positives or all negatives.
    """
    scored = [e for e in examples if detector in e.scores]
    if not scored:
        raise ConfigurationError(f"no example has a recorded score for detector {detector!r}")
    report = _report(detector, [e.scores[detector] for e in scored], [e.label for e in scored], target_fpr, policy_params)
    return replace(report, examples_without_score=len(examples) - len(scored))


def _report(name: str, values: Sequence[float], labelled: Sequence[bool], target_fpr: float, policy_params: Callable[[float], dict[str, Any]]) -> CalibrationReport:
    scores = np.array(values)
    labels = np.array(labelled)
    tpr, negative_cut = tpr_at_fpr(scores, labels, target_fpr)
    # tpr_at_fpr flags scores strictly above the cut; detectors flag scores >= their threshold.
    threshold = float(np.nextafter(negative_cut, np.inf))
    return CalibrationReport(
        detector=name,
        positives=int(labels.sum()),
        negatives=int((~labels).sum()),
        target_fpr=target_fpr,
        auc=roc_auc(scores, labels),
        tpr_at_target_fpr=tpr,
        score_threshold=threshold,
        policy_params=policy_params(threshold),
    )


def report_json(report: CalibrationReport) -> str:
    return json.dumps(asdict(report), indent=2)
