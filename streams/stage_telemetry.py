"""Spans and metrics around the calls a stage makes into the libraries: each detector's call on a
batch (``swerve.detector``, ``swerve_detector_seconds``, ``swerve_detector_errors_total``) and
each correction attempt (``swerve.correction_attempt``).

These are the observers ``detectors.runner.run_detectors`` and
``correctors.adaptive_loop.correct_until_clean`` accept, so the libraries stay free of the
stream's tracing and metrics. A span opened here is a child of the current span: the stage
span in a worker (``batch_runner`` runs the stage in a copy of its context), the attempt span
for a candidate's re-verification. This module must never change what is judged.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from swerve.correctors.adaptive_loop import CorrectionAttempt
from swerve.detectors.runner import DetectorCall, DetectorFailure
from swerve.streams.metrics import DETECTOR_ERRORS, DETECTOR_SECONDS
from swerve.streams.tracing import tracer

__all__ = ["observe_correction_attempt", "observe_detector_call"]


@contextmanager
def observe_detector_call(call: DetectorCall) -> Iterator[None]:
    """Time one detector's call on a batch, count the samples it failed on, and trace it."""
    name = call.detector.name
    attributes: dict[str, AttributeValue] = {"swerve.detector.name": name, "swerve.detector.version": str(call.detector.version), "swerve.batch_size": call.batch_size}
    with tracer().start_as_current_span("swerve.detector", attributes=attributes) as span:
        started = time.perf_counter()
        try:
            yield
        finally:
            DETECTOR_SECONDS.labels(detector=name).observe(time.perf_counter() - started)
        failures = [outcome for outcome in call.outcomes if isinstance(outcome, DetectorFailure)]
        span.set_attribute("swerve.detector.failed_samples", len(failures))
        if failures:
            DETECTOR_ERRORS.labels(detector=name).inc(len(failures))
            # Each failed sample fails closed (an `error` score): an error of the call, not of swerve.
            span.set_status(Status(StatusCode.ERROR, f"{len(failures)} of {call.batch_size} sample(s) failed, "
                                                     f"first {failures[0].error_class}: {failures[0].message}"[:500]))


@contextmanager
def observe_correction_attempt(seen: CorrectionAttempt) -> Iterator[None]:
    """Trace one correction attempt: its number, corrector, method, and whether its candidate passed."""
    attributes: dict[str, AttributeValue] = {"swerve.correction.attempt": seen.attempt, "swerve.corrector.name": seen.corrector}
    with tracer().start_as_current_span("swerve.correction_attempt", attributes=attributes) as span:
        yield
        if seen.method is not None:
            span.set_attribute("swerve.correction.method", seen.method)
        if seen.passed is not None:
            span.set_attribute("swerve.correction.passed", seen.passed)
        if seen.error is not None:
            span.set_status(Status(StatusCode.ERROR, seen.error[:500]))
