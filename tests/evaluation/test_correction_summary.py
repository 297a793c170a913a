"""`swerve eval correct`'s arithmetic: what counts as a success at each threshold, a block, writer's block, fidelity."""

from __future__ import annotations

import pytest

from swerve.evaluation.correction_summary import RequestOutcome, summarize


def outcome(fixed: bool, nearest: float = 0.3, attempts: int = 1, fidelity: float | None = 0.8) -> RequestOutcome:
    return RequestOutcome(fixed, attempts, fidelity if fixed else None, 0.1 if fixed else None, 2.0,
                          nearest_tiled_l2=nearest if fixed else None)


def test_given_replacements_at_several_distances_then_each_threshold_counts_only_those_at_or_past_it() -> None:
    outcomes = [outcome(True, 0.12), outcome(True, 0.17), outcome(True, 0.25), outcome(False, attempts=3)]
    figures = summarize(outcomes, ordinary_fidelity=0.8, clearance=0.2)
    assert figures["success_at_tiled_l2"] == {"0.10": 0.75, "0.15": 0.5, "0.20": 0.25}
    assert figures["success_at_clearance"] == 0.25 and figures["correction_success_rate"] == 0.75
    assert figures["blocked_rate"] == 0.25 and figures["attempts_mean"] == pytest.approx(6 / 4)


def test_given_a_replacement_still_a_copy_of_another_training_image_then_it_is_no_success() -> None:
    figures = summarize([outcome(True, 0.05), outcome(True, 0.3)], ordinary_fidelity=0.8, clearance=0.2)
    assert figures["correction_success_rate"] == 0.5 and figures["blocked_rate"] == 0.0


def test_given_fixed_outputs_then_fidelity_is_their_mean_clip_score_over_the_ordinary_mean() -> None:
    figures = summarize([outcome(True, fidelity=0.6), outcome(True, fidelity=0.9), outcome(False)], ordinary_fidelity=0.75, clearance=0.2)
    assert figures["fidelity_ratio"] == pytest.approx(0.75 / 0.75)


def test_given_blocks_and_unfaithful_replacements_then_both_are_writers_block() -> None:
    # Half the ordinary fidelity (0.4 of 0.8) is the line: 0.39 is under it, 0.41 is not
    outcomes = [outcome(True, fidelity=0.39), outcome(True, fidelity=0.41), outcome(False), outcome(True, fidelity=0.8)]
    assert summarize(outcomes, ordinary_fidelity=0.8, clearance=0.2)["writer_block_rate"] == 0.5


def test_given_nothing_flagged_then_the_rates_are_absent_not_zero() -> None:
    figures = summarize([], ordinary_fidelity=0.8, clearance=0.2)
    assert figures["success_at_clearance"] is None and figures["writer_block_rate"] is None and figures["flagged"] == 0
    assert figures["success_at_tiled_l2"] == {"0.10": None, "0.15": None, "0.20": None}
