"""GIE's processor (Eqs. 6-8): shapes, w = 0, and processors restored even when generation fails."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention_processor import Attention
from swerve.correctors.gie.attention_processor import (
    GieState,
    GrowthInhibitorProcessor,
    cross_attention_layers,
    growth_inhibitors,
)
from swerve.correctors.gie.algorithm import encode_concepts, erase_concepts
from swerve.errors import CorrectionError

TOKENS, WIDTH, HEADS, DIM = 12, 32, 2, 8


def cross_attention() -> Attention:
    torch.manual_seed(0)
    return Attention(query_dim=16, cross_attention_dim=WIDTH, heads=HEADS, dim_head=DIM).eval()


def state(scales: list[float], injecting: bool = True, lengths: tuple[int, ...] = (2,)) -> GieState:
    torch.manual_seed(1)
    context = torch.randn(len(lengths), TOKENS, WIDTH)  # c* per concept
    return GieState(context, list(lengths), torch.tensor(scales), eot_positions=[4], active_steps=1 if injecting else 0)


def run(attn: Attention, processor, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    attn.set_processor(processor)
    with torch.no_grad():
        return attn(hidden, encoder_hidden_states=context)


def test_given_a_cfg_batch_when_injecting_then_the_output_keeps_the_shape_and_only_cond_rows_change() -> None:
    attn, original = cross_attention(), cross_attention().processor
    hidden, context = torch.randn(2, 9, 16), torch.randn(2, TOKENS, WIDTH)  # [uncond, cond]
    plain = run(attn, original, hidden, context)
    inhibited = run(attn, GrowthInhibitorProcessor(0, state([-5.0])), hidden, context)
    assert inhibited.shape == plain.shape == (2, 9, 16)
    assert torch.allclose(inhibited[0], plain[0], atol=1e-5)  # uncond row untouched
    assert not torch.allclose(inhibited[1], plain[1], atol=1e-3)


def test_given_w_zero_then_the_output_is_the_original_less_only_the_dropped_padding_columns() -> None:
    attn = cross_attention()
    original = attn.processor
    hidden, context = torch.randn(2, 9, 16), torch.randn(2, TOKENS, WIDTH)
    plain = run(attn, original, hidden, context)
    zero = run(attn, GrowthInhibitorProcessor(0, state([0.0], lengths=(2,))), hidden, context)
    # Eq. 8 keeps length n by dropping the last K = 2 tokens (padding); with w = 0 that is the only change
    with torch.no_grad():
        q = attn.head_to_batch_dim(attn.to_q(hidden[1:]))  # (H, N, d)
        probs = attn.get_attention_scores(q, attn.head_to_batch_dim(attn.to_k(context[1:])))  # (H, N, n)
        dropped = torch.bmm(probs[..., -2:], attn.head_to_batch_dim(attn.to_v(context[1:]))[:, -2:])  # (H, N, d)
        dropped_out = attn.batch_to_head_dim(dropped) @ attn.to_out[0].weight.T  # (1, N, 16)
    assert torch.allclose(zero[1] + dropped_out[0], plain[1], atol=1e-5)
    assert torch.allclose(zero[0], plain[0], atol=1e-5)
    assert (zero[1] - plain[1]).norm() / plain[1].norm() < 0.3  # up to tolerance: a small share of the mass


def test_given_an_inactive_state_then_the_unet_output_equals_the_original_processors(generator) -> None:
    unet = generator.pipeline.unet
    concepts = encode_concepts(generator, ["red"])
    cond, uncond = generator.encode(["a red star"])
    sample, embeds = torch.randn(2, 4, 8, 8), torch.cat([uncond, cond])
    with torch.no_grad():
        plain = unet(sample, 500, encoder_hidden_states=embeds).sample
        quiet = GieState(concepts.context, concepts.lengths, torch.tensor([-5.0]), [4], active_steps=0)
        with growth_inhibitors(unet, quiet):
            same = unet(sample, 500, encoder_hidden_states=embeds).sample
        loud = GieState(concepts.context, concepts.lengths, torch.tensor([-5.0]), [4], active_steps=1)
        with growth_inhibitors(unet, loud):
            changed = unet(sample, 500, encoder_hidden_states=embeds).sample
    assert torch.allclose(same, plain, atol=1e-5)
    assert not torch.allclose(changed[1], plain[1], atol=1e-4)


def processor_ids(unet) -> dict[str, int]:
    return {name: id(processor) for name, processor in unet.attn_processors.items()}


def test_given_a_successful_generation_then_the_original_processors_are_restored(generator) -> None:
    unet = generator.pipeline.unet
    before = processor_ids(unet)
    erase_concepts(generator, ["a red star"], [1], encode_concepts(generator, ["red"]), torch.tensor([-3.0]))
    assert processor_ids(unet) == before


def test_given_generation_raises_inside_then_the_original_processors_are_still_restored(generator) -> None:
    unet = generator.pipeline.unet
    before = processor_ids(unet)
    concepts = encode_concepts(generator, ["red"])
    broken = type(concepts)(concepts.names, torch.randn(1, 77, WIDTH + 1), concepts.lengths, concepts.pooled)
    with pytest.raises(RuntimeError):  # c* of the wrong width: to_k fails inside the UNet
        erase_concepts(generator, ["a red star"], [1], broken, torch.tensor([-3.0]))
    assert processor_ids(unet) == before
    with pytest.raises(KeyError), growth_inhibitors(unet, GieState(concepts.context, [1], torch.tensor([-1.0]), [3], 1)):
        raise KeyError("boom")
    assert processor_ids(unet) == before


def test_given_the_tiny_unet_then_every_cross_attention_layer_is_found(generator) -> None:
    names = cross_attention_layers(generator.pipeline.unet)
    assert len(names) == 7 and all(name.endswith("attn2.processor") for name in names)


def test_given_a_prompt_without_room_for_the_concept_then_injection_is_refused(generator) -> None:
    concepts = encode_concepts(generator, ["red"])
    crowded = GieState(concepts.context, concepts.lengths, torch.tensor([-1.0]), eot_positions=[76], active_steps=1)
    with pytest.raises(CorrectionError, match="too long"), growth_inhibitors(generator.pipeline.unet, crowded):
        pass
