"""The adaptive loop of the nudging paper (its Figure 2): regenerate, re-check, escalate.

    1. propose a candidate with the corrector, at strength ``attempt``;
    2. verify it with the same detectors that flagged the original;
    3. if it passes, it is the replacement; otherwise escalate and try again;
    4. after ``max_attempts`` failures, give up: the caller blocks, with the reasons.

Verification is injected as a callable so this module never depends on the detectors or on
the stream. A corrector that raises counts as a failed attempt (its error becomes the
reason), so a broken corrector ends in a block with its cause, never a lost event. Running
out of GPU memory is not a failed attempt: the proposal is retried once alone
(``MemoryPressureGate``), and if that fails too the loop stops with ``resource_failure``
set, so the caller blocks for infrastructure, not for the image. An original whose size the
policy refuses to resize (``UnsupportedSizeError``) stops the loop at its first attempt.

Each attempt (proposal and verification) runs inside an observer, a context manager given a
``CorrectionAttempt``: the stream wraps it in a span (``swerve.streams.stage_telemetry``); by
default nothing observes it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Generic, Protocol, TypeVar

from PIL import Image

from swerve.correctors.memory_pressure import MemoryPressureGate
from swerve.correctors.protocol import Candidate, CorrectionRequest, Corrector
from swerve.errors import ResourceExhaustedError, UnsupportedSizeError


class VerificationReport(Protocol):
    """What verifying a candidate says: did it pass, and if not, why."""

    @property
    def passed(self) -> bool: ...

    @property
    def reasons(self) -> list[str]: ...


ReportT = TypeVar("ReportT", bound=VerificationReport)


@dataclass(frozen=True)
class AttemptRecord(Generic[ReportT]):
    """One attempt: the candidate and its verification, or the error that replaced them."""

    attempt: int
    candidate: Candidate | None
    report: ReportT | None
    error: str | None = None


@dataclass
class CorrectionAttempt:
    """One attempt as an observer sees it; the loop fills ``method`` once a candidate is
    proposed, then ``passed``, or ``error`` when the attempt failed without a verdict."""

    attempt: int
    corrector: str
    method: str | None = None
    passed: bool | None = None
    error: str | None = None


# Entered around each CorrectionAttempt; what it yields is ignored.
AttemptObserver = Callable[[CorrectionAttempt], AbstractContextManager[object]]


def unobserved(attempt: CorrectionAttempt) -> AbstractContextManager[object]:
    """The default observer: nothing."""
    return nullcontext()


@dataclass(frozen=True)
class CorrectionOutcome(Generic[ReportT]):
    """The loop's result: a verified replacement, or the record of why there is none."""

    replacement: Candidate | None
    verification: ReportT | None
    attempts: list[AttemptRecord[ReportT]] = field(default_factory=list)
    resource_failure: str | None = None

    @property
    def fixed(self) -> bool:
        return self.replacement is not None

    def block_reason(self) -> str:
        """Why correction gave up, one clause per attempt."""
        clauses = []
        for record in self.attempts:
            if record.error is not None:
                clauses.append(f"attempt {record.attempt}: {record.error}")
            elif record.report is not None:
                clauses.append(f"attempt {record.attempt}: {'; '.join(record.report.reasons) or 'failed'}")
        return "correction exhausted: " + (" | ".join(clauses) or "no attempts")


def correct_until_clean(
    corrector: Corrector,
    request: CorrectionRequest,
    verify: Callable[[Image.Image], ReportT],
    max_attempts: int = 3,
    memory: MemoryPressureGate | None = None,
    observe: AttemptObserver = unobserved,
) -> CorrectionOutcome[ReportT]:
    """Run the adaptive loop for one flagged request.

    Args:
        corrector: proposes candidates, stronger with each attempt.
        request: the flagged generation and its findings.
        verify: re-runs the policy's detectors on a candidate image.
        max_attempts: attempts before giving up (3 by default).
        memory: shared by the corrections running side by side on one GPU; a fresh one
            when not given.
        observe: entered around each attempt (tracing); nothing by default.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    memory = memory or MemoryPressureGate()
    records: list[AttemptRecord[ReportT]] = []
    for attempt in range(1, max_attempts + 1):
        seen = CorrectionAttempt(attempt, corrector.name)
        with observe(seen):
            # 1. propose
            try:
                candidate = memory.run(partial(corrector.propose, request, attempt), f"{corrector.name} attempt {attempt}")
            except ResourceExhaustedError as exc:
                seen.error = f"resource exhausted: {exc}"
                return CorrectionOutcome(None, None, records, resource_failure=str(exc))
            except UnsupportedSizeError as exc:  # final: every attempt would refuse the same size
                seen.error = f"{corrector.name}: {exc}"
                records.append(AttemptRecord(attempt, None, None, error=seen.error))
                return CorrectionOutcome(None, None, records)
            except Exception as exc:  # noqa: BLE001 - a failed attempt is recorded, then blocked on
                seen.error = f"{corrector.name} raised {type(exc).__name__}: {exc}"
                records.append(AttemptRecord(attempt, None, None, error=seen.error))
                continue
            seen.method = candidate.method
            # 2. verify
            report = verify(candidate.image)
            seen.passed = report.passed
            records.append(AttemptRecord(attempt, candidate, report))
            # 3. a clean candidate is the replacement; otherwise escalate
            if report.passed:
                return CorrectionOutcome(candidate, report, records)
    # 4. give up
    return CorrectionOutcome(None, None, records)
