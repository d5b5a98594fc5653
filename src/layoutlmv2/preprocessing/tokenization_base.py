"""The tokenizer base class that the slow and the fast LayoutLMv2 tokenizers share.

Both tokenizers turn words + word boxes (+ word labels) into token ids, token boxes and token
labels the way transformers' ``LayoutLMv2TokenizerFast`` does. They differ only in how words
become WordPiece tokens (pure Python vs. the ``tokenizers`` library, ``_encode_batch``); the rest
is shared so that both give identical outputs by construction, one concept per module:
``encoding_options`` (the keyword options, checked once), ``input_checks`` (words, boxes, labels),
``vocabulary`` and ``decoding``, ``word_assembly`` (boxes and labels per token), ``encoding``
(the output containers) and ``tokenizer_files`` (save/load). This module holds the entry points.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional, Sequence, Union

from .decoding import Decoding
from .encoding import BatchEncoding
from .encoding_options import VERY_LARGE_INTEGER, EncodingOptions, EncodingPlan, check_side, takes_encoding_options
from .input_checks import check_examples, pair_examples, text_is_batched
from .tokenizer_files import TokenizerFiles
from .vocabulary import Vocabulary, read_vocab
from .word_assembly import flatten_windows, token_boxes, token_labels

logger = logging.getLogger(__name__)

# keys that transformers writes into tokenizer_config.json and that mean nothing here
_IGNORED_CONFIG_KEYS = ("name_or_path", "tokenizer_class", "backend", "is_local", "local_files_only",
                        "model_input_names", "added_tokens_decoder", "extra_special_tokens")


class LayoutLMv2TokenizerBase(Vocabulary, Decoding, TokenizerFiles):
    """Front end shared by ``LayoutLMv2Tokenizer`` and ``LayoutLMv2TokenizerFast``.

    Subclasses provide ``_build_backend()`` and ``_encode_batch(inputs, is_pair, plan)``, which
    returns one encoding (with ``overflowing`` windows) per input, and may override ``_decode``.
    """

    model_input_names = ["input_ids", "attention_mask", "token_type_ids"]
    padding_side = "right"
    truncation_side = "right"
    # the pair template: [CLS] A [SEP] B [SEP] (LayoutXLM: <s> A </s></s> B </s>, all of type 0)
    pair_separators = 1
    second_type_id = 1

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
        unknown = sorted(set(kwargs) - set(_IGNORED_CONFIG_KEYS))
        if unknown:
            logger.debug("ignoring unknown tokenizer options %s", unknown)
        self._set_vocab(read_vocab(vocab, vocab_file, tokenizer_file),
                        dict(unk_token=unk_token, sep_token=sep_token, pad_token=pad_token,
                             cls_token=cls_token, mask_token=mask_token))
        self.do_lower_case = bool(do_lower_case)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.strip_accents = strip_accents
        self.cls_token_box, self.sep_token_box = list(cls_token_box), list(sep_token_box)
        self.pad_token_box = list(pad_token_box)
        self.pad_token_label = int(pad_token_label)
        self.only_label_first_subword = bool(only_label_first_subword)
        if model_max_length is None or model_max_length > VERY_LARGE_INTEGER:
            model_max_length = VERY_LARGE_INTEGER
        self.model_max_length = int(model_max_length)
        self.padding_side = check_side(padding_side, "padding_side")
        self.truncation_side = check_side(truncation_side, "truncation_side")
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.pad_token_type_id = 0
        self.name_or_path = ""
        self._warned_too_long = False
        self._build_backend()

    def _build_backend(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _encode_batch(self, inputs: list, is_pair: bool, plan: EncodingPlan) -> list:  # pragma: no cover
        raise NotImplementedError

    # ---- the entry points (keyword options: see encoding_options.EncodingOptions) ----------

    @takes_encoding_options()
    def __call__(self, text: Any, text_pair: Any = None, boxes: Any = None, word_labels: Any = None,
                 **options: Any) -> BatchEncoding:
        """Encode words (or a question + words) with their boxes and optional word labels.

        ``text`` is a list of words, a batch of such lists, or the question(s) when ``text_pair``
        holds the words. Boxes are one [x0, y0, x1, y1] in 0..1000 per word.
        """
        checked = EncodingOptions.from_kwargs(options)
        batched = text_is_batched(text, text_pair)
        if boxes is None:
            raise ValueError("You must provide corresponding bounding boxes (boxes=, one per word)")
        if not batched:
            return self._encode_one(text, text_pair, boxes, word_labels, checked)
        return self._encode(pair_examples(text, text_pair), text_pair is not None, boxes, word_labels, checked)

    @takes_encoding_options()
    def encode_plus(self, text: Any, text_pair: Any = None, boxes: Any = None, word_labels: Any = None,
                    **options: Any) -> BatchEncoding:
        """Encode one example; list values lose their batch axis unless tensors/overflow are asked for."""
        return self._encode_one(text, text_pair, boxes, word_labels, EncodingOptions.from_kwargs(options))

    def encode(self, text: Any, text_pair: Any = None, boxes: Any = None, **kwargs: Any) -> list:
        """Only the input ids of ``encode_plus``."""
        return self.encode_plus(text, text_pair=text_pair, boxes=boxes, **kwargs)["input_ids"]

    @takes_encoding_options()
    def batch_encode_plus(self, batch_text_or_text_pairs: list, is_pair: Optional[bool] = None, boxes: Any = None,
                          word_labels: Any = None, **options: Any) -> BatchEncoding:
        """Encode a batch of word lists (or of (question, words) pairs when ``is_pair``)."""
        checked = EncodingOptions.from_kwargs(options)
        if not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise ValueError(f"the batch must be a list, got {type(batch_text_or_text_pairs).__name__}")
        batch = list(batch_text_or_text_pairs)
        if is_pair is None:
            first = batch[0] if batch else None
            is_pair = isinstance(first, tuple) and len(first) == 2 and isinstance(first[0], str)
        return self._encode(batch, is_pair, boxes, word_labels, checked)

    # ---- the steps behind them -------------------------------------------------------------

    def _encode_one(self, text: Any, text_pair: Any, boxes: Any, word_labels: Any,
                    options: EncodingOptions) -> BatchEncoding:
        is_pair = text_pair is not None
        out = self._encode([(text, text_pair)] if is_pair else [text], is_pair,
                           [boxes] if boxes is not None else None,
                           [word_labels] if word_labels is not None else None, options, batched=False)
        if options.return_tensors is None and not options.return_overflowing_tokens:
            out = BatchEncoding({k: v[0] if len(v) > 0 and isinstance(v[0], list) else v for k, v in out.items()},
                                out.encodings)
        return out

    def _encode(self, batch: list, is_pair: bool, boxes: Any, word_labels: Any, options: EncodingOptions,
                batched: bool = True) -> BatchEncoding:
        """Check the examples, resolve the options, encode, and add boxes and labels per token."""
        inputs, boxes, labels = check_examples(batch, is_pair, boxes, word_labels, batched)
        plan = options.plan(self.model_max_length, is_pair, self.padding_side,
                            self.num_special_tokens_to_add(is_pair))
        encodings = self._encode_batch(inputs, is_pair, plan)
        return self._assemble(encodings, is_pair, boxes, labels, options, plan)

    def _assemble(self, encodings: list, is_pair: bool, boxes: list, labels: Optional[list],
                  options: EncodingOptions, plan: EncodingPlan) -> BatchEncoding:
        """Flatten overflow windows into rows and add ``bbox`` (and ``labels``) from the word ids."""
        rows, examples = flatten_windows(encodings, options.return_overflowing_tokens)
        offsets = None
        if options.return_offsets_mapping or labels is not None:
            offsets = [[tuple(o) for o in e.offsets] for e in rows]
        data = self._token_fields(rows, examples, offsets, options)
        if options.verbose and plan.max_length is None:
            self._warn_if_too_long(data["input_ids"])
        special_boxes = {self.cls_token_id: self.cls_token_box, self.sep_token_id: self.sep_token_box,
                         self.pad_token_id: self.pad_token_box}
        data["bbox"] = token_boxes(rows, examples, boxes, is_pair, special_boxes, self.pad_token_box)
        if labels is not None:
            data["labels"] = token_labels(rows, examples, labels, offsets, is_pair,
                                          self.only_label_first_subword, self.pad_token_label)
        return BatchEncoding(data, rows, tensor_type=options.return_tensors)

    def _token_fields(self, rows: list, examples: list, offsets: Optional[list], options: EncodingOptions) -> dict:
        """The per-token lists the options ask for, in transformers' key order."""
        token_type_ids, attention_mask = options.return_token_type_ids, options.return_attention_mask
        data: dict = {"input_ids": [list(e.ids) for e in rows]}
        if token_type_ids or (token_type_ids is None and "token_type_ids" in self.model_input_names):
            data["token_type_ids"] = [list(e.type_ids) for e in rows]
        if attention_mask or (attention_mask is None and "attention_mask" in self.model_input_names):
            data["attention_mask"] = [list(e.attention_mask) for e in rows]
        if options.return_special_tokens_mask:
            data["special_tokens_mask"] = [list(e.special_tokens_mask) for e in rows]
        if options.return_offsets_mapping:
            data["offset_mapping"] = offsets
        if options.return_length:
            data["length"] = [len(e.ids) for e in rows]
        if options.return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = list(examples)
        return data

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many special tokens encoding adds to one sequence, or to a pair."""
        return 2 + self.pair_separators if pair else 2

    def _warn_if_too_long(self, input_ids: list) -> None:
        longest = max((len(ids) for ids in input_ids), default=0)
        if longest > self.model_max_length and not self._warned_too_long:
            self._warned_too_long = True
            logger.warning(
                "Token indices sequence length is longer than the specified maximum sequence length for "
                "this model (%d > %d). Running this sequence through the model will result in indexing errors",
                longest, self.model_max_length,
            )

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"model_max_length={self.model_max_length}, do_lower_case={self.do_lower_case})")
