"""The generation backend: the one place that loads a Stable Diffusion model and runs it.

Every steering method regenerates through ``DiffusersGenerator``, so every replacement records
the same facts (model id and revision, scheduler, steps, guidance, sizes) and draws its initial
noise the same way: one CPU ``torch.Generator`` per sample, so a (prompt, seed) pair gives the
same x_T on CPU and CUDA, and the same image up to numerics. Weights load from a local directory
only; a hub download happens only when the caller opts in with ``allow_download=True``. CUDA runs
in fp16 unless the policy says otherwise. What a policy may set is ``GenerationSettings``; each
request is generated at the size ``output_size`` plans for its original (``sized_for``).

Pipelines are cached per (directory, device) and shared by every corrector, each with a lock:
a method that changes the UNet for a while (GIE installs attention processors) holds the lock,
so a concurrent method never runs on a changed model. This module must never judge images,
fork the pipeline, or patch any model's ``forward``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import diffusers
import torch
from diffusers import StableDiffusionPipeline
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from swerve.correctors.model_revision import model_revision
from swerve.correctors.output_size import DEFAULT_MAX_SIDE, OutputSize
from swerve.errors import ConfigurationError, CorrectionError, ModelNotFoundError

__all__ = ["DiffusersGenerator", "GenerationSettings", "StepCallback", "build_generator", "request_seed"]

StepCallback = Callable[[Any, int, Any, dict[str, torch.Tensor]], dict[str, torch.Tensor]]

_CACHE: dict[tuple[str, str, str], tuple[StableDiffusionPipeline, threading.RLock]] = {}
_CACHE_LOCK = threading.Lock()


def request_seed(request_id: str, seed: int | None) -> int:
    """The request's seed, or a stable one derived from its id when the generator sent none."""
    return int(seed) if seed is not None else int(hashlib.sha256(request_id.encode()).hexdigest()[:8], 16)


# Denoising steps a generator accepts: more than any scheduler's training schedule (1000) is a typo.
MAX_STEPS = 1000
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def resolve_dtype(device: torch.device, dtype: str | None) -> torch.dtype:
    """The named dtype; by default float16 on CUDA (as SD 1.x is run) and float32 elsewhere."""
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ConfigurationError(f"unknown dtype {dtype!r}; choose from {sorted(DTYPES)}")
    return DTYPES[dtype]


class GenerationSettings(BaseModel):
    """What a policy may set about a corrector's model and sampling (validated at load).

    ``size``/``height``/``width``/``unsupported_size``/``max_side``: see ``output_size``.
    ``scheduler``: a diffusers scheduler class name compatible with the model's (``DDIMScheduler``,
    ``PNDMScheduler``, ``EulerDiscreteScheduler``, ``DPMSolverMultistepScheduler``, ...), built from
    the model's own scheduler config. ``model_id``/``revision``: what replacements record (by
    default the directory and ``model_revision``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str | None = None
    dtype: Literal["float16", "bfloat16", "float32"] | None = None
    steps: int = Field(25, ge=1, le=MAX_STEPS)
    guidance_scale: float = Field(7.5, ge=0.0, le=100.0)
    scheduler: str | None = None
    size: Literal["original", "native"] = "original"
    height: int | None = None
    width: int | None = None
    unsupported_size: Literal["resize", "refuse"] = "resize"
    max_side: int = Field(DEFAULT_MAX_SIDE, ge=8, le=8192)
    model_id: str | None = None
    revision: str | None = None
    allow_download: bool = False

    @classmethod
    def parse(cls, values: dict[str, Any]) -> GenerationSettings:
        """Validate a policy's generation params; errors name each bad key and what it accepts."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors())
            raise ConfigurationError(f"bad generation settings: {problems} (accepted: {', '.join(cls.model_fields)})") from exc

    def output_size(self) -> OutputSize:
        return OutputSize(self.size, self.height, self.width, self.unsupported_size, self.max_side)


# Pipelines whose UNet, text encoder and VAE are Stable Diffusion 1.x/2.x's, which every method is written for.
SUPPORTED_PIPELINES = frozenset({"StableDiffusionPipeline"})


def check_pipeline_class(directory: Path) -> None:
    """Refuse at load a model directory whose pipeline the correctors do not drive (SDXL among them)."""
    index = directory / "model_index.json"
    if not index.is_file():
        raise ModelNotFoundError(f"{directory} is not a diffusers pipeline directory: it has no model_index.json", stage="correct")
    try:
        declared = json.loads(index.read_text()).get("_class_name")
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigurationError(f"{index} is not a readable diffusers model index: {exc}") from exc
    if declared not in SUPPORTED_PIPELINES:
        raise ConfigurationError(
            f"{directory} holds a {declared} pipeline; swerve's correctors drive {', '.join(sorted(SUPPORTED_PIPELINES))} "
            "(SD 1.x/2.x) only. SDXL's two text encoders, pooled embeddings and added time ids are not carried "
            "through the methods yet (docs/operations.md, \"Bring your own model\")")


def with_scheduler(pipeline: StableDiffusionPipeline, name: str) -> StableDiffusionPipeline:
    """A pipeline sharing ``pipeline``'s modules (no copy of the weights) with the scheduler ``name``."""
    current = type(pipeline.scheduler)
    if name == current.__name__:
        return pipeline
    compatible = sorted({c.__name__ for c in pipeline.scheduler.compatibles} | {current.__name__})
    scheduler_class = getattr(diffusers, name, None)
    if not (isinstance(scheduler_class, type) and issubclass(scheduler_class, SchedulerMixin)):
        raise ConfigurationError(f"unknown scheduler {name!r}; this model's compatible schedulers: {', '.join(compatible)}")
    if name not in compatible:
        raise ConfigurationError(f"scheduler {name} is not compatible with this model's {current.__name__}; "
                                 f"compatible: {', '.join(compatible)}")
    components = {**pipeline.components, "scheduler": scheduler_class.from_config(pipeline.scheduler.config)}  # type: ignore[attr-defined]
    switched = StableDiffusionPipeline(**components, requires_safety_checker=False)
    switched.set_progress_bar_config(disable=True)
    return switched


def _load(model: str, device: torch.device, dtype: torch.dtype,
          allow_download: bool) -> tuple[StableDiffusionPipeline, threading.RLock]:
    key = (model, str(device), str(dtype))
    with _CACHE_LOCK:
        if key not in _CACHE:
            pipeline = StableDiffusionPipeline.from_pretrained(
                model, safety_checker=None, requires_safety_checker=False, torch_dtype=dtype,
                local_files_only=not allow_download)
            pipeline.set_progress_bar_config(disable=True)
            _CACHE[key] = (pipeline.to(device), threading.RLock())
        return _CACHE[key]


class DiffusersGenerator:
    """A StableDiffusionPipeline-compatible model with fixed sampling settings.

    Args:
        pipeline (`StableDiffusionPipeline`): a loaded pipeline (see ``from_directory`` to load one).
        model_id (`str`): what replacements record as the model (the directory or hub id).
        steps (`int`, defaults to 25): denoising steps.
        guidance_scale (`float`, defaults to 7.5): classifier-free guidance scale.
        height, width (`int`, optional): generation size until ``sized_for`` plans one; the UNet's native size by default.
        lock (`threading.RLock`, optional): shared with every generator on the same pipeline.
        output_size (`OutputSize`, optional): how ``sized_for`` sizes a request's output (the original's size by default).
        revision (`str`, optional): the weights' revision, recorded with the model id.
    """

    def __init__(self, pipeline: StableDiffusionPipeline, model_id: str, steps: int = 25, guidance_scale: float = 7.5,
                 height: int | None = None, width: int | None = None, lock: threading.RLock | None = None,
                 output_size: OutputSize | None = None, revision: str | None = None):
        if not 1 <= steps <= MAX_STEPS:
            raise ConfigurationError(f"steps must be within 1..{MAX_STEPS}, got {steps}")
        self.pipeline, self.model_id, self.steps, self.guidance_scale = pipeline, model_id, steps, guidance_scale
        self.height, self.width = height or self.native_side, width or self.native_side
        self.deliver: tuple[int, int] | None = None  # (width, height) outputs are resized to, when planned
        self.output_size = output_size or OutputSize()
        self.output_size.check_model(self.size_multiple)
        self.revision = revision
        self.lock = lock or threading.RLock()

    @property
    def native_side(self) -> int:
        """The side of the square the UNet was trained at (512 for SD 1.x)."""
        return int(self.pipeline.unet.config.sample_size * self.pipeline.vae_scale_factor)

    @property
    def size_multiple(self) -> int:
        """Generated sides must be multiples of this: the VAE's scale factor (8 for SD)."""
        return int(self.pipeline.vae_scale_factor)

    def sized_for(self, original: Image.Image) -> DiffusersGenerator:
        """This generator, sized for one request's flagged original (same pipeline, same lock).

        Raises:
            UnsupportedSizeError: the original's size cannot be generated and the policy refuses to resize.
        """
        plan = self.output_size.plan(original.size, self.native_side, self.size_multiple)
        sized = copy.copy(self)
        sized.width, sized.height = plan.generate
        sized.deliver = plan.deliver
        return sized

    @classmethod
    def from_directory(cls, model_dir: str | Path, *, device: str | None = None, dtype: str | None = None,
                       allow_download: bool = False, **settings: Any) -> DiffusersGenerator:
        """Load from a local diffusers directory (or, only with ``allow_download``, a hub id).

        ``dtype`` ("float16", "bfloat16", "float32"): float16 on CUDA and float32 elsewhere by default.
        On an H100, float16 gave the toy world a different sample than float32 for an ordinary prompt,
        while float32 on CUDA matched the CPU, and float16 on the CPU matched too (docs/operations.md,
        "GPU workers and models"): choose float32 where replacements must match a CPU worker's.
        """
        path = Path(model_dir).expanduser()
        if not allow_download and not path.is_dir():
            raise ModelNotFoundError(f"generator model directory not found: {path}", stage="correct")
        if path.is_dir():
            check_pipeline_class(path)
        resolved = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model = str(path.resolve()) if path.is_dir() else str(model_dir)
        pipeline, lock = _load(model, resolved, resolve_dtype(resolved, dtype), allow_download)
        settings.setdefault("revision", model_revision(path) if path.is_dir() else None)
        return cls(pipeline, str(model_dir), lock=lock, **settings)

    @classmethod
    def from_settings(cls, model_dir: str | Path, settings: GenerationSettings) -> DiffusersGenerator:
        """Load ``model_dir`` as a policy's ``settings`` say (scheduler, size, dtype, ids included)."""
        generator = cls.from_directory(
            model_dir, device=settings.device, dtype=settings.dtype, allow_download=settings.allow_download,
            steps=settings.steps, guidance_scale=settings.guidance_scale, output_size=settings.output_size(),
            **({"revision": settings.revision} if settings.revision else {}))
        if settings.scheduler is not None:
            generator.pipeline = with_scheduler(generator.pipeline, settings.scheduler)
        if settings.model_id is not None:
            generator.model_id = settings.model_id
        return generator

    @property
    def device(self) -> torch.device:
        device: torch.device = self.pipeline.device
        return device

    @property
    def scheduler_name(self) -> str:
        return type(self.pipeline.scheduler).__name__

    def record(self) -> dict[str, Any]:
        """What every replacement records about how it was generated (``height``/``width``: as
        generated; ``delivered``: [width, height] after resizing, when it was resized)."""
        record: dict[str, Any] = {"model_id": self.model_id, "revision": self.revision, "scheduler": self.scheduler_name,
                  "steps": self.steps, "guidance_scale": self.guidance_scale, "height": self.height, "width": self.width}
        if self._resize_to is not None:
            record["delivered"] = list(self._resize_to)
        return record

    @property
    def _resize_to(self) -> tuple[int, int] | None:
        """(width, height) outputs are resized to: the planned delivery size, when generated at another."""
        return self.deliver if self.deliver not in (None, (self.width, self.height)) else None

    def initial_latents(self, seeds: Sequence[int]) -> torch.Tensor:
        """x_T per seed, drawn as the pipeline draws it from one CPU generator per sample: (B, C, h, w)."""
        scale = self.pipeline.vae_scale_factor
        shape = (len(seeds), self.pipeline.unet.config.in_channels, self.height // scale, self.width // scale)
        generators = [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]
        x_t: torch.Tensor = randn_tensor(shape, generator=generators, device=self.device, dtype=self.pipeline.unet.dtype)
        return x_t

    def encode(self, prompts: Sequence[str], negative_prompt: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Text embeddings (cond, uncond), each (B, tokens, width), as the pipeline computes them."""
        negatives = None if negative_prompt is None else [negative_prompt] * len(prompts)
        cond, uncond = self.pipeline.encode_prompt(list(prompts), self.device, 1, True, negative_prompt=negatives)
        return cond, uncond

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """VAE latents of images resized to the output size: (n, C, h, w), scaled as the UNet sees them."""
        pixels = self.pipeline.image_processor.preprocess([im.convert("RGB") for im in images], self.height, self.width)
        vae = self.pipeline.vae
        posterior = vae.encode(pixels.to(self.device, vae.dtype)).latent_dist
        latents: torch.Tensor = posterior.mean * vae.config.scaling_factor
        return latents

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> list[Image.Image]:
        """Images from final latents (B, C, h, w), through the pipeline's own VAE and post-processing,
        at the delivery size."""
        vae = self.pipeline.vae
        pixels = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]
        return self._delivered(list(self.pipeline.image_processor.postprocess(pixels, output_type="pil")))

    def _delivered(self, images: list[Image.Image]) -> list[Image.Image]:
        """``images`` at the planned delivery size (resized only when generated at another size)."""
        resize_to = self._resize_to
        if resize_to is None:
            return images
        return [image.resize(resize_to, Image.Resampling.LANCZOS) for image in images]

    def generate(self, prompts: Sequence[str], seeds: Sequence[int], *, negative_prompt: str | None = None,
                 prompt_embeds: torch.Tensor | None = None, negative_prompt_embeds: torch.Tensor | None = None,
                 latents: torch.Tensor | None = None, guidance_scale: float | None = None,
                 callback: StepCallback | None = None, callback_inputs: Sequence[str] = ("latents",),
                 ) -> list[Image.Image]:
        """One image per (prompt, seed), in one batched pipeline call.

        Args:
            prompts: the prompts (ignored by the text encoder when ``prompt_embeds`` is given).
            seeds: one seed per prompt; x_T comes from them unless ``latents`` is given.
            negative_prompt: one negative prompt for the whole batch.
            prompt_embeds, negative_prompt_embeds: (B, tokens, width) embeddings to use instead of the text.
            latents: (B, C, h, w) initial latents instead of the seeds' x_T.
            guidance_scale: overrides this generator's guidance scale for this call.
            callback: diffusers ``callback_on_step_end``, fed ``callback_inputs``.
        """
        self._check_inputs(prompts, seeds, prompt_embeds, latents)
        x_t = latents if latents is not None else self.initial_latents(seeds)
        if prompt_embeds is not None:
            text: dict[str, Any] = {"prompt_embeds": prompt_embeds, "negative_prompt_embeds": negative_prompt_embeds}
        else:
            negatives = None if negative_prompt is None else [negative_prompt] * len(prompts)
            text = {"prompt": list(prompts), "negative_prompt": negatives}
        with self.lock, torch.no_grad():
            result = self.pipeline(
                **text, height=self.height, width=self.width, num_inference_steps=self.steps,
                guidance_scale=self.guidance_scale if guidance_scale is None else guidance_scale,
                generator=[torch.Generator("cpu").manual_seed(int(s)) for s in seeds], latents=x_t,
                callback_on_step_end=callback, callback_on_step_end_tensor_inputs=list(callback_inputs))
        return self._delivered(list(result.images))

    def _check_inputs(self, prompts: Sequence[str], seeds: Sequence[int], prompt_embeds: torch.Tensor | None,
                      latents: torch.Tensor | None) -> None:
        if not prompts or len(prompts) != len(seeds):
            raise CorrectionError(f"need one seed per prompt, got {len(prompts)} prompts and {len(seeds)} seeds")
        for name, tensor in (("prompt_embeds", prompt_embeds), ("latents", latents)):
            if tensor is not None and tensor.shape[0] != len(prompts):
                raise CorrectionError(f"{name} has batch {tensor.shape[0]}, expected {len(prompts)}")


def build_generator(model_dir: str | Path | None = None, generator: DiffusersGenerator | None = None,
                    **settings: Any) -> DiffusersGenerator:
    """The generator a corrector uses: the one given, else the model at ``model_dir`` (exactly one of them).

    ``settings`` are a policy's ``GenerationSettings`` (validated here, so a typo or a bad value
    stops the worker at load, naming the key); a given generator keeps its own and takes none.
    """
    if (model_dir is None) == (generator is None):
        raise ConfigurationError("a corrector needs exactly one of model_dir (a local diffusers directory) or generator")
    if generator is not None:
        if settings:
            raise ConfigurationError(f"generation settings ({', '.join(sorted(settings))}) apply to a model_dir, "
                                     "not to a given generator")
        return generator
    assert model_dir is not None
    return DiffusersGenerator.from_settings(model_dir, GenerationSettings.parse(settings))
