"""Correctors by kind name, as the policy file names them.

Built-ins are ``module:Class`` strings imported on first use; plugins register through the
``swerve.correctors`` entry-point group.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from swerve.correctors.protocol import Corrector
from swerve.errors import PolicyError

BUILTIN_CORRECTORS: dict[str, str] = {
    "testing.mirror": "swerve.correctors.testing:MirrorCorrector",
    "testing.slow": "swerve.correctors.testing:SlowCorrector",
    "testing.out_of_memory": "swerve.correctors.testing:OutOfMemoryCorrector",
    "nudging": "swerve.correctors.nudging.corrector:NudgingCorrector",
    "gie": "swerve.correctors.gie.corrector:GieCorrector",
    "prompt_mitigation": "swerve.correctors.prompt_mitigation.corrector:PromptMitigationCorrector",
    "baseline.negative_prompt": "swerve.correctors.baselines.negative_prompt:NegativePromptCorrector",
    "baseline.delayed_guidance": "swerve.correctors.baselines.delayed_guidance:DelayedGuidanceCorrector",
    "baseline.reseed": "swerve.correctors.baselines.reseed:ReseedCorrector",
}


def corrector_kinds() -> list[str]:
    plugins = {ep.name for ep in entry_points(group="swerve.correctors")}
    return sorted(set(BUILTIN_CORRECTORS) | plugins)


def build_corrector(kind: str, name: str, params: dict[str, Any]) -> Corrector:
    """Instantiate the corrector ``kind`` as ``name`` with the policy's ``params``."""
    target = BUILTIN_CORRECTORS.get(kind)
    if target is not None:
        module_name, class_name = target.split(":")
        factory = getattr(importlib.import_module(module_name), class_name)
    else:
        matches = [ep for ep in entry_points(group="swerve.correctors") if ep.name == kind]
        if not matches:
            raise PolicyError(f"unknown corrector kind {kind!r} for {name!r}; known: {', '.join(corrector_kinds())}")
        factory = matches[0].load()
    try:
        corrector: Corrector = factory(name=name, **params)
    except TypeError as exc:
        raise PolicyError(f"bad params for corrector {name!r} ({kind}): {exc}") from exc
    return corrector
