"""`swerve eval tradeoff`: success at the clearance against fidelity, over each method's strength knob.

A stronger correction clears the copy more often and keeps less of the prompt. For each method,
the verbatim flagged set of the first ``seeds`` seeds is corrected once per value of its knob
(the strength of attempt 1; the adaptive loop still escalates from there), re-verified at the
clearance, and read by the same judges as `swerve eval correct`. The defaults are chosen from
this curve (docs/correctors.md, "The trade-off").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from swerve.correctors.generator import DiffusersGenerator
from swerve.evaluation.correction import (
    CorrectionEvaluationSettings,
    ToyJudges,
    flag,
    ordinary_reference,
    run_method,
)
from swerve.evaluation.correction_summary import summarize
from swerve.evaluation.tradeoff_plot import tradeoff_figure
from swerve.toyworld import load_pipeline, memorized_captions

__all__ = ["KNOBS", "TradeoffSettings", "evaluate_tradeoff"]

# method -> (fixed params, the knob, its values from gentle to strong)
KNOBS: dict[str, tuple[dict[str, Any], str, tuple[float, ...]]] = {
    "prompt_mitigation": ({}, "target_ratio", (0.9, 0.85, 0.8, 0.65, 0.5)),
    "nudging": ({}, "beta", (1.0, 2.0, 4.0, 8.0)),
    "nudging:prompt": ({"target": "prompt"}, "beta", (1.0, 2.0, 4.0, 8.0)),
    "nudging_with_prompt_mitigation": ({}, "mitigation_target_ratio", (0.8, 0.65, 0.5, 0.35)),
}


@dataclass(frozen=True)
class TradeoffSettings:
    seeds: int = 4
    methods: tuple[str, ...] = tuple(KNOBS)
    correction: CorrectionEvaluationSettings = field(default_factory=CorrectionEvaluationSettings)


def evaluate_tradeoff(data_dir: Path, settings: TradeoffSettings | None = None, device: str | None = None,
                      plot: Path | None = None) -> dict[str, Any]:
    """Every method at every knob value; optionally the figure (``plot``)."""
    settings = settings or TradeoffSettings()
    unknown = [m for m in settings.methods if m not in KNOBS]
    if unknown:
        raise ValueError(f"no strength knob known for {unknown}; known: {', '.join(KNOBS)}")
    started = time.perf_counter()
    base = settings.correction
    generator = DiffusersGenerator(load_pipeline(device), "toyworld", steps=base.steps, guidance_scale=base.guidance_scale)
    judges = ToyJudges(data_dir, base.tiled_l2_threshold, {"tiled_l2": base.clearance_tiled_l2, "max_cosine": base.clearance_max_cosine})
    flagged, detection = flag(generator, judges, [(c, c) for c in memorized_captions()], settings.seeds)
    ordinary_fidelity = ordinary_reference(generator, judges, base).fidelity
    figures = partial(summarize, ordinary_fidelity=ordinary_fidelity, clearance=base.clearance_tiled_l2,
                      detection=base.tiled_l2_threshold)
    curves: dict[str, list[dict[str, Any]]] = {}
    for method in settings.methods:
        fixed, knob, values = KNOBS[method]
        curves[method] = []
        for value in values:
            params = {**fixed, **base.method_params.get(method, {}), knob: value}
            run = replace(base, method_params={method: params})
            summary = figures(run_method(method, generator, judges, flagged, run))
            curves[method].append({"knob": knob, "value": value, **summary})
    result: dict[str, Any] = {"curves": curves, "detection": detection, "flagged": len(flagged),
                              "clearance": base.clearance_tiled_l2, "ordinary_fidelity_mean": ordinary_fidelity,
                              "seeds": list(range(settings.seeds)), "total_seconds": time.perf_counter() - started}
    if plot is not None:
        result["plot"] = str(tradeoff_figure(curves, base.clearance_tiled_l2, plot))
    return result
