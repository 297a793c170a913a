"""The toy CLIPTokenizer: one token per toy word, anything else still tokenizes."""

from __future__ import annotations

from pathlib import Path

from transformers import CLIPTokenizer

from swerve.toyworld.tokenizer import END_TOKEN, START_TOKEN, write_tokenizer
from swerve.toyworld.vocabulary import caption_words


def test_given_the_toy_vocabulary_then_each_word_is_a_single_token(tmp_path: Path) -> None:
    tokenizer = write_tokenizer(tmp_path)
    for word in caption_words():
        ids = tokenizer(word).input_ids
        assert len(ids) == 3, (word, tokenizer.convert_ids_to_tokens(ids))  # SOT, word, EOT


def test_given_unknown_words_then_they_tokenize_into_known_pieces(tmp_path: Path) -> None:
    tokenizer = write_tokenizer(tmp_path)
    ids = tokenizer("Zebra Quux-42 é!").input_ids
    assert tokenizer.unk_token_id not in ids[1:-1]
    assert ids[0] == tokenizer.convert_tokens_to_ids(START_TOKEN)
    assert ids[-1] == tokenizer.convert_tokens_to_ids(END_TOKEN)


def test_given_saved_files_then_clip_tokenizer_from_pretrained_pads_to_77(tmp_path: Path) -> None:
    write_tokenizer(tmp_path)
    assert (tmp_path / "vocab.json").is_file() and (tmp_path / "merges.txt").is_file()
    tokenizer = CLIPTokenizer.from_pretrained(str(tmp_path))
    ids = tokenizer("a red star", padding="max_length", max_length=tokenizer.model_max_length).input_ids
    assert len(ids) == 77
    assert tokenizer.convert_ids_to_tokens(ids[1:4]) == ["a</w>", "red</w>", "star</w>"]
