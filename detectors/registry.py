"""Detectors by kind name, as the policy file names them.

Built-in kinds map to ``module:Class`` strings and are imported only when a policy uses
them, so a worker that runs only a hash blocklist never loads torch. Third-party detectors
register through the ``swerve.detectors`` entry-point group.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from swerve.detectors.protocol import Detector
from swerve.errors import PolicyError

BUILTIN_DETECTORS: dict[str, str] = {
    "hash_blocklist": "swerve.detectors.hash_blocklist:HashBlocklistDetector",
    "prompt_memorization": "swerve.detectors.prompt_memorization:PromptMemorizationDetector",
    "memorization": "swerve.detectors.memorization:MemorizationDetector",
    "concept": "swerve.detectors.concepts:ConceptDetector",
    "nudenet": "swerve.detectors.nudenet_nudity:NudeNetDetector",
    "testing.faulty": "swerve.detectors.testing:FaultyDetector",
    "testing.slow": "swerve.detectors.testing:SlowDetector",
}


def detector_kinds() -> list[str]:
    """Every kind a policy may name: built-ins and installed plugins."""
    plugins = {ep.name for ep in entry_points(group="swerve.detectors")}
    return sorted(set(BUILTIN_DETECTORS) | plugins)


def build_detector(kind: str, name: str, params: dict[str, Any]) -> Detector:
    """Instantiate the detector ``kind`` as ``name`` with the policy's ``params``."""
    target = BUILTIN_DETECTORS.get(kind)
    if target is not None:
        module_name, class_name = target.split(":")
        factory = getattr(importlib.import_module(module_name), class_name)
    else:
        matches = [ep for ep in entry_points(group="swerve.detectors") if ep.name == kind]
        if not matches:
            raise PolicyError(f"unknown detector kind {kind!r} for {name!r}; known: {', '.join(detector_kinds())}")
        factory = matches[0].load()
    try:
        detector: Detector = factory(name=name, **params)
    except TypeError as exc:
        raise PolicyError(f"bad params for detector {name!r} ({kind}): {exc}") from exc
    return detector
