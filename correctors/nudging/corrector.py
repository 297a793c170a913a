"""``NudgingCorrector``: the seed paper's adaptive system (its Figure 2) as a swerve corrector.

When a filter fires, the push points I_U are the matched training images (read from the findings,
or from a caller's resolver) plus the flagged output itself, and the pull points I_D are the
configured desired references. All are encoded by the generator's own VAE, then the same prompt
and seed are regenerated with the latent nudged by Eq. 2 (see ``algorithm.py``). With
``target="prompt"`` the nudged L is the prompt embedding instead: the push points are the text
embeddings of the matched images' captions, the pull points those of ``pull_prompts``, and the same
seed and x_T are regenerated from the nudged embedding. Each attempt
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
from swerve.correctors.findings import matched_captions_in, matched_images_in
from swerve.correctors.generator import (
    DiffusersGenerator,
    build_generator,
    request_seed,
)
from swerve.correctors.nudging.algorithm import (
    LatentNudge,
    NudgingSettings,
    PromptNudge,
    check_x0_scheduler,
)
from swerve.correctors.prompt_mitigation.algorithm import mitigate_prompt_embedding
from swerve.correctors.protocol import Candidate, CorrectionRequest
from swerve.errors import ConfigurationError, CorrectionError, MediaError
from swerve.media import decode_bytes

__all__ = ["NudgingCorrector", "PushResolver"]

PushResolver = Callable[[CorrectionRequest], Sequence[Image.Image]]
_CACHED_REQUESTS = 8


def _check_pull_prompts(target: str, pull_prompts: Sequence[str], pull_images: bool, push_resolver: bool) -> list[str]:
    """The desired prompts, refusing inputs the target would silently ignore."""
    if isinstance(pull_prompts, str):
        raise ConfigurationError(f"nudging pull_prompts must be a list of prompts, got the string {pull_prompts!r}")
    prompts = [str(p).strip() for p in pull_prompts]
    if any(not p for p in prompts):
        raise ConfigurationError("nudging pull_prompts must not contain empty prompts")
    if target == "prompt" and (pull_images or push_resolver):
        raise ConfigurationError("nudging target prompt pushes from matched captions and pulls toward pull_prompts; "
                                 "pull_images, pull_image_paths and push_resolver are for the latent targets")
    if target != "prompt" and prompts:
        raise ConfigurationError(f"nudging pull_prompts need target 'prompt', got target {target!r}")
    return prompts


def _read_images(paths: Sequence[str]) -> list[Image.Image]:
    images = []
    for path in paths:
        try:
            images.append(decode_bytes(Path(path).read_bytes()))
        except (OSError, MediaError) as exc:
            raise ConfigurationError(f"cannot read nudging pull image {path}: {exc}") from exc
    return images


class NudgingCorrector:
    """Regenerate with the latent pushed away from the flagged and matched images (Eq. 2), or with the
    prompt embedding pushed away from the matched images' captions (``target="prompt"``).

    Args:
        name (`str`): the corrector's name in the policy.
        model_dir (`str`, optional) / generator (`DiffusersGenerator`, optional): exactly one; the model.
        **generation: ``GenerationSettings`` when loading ``model_dir`` (steps, guidance_scale, scheduler, size, dtype, device, ...).
        target, alpha, beta, iterations, learning_rate, at_steps, max_distance: see ``NudgingSettings``;
            target is one of "initial", "steps", "x0" (latents) or "prompt" (the conditional text
            embedding e_c, its start-of-text row held fixed).
        escalation (`float`, defaults to 2.0): beta and max_distance (up to sqrt 2) grow by it per further attempt.
        pull_image_paths (`list[str]`): local files of desired references I_D (latent targets).
        pull_images (`list[PIL.Image]`): desired references given in code (latent targets).
        pull_prompts (`list[str]`): desired prompts I_D (target prompt only); may be empty, then only
            the push and |L - L0| act.
        push_resolver (`callable`, optional): request -> training images to push from; by default the
            ``matched_images`` of the findings (latent targets; the prompt target always pushes from
            the near-copy captions of the findings' ``matches``).
        push_flagged_output (`bool`, defaults to True): also push from the flagged output itself
            (latent targets; ignored by the prompt target, which has no text for the output but its prompt).
        prompt_mitigation (`bool`, defaults to False): also lower Wen's text-conditional noise magnitude
            by optimizing the prompt embedding at the nudged x_T (``prompt_mitigation/algorithm.py``), with
            ``mitigation_learning_rate``, ``mitigation_iterations`` x attempt iterations and a stop at
            ``mitigation_target_ratio`` ** attempt times the starting magnitude. With target prompt the
            mitigation starts from the nudged e_c (the push first, then Wen's magnitude at x_T, which
            also leaves SOT alone); its record then also gives cos(U, e_c) after it.
    """

    version = "1"

    def __init__(self, name: str = "nudging", *, model_dir: str | None = None,
                 generator: DiffusersGenerator | None = None, target: str = "initial", alpha: float = 1.0,
                 beta: float = 2.0, iterations: int = 20, learning_rate: float = 0.1,
                 at_steps: Sequence[int] = (0,), max_distance: float = 0.5, escalation: float = 2.0, pull_image_paths: Sequence[str] = (),
                 pull_images: Sequence[Image.Image] = (), pull_prompts: Sequence[str] = (),
                 push_resolver: PushResolver | None = None,
                 push_flagged_output: bool = True, prompt_mitigation: bool = False,
                 mitigation_learning_rate: float = 0.05, mitigation_iterations: int = 10,
                 mitigation_target_ratio: float = 0.5, **generation: Any):
        self.settings = NudgingSettings(target, alpha, beta, iterations, learning_rate, tuple(int(s) for s in at_steps),
                                        max_distance)
        self.settings.check()
        if escalation < 1.0:
            raise ConfigurationError(f"nudging escalation must be >= 1, got {escalation}")
        self.pull_prompts = _check_pull_prompts(target, pull_prompts, bool(pull_images or pull_image_paths),
                                                push_resolver is not None)
        if prompt_mitigation and not (0 < mitigation_target_ratio < 1 and mitigation_iterations >= 1
                                      and mitigation_learning_rate > 0):
            raise ConfigurationError("nudging's prompt mitigation needs 0 < mitigation_target_ratio < 1, "
                                     f"mitigation_iterations >= 1 and mitigation_learning_rate > 0; got "
                                     f"{mitigation_target_ratio}, {mitigation_iterations}, {mitigation_learning_rate}")
        self.prompt_mitigation = prompt_mitigation
        self.mitigation_learning_rate, self.mitigation_iterations = mitigation_learning_rate, mitigation_iterations
        self.mitigation_target_ratio = mitigation_target_ratio
        self.name, self.escalation = name, escalation
        self.generator = build_generator(model_dir, generator, **generation)
        if target == "x0":  # refused at load, not at the first request
            check_x0_scheduler(self.generator.pipeline.scheduler)
        self.pull_images = [*pull_images, *_read_images(pull_image_paths)]
        self.push_resolver = push_resolver or matched_images_in
        self.push_flagged_output = push_flagged_output
        # The encodings (VAE, or the text encoder for the prompt target) are the fixed cost of nudging: the
        # pull points are encoded once per generation size, and the push points once per request, since
        # the adaptive loop's next attempts reuse them.
        self._pull: dict[tuple[int, int], torch.Tensor] = {}
        self._push: OrderedDict[str, torch.Tensor] = OrderedDict()

    def _push_and_pull(self, gen: DiffusersGenerator, request: CorrectionRequest) -> tuple[torch.Tensor, torch.Tensor]:
        """I_U (nU, ...) and I_D (nD, ...): VAE latents (n, C, h, w) of images at ``gen``'s size, or for the
        prompt target text embeddings (n, tokens, width) of captions and prompts; call with the lock held."""
        if request.request_id not in self._push:
            self._push[request.request_id] = self._encode_push(gen, request)
            while len(self._push) > _CACHED_REQUESTS:
                self._push.popitem(last=False)
        push = self._push[request.request_id]
        size = (gen.width, gen.height)
        if size not in self._pull:
            self._pull[size] = self._encode_pull(gen) if self.pull_images or self.pull_prompts else push[:0]
        return push, self._pull[size]

    def _encode_push(self, gen: DiffusersGenerator, request: CorrectionRequest) -> torch.Tensor:
        """I_U: the matched captions' text embeddings (prompt target), else the images' VAE latents."""
        if self.settings.target == "prompt":
            captions = matched_captions_in(request.findings)
            if not captions:
                raise CorrectionError(f"nudging has no matched caption to push the prompt of request "
                                      f"{request.request_id!r} away from", event_id=request.request_id, stage="correct")
            return self._embed(gen, captions)
        images = [*self.push_resolver(request), *([request.image] if self.push_flagged_output else [])]
        if not images:
            raise CorrectionError("nudging has no image to push away from", event_id=request.request_id,
                                  stage="correct")
        return gen.encode_images(images)

    def _encode_pull(self, gen: DiffusersGenerator) -> torch.Tensor:
        """I_D: the desired prompts' text embeddings (prompt target), else the desired images' VAE latents."""
        if self.settings.target == "prompt":
            return self._embed(gen, self.pull_prompts)
        return gen.encode_images(self.pull_images)

    @staticmethod
    def _embed(gen: DiffusersGenerator, texts: Sequence[str]) -> torch.Tensor:
        """Conditional text embeddings (n, tokens, width) by the generator's own encoder."""
        with torch.no_grad():
            cond, _ = gen.encode(list(texts))
        return cond

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        if attempt < 1:
            raise CorrectionError(f"attempt counts from 1, got {attempt}", event_id=request.request_id, stage="correct")
        # 1. push points I_U (matched training images + the flagged output, or the matched captions) and pull points I_D
        gen = self.generator.sized_for(request.image)
        with gen.lock:
            push, pull = self._push_and_pull(gen, request)  # (nU, C, h, w), (nD, C, h, w); or (n, tokens, width)
        # 2. strength grows with the attempt
        settings = self.settings.stronger(self.escalation ** (attempt - 1))
        seed = request_seed(request.request_id, request.seed)
        x_t = gen.initial_latents([seed])  # (1, C, h, w)
        # 3. regenerate the same prompt and seed, nudged where the settings say
        nudger: LatentNudge | PromptNudge
        if settings.target == "prompt":  # L = e_c, x_T unchanged
            nudger = PromptNudge(settings, push, pull)
            text, mitigation = self._text(gen, request, x_t, attempt, nudger)
            image = gen.generate([request.prompt], [seed], latents=x_t, **text)[0]
            return self._candidate(gen, image, seed, attempt, settings, nudger, len(push), len(pull), mitigation)
        nudger = LatentNudge(settings, push, pull)
        initial = nudger.apply(x_t, -1) if settings.target == "initial" else x_t  # L = x_T (recorded as step -1)
        text, mitigation = self._text(gen, request, initial, attempt)
        if settings.target == "initial":
            image = gen.generate([request.prompt], [seed], latents=initial, **text)[0]
        else:  # L = x_t or x0 after the chosen steps, inside the pipeline's loop
            inputs = ("latents", "prompt_embeds") if settings.target == "x0" else ("latents",)
            image = gen.generate([request.prompt], [seed], latents=x_t, callback=nudger, callback_inputs=inputs, **text)[0]
        return self._candidate(gen, image, seed, attempt, settings, nudger, len(push), len(pull), mitigation)

    def _candidate(self, gen: DiffusersGenerator, image: Image.Image, seed: int, attempt: int, settings: NudgingSettings,
                   nudger: LatentNudge | PromptNudge, push_points: int, pull_points: int,
                   mitigation: dict[str, Any] | None) -> Candidate:
        """The replacement, recording how it was generated and what each nudge did."""
        parameters: dict[str, Any] = {
            **gen.record(), "seed": seed, "attempt": attempt, "target": settings.target,
            "alpha": settings.alpha, "beta": settings.beta, "iterations": settings.iterations,
            "learning_rate": settings.learning_rate, "at_steps": list(settings.at_steps),
            "max_distance": settings.max_distance, "push_points": push_points, "pull_points": pull_points,
            "nudges": nudger.applied, "prompt_mitigation": mitigation,
        }
        if isinstance(nudger, PromptNudge):  # the captions' text is not recorded: it may be the memorized content
            parameters.update(push_captions=push_points, pull_prompts=pull_points, sot_fixed=True)
        return Candidate(image=image, method="nudging", parameters=parameters)

    def _text(self, gen: DiffusersGenerator, request: CorrectionRequest, x_t: torch.Tensor, attempt: int,
              nudger: PromptNudge | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The text conditioning of the regeneration: the prompt, or its embedding e_c nudged by Eq. 2
        (target prompt) and then, if configured, Wen-mitigated at x_T."""
        if not self.prompt_mitigation and nudger is None:
            return {"negative_prompt": request.negative_prompt}, None
        with gen.lock:
            with torch.no_grad():
                cond, uncond = gen.encode([request.prompt], request.negative_prompt)  # (1, tokens, width) each
            if nudger is not None:
                cond = nudger.apply(cond)
            if not self.prompt_mitigation:
                return {"prompt_embeds": cond, "negative_prompt_embeds": uncond}, None
            result = mitigate_prompt_embedding(gen, cond, x_t, self.mitigation_learning_rate,
                                               self.mitigation_iterations * attempt,
                                               target_ratio=self.mitigation_target_ratio ** attempt)
        record: dict[str, Any] = {
            "magnitude_before": result.magnitude_before[0], "magnitude_after": result.magnitude_after[0],
            "iterations": result.iterations[0], "target_ratio": round(self.mitigation_target_ratio ** attempt, 4)}
        if nudger is not None:  # the mitigation may undo part of the push: say how much is left
            record["cos_push_after"] = round(nudger.cos_push(result.prompt_embeds), 4)
        return {"prompt_embeds": result.prompt_embeds, "negative_prompt_embeds": uncond}, record
