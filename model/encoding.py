"""Turn texts into token ids for the learnt model: head and tail of a long comment.

A comment longer than the model's window keeps its first and last tokens (the
greeting and the sting are both there); the rules still read all of it. The same
encoder, with the same text preparation (``model.normalize.text_form``: mentions,
links, hashtags and emoji folded into words), is used in training and in serving so
the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tokenizers import Tokenizer


class HeadTailEncoder:
    """Encode with a fast tokenizer (``tokenizer.json``), keeping head and tail within ``max_length``.

    >>> enc = HeadTailEncoder.from_file(path_to_tokenizer_json, max_length=64)  # doctest: +SKIP
    >>> ids, mask = enc(["hello there"])  # doctest: +SKIP
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int, head_share: float = 0.5,
                 prepare: Callable[[str], str] | None = None):
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {max_length}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.head_share = head_share
        self.prepare = prepare
        vocab = tokenizer.get_vocab()
        self.cls_id = vocab["[CLS]"]
        self.sep_id = vocab["[SEP]"]
        self.pad_id = vocab.get("[PAD]", 0)
        tokenizer.no_truncation()
        tokenizer.no_padding()

    @classmethod
    def from_file(cls, path: Path, max_length: int, text_normalization: str = "none") -> HeadTailEncoder:
        """``text_normalization`` is the artifact's (``model.normalize.TEXT_FORMS``); unknown names are refused."""
        from tokenizers import Tokenizer

        from model.normalize import text_form

        return cls(Tokenizer.from_file(str(path)), max_length, prepare=text_form(text_normalization))

    def ids(self, text: str) -> list[int]:
        return self.encode([text])[0]

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, head and tail kept, with [CLS] and [SEP] (one call into the Rust tokenizer)."""
        room = self.max_length - 2
        head = int(room * self.head_share)
        out = []
        prepared = [self.prepare(t) for t in texts] if self.prepare else list(texts)
        for enc in self.tokenizer.encode_batch(prepared, add_special_tokens=False):
            body = enc.ids
            if len(body) > room:
                body = body[:head] + body[len(body) - (room - head):]
            out.append([self.cls_id, *body, self.sep_id])
        return out

    def __call__(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Token ids and attention mask, padded to the longest text in the batch (int64)."""
        return self.pad(self.encode(texts))

    def pad(self, rows: Sequence[Sequence[int]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Pad encoded rows to the longest one (int64 ids and attention mask)."""
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return ids, mask
