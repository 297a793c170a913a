"""AUC and TPR at FPR against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from swerve.evaluation.metrics import MetricInputError, roc_auc, tpr_at_fpr


def test_given_perfectly_separated_scores_then_auc_is_one() -> None:
    assert roc_auc(np.array([3.0, 4.0, 1.0, 2.0]), np.array([1, 1, 0, 0])) == 1.0


def test_given_reversed_scores_then_auc_is_zero() -> None:
    assert roc_auc(np.array([1.0, 2.0, 3.0]), np.array([1, 0, 0])) == 0.0


def test_given_one_misordered_pair_of_four_then_auc_is_three_quarters() -> None:
    # positives 2, 4; negatives 1, 3 -> pairs (2>1 yes, 2>3 no, 4>1 yes, 4>3 yes)
    assert roc_auc(np.array([2.0, 4.0, 1.0, 3.0]), np.array([1, 1, 0, 0])) == 0.75


def test_given_ties_then_they_count_one_half() -> None:
    assert roc_auc(np.array([1.0, 1.0]), np.array([1, 0])) == 0.5


def test_given_100_negatives_when_budget_is_1pct_then_one_negative_may_exceed_the_threshold() -> None:
    negatives = np.arange(100, dtype=float)  # 0..99
    positives = np.array([98.5, 99.5, 50.0])
    scores = np.concatenate([positives, negatives])
    labels = np.array([1] * 3 + [0] * 100)
    tpr, threshold = tpr_at_fpr(scores, labels, 0.01)
    # Then: the threshold is 98 (only 99 lies above it), so 98.5 and 99.5 are caught
    assert threshold == 98.0
    assert tpr == pytest.approx(2 / 3)


def test_given_a_single_class_then_a_named_error_is_raised() -> None:
    with pytest.raises(MetricInputError, match="both classes"):
        roc_auc(np.array([1.0, 2.0]), np.array([1, 1]))


def test_given_mismatched_lengths_then_a_named_error_is_raised() -> None:
    with pytest.raises(MetricInputError, match="labels"):
        tpr_at_fpr(np.array([1.0, 2.0]), np.array([1]))
