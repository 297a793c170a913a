"""Build a CLIP byte-level BPE tokenizer (vocab.json + merges.txt) for the toy vocabulary.

The vocabulary holds all 256 byte symbols, alone and word-final, so any text
tokenizes (an unknown word falls apart into single characters). On top of those,
merges turn every toy-world word into one token, so a colour or a shape is a
single token that concept erasure can target. The files have the exact format of
openai/clip-vit-large-patch14's tokenizer, so `CLIPTokenizer.from_pretrained`
reads them. This module must never download anything.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import CLIPTokenizer

from swerve.toyworld.vocabulary import caption_words

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
MODEL_MAX_LENGTH = 77  # as in Stable Diffusion 1.x, so prompt-embedding code written for SD works unchanged


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable unicode character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars)))


def _apply_merges(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """Run CLIP's BPE on one word with the merges so far; returns the resulting pieces."""
    pieces = list(word[:-1]) + [word[-1] + "</w>"]
    while len(pieces) > 1:
        pairs = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(pieces, pieces[1:]))]
        best_rank, best_index = min(pairs)
        if best_rank == 1 << 30:
            break
        a, b = pieces[best_index], pieces[best_index + 1]
        merged: list[str] = []
        i = 0
        while i < len(pieces):
            if i < len(pieces) - 1 and pieces[i] == a and pieces[i + 1] == b:
                merged.append(a + b)
                i += 2
            else:
                merged.append(pieces[i])
                i += 1
        pieces = merged
    return pieces


def build_vocab_and_merges(words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte symbols + merges that make each word a single token.

    Merges for a word are appended after simulating BPE with the merges so far, and
    they join the leftover pieces left to right. Appending never changes how an
    earlier word tokenizes: its own merges all rank lower than the new ones.
    """
    symbols = list(bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols]
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    known = set(vocab_list)
    for word in words:
        pieces = _apply_merges(word, ranks)
        while len(pieces) > 1:
            pair = (pieces[0], pieces[1])
            if pair not in ranks:
                ranks[pair] = len(merges)
                merges.append(pair)
            joined = pieces[0] + pieces[1]
            if joined not in known:
                known.add(joined)
                vocab_list.append(joined)
            pieces = [joined] + pieces[2:]
    vocab_list += [START_TOKEN, END_TOKEN]
    return {token: index for index, token in enumerate(vocab_list)}, merges


def write_tokenizer(directory: Path) -> CLIPTokenizer:
    """Write vocab.json + merges.txt for the toy vocabulary into directory and return the loaded tokenizer."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = build_vocab_and_merges(caption_words())
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merge_lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (directory / "merges.txt").write_text("\n".join(merge_lines) + "\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(vocab=str(directory / "vocab.json"), merges=str(directory / "merges.txt"),
                              model_max_length=MODEL_MAX_LENGTH)
    tokenizer.save_pretrained(str(directory))
    return CLIPTokenizer.from_pretrained(str(directory))
