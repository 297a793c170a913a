"""Where prompt mitigation loses fidelity on implicit memorized prompts, one request at a time.

`swerve eval correct` reports the paraphrased set's mean fidelity ratio; this prints every
flagged paraphrase's correction: its edit, prompt, seed, attempts, the replacement's and the
flagged original's fidelity ratio (tiny-CLIP score over the ordinary generations' mean) and the
replacement's nearest tiled L2 to the training set, sorted by fidelity, then the mean by edit,
and the fidelity ratio of the generations of the same prompts that the detector let through.
It runs the same code as the evaluation (``evaluation/correction.py``: flag, run_method), with
32 ordinary captions as the fidelity reference. The baseline beside swerve is the flagged
original's fidelity. docs/correctors.md records its output:

    OMP_NUM_THREADS=2 python benchmarks/paraphrase_fidelity.py --seeds 2 --params '{"target_ratio": 0.85}'
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from swerve.correctors.generator import DiffusersGenerator
from swerve.evaluation.correction import CorrectionEvaluationSettings, ToyJudges, flag, ordinary_reference, run_method
from swerve.evaluation.paraphrases import paraphrases
from swerve.streams.settings import Settings
from swerve.toyworld import load_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--max-attempts", type=int, default=10)
    parser.add_argument("--clearance", type=float, default=0.15)
    parser.add_argument("--params", default='{"target_ratio": 0.85}', help="prompt mitigation params (JSON)")
    args = parser.parse_args()
    settings = CorrectionEvaluationSettings(seeds=args.seeds, max_attempts=args.max_attempts,
                                            method_params={"prompt_mitigation": json.loads(args.params)})
    generator = DiffusersGenerator(load_pipeline(None), "toyworld", steps=settings.steps, guidance_scale=settings.guidance_scale)
    judges = ToyJudges(Path(Settings.from_env().data_dir), settings.tiled_l2_threshold, {"tiled_l2": args.clearance, "max_cosine": None})
    reference = ordinary_reference(generator, judges, replace(settings, ordinary_captions=32))
    implicit = paraphrases(settings.paraphrases_per_caption)
    edits = {p.prompt: p.edit for p in implicit}
    flagged, detection = flag(generator, judges, [(p.prompt, p.source) for p in implicit], args.seeds)
    rows = []
    for item, outcome in zip(flagged, run_method("prompt_mitigation", generator, judges, flagged, settings)):
        fidelity = None if outcome.fidelity is None else round(outcome.fidelity / reference.fidelity, 3)
        nearest = None if outcome.nearest_tiled_l2 is None else round(outcome.nearest_tiled_l2, 3)
        rows.append((edits[item.prompt], item.prompt, item.seed, outcome.attempts, fidelity,
                     round(outcome.original_fidelity / reference.fidelity, 3), nearest))
    print("edit, prompt, seed, attempts, fidelity ratio (replacement), fidelity ratio (original), nearest tiled L2")
    for row in sorted(rows, key=lambda r: r[4] if r[4] is not None else -9):
        print(row)
    replaced = [r for r in rows if r[4] is not None]
    by_edit = {e: round(float(np.mean([r[4] for r in replaced if r[0] == e])), 3) for e in sorted({r[0] for r in replaced})}
    print(f"params {args.params}: {len(rows)} flagged, {len(rows) - len(replaced)} blocked; mean fidelity ratio "
          f"{np.mean([r[4] for r in replaced]):.3f} (originals {np.mean([r[5] for r in rows]):.3f}); by edit {by_edit}")
    print(f"the model's own non-copies of these prompts ({detection['unflagged']} generations the detector let through): "
          f"fidelity ratio {detection['unflagged_fidelity'] / reference.fidelity:.3f}")


if __name__ == "__main__":
    main()
