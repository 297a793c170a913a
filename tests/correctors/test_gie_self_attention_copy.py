"""GIE's self-attention copy: the edited rows take the original rows' maps, only while copying, only
in small layers, and the processors come back afterwards."""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention
from swerve.correctors.attention_parts import attention_layers
from swerve.correctors.gie.algorithm import encode_concepts, erase_concepts
from swerve.correctors.gie.self_attention_copy import (
    SelfAttentionCopy,
    SelfAttentionCopyProcessor,
    branch_pairs,
)

HEADS, DIM, CHANNELS = 2, 8, 16


def self_attention() -> Attention:
    torch.manual_seed(0)
    return Attention(query_dim=CHANNELS, heads=HEADS, dim_head=DIM).eval()


def run(attn: Attention, processor, hidden: torch.Tensor) -> torch.Tensor:
    attn.set_processor(processor)
    with torch.no_grad():
        return attn(hidden)


def test_given_two_prompts_then_each_edited_row_pairs_with_its_original_in_both_cfg_halves() -> None:
    assert branch_pairs(2, cfg=True) == [(0, 2), (1, 3), (4, 6), (5, 7)]
    assert branch_pairs(2, cfg=False) == [(0, 2), (1, 3)]


def test_given_copying_then_the_edited_row_uses_the_original_rows_maps_with_its_own_values() -> None:
    attn = self_attention()
    original = attn.processor
    hidden = torch.randn(2, 9, CHANNELS)  # row 0 original, row 1 edited
    plain = run(attn, original, hidden)
    copied = run(attn, SelfAttentionCopyProcessor(SelfAttentionCopy([(0, 1)], copy_steps=1), lambda: 0, original), hidden)
    with torch.no_grad():
        q0 = attn.head_to_batch_dim(attn.to_q(hidden[:1]))
        maps_of_original = attn.get_attention_scores(q0, attn.head_to_batch_dim(attn.to_k(hidden[:1])))  # (H, N, N)
        values_of_edited = attn.head_to_batch_dim(attn.to_v(hidden[1:]))  # (H, N, d)
        expected = attn.to_out[0](attn.batch_to_head_dim(torch.bmm(maps_of_original, values_of_edited)))
    assert torch.allclose(copied[0], plain[0], atol=1e-5)  # the original branch is untouched
    assert torch.allclose(copied[1], expected[0], atol=1e-5)
    assert not torch.allclose(copied[1], plain[1], atol=1e-3)


def test_given_the_copy_steps_are_over_or_the_layer_is_large_then_the_original_processor_runs() -> None:
    attn = self_attention()
    original = attn.processor
    hidden = torch.randn(2, 9, CHANNELS)
    plain = run(attn, original, hidden)
    finished = SelfAttentionCopyProcessor(SelfAttentionCopy([(0, 1)], copy_steps=2), lambda: 2, original)
    too_large = SelfAttentionCopyProcessor(SelfAttentionCopy([(0, 1)], copy_steps=2, max_tokens=8), lambda: 0, original)
    assert torch.allclose(run(attn, finished, hidden), plain, atol=1e-6)
    assert torch.allclose(run(attn, too_large, hidden), plain, atol=1e-6)


def test_given_a_generation_with_the_copy_then_one_image_per_prompt_and_the_processors_come_back(generator) -> None:
    unet = generator.pipeline.unet
    before = {name: id(p) for name, p in unet.attn_processors.items()}
    concepts = encode_concepts(generator, ["red"])
    copied = erase_concepts(generator, ["a red star", "a blue circle"], [1, 2], concepts, torch.tensor([-3.0]),
                            self_attention_copy_fraction=0.4)
    plain_gie = erase_concepts(generator, ["a red star", "a blue circle"], [1, 2], concepts, torch.tensor([-3.0]))
    assert len(copied) == 2 and copied[0].size == plain_gie[0].size
    assert {name: id(p) for name, p in unet.attn_processors.items()} == before
    assert len(attention_layers(unet, cross=False)) == 7
