"""`swerve eval correct`'s arithmetic: what counts as a success, a block, and the fidelity ratio."""

from __future__ import annotations

import pytest

from swerve.evaluation.correction import RequestOutcome, summarize


def outcome(fixed: bool, no_copy: bool = True, attempts: int = 1, fidelity: float | None = 0.8) -> RequestOutcome:
    return RequestOutcome(fixed, no_copy and fixed, attempts, fidelity if fixed else None, 0.1 if fixed else None, 2.0)


def test_given_a_replacement_that_is_still_a_copy_of_another_training_image_then_it_is_no_success() -> None:
    figures = summarize([outcome(True), outcome(True, no_copy=False), outcome(False, attempts=3)], ordinary_fidelity=0.8)
    assert figures["correction_success_rate"] == pytest.approx(1 / 3)
    assert figures["blocked_rate"] == pytest.approx(1 / 3)
    assert figures["attempts_mean"] == pytest.approx(5 / 3)


def test_given_fixed_outputs_then_fidelity_is_their_mean_clip_score_over_the_ordinary_mean() -> None:
    figures = summarize([outcome(True, fidelity=0.6), outcome(True, fidelity=0.9), outcome(False)], ordinary_fidelity=0.75)
    assert figures["fidelity_ratio"] == pytest.approx(0.75 / 0.75)


def test_given_nothing_flagged_then_the_rates_are_absent_not_zero() -> None:
    figures = summarize([], ordinary_fidelity=0.8)
    assert figures["correction_success_rate"] is None and figures["flagged"] == 0
