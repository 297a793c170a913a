"""``NudgingCorrector``: the seed paper's adaptive system (its Figure 2) as a swerve corrector.

When a filter fires, the push points I_U are the matched training images (read from the findings,
or from a caller's resolver) plus the flagged output itself, and the pull points I_D are the
configured desired references. All are encoded by the generator's own VAE, then the same prompt
and seed are regenerated with the latent nudged by Eq. 2 (see ``algorithm.py``). Each attempt
multiplies beta and the trust radius by ``escalation``. This module must never judge its own output: the adaptive
loop re-verifies every candidate with the detectors.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from swerve.correctors.findings import matched_images_in
from swerve.correctors.generator import (
    DiffusersGenerator,
    build_generator,
    request_seed,
)
from swerve.correctors.nudging.algorithm import LatentNudge, NudgingSettings
from swerve.correctors.prompt_mitigation.algorithm import mitigate_prompt_embedding
from swerve.correctors.protocol import Candidate, CorrectionRequest
from swerve.errors import ConfigurationError, CorrectionError, MediaError
from swerve.media import decode_bytes

__all__ = ["NudgingCorrector", "PushResolver"]

PushResolver = Callable[[CorrectionRequest], Sequence[Image.Image]]
_CACHED_REQUESTS = 8


def _read_images(paths: Sequence[str]) -> list[Image.Image]:
    images = []
    for path in paths:
        try:
            images.append(decode_bytes(Path(path).read_bytes()))
        except (OSError, MediaError) as exc:
            raise ConfigurationError(f"cannot read nudging pull image {path}: {exc}") from exc
    return images


class NudgingCorrector:
    """Regenerate with the latent pushed away from the flagged and matched images (Eq. 2).

    Args:
        name (`str`): the corrector's name in the policy.
        model_dir (`str`, optional) / generator (`DiffusersGenerator`, optional): exactly one; the model.
        steps, guidance_scale, device, allow_download: generator settings when loading ``model_dir``.
        target, alpha, beta, iterations, learning_rate, at_steps, max_distance: see ``NudgingSettings``.
        escalation (`float`, defaults to 2.0): beta and max_distance (up to sqrt 2) grow by it per further attempt.
        pull_image_paths (`list[str]`): local files of desired references I_D.
        pull_images (`list[PIL.Image]`): desired references given in code.
        push_resolver (`callable`, optional): request -> training images to push from; by default the
            ``matched_images`` of the findings.
        push_flagged_output (`bool`, defaults to True): also push from the flagged output itself.
        prompt_mitigation (`bool`, defaults to False): also lower Wen's text-conditional noise magnitude
            by optimizing the prompt embedding at the nudged x_T (``prompt_mitigation/algorithm.py``), with
            ``mitigation_learning_rate``, ``mitigation_iterations`` x attempt iterations and a stop at
            ``mitigation_target_ratio`` ** attempt times the starting magnitude.
    """

    version = "1"

    def __init__(self, name: str = "nudging", *, model_dir: str | None = None,
                 generator: DiffusersGenerator | None = None, steps: int = 25, guidance_scale: float = 7.5,
                 device: str | None = None, allow_download: bool = False, target: str = "initial", alpha: float = 1.0,
                 beta: float = 2.0, iterations: int = 20, learning_rate: float = 0.1,
                 at_steps: Sequence[int] = (0,), max_distance: float = 0.5, escalation: float = 2.0, pull_image_paths: Sequence[str] = (),
                 pull_images: Sequence[Image.Image] = (), push_resolver: PushResolver | None = None,
                 push_flagged_output: bool = True, prompt_mitigation: bool = False,
                 mitigation_learning_rate: float = 0.05, mitigation_iterations: int = 10,
                 mitigation_target_ratio: float = 0.5):
        self.settings = NudgingSettings(target, alpha, beta, iterations, learning_rate, tuple(int(s) for s in at_steps),
                                        max_distance)
        self.settings.check()
        if escalation < 1.0:
            raise ConfigurationError(f"nudging escalation must be >= 1, got {escalation}")
        if prompt_mitigation and not (0 < mitigation_target_ratio < 1 and mitigation_iterations >= 1
                                      and mitigation_learning_rate > 0):
            raise ConfigurationError("nudging's prompt mitigation needs 0 < mitigation_target_ratio < 1, "
                                     f"mitigation_iterations >= 1 and mitigation_learning_rate > 0; got "
                                     f"{mitigation_target_ratio}, {mitigation_iterations}, {mitigation_learning_rate}")
        self.prompt_mitigation = prompt_mitigation
        self.mitigation_learning_rate, self.mitigation_iterations = mitigation_learning_rate, mitigation_iterations
        self.mitigation_target_ratio = mitigation_target_ratio
        self.name, self.escalation = name, escalation
        self.generator = build_generator(model_dir, generator, device=device, allow_download=allow_download,
                                         steps=steps, guidance_scale=guidance_scale)
        self.pull_images = [*pull_images, *_read_images(pull_image_paths)]
        self.push_resolver = push_resolver or matched_images_in
        self.push_flagged_output = push_flagged_output
        # The VAE encodings are the fixed cost of nudging: the pull points are encoded once, and the
        # push points once per request, since the adaptive loop's next attempts reuse them.
        self._pull: torch.Tensor | None = None
        self._push: OrderedDict[str, torch.Tensor] = OrderedDict()

    def _push_and_pull(self, request: CorrectionRequest) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents of I_U (nU, C, h, w) and I_D (nD, C, h, w); call with the generator's lock held."""
        if request.request_id not in self._push:
            images = [*self.push_resolver(request), *([request.image] if self.push_flagged_output else [])]
            if not images:
                raise CorrectionError("nudging has no image to push away from", event_id=request.request_id,
                                      stage="correct")
            self._push[request.request_id] = self.generator.encode_images(images)
            while len(self._push) > _CACHED_REQUESTS:
                self._push.popitem(last=False)
        push = self._push[request.request_id]
        if self._pull is None:
            self._pull = self.generator.encode_images(self.pull_images) if self.pull_images else push[:0]
        return push, self._pull

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        if attempt < 1:
            raise CorrectionError(f"attempt counts from 1, got {attempt}", event_id=request.request_id, stage="correct")
        # 1. push points I_U (matched training images + the flagged output) and pull points I_D
        gen = self.generator
        with gen.lock:
            push, pull = self._push_and_pull(request)  # (nU, C, h, w), (nD, C, h, w)
        # 2. strength grows with the attempt
        settings = self.settings.stronger(self.escalation ** (attempt - 1))
        seed = request_seed(request.request_id, request.seed)
        x_t = gen.initial_latents([seed])  # (1, C, h, w)
        # 3. regenerate the same prompt and seed, nudged where the settings say
        nudger = LatentNudge(settings, push, pull)
        initial = nudger.apply(x_t, -1) if settings.target == "initial" else x_t  # L = x_T (recorded as step -1)
        text, mitigation = self._text(request, initial, attempt)
        if settings.target == "initial":
            image = gen.generate([request.prompt], [seed], latents=initial, **text)[0]
        else:  # L = x_t or x0 after the chosen steps, inside the pipeline's loop
            inputs = ("latents", "prompt_embeds") if settings.target == "x0" else ("latents",)
            image = gen.generate([request.prompt], [seed], latents=x_t, callback=nudger, callback_inputs=inputs, **text)[0]
        parameters: dict[str, Any] = {
            **gen.record(), "seed": seed, "attempt": attempt, "target": settings.target, "alpha": settings.alpha,
            "beta": settings.beta, "iterations": settings.iterations, "learning_rate": settings.learning_rate,
            "at_steps": list(settings.at_steps), "max_distance": settings.max_distance, "push_points": len(push), "pull_points": len(self.pull_images),
            "nudges": nudger.applied, "prompt_mitigation": mitigation,
        }
        return Candidate(image=image, method="nudging", parameters=parameters)

    def _text(self, request: CorrectionRequest, x_t: torch.Tensor, attempt: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The text conditioning of the regeneration: the prompt, or its Wen-mitigated embedding at x_T."""
        if not self.prompt_mitigation:
            return {"negative_prompt": request.negative_prompt}, None
        gen = self.generator
        with gen.lock:
            cond, uncond = gen.encode([request.prompt], request.negative_prompt)  # (1, tokens, width) each
            result = mitigate_prompt_embedding(gen, cond, x_t, self.mitigation_learning_rate,
                                               self.mitigation_iterations * attempt,
                                               target_ratio=self.mitigation_target_ratio ** attempt)
        record = {"magnitude_before": result.magnitude_before[0], "magnitude_after": result.magnitude_after[0],
                  "iterations": result.iterations[0], "target_ratio": round(self.mitigation_target_ratio ** attempt, 4)}
        return {"prompt_embeds": result.prompt_embeds, "negative_prompt_embeds": uncond}, record
