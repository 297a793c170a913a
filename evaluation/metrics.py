"""Detection metrics in plain numpy: ROC AUC and the true-positive rate at a false-positive budget.

Scores are "larger means positive". These functions never threshold for a
detector in production; they only summarize labeled evaluations.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MetricInputError", "roc_auc", "tpr_at_fpr"]


class MetricInputError(ValueError):
    """Scores and labels that cannot be summarized (empty class, length mismatch)."""


def _split(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).astype(bool).ravel()
    if scores.shape != labels.shape:
        raise MetricInputError(f"{scores.size} scores but {labels.size} labels")
    positives, negatives = scores[labels], scores[~labels]
    if positives.size == 0 or negatives.size == 0:
        raise MetricInputError(f"need both classes, got {positives.size} positives and {negatives.size} negatives")
    return positives, negatives


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: P(score of a random positive > a random negative), ties count one half."""
    positives, negatives = _split(scores, labels)
    greater = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return float((greater + 0.5 * ties) / (positives.size * negatives.size))


def tpr_at_fpr(scores: np.ndarray, labels: np.ndarray, max_fpr: float = 0.01) -> tuple[float, float]:
    """Largest TPR with FPR <= max_fpr, flagging scores strictly above a threshold; returns (tpr, threshold).

    The threshold is the smallest negative score that keeps the FPR within budget,
    so the result is what a deployment calibrated on these negatives would get.
    """
    if not 0.0 <= max_fpr < 1.0:
        raise MetricInputError(f"max_fpr must be in [0, 1), got {max_fpr}")
    positives, negatives = _split(scores, labels)
    allowed = int(np.floor(max_fpr * negatives.size))  # negatives that may lie above the threshold
    ordered = np.sort(negatives)[::-1]
    threshold = float(ordered[allowed]) if allowed < negatives.size else float(-np.inf)
    return float(np.mean(positives > threshold)), threshold
