"""What the slow and the fast LayoutLMv2 tokenizers share.

Both tokenizers turn words + word boxes (+ word labels) into token ids, token boxes and token
labels the way transformers' ``LayoutLMv2TokenizerFast`` does. They differ only in how words
become WordPiece tokens (pure Python vs. the ``tokenizers`` library); everything around that
(argument handling, validation, boxes, labels, tensors, saving) lives here so that both give
identical outputs by construction.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from ..hub import pop_hub_kwargs, resolve_folder
from .encoding import BatchOutput

logger = logging.getLogger(__name__)

VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"

_VERY_LARGE_INTEGER = int(1e20)  # transformers' marker for "no maximum length"
_SPECIAL_NAMES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_PADDING = {"longest": "longest", "max_length": "max_length", "do_not_pad": None}
_TRUNCATION = ("longest_first", "only_first", "only_second", "do_not_truncate")


def first_subtokens(word_ids: Sequence[Optional[int]], offsets: Sequence[Sequence[int]]) -> list[bool]:
    """Which tokens are the first piece of their word: those that start at the word's offset 0
    and do not continue the previous token's word.

    Offsets are relative to the pre-split word, so this stays right in a window that starts in
    the middle of a word. The second test matters where normalisation splits one character into
    several pieces at offset 0 (a Hangul syllable into jamo): only the first is labelled, as in
    transformers' slow tokenizer.
    """
    result, previous = [], None
    for word, (start, _) in zip(word_ids, offsets):
        result.append(word is not None and start == 0 and word != previous)
        previous = word
    return result


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


# --------------------------------------------------------------------------------------------
# argument checks


def _is_word_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and (len(value) == 0 or isinstance(value[0], str))


def _check_box(box: Any, where: str) -> list:
    """A box as 4 ints in 0..1000, or a ValueError naming the bad value and where it is."""
    if isinstance(box, np.ndarray):
        box = box.tolist()
    elif hasattr(box, "tolist") and not isinstance(box, (list, tuple)):
        box = box.tolist()
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise ValueError(f"box {where} must be 4 numbers [x0, y0, x1, y1], got {box!r}")
    out = []
    for value in box:
        if type(value) is int and 0 <= value <= 1000:
            out.append(value)
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"box {where} must hold numbers, got {box!r}")
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise ValueError(
                f"box {where} must hold integers normalised to 0..1000, got {box!r} (round or scale it)"
            )
        if not 0 <= value <= 1000:
            raise ValueError(
                f"box {where} = {list(box)!r} is outside 0..1000: boxes must be normalised to "
                "0..1000 (x * 1000 // page width, y * 1000 // page height)"
            )
        out.append(int(value))
    return out


def _check_boxes(words: Sequence, boxes: Any, example: Optional[int]) -> list:
    prefix = "" if example is None else f"of example {example} "
    if boxes is None or isinstance(boxes, (str, bytes)) or not hasattr(boxes, "__len__"):
        raise ValueError(f"boxes {prefix}must be a list with one [x0, y0, x1, y1] per word, got {boxes!r}")
    if len(words) != len(boxes):
        raise ValueError(
            f"You must provide as many words as there are bounding boxes: {prefix}has "
            f"{len(words)} words but {len(boxes)} boxes"
        )
    out = []
    for i, box in enumerate(boxes):
        # fast path for the usual case (a list of 4 ints in range); anything else gets the full check
        if type(box) is list and len(box) == 4:
            x0, y0, x1, y1 = box
            if (type(x0) is int and type(y0) is int and type(x1) is int and type(y1) is int
                    and 0 <= x0 <= 1000 and 0 <= y0 <= 1000 and 0 <= x1 <= 1000 and 0 <= y1 <= 1000):
                out.append(box)
                continue
        out.append(_check_box(box, f"{i} {prefix}".strip()))
    return out


def _check_labels(words: Sequence, labels: Any, example: Optional[int]) -> list:
    prefix = "" if example is None else f"of example {example} "
    if isinstance(labels, np.ndarray) or hasattr(labels, "tolist"):
        labels = labels.tolist()
    if not isinstance(labels, (list, tuple)):
        raise ValueError(f"word_labels {prefix}must be a list with one int per word, got {labels!r}")
    if len(labels) != len(words):
        raise ValueError(
            f"You must provide as many word labels as there are words: {prefix}has "
            f"{len(words)} words but {len(labels)} labels"
        )
    for i, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise ValueError(f"word label {i} {prefix}must be an int, got {label!r}")
    return [int(label) for label in labels]


def _check_words(words: Any, example: Optional[int]) -> list:
    prefix = "" if example is None else f" of example {example}"
    if not isinstance(words, (list, tuple)):
        raise ValueError(f"words{prefix} must be a list of str, got {type(words).__name__}: {words!r}")
    for i, word in enumerate(words):
        if not isinstance(word, str):
            raise ValueError(f"word {i}{prefix} must be a str, got {type(word).__name__}: {word!r}")
    return list(words)


# --------------------------------------------------------------------------------------------
# the shared tokenizer front end


class LayoutLMv2TokenizerBase:
    """Front end shared by ``LayoutLMv2Tokenizer`` and ``LayoutLMv2TokenizerFast``.

    Subclasses provide ``_load_vocab``-style set-up plus ``_encode_batch(pairs, is_pair, ...)``
    returning one encoding (with ``overflowing``) per input, and ``_decode``.
    """

    model_input_names = ["input_ids", "attention_mask", "token_type_ids"]
    padding_side = "right"
    truncation_side = "right"

    def __init__(
        self,
        vocab_file: Union[str, os.PathLike, None] = None,
        do_lower_case: bool = True,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        cls_token_box: Sequence[int] = (0, 0, 0, 0),
        sep_token_box: Sequence[int] = (1000, 1000, 1000, 1000),
        pad_token_box: Sequence[int] = (0, 0, 0, 0),
        pad_token_label: int = -100,
        only_label_first_subword: bool = True,
        tokenize_chinese_chars: bool = True,
        strip_accents: Optional[bool] = None,
        model_max_length: int = 512,
        padding_side: str = "right",
        truncation_side: str = "right",
        vocab: Optional[dict] = None,
        tokenizer_file: Union[str, os.PathLike, None] = None,
        clean_up_tokenization_spaces: bool = False,
        **kwargs: Any,
    ):
        for name in ("name_or_path", "tokenizer_class", "backend", "is_local", "local_files_only",
                     "model_input_names", "added_tokens_decoder", "extra_special_tokens"):
            kwargs.pop(name, None)
        if kwargs:
            logger.debug("ignoring unknown tokenizer options %s", sorted(kwargs))
        self.vocab = self._read_vocab(vocab, vocab_file, tokenizer_file)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = bool(do_lower_case)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.strip_accents = strip_accents
        self.unk_token, self.sep_token, self.pad_token = str(unk_token), str(sep_token), str(pad_token)
        self.cls_token, self.mask_token = str(cls_token), str(mask_token)
        for name in _SPECIAL_NAMES:
            token = getattr(self, name)
            if token not in self.vocab:
                raise ValueError(f"{name} {token!r} is not in the vocabulary")
        self.cls_token_box = list(cls_token_box)
        self.sep_token_box = list(sep_token_box)
        self.pad_token_box = list(pad_token_box)
        self.pad_token_label = int(pad_token_label)
        self.only_label_first_subword = bool(only_label_first_subword)
        if model_max_length is None or model_max_length > _VERY_LARGE_INTEGER:
            model_max_length = _VERY_LARGE_INTEGER
        self.model_max_length = int(model_max_length)
        self.padding_side = self._check_side(padding_side, "padding_side")
        self.truncation_side = self._check_side(truncation_side, "truncation_side")
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.pad_token_type_id = 0
        self.name_or_path = ""
        self._warned_too_long = False
        self._build_backend()

    # ---- vocabulary ------------------------------------------------------------------------

    @staticmethod
    def _read_vocab(vocab: Optional[dict], vocab_file: Any, tokenizer_file: Any) -> dict:
        if vocab is not None:
            if isinstance(vocab, (str, os.PathLike)):
                vocab_file = vocab
            else:
                return dict(vocab)
        if vocab_file is not None:
            path = Path(vocab_file)
            if not path.is_file():
                raise ValueError(f"vocab_file {str(path)!r} does not exist")
            with open(path, encoding="utf-8") as handle:
                tokens = [line.rstrip("\n") for line in handle]
            if tokens and tokens[-1] == "":
                tokens.pop()
            return {token: i for i, token in enumerate(tokens)}
        if tokenizer_file is not None:
            with open(tokenizer_file, encoding="utf-8") as handle:
                model = json.load(handle).get("model", {})
            if model.get("type") != "WordPiece" or "vocab" not in model:
                raise ValueError(f"{tokenizer_file} does not hold a WordPiece vocabulary")
            return dict(model["vocab"])
        raise ValueError("give vocab_file= (a BERT vocab.txt), tokenizer_file= or vocab= (a dict)")

    @staticmethod
    def _check_side(side: str, name: str) -> str:
        if side not in ("left", "right"):
            raise ValueError(f"{name} must be 'left' or 'right', got {side!r}")
        return side

    def _build_backend(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

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
        return [getattr(self, name) for name in _SPECIAL_NAMES]

    @property
    def all_special_ids(self) -> list:
        return [self.vocab[t] for t in self.all_special_tokens]

    @property
    def special_tokens_map(self) -> dict:
        return {name: getattr(self, name) for name in _SPECIAL_NAMES}

    def convert_tokens_to_ids(self, tokens: Union[str, Iterable[str]]) -> Union[int, list]:
        unk = self.unk_token_id
        if isinstance(tokens, str):
            return self.vocab.get(tokens, unk)
        return [self.vocab.get(token, unk) for token in tokens]

    def convert_ids_to_tokens(self, ids: Union[int, Iterable[int]], skip_special_tokens: bool = False):
        if isinstance(ids, (int, np.integer)):
            return self.ids_to_tokens.get(int(ids))
        special = set(self.all_special_ids) if skip_special_tokens else ()
        ids = [int(i) for i in _as_id_list(ids)]
        return [self.ids_to_tokens.get(i) for i in ids if i not in special]

    # ---- decoding --------------------------------------------------------------------------

    def decode(
        self,
        token_ids: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: Optional[bool] = None,
        **kwargs: Any,
    ) -> str:
        """Ids back to text: '##' pieces glued, ' ,' ' .' ' ?' ' !' cleaned as transformers does."""
        ids = [int(i) for i in _as_id_list(token_ids)]
        text = self._decode(ids, skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        if clean_up_tokenization_spaces:
            text = clean_up_tokenization(text)
        return text

    def batch_decode(self, sequences: Any, **kwargs: Any) -> list:
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(sequence, **kwargs) for sequence in sequences]

    def _decode(self, ids: list, skip_special_tokens: bool) -> str:
        special = set(self.all_special_ids) if skip_special_tokens else ()
        tokens = [self.ids_to_tokens[i] for i in ids if i in self.ids_to_tokens and i not in special]
        return wordpiece_decode(tokens)

    # ---- encoding --------------------------------------------------------------------------

    def __call__(
        self,
        text: Any,
        text_pair: Any = None,
        boxes: Any = None,
        word_labels: Any = None,
        add_special_tokens: bool = True,
        padding: Union[bool, str] = False,
        truncation: Union[bool, str, None] = None,
        max_length: Optional[int] = None,
        stride: int = 0,
        pad_to_multiple_of: Optional[int] = None,
        padding_side: Optional[str] = None,
        return_tensors: Optional[str] = None,
        return_token_type_ids: Optional[bool] = None,
        return_attention_mask: Optional[bool] = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        **kwargs: Any,
    ) -> BatchEncoding:
        """Encode words (or a question + words) with their boxes and optional word labels.

        ``text`` is a list of words, a batch of such lists, or the question(s) when ``text_pair``
        holds the words. Boxes are one [x0, y0, x1, y1] in 0..1000 per word.
        """
        if kwargs:
            raise ValueError(f"unknown keyword arguments {sorted(kwargs)}")
        if text_pair is not None:
            if not (isinstance(text, str) or _is_word_list(text) or (
                isinstance(text, (list, tuple)) and len(text) > 0 and isinstance(text[0], (list, tuple)))):
                raise ValueError(
                    f"text must be a question (str) or a batch of questions (list of str) when text_pair "
                    f"holds the words, got {type(text).__name__}: {text!r}"[:300]
                )
            if not isinstance(text_pair, (list, tuple)):
                raise ValueError(
                    "Words must be of type `List[str]` (single pretokenized example), or `List[List[str]]` "
                    f"(batch of pretokenized examples); got text_pair={text_pair!r}"[:300]
                )
            is_batched = isinstance(text, (list, tuple))
        else:
            if not isinstance(text, (list, tuple)):
                raise ValueError(
                    "Words must be of type `List[str]` (single pretokenized example), or `List[List[str]]` "
                    f"(batch of pretokenized examples); got {type(text).__name__}: {text!r}"[:300]
                )
            is_batched = len(text) > 0 and isinstance(text[0], (list, tuple))
        if boxes is None:
            raise ValueError("You must provide corresponding bounding boxes (boxes=, one per word)")
        common = dict(
            add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
            max_length=max_length, stride=stride, pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side, return_tensors=return_tensors,
            return_token_type_ids=return_token_type_ids, return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping, return_length=return_length, verbose=verbose,
        )
        if is_batched:
            if text_pair is not None:
                if len(text) != len(text_pair):
                    raise ValueError(
                        f"batch length of `text`: {len(text)} does not match batch length of "
                        f"`text_pair`: {len(text_pair)}."
                    )
                batch = list(zip(text, text_pair))
            else:
                batch = list(text)
            return self.batch_encode_plus(batch, is_pair=text_pair is not None, boxes=boxes,
                                          word_labels=word_labels, **common)
        return self.encode_plus(text, text_pair=text_pair, boxes=boxes, word_labels=word_labels, **common)

    def encode_plus(
        self,
        text: Any,
        text_pair: Any = None,
        boxes: Any = None,
        word_labels: Any = None,
        return_tensors: Optional[str] = None,
        return_overflowing_tokens: bool = False,
        max_length: Optional[int] = None,
        verbose: bool = True,
        **kwargs: Any,
    ) -> BatchEncoding:
        """Encode one example; list values lose their batch axis unless tensors/overflow are asked for."""
        is_pair = text_pair is not None
        out = self.batch_encode_plus(
            [(text, text_pair)] if is_pair else [text],
            is_pair=is_pair,
            boxes=[boxes] if boxes is not None else None,
            word_labels=[word_labels] if word_labels is not None else None,
            return_tensors=return_tensors,
            return_overflowing_tokens=return_overflowing_tokens,
            max_length=max_length,
            verbose=verbose,
            _unbatched=True,
            **kwargs,
        )
        if return_tensors is None and not return_overflowing_tokens:
            out = BatchEncoding(
                {k: v[0] if len(v) > 0 and isinstance(v[0], list) else v for k, v in out.items()},
                out.encodings,
            )
        return out

    def encode(self, text: Any, text_pair: Any = None, boxes: Any = None, **kwargs: Any) -> list:
        """Only the input ids of ``encode_plus``."""
        return self.encode_plus(text, text_pair=text_pair, boxes=boxes, **kwargs)["input_ids"]

    def batch_encode_plus(
        self,
        batch_text_or_text_pairs: list,
        is_pair: Optional[bool] = None,
        boxes: Any = None,
        word_labels: Any = None,
        add_special_tokens: bool = True,
        padding: Union[bool, str] = False,
        truncation: Union[bool, str, None] = None,
        max_length: Optional[int] = None,
        stride: int = 0,
        pad_to_multiple_of: Optional[int] = None,
        padding_side: Optional[str] = None,
        return_tensors: Optional[str] = None,
        return_token_type_ids: Optional[bool] = None,
        return_attention_mask: Optional[bool] = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        _unbatched: bool = False,
        **kwargs: Any,
    ) -> BatchEncoding:
        """Encode a batch of word lists (or of (question, words) pairs when ``is_pair``)."""
        if kwargs:
            raise ValueError(f"unknown keyword arguments {sorted(kwargs)}")
        if not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise ValueError(f"the batch must be a list, got {type(batch_text_or_text_pairs).__name__}")
        batch = list(batch_text_or_text_pairs)
        if is_pair is None:
            first = batch[0] if batch else None
            is_pair = isinstance(first, tuple) and len(first) == 2 and isinstance(first[0], str)
        if boxes is None:
            raise ValueError("You must provide corresponding bounding boxes (boxes=, one per word)")
        if len(boxes) != len(batch):
            raise ValueError(
                f"You must provide words and boxes for an equal amount of examples: {len(batch)} "
                f"examples but {len(boxes)} lists of boxes"
            )
        if word_labels is not None and len(word_labels) != len(batch):
            raise ValueError(
                f"You must provide word labels for every example: {len(batch)} examples but "
                f"{len(word_labels)} lists of labels"
            )
        where = (lambda i: None) if _unbatched else (lambda i: i)
        inputs, all_boxes, all_labels = [], [], []
        for i, example in enumerate(batch):
            if is_pair:
                if not isinstance(example, (list, tuple)) or len(example) != 2:
                    raise ValueError(f"example {i} must be a (question, words) pair, got {example!r}"[:300])
                question, words = example
                if isinstance(question, (list, tuple)):
                    question = _check_words(question, where(i))
                elif not isinstance(question, str):
                    raise ValueError(f"question of example {i} must be a str, got {question!r}")
                else:
                    question = question.split()
                words = _check_words(words, where(i))
                inputs.append((question, words))
            else:
                words = _check_words(example, where(i))
                inputs.append(words)
            all_boxes.append(_check_boxes(words, boxes[i], where(i)))
            if word_labels is not None:
                all_labels.append(_check_labels(words, word_labels[i], where(i)))

        padding_strategy, truncation_strategy, max_length = self._strategies(
            padding, truncation, max_length, pad_to_multiple_of, verbose
        )
        side = self._check_side(padding_side if padding_side is not None else self.padding_side, "padding_side")
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 0:
            raise ValueError(f"stride must be an int >= 0, got {stride!r}")
        if truncation_strategy is not None:
            reserved = (3 if is_pair else 2) if add_special_tokens else 0
            if max_length < reserved:
                # transformers silently skips truncation here, returning sequences longer than max_length
                raise ValueError(
                    f"max_length={max_length} is smaller than the {reserved} special tokens ([CLS], [SEP]) it must hold"
                )
            if stride > max_length - 2:  # the tokenizers library refuses these, whatever the input
                raise ValueError(
                    f"stride={stride} is too large for max_length={max_length}: it must be at most max_length - 2"
                )
        encodings = self._encode_batch(
            inputs, is_pair, add_special_tokens, truncation_strategy, max_length, int(stride),
            padding_strategy, pad_to_multiple_of, side,
        )
        return self._assemble(
            encodings, is_pair, all_boxes, all_labels if word_labels is not None else None,
            max_length, return_tensors, return_token_type_ids, return_attention_mask,
            return_overflowing_tokens, return_special_tokens_mask, return_offsets_mapping,
            return_length, verbose,
        )

    def _strategies(self, padding: Any, truncation: Any, max_length: Optional[int],
                    pad_to_multiple_of: Optional[int], verbose: bool):
        """Resolve padding/truncation arguments exactly as transformers does."""
        padding = getattr(padding, "value", padding)
        truncation = getattr(truncation, "value", truncation)
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer))
                                       or max_length < 0):
            raise ValueError(f"max_length must be an int >= 0 or None, got {max_length!r}")
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"
        if padding is True:
            if verbose and max_length is not None and truncation in (None, False, "do_not_truncate"):
                logger.warning("`max_length` is ignored when `padding`=`True` and there is no truncation strategy. "
                               "To pad to max length, use `padding='max_length'`.")
            padding_strategy = "longest"
        elif padding is False or padding is None:
            padding_strategy = None
        elif padding in _PADDING:
            padding_strategy = _PADDING[padding]
        else:
            raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}")
        if truncation is True:
            truncation_strategy = "longest_first"
        elif truncation is False or truncation is None:
            truncation_strategy = None
        elif truncation in _TRUNCATION:
            truncation_strategy = None if truncation == "do_not_truncate" else truncation
        else:
            raise ValueError(
                "truncation must be True, False, 'longest_first', 'only_first', 'only_second' or "
                f"'do_not_truncate', got {truncation!r}"
            )
        if max_length is None:
            if padding_strategy == "max_length":
                if self.model_max_length >= _VERY_LARGE_INTEGER:
                    padding_strategy = None
                else:
                    max_length = self.model_max_length
            if truncation_strategy is not None:
                if self.model_max_length >= _VERY_LARGE_INTEGER:
                    truncation_strategy = None
                else:
                    max_length = self.model_max_length
        if pad_to_multiple_of is not None and (isinstance(pad_to_multiple_of, bool) or
                                               not isinstance(pad_to_multiple_of, (int, np.integer))
                                               or pad_to_multiple_of <= 0):
            raise ValueError(f"pad_to_multiple_of must be a positive int or None, got {pad_to_multiple_of!r}")
        if (truncation_strategy is not None and padding_strategy is not None and pad_to_multiple_of is not None
                and max_length is not None and max_length % pad_to_multiple_of != 0):
            raise ValueError(
                "Truncation and padding are both activated but truncation length "
                f"({max_length}) is not a multiple of pad_to_multiple_of ({pad_to_multiple_of})."
            )
        return padding_strategy, truncation_strategy, max_length

    def _encode_batch(self, inputs, is_pair, add_special_tokens, truncation, max_length, stride,
                      padding, pad_to_multiple_of, padding_side) -> list:  # pragma: no cover
        raise NotImplementedError

    def _assemble(self, encodings, is_pair, boxes, labels, max_length, return_tensors,
                  return_token_type_ids, return_attention_mask, return_overflowing_tokens,
                  return_special_tokens_mask, return_offsets_mapping, return_length, verbose):
        """Flatten overflow windows and add ``bbox`` (and ``labels``) from the word ids."""
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        flat, sample = [], []
        for index, encoding in enumerate(encodings):
            flat.append(encoding)
            sample.append(index)
            if return_overflowing_tokens:
                for window in encoding.overflowing:
                    flat.append(window)
                    sample.append(index)
        data: dict = {"input_ids": [list(e.ids) for e in flat]}
        if return_token_type_ids:
            data["token_type_ids"] = [list(e.type_ids) for e in flat]
        if return_attention_mask:
            data["attention_mask"] = [list(e.attention_mask) for e in flat]
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [list(e.special_tokens_mask) for e in flat]
        offsets = None
        if return_offsets_mapping or labels is not None:
            offsets = [[tuple(o) for o in e.offsets] for e in flat]
            if return_offsets_mapping:
                data["offset_mapping"] = offsets
        if return_length:
            data["length"] = [len(e.ids) for e in flat]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = sample
        if verbose and max_length is None and not self._warned_too_long:
            longest = max((len(ids) for ids in data["input_ids"]), default=0)
            if longest > self.model_max_length:
                self._warned_too_long = True
                logger.warning(
                    "Token indices sequence length is longer than the specified maximum sequence length for "
                    "this model (%d > %d). Running this sequence through the model will result in indexing errors",
                    longest, self.model_max_length,
                )

        special_boxes = {self.cls_token_id: self.cls_token_box, self.sep_token_id: self.sep_token_box,
                         self.pad_token_id: self.pad_token_box}
        pad_box, pad_label = self.pad_token_box, self.pad_token_label
        all_boxes = []
        for encoding, index in zip(flat, sample):
            doc_boxes = boxes[index]
            word_ids = encoding.word_ids
            seq_ids = encoding.sequence_ids if is_pair else None
            row = []
            for position, (token_id, word) in enumerate(zip(encoding.ids, word_ids)):
                if word is not None:
                    row.append(pad_box if is_pair and seq_ids[position] == 0 else doc_boxes[word])
                else:
                    box = special_boxes.get(token_id)
                    if box is None:
                        raise ValueError(f"token id {token_id} has no word and is not [CLS], [SEP] or [PAD]")
                    row.append(box)
            all_boxes.append(row)
        data["bbox"] = all_boxes

        if labels is not None:
            first_only = self.only_label_first_subword
            all_labels = []
            for encoding, index, token_offsets in zip(flat, sample, offsets):
                doc_labels = labels[index]
                seq_ids = encoding.sequence_ids
                row = []
                firsts = first_subtokens(encoding.word_ids, token_offsets)
                for word, seq, first in zip(encoding.word_ids, seq_ids, firsts):
                    # question tokens of a pair have no label (transformers would index the
                    # document's labels with the question's word ids here, which is a bug)
                    if word is None or (is_pair and seq != 1) or (first_only and not first):
                        row.append(pad_label)
                    else:
                        row.append(doc_labels[word])
                all_labels.append(row)
            data["labels"] = all_labels
        return BatchEncoding(data, flat, tensor_type=return_tensors)

    # ---- saving / loading ------------------------------------------------------------------

    def _config(self) -> dict:
        return {
            "tokenizer_class": "LayoutLMv2Tokenizer",
            "do_lower_case": self.do_lower_case,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "strip_accents": self.strip_accents,
            **self.special_tokens_map,
            "cls_token_box": list(self.cls_token_box),
            "sep_token_box": list(self.sep_token_box),
            "pad_token_box": list(self.pad_token_box),
            "pad_token_label": self.pad_token_label,
            "only_label_first_subword": self.only_label_first_subword,
            "model_max_length": self.model_max_length,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
        }

    def save_pretrained(self, save_directory: Union[str, os.PathLike], **kwargs: Any) -> tuple:
        """Write vocab.txt, tokenizer_config.json and special_tokens_map.json (fast: + tokenizer.json)."""
        folder = Path(save_directory)
        if folder.is_file():
            raise ValueError(f"save_directory {str(folder)!r} is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        vocab_path = folder / VOCAB_FILE
        with open(vocab_path, "w", encoding="utf-8") as handle:
            for token, _ in sorted(self.vocab.items(), key=lambda item: item[1]):
                handle.write(token + "\n")
        config_path = folder / CONFIG_FILE
        config_path.write_text(json.dumps(self._config(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        special_path = folder / SPECIAL_TOKENS_FILE
        special_path.write_text(json.dumps(self.special_tokens_map, indent=2) + "\n", encoding="utf-8")
        return (str(config_path), str(special_path), str(vocab_path)) + self._save_extra(folder)

    def _save_extra(self, folder: Path) -> tuple:
        return ()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Union[str, os.PathLike], **kwargs: Any):
        """Load from a folder holding vocab.txt and/or tokenizer.json (+ tokenizer_config.json)."""
        folder = resolve_folder(pretrained_model_name_or_path,
                                (VOCAB_FILE, TOKENIZER_FILE, CONFIG_FILE, SPECIAL_TOKENS_FILE), **pop_hub_kwargs(kwargs))
        config: dict = {}
        if (folder / CONFIG_FILE).is_file():
            config.update(json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")))
        if (folder / SPECIAL_TOKENS_FILE).is_file():
            for name, token in json.loads((folder / SPECIAL_TOKENS_FILE).read_text(encoding="utf-8")).items():
                if name in _SPECIAL_NAMES:
                    config.setdefault(name, token["content"] if isinstance(token, dict) else token)
        for name in _SPECIAL_NAMES:
            if isinstance(config.get(name), dict):
                config[name] = config[name]["content"]
        config.update(kwargs)
        if "vocab_file" not in config and "vocab" not in config:
            if (folder / VOCAB_FILE).is_file():
                config["vocab_file"] = str(folder / VOCAB_FILE)
            elif (folder / TOKENIZER_FILE).is_file():
                config["tokenizer_file"] = str(folder / TOKENIZER_FILE)
            else:
                raise ValueError(f"{str(folder)!r} has neither {VOCAB_FILE} nor {TOKENIZER_FILE}")
        tokenizer = cls(**config)
        tokenizer.name_or_path = str(pretrained_model_name_or_path)
        return tokenizer

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"model_max_length={self.model_max_length}, do_lower_case={self.do_lower_case})")


def _as_id_list(ids: Any) -> list:
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int):
        return [ids]
    return list(ids)


def wordpiece_decode(tokens: Sequence[str]) -> str:
    """Join WordPiece tokens as the ``tokenizers`` WordPiece decoder does (cleanup on)."""
    pieces = []
    for i, token in enumerate(tokens):
        if i:
            token = token[2:] if token.startswith("##") else " " + token
        pieces.append(_cleanup_piece(token))
    return "".join(pieces)


def _cleanup_piece(text: str) -> str:
    for old, new in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                     (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(old, new)
    return text


def clean_up_tokenization(text: str) -> str:
    """transformers' ``clean_up_tokenization_spaces``: glue punctuation and English contractions."""
    for old, new in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                     (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(old, new)
    return text
