"""`swerve eval gie-maps`: is GIE's M* a relevance map on this model?

GIE (Chen et al.) rests on one property of Stable Diffusion's cross-attention: M*, the image
queries against the target concept's own encoding c* (Eq. 6), is high where the concept is and low
elsewhere, so that "images without these features are immune to the erasure operation". This
measures that property on the toy world, where every image holds one object of one colour:

  1. for ``prompts_per_colour`` ordinary captions of every shape colour, generate plainly (seed =
     index) with a probe on every cross-attention layer that only observes: it computes M* on the
     concept's tokens (SOT and EOT excluded, as GIE injects them), averaged over heads and over the
     first ``steps_window`` denoising steps (GIE's active steps);
  2. the object's cells are the pixels of the final image farther than ``object_distance`` (RGB,
     unit range) from the median colour of the image's border, pooled to the layer's grid (a cell is
     the object's when at least half of it is; at least the fullest cell);
  3. per layer: M* on the objects of each colour, and on the background of every image.

``selectivity`` = M* on objects of the concept's colour / mean M* on objects of the other colours:
well above 1 where M* marks the concept (what GIE needs), about 1 where it marks only "an object".
``localization`` = M* on objects / M* on the background, over all colours. This module never
trains and never changes the images it observes (a test holds it to that).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from diffusers.models.attention_processor import Attention
from PIL import Image

from swerve.correctors.attention_parts import as_tokens, require_plain_attention
from swerve.correctors.generator import DiffusersGenerator
from swerve.correctors.gie.attention_processor import concept_attention, cross_attention_layers
from swerve.correctors.gie.algorithm import EncodedConcepts, encode_concepts
from swerve.evaluation.toyworld import expected_colour_and_shape
from swerve.toyworld import sample_ordinary_captions
from swerve.toyworld.vocabulary import SHAPE_COLOURS

__all__ = ["ConceptMapProbe", "GieMapSettings", "captions_by_colour", "concept_map_probes", "evaluate_gie_maps",
           "object_cells"]


@dataclass(frozen=True)
class GieMapSettings:
    concept: str = "red"
    prompts_per_colour: int = 6
    steps_window: int = 20  # GIE's default active steps: ceil(0.8 * 25)
    object_distance: float = 0.25
    caption_seed: int = 4_000_037  # the ORR measurement's captions (evaluation/correction.py)


class ConceptMapProbe:
    """A cross-attention processor that records M* on the concepts' tokens, then runs the layer's own.

    ``record[layer]`` gets one (conditional batch, pixels) tensor per UNet call, for the first
    ``window`` calls: M* summed over the concepts' tokens, averaged over heads.
    """

    def __init__(self, layer: int, concepts: EncodedConcepts, cfg: bool, window: int,
                 record: dict[int, list[torch.Tensor]], original: Any):
        self.layer, self.concepts, self.cfg, self.window = layer, concepts, cfg, window
        self.record, self.original = record, original

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None) -> torch.Tensor:
        calls = self.record.setdefault(self.layer, [])
        if len(calls) < self.window:
            require_plain_attention(attn, attention_mask, "ConceptMapProbe")  # the query GIE sees, as gie.py
            with torch.no_grad():
                tokens = as_tokens(hidden_states)
                conditional = tokens[tokens.shape[0] // 2:] if self.cfg else tokens  # [uncond, cond]
                query = attn.head_to_batch_dim(attn.to_q(conditional), out_dim=4)  # (Bc, H, N, d)
                m_star = concept_attention(attn, query, self.concepts.context.to(query.dtype))  # (Bc, nc, H, N, n)
                on_tokens = torch.stack([m_star[:, j, :, :, 1:1 + k].sum(-1)
                                         for j, k in enumerate(self.concepts.lengths)]).sum(0)  # (Bc, H, N)
                calls.append(on_tokens.mean(1).cpu())  # (Bc, N)
        result: torch.Tensor = self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        return result


@contextmanager
def concept_map_probes(generator: DiffusersGenerator, concepts: EncodedConcepts,
                       window: int) -> Iterator[dict[int, list[torch.Tensor]]]:
    """Install a probe on every cross-attention layer for one generation; restore the originals on exit."""
    unet = generator.pipeline.unet
    original = dict(unet.attn_processors)
    layers = {name: index for index, name in enumerate(cross_attention_layers(unet))}
    record: dict[int, list[torch.Tensor]] = {}
    probes = {name: ConceptMapProbe(index, concepts, generator.guidance_scale > 1, window, record, original[name])
              for name, index in layers.items()}
    unet.set_attn_processor({name: probes.get(name, processor) for name, processor in original.items()})
    try:
        yield record
    finally:
        unet.set_attn_processor(dict(original))


def object_cells(image: Image.Image, grid: int, distance: float) -> np.ndarray:
    """(grid * grid,) bool: the cells at least half covered by pixels unlike the border's median colour."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])  # (4W, 3)
    mask = np.linalg.norm(pixels - np.median(border, axis=0), axis=-1) > distance  # (H, W)
    cover = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(mask.astype(np.float32))[None, None], grid)
    fraction = cover.view(-1).numpy()
    return np.asarray((fraction >= 0.5) | (fraction == fraction.max()))


def captions_by_colour(per_colour: int, seed: int) -> dict[str, list[str]]:
    """``per_colour`` ordinary captions of every shape colour, in the order the seed draws them."""
    grouped: dict[str, list[str]] = {colour: [] for colour in SHAPE_COLOURS}
    pool = per_colour * len(SHAPE_COLOURS) * 2
    while min(len(v) for v in grouped.values()) < per_colour:
        grouped = {colour: [] for colour in SHAPE_COLOURS}
        for caption in sample_ordinary_captions(pool, seed=seed):
            colour = expected_colour_and_shape(caption)[0]
            if len(grouped[colour]) < per_colour:
                grouped[colour].append(caption)
        pool *= 2
    return grouped


@dataclass(frozen=True)
class LayerMaps:
    layer: int
    grid: int
    on_objects: dict[str, float]  # colour -> mean M* on that colour's object cells
    on_background: float
    selectivity: float
    localization: float


def _layer_maps(layer: int, maps: dict[str, torch.Tensor], images: Mapping[str, Sequence[Image.Image]],
                concept_colour: str, distance: float) -> LayerMaps:
    """One layer's figures from M* per colour, (prompts, pixels), and the images the prompts gave."""
    grid = math.isqrt(next(iter(maps.values())).shape[1])
    on_objects: dict[str, float] = {}
    background: list[float] = []
    for colour, per_prompt in maps.items():
        values = per_prompt.numpy()
        cells = [object_cells(image, grid, distance) for image in images[colour]]
        on_objects[colour] = float(np.mean([v[c].mean() for v, c in zip(values, cells)]))
        background += [float(v[~c].mean()) for v, c in zip(values, cells) if (~c).any()]
    others = [v for colour, v in on_objects.items() if colour != concept_colour]
    mean_on_objects = float(np.mean(list(on_objects.values())))
    return LayerMaps(layer, grid, on_objects, float(np.mean(background)),
                     selectivity=on_objects[concept_colour] / float(np.mean(others)),
                     localization=mean_on_objects / float(np.mean(background)))


def evaluate_gie_maps(generator: DiffusersGenerator, settings: GieMapSettings | None = None) -> dict[str, Any]:
    """Per cross-attention layer: M* of ``settings.concept`` on objects of each colour and on the background."""
    settings = settings or GieMapSettings()
    if settings.concept not in SHAPE_COLOURS:
        raise ValueError(f"gie-maps needs a shape colour as the concept ({', '.join(SHAPE_COLOURS)}), "
                         f"got {settings.concept!r}")
    if not 1 <= settings.steps_window <= generator.steps or settings.prompts_per_colour < 1:
        raise ValueError("gie-maps needs 1 <= steps_window <= steps and prompts_per_colour >= 1, got "
                         f"{settings.steps_window}, {generator.steps}, {settings.prompts_per_colour}")
    concepts = encode_concepts(generator, [settings.concept])
    grouped = captions_by_colour(settings.prompts_per_colour, settings.caption_seed)
    maps: dict[int, dict[str, torch.Tensor]] = {}
    images: dict[str, list[Image.Image]] = {}
    for colour, prompts in grouped.items():
        with generator.lock, concept_map_probes(generator, concepts, settings.steps_window) as record:
            images[colour] = generator.generate(prompts, list(range(len(prompts))))
        for layer, calls in record.items():
            maps.setdefault(layer, {})[colour] = torch.stack(calls).mean(0)  # (prompts, pixels)
    layers = [_layer_maps(layer, per_colour, images, settings.concept, settings.object_distance)
              for layer, per_colour in sorted(maps.items())]
    return {
        "concept": settings.concept,
        "layers": [asdict(layer) for layer in layers],
        "max_selectivity": max(layer.selectivity for layer in layers),
        "max_localization": max(layer.localization for layer in layers),
        "captions": grouped,
        "seeds": list(range(settings.prompts_per_colour)),
        "settings": {**asdict(settings), "steps": generator.steps, "guidance_scale": generator.guidance_scale,
                     "model_id": generator.model_id},
    }
