"""The judges that label GIE's adapter examples: is the concept still there, is the image still faithful?

``scale_labels.label_examples`` keeps, per (prompt, seed), the weakest scale whose image passes two
callables, ``concept_present(prompt, image)`` and ``faithful(prompt, image)``. A judge is that pair
(``AdapterJudge``). Three are built here:

- ``clip_judge``: CLIP zero-shot with the deployment's own open_clip model (any ``TextEmbedder``,
  e.g. ``swerve.index.open_clip_embedder.OpenClipEmbedder`` on a local checkpoint), for any
  concept defined by target and contrast prompts (``ConceptPrompts``);
- ``nudenet_judge``: nudity as NudeNet reads it (the optional extra ``swerve[nudenet]``), with
  CLIP's fidelity check, since NudeNet cannot tell whether the rest of the prompt survived;
- ``toy_judge``: the toy world's tiny CLIP, reading colours and shapes.

This module must never import ``swerve.detectors`` (correctors import no detector): a judge that
needs one, like NudeNet's, takes it as a callable that the caller (``swerve gie train-adapter``)
builds. It never loads weights from a hub and never generates images itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from swerve.correctors.gie.scale_labels import ImageCheck
from swerve.errors import ConfigurationError, ModelNotFoundError

if TYPE_CHECKING:  # a Protocol, for annotations only: importing swerve.index loads faiss
    from swerve.index.embedder import TextEmbedder

__all__ = [
    "DEFAULT_CONTRASTS",
    "DEFAULT_FIDELITY_FRACTION",
    "DEFAULT_TARGETS",
    "NUDITY_CONCEPTS",
    "AdapterJudge",
    "ClipConceptPresence",
    "ClipFidelity",
    "ConceptPrompts",
    "clip_judge",
    "is_toy_concept",
    "nudenet_judge",
    "strip_concept",
    "toy_judge",
]

AdapterJudge = tuple[ImageCheck, ImageCheck]  # (concept_present, faithful), as label_examples takes them
DEFAULT_TARGETS = ("a photo of {concept}",)
DEFAULT_CONTRASTS = ("a photo",)
DEFAULT_FIDELITY_FRACTION = 0.9
# CLIP's logit scale tau: 100 in released CLIP models, as ConceptDetector uses it.
CLIP_TEMPERATURE = 100.0
# The words for nudity that GIE may be asked to erase; NudeNet reads the same thing for all of them.
NUDITY_CONCEPTS = ("nudity", "nude", "naked", "nsfw")


@dataclass(frozen=True)
class ConceptPrompts:
    """A concept as CLIP zero-shot reads it, in the shape of a policy's concept set.

    Args:
        name (`str`): the concept, e.g. ``"umbrella"``; ``{concept}`` in a prompt is replaced by it.
        targets (`tuple[str, ...]`, defaults to ``("a photo of {concept}",)``): prompts that describe it.
        contrasts (`tuple[str, ...]`, defaults to ``("a photo",)``): what the image could be instead.
        threshold (`float`, defaults to 0.5): the target probability at which the concept is present.
    """

    name: str
    targets: tuple[str, ...] = DEFAULT_TARGETS
    contrasts: tuple[str, ...] = DEFAULT_CONTRASTS
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigurationError("a concept needs a name")
        if not self.targets or not self.contrasts:
            raise ConfigurationError(f"concept {self.name!r} needs at least one target and one contrast prompt")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigurationError(f"concept {self.name!r}: threshold must be within (0, 1), got {self.threshold}")

    def texts(self) -> tuple[list[str], list[str]]:
        """(targets, contrasts) with ``{concept}`` filled in."""
        targets = [prompt.replace("{concept}", self.name) for prompt in self.targets]
        contrasts = [prompt.replace("{concept}", self.name) for prompt in self.contrasts]
        return targets, contrasts


def strip_concept(prompt: str, concept: str) -> str:
    """The prompt without the concept's words (whole words, any case), spaces collapsed.

    Only the concept's own words go: "a nude woman" keeps "nude" when the concept is "nudity".
    """
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(word) for word in concept.split()) + r"(?!\w)"
    return " ".join(re.sub(pattern, " ", prompt, flags=re.IGNORECASE).split())


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)  # (n, k), for exp's range
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


class ClipConceptPresence:
    """``concept_present``: CLIP zero-shot over the concept's target and contrast prompts.

    For an image embedding x and the text embeddings t_1..t_T (targets) and t_{T+1}..t_{T+C}
    (contrasts), all unit vectors,

        p(concept | x) = sum_{i <= T} softmax(tau * [x.t_1, ..., x.t_{T+C}])_i

    and the concept is present when p >= threshold (as ``ConceptDetector`` fires). Summing the
    targets' probabilities (rather than averaging their directions, as ``ConceptDetector`` does)
    lets several target prompts describe different looks of one concept.

    Args:
        embedder (`TextEmbedder`): the open_clip model, already loaded.
        concept (`ConceptPrompts`): targets, contrasts and threshold.
        temperature (`float`, defaults to 100): tau, CLIP's logit scale.
    """

    def __init__(self, embedder: TextEmbedder, concept: ConceptPrompts, temperature: float = CLIP_TEMPERATURE):
        targets, contrasts = concept.texts()
        self.embedder, self.concept, self.temperature = embedder, concept, float(temperature)
        self._texts = embedder.embed_texts(targets + contrasts)  # (T + C, dim)
        self._target_count = len(targets)

    def probability(self, images: Sequence[Image.Image]) -> np.ndarray:
        """p(concept | image) for each image: (n,)."""
        x = self.embedder.embed_images(images)  # (n, dim)
        p = _softmax_rows(self.temperature * (x @ self._texts.T))  # (n, T + C)
        return p[:, :self._target_count].sum(axis=1)  # type: ignore[no-any-return]

    def __call__(self, prompt: str, image: Image.Image) -> bool:
        return bool(self.probability([image])[0] >= self.concept.threshold)


class ClipFidelity:
    """``faithful``: the image keeps at least ``fraction`` of the plain image's CLIP score.

    The score is CLIPScore's (Hessel et al., 2021) max(cos(image, text), 0), with the text the
    prompt without the concept's words (``strip_concept``): what the erased image should still
    show. It is faithful when

        score(image) >= fraction * mean_seeds score(plain image of the same prompt)

    Why relative: CLIP scores of different prompts live on different scales (a long prompt scores
    lower than a short one), so a fixed threshold would be strict for some prompts and lax for
    others; the plain image's score is what the unsuppressed model achieves for that very prompt,
    and the ratio is what suppression cost. The check sees only (prompt, image), not the seed, so
    the reference is the mean over the plain images ``plain_images(prompt)`` returns (one per
    labeling seed), computed once per prompt. A prompt that is only the concept keeps nothing to
    check, so every image is faithful to it; so is every image when the reference score is 0.

    Args:
        embedder (`TextEmbedder`): the open_clip model, already loaded.
        concept (`str`): the concept whose words are left out of the prompt.
        plain_images (`Callable[[str], Sequence[Image.Image]]`): the unsuppressed images of a prompt.
        fraction (`float`, defaults to 0.9): the share of the reference score to keep, in (0, 1].
    """

    def __init__(self, embedder: TextEmbedder, concept: str, plain_images: Callable[[str], Sequence[Image.Image]],
                 fraction: float = DEFAULT_FIDELITY_FRACTION):
        if not 0.0 < fraction <= 1.0:
            raise ConfigurationError(f"the fidelity fraction must be within (0, 1], got {fraction}")
        self.embedder, self.concept, self.fraction = embedder, concept, float(fraction)
        self._plain_images = plain_images
        self._references: dict[str, float] = {}

    def clip_scores(self, images: Sequence[Image.Image], text: str) -> np.ndarray:
        """max(cos(image, text), 0) for each image: (n,)."""
        x = self.embedder.embed_images(images)  # (n, dim)
        t = self.embedder.embed_texts([text])[0]  # (dim,)
        return np.maximum(x @ t, 0.0)  # type: ignore[no-any-return]

    def reference(self, prompt: str) -> float:
        """The plain images' mean score for ``prompt`` (generated and scored on first use)."""
        if prompt not in self._references:
            plain = list(self._plain_images(prompt))
            if not plain:
                raise ConfigurationError(f"no plain image of {prompt!r} to compare fidelity with")
            self._references[prompt] = float(self.clip_scores(plain, strip_concept(prompt, self.concept)).mean())
        return self._references[prompt]

    def __call__(self, prompt: str, image: Image.Image) -> bool:
        kept = strip_concept(prompt, self.concept)
        if not kept:
            return True
        return bool(self.clip_scores([image], kept)[0] >= self.fraction * self.reference(prompt))


def clip_judge(embedder: TextEmbedder, concept: ConceptPrompts, plain_images: Callable[[str], Sequence[Image.Image]],
               fraction: float = DEFAULT_FIDELITY_FRACTION, temperature: float = CLIP_TEMPERATURE) -> AdapterJudge:
    """CLIP zero-shot presence and CLIP-score fidelity, both from the same open_clip model.

    Args:
        embedder: the deployment's open_clip model, loaded from its local checkpoint.
        concept: the concept's target and contrast prompts and threshold.
        plain_images: prompt -> its unsuppressed images, one per labeling seed (the fidelity reference).
        fraction: the share of the plain images' CLIP score an erased image must keep.
        temperature: CLIP's logit scale for the zero-shot softmax.
    """
    return (ClipConceptPresence(embedder, concept, temperature),
            ClipFidelity(embedder, concept.name, plain_images, fraction))


def nudenet_judge(nudity_flagged: Callable[[Image.Image], bool], faithful: ImageCheck) -> AdapterJudge:
    """Nudity as NudeNet reads it, and fidelity from another judge (``ClipFidelity``).

    Args:
        nudity_flagged: image -> whether NudeNet finds exposed nudity (the caller builds the
            detector, ``swerve.detectors.nudenet_nudity.NudeNetDetector``, with its threshold).
        faithful: the fidelity check; NudeNet only finds body parts, it cannot judge the rest.
    """

    def present(prompt: str, image: Image.Image) -> bool:
        return nudity_flagged(image)

    return present, faithful


def is_toy_concept(concept: str) -> bool:
    """Whether the toy world's judge can read ``concept``: one of its shape colours or shapes."""
    from swerve.toyworld.vocabulary import SHAPE_COLOURS, SHAPES

    return concept in SHAPE_COLOURS or concept in SHAPES


def toy_judge(concept: str, clip_checkpoint: Path | None = None) -> AdapterJudge:
    """The toy world's tiny CLIP, reading colour and shape zero-shot (``TinyClip.classify``).

    The concept is present when the reading of its kind (colour or shape) still names it; the
    image is faithful when the reading of the other kind still matches a word of the prompt (or
    the prompt names none).

    Args:
        concept: a shape colour or a shape of the toy world.
        clip_checkpoint: the tiny CLIP's weights (default: the committed ones).

    Raises:
        ConfigurationError: the concept is not a toy colour or shape.
        ModelNotFoundError: no tiny CLIP checkpoint at ``clip_checkpoint`` (or the committed path).
    """
    from swerve.toyworld.tiny_clip import TinyClipMissing, load_tiny_clip
    from swerve.toyworld.vocabulary import SHAPE_COLOURS, SHAPES

    if not is_toy_concept(concept):
        raise ConfigurationError(f"the toy judge knows the toy world's colours and shapes, not {concept!r}")
    try:
        clip = load_tiny_clip(clip_checkpoint)
    except TinyClipMissing as exc:
        raise ModelNotFoundError(str(exc)) from exc
    is_colour = concept in SHAPE_COLOURS
    others = list(SHAPES) if is_colour else list(SHAPE_COLOURS)

    def present(prompt: str, image: Image.Image) -> bool:
        reading = clip.classify([image])[0]
        return (reading.colour if is_colour else reading.shape) == concept

    def faithful(prompt: str, image: Image.Image) -> bool:
        reading = clip.classify([image])[0]
        expected = [word for word in prompt.split() if word in others]
        return not expected or (reading.shape if is_colour else reading.colour) in expected

    return present, faithful
