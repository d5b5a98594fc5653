"""What preprocessing returns: dicts with attribute access and ``.to(device)``, as transformers' outputs have.

`BatchOutput` is the shared base; `BatchFeature` (the image processor's) builds on it, and so does
`BatchEncoding` (the tokenizer's), which adds the per-token maps (word ids, sequence ids) and
tensor conversion. `Encoding` is one encoded sequence of the pure-Python tokenizer, the twin of
``tokenizers.Encoding`` that the fast tokenizer returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np


class BatchOutput(dict):
    """A dict whose keys also read as attributes, and whose torch tensors move with ``.to(device)``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no key {name!r}") from None

    def to(self, device: Any):
        """Move every torch tensor to ``device`` (other values stay as they are)."""
        for key, value in list(self.items()):
            if hasattr(value, "to") and hasattr(value, "device"):
                dict.__setitem__(self, key, value.to(device))
        return self


@dataclass
class Encoding:
    """One encoded sequence (the pure-Python twin of ``tokenizers.Encoding``)."""

    ids: list = field(default_factory=list)
    tokens: list = field(default_factory=list)
    offsets: list = field(default_factory=list)
    word_ids: list = field(default_factory=list)
    sequence_ids: list = field(default_factory=list)
    type_ids: list = field(default_factory=list)
    special_tokens_mask: list = field(default_factory=list)
    attention_mask: list = field(default_factory=list)
    overflowing: list = field(default_factory=list)

    @property
    def words(self) -> list:
        return self.word_ids

    def __len__(self) -> int:
        return len(self.ids)


def _to_tensor(value: Any, tensor_type: str, key: str) -> Any:
    try:
        if tensor_type == "pt":
            import torch

            if isinstance(value, torch.Tensor):
                return value
            if isinstance(value, (list, tuple)) and value and isinstance(value[0], torch.Tensor):
                return torch.stack(list(value))
            if isinstance(value, np.ndarray):
                return torch.from_numpy(value)
            return torch.tensor(value)
        if isinstance(value, np.ndarray):
            return value
        if isinstance(value, (list, tuple)) and value and hasattr(value[0], "numpy"):
            return np.stack([v.numpy() for v in value])
        return np.array(value)
    except (ValueError, TypeError, RuntimeError) as error:
        raise ValueError(
            f"cannot make a {tensor_type!r} tensor of {key!r}: the sequences have different lengths "
            "(use padding=True or padding='max_length' with truncation=True)"
        ) from error


class BatchEncoding(BatchOutput):
    """The tokenizer's output: a dict with attribute access, tensor conversion and token maps.

    ``word_ids(i)``/``sequence_ids(i)``/``tokens(i)`` read the per-token maps of sequence ``i``;
    an integer key returns that sequence's encoding, as in transformers.
    """

    def __init__(
        self,
        data: Optional[dict] = None,
        encodings: Optional[list] = None,
        tensor_type: Optional[str] = None,
    ):
        super().__init__(data or {})
        self._encodings = encodings
        if tensor_type is not None:
            self.convert_to_tensors(tensor_type)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int) and not isinstance(key, bool):
            if self._encodings is None:
                raise KeyError("integer indexing needs the encodings, which this output does not have")
            return self._encodings[key]
        return super().__getitem__(key)

    def __getstate__(self) -> dict:
        return {"data": dict(self), "encodings": self._encodings}

    def __setstate__(self, state: dict) -> None:
        self.update(state["data"])
        self._encodings = state["encodings"]

    @property
    def encodings(self) -> Optional[list]:
        return self._encodings

    @property
    def is_fast(self) -> bool:
        return self._encodings is not None and not isinstance(self._encodings[0], Encoding)

    def _encoding(self, batch_index: int) -> Any:
        if not self._encodings:
            raise ValueError("this output has no encodings (it was built without a tokenizer)")
        return self._encodings[batch_index]

    def word_ids(self, batch_index: int = 0) -> list:
        """Index of the input word of every token (None for special and padding tokens)."""
        return list(self._encoding(batch_index).word_ids)

    def sequence_ids(self, batch_index: int = 0) -> list:
        """0 for question tokens, 1 for document-word tokens of a pair, None for special tokens."""
        return list(self._encoding(batch_index).sequence_ids)

    def tokens(self, batch_index: int = 0) -> list:
        return list(self._encoding(batch_index).tokens)

    def words(self, batch_index: int = 0) -> list:
        return self.word_ids(batch_index)

    def token_to_word(self, batch_index: int, token_index: Optional[int] = None) -> Optional[int]:
        if token_index is None:
            batch_index, token_index = 0, batch_index
        return self._encoding(batch_index).word_ids[token_index]

    def word_to_tokens(self, batch_index: int, word_index: Optional[int] = None, sequence_index: int = 0):
        """(start, end) token span of a word of sequence ``sequence_index``, or None if it has no token."""
        if word_index is None:
            batch_index, word_index = 0, batch_index
        enc = self._encoding(batch_index)
        pair = 1 in enc.sequence_ids
        hits = [i for i, (w, s) in enumerate(zip(enc.word_ids, enc.sequence_ids))
                if w == word_index and (not pair or s == sequence_index)]
        return (hits[0], hits[-1] + 1) if hits else None

    def convert_to_tensors(self, tensor_type: Optional[str] = None) -> "BatchEncoding":
        if tensor_type is None:
            return self
        tensor_type = str(getattr(tensor_type, "value", tensor_type))
        if tensor_type not in ("pt", "np"):
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {tensor_type!r}")
        for key, value in list(self.items()):
            super().__setitem__(key, _to_tensor(value, tensor_type, key))
        return self
