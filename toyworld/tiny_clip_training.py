"""Contrastive training of the tiny CLIP on the toy world's (image, caption) pairs.

Each ordinary image is shown under its full caption or under a shorter view of it
("a red star", "a large red star", "a red star on a navy background"), so the
zero-shot prompts 'a {colour} {shape}' are in distribution. Identical captions in
a batch count as positives of each other (multi-positive InfoNCE), so repeated
short captions are not pushed apart. The checkpoint is stored in fp16 to keep the
49408-token embedding table small. This module must never download anything.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F

from swerve.toyworld.tiny_clip import CHECKPOINT_FILENAME, MODEL_NAME, create_untrained

_ORDINARY = re.compile(r"^a (?P<size>\w+) (?P<colour>\w+) (?P<shape>\w+) at the (?P<position>[\w ]+) "
                       r"on a (?P<background>\w+) background$")
_MEAN = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
_STD = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)


def caption_view(caption: str, rng: np.random.Generator) -> str:
    """The full caption 40% of the time, else a shorter view of an ordinary caption (memorized ones stay whole)."""
    match = _ORDINARY.match(caption)
    if match is None or rng.random() < 0.4:
        return caption
    w = match.groupdict()
    views = (
        f"a {w['colour']} {w['shape']}",
        f"a {w['size']} {w['colour']} {w['shape']}",
        f"a {w['colour']} {w['shape']} on a {w['background']} background",
        f"a {w['colour']} {w['shape']} at the {w['position']}",
    )
    return views[int(rng.integers(len(views)))]


def train_tiny_clip(images: torch.Tensor, captions: list[str], out: Path, steps: int, batch_size: int, seed: int,
                    lr: float = 1e-3) -> dict[str, object]:
    """Train and save the tiny CLIP to out/tiny_clip.pt; returns a small summary.

    images: (unique, 3, H, W) in [-1, 1]; captions: one per image. Batches draw distinct
    images uniformly, so a memorized image is not its own negative many times over.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 2)
    model, _ = create_untrained()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    tokenizer = open_clip.get_tokenizer(MODEL_NAME)
    started = time.time()
    batch_size = min(batch_size, len(images))
    loss = torch.tensor(0.0)
    for step in range(steps):
        warm = min(1.0, (step + 1) / 100)
        for group in optimizer.param_groups:
            group["lr"] = lr * warm * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / max(1, steps))))
        rows = rng.choice(len(images), size=batch_size, replace=False)
        texts = [caption_view(captions[i], rng) for i in rows]
        pixels = ((images[rows] + 1) / 2 - _MEAN) / _STD  # (batch, 3, H, W), open_clip's normalization
        image_features = model.encode_image(pixels, normalize=True)  # (batch, d)
        text_features = model.encode_text(tokenizer(texts), normalize=True)  # (batch, d)
        logits = model.logit_scale.exp() * image_features @ text_features.T  # (batch, batch)
        same = torch.tensor([[a == b for b in texts] for a in texts], dtype=torch.float32)  # (batch, batch)
        targets = same / same.sum(dim=1, keepdim=True)
        loss = 0.5 * (torch.sum(-targets * F.log_softmax(logits, dim=1), dim=1).mean()
                      + torch.sum(-targets * F.log_softmax(logits.T, dim=1), dim=1).mean())
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, np.log(100))
        if step % 100 == 0 or step == steps - 1:
            print(f"[{time.strftime('%H:%M:%S')}] clip step {step}/{steps} loss {loss.item():.4f} "
                  f"({time.time() - started:.0f}s)", flush=True)
    state = {name: tensor.detach().half() if tensor.is_floating_point() else tensor
             for name, tensor in model.state_dict().items()}
    path = Path(out) / CHECKPOINT_FILENAME
    torch.save(state, path)
    return {"parameters": sum(p.numel() for p in model.parameters()), "final_loss": float(loss.item()),
            "checkpoint": CHECKPOINT_FILENAME}
