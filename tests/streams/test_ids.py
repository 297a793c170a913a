"""Deterministic ids make retries harmless: same input, stage and attempt, same id."""

from __future__ import annotations

import pytest

from swerve.streams.ids import derive_id


def test_given_the_same_input_stage_and_attempt_then_the_id_is_the_same() -> None:
    assert derive_id("gen-1", "delivery") == derive_id("gen-1", "delivery", 0)


def test_given_a_different_input_stage_or_attempt_then_the_id_differs() -> None:
    ids = {derive_id("gen-1", "delivery"), derive_id("gen-2", "delivery"), derive_id("gen-1", "verdict"), derive_id("gen-1", "verdict", 1)}
    assert len(ids) == 4


@pytest.mark.parametrize(("input_id", "stage", "attempt"), [("", "x", 0), ("a", "", 0), ("a", "x", -1)])
def test_given_bad_arguments_then_derive_id_refuses(input_id: str, stage: str, attempt: int) -> None:
    with pytest.raises(ValueError):
        derive_id(input_id, stage, attempt)
