"""The WordPiece vocabulary: reading it, the five special tokens, and token <-> id look-ups.

Kept apart from encoding so that what a tokenizer *knows* (its tokens) reads separately from
what it *does* (turning words into ids); both tokenizers share it unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Union

import numpy as np

SPECIAL_TOKEN_NAMES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def read_vocab(vocab: Any, vocab_file: Any, tokenizer_file: Any) -> dict:
    """token -> id from a dict (or a path given as ``vocab``), a BERT vocab.txt, or a tokenizer.json."""
    if vocab is not None:
        if not isinstance(vocab, (str, os.PathLike)):
            return dict(vocab)
        vocab_file = vocab
    if vocab_file is not None:
        return _read_vocab_txt(Path(vocab_file))
    if tokenizer_file is not None:
        with open(tokenizer_file, encoding="utf-8") as handle:
            model = json.load(handle).get("model", {})
        if model.get("type") != "WordPiece" or "vocab" not in model:
            raise ValueError(f"{tokenizer_file} does not hold a WordPiece vocabulary")
        return dict(model["vocab"])
    raise ValueError("give vocab_file= (a BERT vocab.txt), tokenizer_file= or vocab= (a dict)")


def _read_vocab_txt(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"vocab_file {str(path)!r} does not exist")
    with open(path, encoding="utf-8") as handle:
        tokens = [line.rstrip("\n") for line in handle]
    if tokens and tokens[-1] == "":
        tokens.pop()
    return {token: i for i, token in enumerate(tokens)}


def as_id_list(ids: Any) -> list:
    """A list of ids from an int, a list, a numpy array or a torch tensor."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int):
        return [ids]
    return list(ids)


class Vocabulary:
    """Token <-> id look-ups and the special tokens, as transformers' tokenizers expose them.

    Mixed into the tokenizer base; it reads ``self.vocab``, ``self.ids_to_tokens`` and the
    ``*_token`` attributes that the tokenizer's ``__init__`` sets.
    """

    vocab: dict
    ids_to_tokens: dict

    def _set_vocab(self, vocab: dict, special_tokens: dict) -> None:
        """Install the vocabulary and the special tokens; each special token must be in it."""
        self.vocab = vocab
        self.ids_to_tokens = {i: t for t, i in vocab.items()}
        for name in SPECIAL_TOKEN_NAMES:
            token = str(special_tokens[name])
            if token not in vocab:
                raise ValueError(f"{name} {token!r} is not in the vocabulary")
            setattr(self, name, token)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict:
        return dict(self.vocab)

    @property
    def unk_token_id(self) -> int:
        return self.vocab[self.unk_token]

    @property
    def sep_token_id(self) -> int:
        return self.vocab[self.sep_token]

    @property
    def pad_token_id(self) -> int:
        return self.vocab[self.pad_token]

    @property
    def cls_token_id(self) -> int:
        return self.vocab[self.cls_token]

    @property
    def mask_token_id(self) -> int:
        return self.vocab[self.mask_token]

    @property
    def all_special_tokens(self) -> list:
        return [getattr(self, name) for name in SPECIAL_TOKEN_NAMES]

    @property
    def all_special_ids(self) -> list:
        return [self.vocab[t] for t in self.all_special_tokens]

    @property
    def special_tokens_map(self) -> dict:
        return {name: getattr(self, name) for name in SPECIAL_TOKEN_NAMES}

    def convert_tokens_to_ids(self, tokens: Union[str, Iterable[str]]) -> Union[int, list]:
        unk = self.unk_token_id
        if isinstance(tokens, str):
            return self.vocab.get(tokens, unk)
        return [self.vocab.get(token, unk) for token in tokens]

    def convert_ids_to_tokens(self, ids: Union[int, Iterable[int]], skip_special_tokens: bool = False) -> Any:
        if isinstance(ids, (int, np.integer)):
            return self.ids_to_tokens.get(int(ids))
        special = set(self.all_special_ids) if skip_special_tokens else ()
        return [self.ids_to_tokens.get(i) for i in map(int, as_id_list(ids)) if i not in special]
