"""GIE's adapter (Sec. 4.2): predict the suppression scale w from first-step cross-attention.

    m_l = 1 / (U (H B)) * sum_{u, h, b} M*(u, h, b, i),   m = [m_1 .. m_L]^T             (Eq. 9)
    L   = 1/N sum_i (y_i - f_theta(m_i))^2                                               (Eq. 10)

f_theta is Linear(L, 64) -> ReLU -> Linear(64, 32) -> ReLU -> Linear(32, 1), L the number of
cross-attention layers (16 in SD 1.x; the toy model has its own count). The features come from
one extra UNet call at t = T, without suppression, on the conditional batch; i ranges over the
concept's own tokens (their mean). Our addition: the adapter standardizes its inputs with the
training set's mean and std (kept as buffers), since raw attention means are ~1/tokens and tiny.
Training follows Appendix D (Adam, lr 1e-3, 2000 epochs, MSE). Weights are saved as safetensors.
This module must never judge images: labels come from ``scale_labels.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from swerve.correctors.generator import DiffusersGenerator
from swerve.correctors.gie.attention_processor import cross_attention_layers, growth_inhibitors
from swerve.correctors.gie.algorithm import EncodedConcepts, gie_state
from swerve.errors import ConfigurationError, CorrectionError, ModelNotFoundError

__all__ = ["SuppressionScaleAdapter", "first_step_features", "load_adapter", "save_adapter", "train_adapter"]


class SuppressionScaleAdapter(torch.nn.Module):
    """f_theta: (N, L) first-step attention features -> (N, 1) suppression scale w."""

    feature_mean: torch.Tensor
    feature_std: torch.Tensor

    def __init__(self, layers: int):
        super().__init__()
        if layers < 1:
            raise ConfigurationError(f"the adapter needs >= 1 cross-attention layer, got {layers}")
        self.layers = layers
        self.register_buffer("feature_mean", torch.zeros(layers))
        self.register_buffer("feature_std", torch.ones(layers))
        self.mlp = torch.nn.Sequential(torch.nn.Linear(layers, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32),
                                       torch.nn.ReLU(), torch.nn.Linear(32, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 2 or features.shape[1] != self.layers:
            raise CorrectionError(f"adapter expects features (N, {self.layers}), got {tuple(features.shape)}")
        scale: torch.Tensor = self.mlp((features.float() - self.feature_mean) / self.feature_std)  # (N, 1)
        return scale


@torch.no_grad()
def first_step_features(generator: DiffusersGenerator, prompts: Sequence[str], seeds: Sequence[int],
                        concepts: EncodedConcepts) -> torch.Tensor:
    """Eq. 9 for each concept, averaged over the batch: (n_concepts, L)."""
    # 1. x_T and the prompt's conditional embedding, as the sampler would start
    x_t = generator.initial_latents(seeds)  # (B, C, h, w)
    cond, _ = generator.encode(prompts)  # (B, tokens, width)
    scheduler = generator.pipeline.scheduler.__class__.from_config(generator.pipeline.scheduler.config)
    scheduler.set_timesteps(generator.steps, device=generator.device)
    t = scheduler.timesteps[0]
    model_input = scheduler.scale_model_input(x_t * scheduler.init_noise_sigma, t)
    # 2. one UNet call at t = T, recording M* on the concept tokens, no injection
    state = gie_state(generator, prompts, concepts, torch.zeros(len(concepts.names)), active_fraction=0.0)
    state.recording, state.cfg = True, False
    unet = generator.pipeline.unet
    with generator.lock, growth_inhibitors(unet, state):
        unet(model_input, t, encoder_hidden_states=cond)
    layers = len(cross_attention_layers(unet))
    return torch.stack([state.features[layer] for layer in range(layers)], dim=1)  # (n_concepts, L)


def train_adapter(features: torch.Tensor, scales: torch.Tensor, epochs: int = 2000, learning_rate: float = 1e-3,
                  seed: int = 0) -> SuppressionScaleAdapter:
    """Fit f_theta to labeled (features (N, L), best scale (N,)) pairs by Eq. 10."""
    if features.ndim != 2 or scales.shape != (features.shape[0],) or features.shape[0] < 2:
        raise ConfigurationError(f"need >= 2 pairs of features (N, L) and scales (N,), got "
                                 f"{tuple(features.shape)} and {tuple(scales.shape)}")
    torch.manual_seed(seed)
    adapter = SuppressionScaleAdapter(features.shape[1])
    x, y = features.float(), scales.float().view(-1, 1)  # (N, L), (N, 1)
    adapter.feature_mean.copy_(x.mean(0))
    adapter.feature_std.copy_(x.std(0).clamp_min(1e-8))
    optimizer = torch.optim.Adam(adapter.parameters(), lr=learning_rate)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(adapter(x), y)
        torch.autograd.backward(loss)
        optimizer.step()
    return adapter.eval()


def save_adapter(adapter: SuppressionScaleAdapter, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in adapter.state_dict().items()}, str(path),
              metadata={"layers": str(adapter.layers), "kind": "swerve.gie.adapter"})
    return path


def load_adapter(path: str | Path) -> SuppressionScaleAdapter:
    """Load an adapter saved by ``save_adapter``; a missing file is a ``ModelNotFoundError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"GIE adapter weights not found: {path}", stage="correct")
    weights = load_file(str(path))
    adapter = SuppressionScaleAdapter(int(weights["mlp.0.weight"].shape[1]))
    adapter.load_state_dict(weights)
    return adapter.eval()
