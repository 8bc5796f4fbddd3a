"""A word-level tokenizer for the GPT-2 trained here (mini/smoke): the BPE vocabulary of real GPT-2 ships
with its checkpoint, which mini scale does not have, and a closed slot grammar needs only its own words.

Tokens are runs of letters/digits or single punctuation marks; decoding joins them with spaces and
re-attaches ``.`` and ``,`` so references of the grammar round-trip exactly.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

_TOKEN = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")
SPECIALS = ("<pad>", "<eos>", "<unk>")


def split_words(text: str) -> list[str]:
    return _TOKEN.findall(text)


def detokenize(words: list[str]) -> str:
    return re.sub(r" ([.,])", r"\1", " ".join(words))


class WordTokenizer:
    """Maps words to ids; ``<eos>`` separates the MR from the reference and ends it (as GPT-2's <|endoftext|>)."""

    def __init__(self, vocab: list[str]):
        if list(vocab[: len(SPECIALS)]) != list(SPECIALS):
            raise ValueError(f"vocabulary must start with {SPECIALS}")
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.pad_token_id, self.eos_token_id, self.unk_id = 0, 1, 2

    @classmethod
    def from_texts(cls, texts) -> "WordTokenizer":
        words = sorted({w for t in texts for w in split_words(t)})
        return cls(list(SPECIALS) + words)

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(w, self.unk_id) for w in split_words(text)]

    def decode(self, ids: list[int]) -> str:
        return detokenize([self.vocab[i] for i in ids if i >= len(SPECIALS)])

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.vocab))

    @classmethod
    def load(cls, path: Path) -> "WordTokenizer":
        return cls(json.loads(Path(path).read_text()))


class HFTokenizer:
    """GPT-2's BPE tokenizer from a local checkpoint folder (paper scale), with the same small interface."""

    def __init__(self, folder: Path):
        from transformers import AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.eos_token_id = self.tok.eos_token_id
        # GPT-2 has no pad token; padding positions are masked out of the loss and attention anyway.
        self.pad_token_id = self.tok.eos_token_id

    def __len__(self) -> int:
        return len(self.tok)

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode([i for i in ids if i != self.eos_token_id]).strip()
