"""Real CUDA out-of-memory errors during a correction: freed, retried alone, then blocked as
infrastructure (docs/reliability.md, "Resource exhaustion").

Skipped where there is no CUDA device (CI has none); run on a GPU machine with
`python -m pytest tests/gpu -q`. The correctors here are test doubles that allocate GPU
memory as a real pipeline would, in sizes picked from the card's free memory.
"""

from __future__ import annotations

import threading

import pytest
import torch
from PIL import Image

from swerve.correctors.adaptive_loop import correct_until_clean
from swerve.correctors.memory_pressure import MemoryPressureGate
from swerve.correctors.protocol import Candidate, CorrectionRequest

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

REQUEST = CorrectionRequest(request_id="r-1", prompt="a red square", image=Image.new("RGB", (8, 8)), findings=[])


class Passed:
    passed = True
    reasons: list[str] = []


class AllocatingCorrector:
    """Allocates ``fraction`` of the card's total memory as working space, then mirrors."""

    version = "1"

    def __init__(self, fraction: float, hold: threading.Event | None = None, started: threading.Event | None = None):
        self.name = "allocating"
        self.bytes = int(torch.cuda.get_device_properties(0).total_memory * fraction)
        self.hold, self.started = hold, started
        self.proposals = 0

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        self.proposals += 1
        workspace = torch.empty(self.bytes, dtype=torch.uint8, device="cuda")
        if self.started is not None:
            self.started.set()
        if self.hold is not None:
            self.hold.wait(timeout=60)
        workspace.fill_(1)
        torch.cuda.synchronize()
        return Candidate(image=request.image, method="allocating", parameters={"attempt": attempt})


def test_given_a_proposal_larger_than_the_card_then_blocked_as_infrastructure_after_one_retry_and_memory_freed() -> None:
    corrector = AllocatingCorrector(fraction=1.5)
    outcome = correct_until_clean(corrector, REQUEST, lambda image: Passed(), max_attempts=3)
    assert outcome.resource_failure is not None and "out of GPU memory twice" in outcome.resource_failure
    assert outcome.attempts == [], "running out of memory is not an escalation attempt"
    assert corrector.proposals == 2
    # The card is usable afterwards: a quarter of it can be allocated at once
    torch.empty(int(torch.cuda.get_device_properties(0).total_memory * 0.25), dtype=torch.uint8, device="cuda")


def test_given_two_corrections_that_do_not_fit_side_by_side_then_the_one_that_runs_out_retries_alone_and_succeeds() -> None:
    # Given two corrections sharing one gate, each needing 60% of the card: together they cannot fit
    gate = MemoryPressureGate()
    hold, started = threading.Event(), threading.Event()
    first = AllocatingCorrector(fraction=0.6, hold=hold, started=started)
    second = AllocatingCorrector(fraction=0.6)
    outcomes: dict[str, object] = {}

    def run(name: str, corrector: AllocatingCorrector) -> None:
        outcomes[name] = correct_until_clean(corrector, REQUEST, lambda image: Passed(), max_attempts=1, memory=gate)

    one = threading.Thread(target=run, args=("first", first))
    one.start()
    assert started.wait(timeout=60), "the first correction never allocated"
    # When the second runs while the first holds its memory, it runs out for real
    two = threading.Thread(target=run, args=("second", second))
    two.start()
    two.join(timeout=5)
    hold.set()
    one.join(timeout=60)
    two.join(timeout=60)
    # Then both delivered: the second's retry ran alone, once the first had finished
    assert all(outcomes[name].fixed for name in ("first", "second")), outcomes  # type: ignore[attr-defined]
    assert (first.proposals, second.proposals) == (1, 2)
