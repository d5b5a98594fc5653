"""What the slow and the fast LayoutXLM tokenizers share: the vocabulary, the files, decoding.

LayoutXLM is LayoutLMv2 with XLM-RoBERTa's vocabulary, so its tokenizers are LayoutLMv2's with
three things changed, and everything else (the options, the input checks, boxes and labels per
token, overflow windows, tensors) inherited unchanged from `LayoutLMv2TokenizerBase`:

* the vocabulary: a SentencePiece Unigram model with fairseq's ids (`sentencepiece_model`),
  read from ``sentencepiece.bpe.model`` or ``tokenizer.json``;
* the special tokens ``<s>``, ``</s>``, ``<pad>``, ``<unk>``, ``<mask>`` and the pair format
  ``<s> A </s></s> B </s>``, every token of type 0 (``token_type_ids`` is not a model input);
* the files: ``sentencepiece.bpe.model`` (+ ``tokenizer.json``) instead of ``vocab.txt``.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from .sentencepiece_model import UnigramVocabulary, read_sentencepiece_model, read_unigram_tokenizer_json
from .tokenization_base import LayoutLMv2TokenizerBase
from .tokenizer_files import CONFIG_FILE, TOKENIZER_FILE

logger = logging.getLogger(__name__)

SENTENCEPIECE_FILE = "sentencepiece.bpe.model"  # the published name (the model inside is a Unigram)
SPIECE_UNDERLINE = "\u2581"
# tokenizer_config.json keys of transformers' LayoutXLM/XLM-R tokenizers that mean nothing here
_IGNORED = ("add_prefix_space", "additional_special_tokens", "sp_model_kwargs", "legacy", "vocab_file_name", "unk_id")


class LayoutXLMTokenizerBase(LayoutLMv2TokenizerBase):
    """Front end shared by ``LayoutXLMTokenizer`` and ``LayoutXLMTokenizerFast`` (transformers' arguments)."""

    model_input_names = ["input_ids", "attention_mask"]
    pair_separators = 2
    second_type_id = 0
    vocabulary_files = (SENTENCEPIECE_FILE, TOKENIZER_FILE)
    tokenizer_class_name = "LayoutXLMTokenizer"

    def __init__(
        self,
        vocab_file: Union[str, os.PathLike, None] = None,
        tokenizer_file: Union[str, os.PathLike, None] = None,
        bos_token: str = "<s>",
        eos_token: str = "</s>",
        sep_token: str = "</s>",
        cls_token: str = "<s>",
        unk_token: str = "<unk>",
        pad_token: str = "<pad>",
        mask_token: str = "<mask>",
        cls_token_box: Sequence[int] = (0, 0, 0, 0),
        sep_token_box: Sequence[int] = (1000, 1000, 1000, 1000),
        pad_token_box: Sequence[int] = (0, 0, 0, 0),
        pad_token_label: int = -100,
        only_label_first_subword: bool = True,
        model_max_length: int = 512,
        vocab: Optional[Union[UnigramVocabulary, list]] = None,
        **kwargs: Any,
    ):
        for name in _IGNORED + ("do_lower_case", "tokenize_chinese_chars", "strip_accents"):
            kwargs.pop(name, None)
        self.vocab_file = str(vocab_file) if vocab_file is not None else None
        self.tokenizer_file = str(tokenizer_file) if tokenizer_file is not None else None
        self.unigram = self._read_unigram(vocab, self.vocab_file, tokenizer_file)
        self.bos_token, self.eos_token = str(bos_token), str(eos_token)
        super().__init__(
            vocab=self.unigram.token_to_id, do_lower_case=False, unk_token=unk_token, sep_token=sep_token,
            pad_token=pad_token, cls_token=cls_token, mask_token=mask_token, cls_token_box=cls_token_box,
            sep_token_box=sep_token_box, pad_token_box=pad_token_box, pad_token_label=pad_token_label,
            only_label_first_subword=only_label_first_subword, tokenize_chinese_chars=False,
            model_max_length=model_max_length, tokenizer_file=tokenizer_file, **kwargs,
        )

    @staticmethod
    def _read_unigram(vocab: Any, vocab_file: Optional[str], tokenizer_file: Any) -> UnigramVocabulary:
        if isinstance(vocab, UnigramVocabulary):
            return vocab
        if vocab is not None:
            return UnigramVocabulary([(str(t), float(s)) for t, s in vocab], None)
        if vocab_file is not None:
            if not Path(vocab_file).is_file():
                raise ValueError(f"vocab_file {vocab_file!r} does not exist")
            return read_sentencepiece_model(vocab_file)
        if tokenizer_file is not None:
            return read_unigram_tokenizer_json(tokenizer_file)
        raise ValueError(f"give vocab_file= (a SentencePiece {SENTENCEPIECE_FILE}), tokenizer_file= "
                         "(a tokenizer.json) or vocab= ([(piece, score)] in id order)")

    @property
    def bos_token_id(self) -> int:
        return self.vocab[self.bos_token]

    @property
    def eos_token_id(self) -> int:
        return self.vocab[self.eos_token]

    # ---- decoding: pieces joined, the ▁ marks become spaces -----------------------------------

    def _decode(self, ids: list, skip_special_tokens: bool) -> str:
        special = set(self.all_special_ids) if skip_special_tokens else ()
        tokens = [self.ids_to_tokens[i] for i in ids if i in self.ids_to_tokens and i not in special]
        text = "".join(tokens).replace(SPIECE_UNDERLINE, " ")
        return text[1:] if text.startswith(" ") else text

    # ---- files ------------------------------------------------------------------------------

    @classmethod
    def _vocabulary_source(cls, folder: Path) -> dict:
        found = {}
        if (folder / SENTENCEPIECE_FILE).is_file():
            found["vocab_file"] = str(folder / SENTENCEPIECE_FILE)
        if (folder / TOKENIZER_FILE).is_file():
            found["tokenizer_file"] = str(folder / TOKENIZER_FILE)
        if not found:
            raise ValueError(f"{str(folder)!r} has neither {SENTENCEPIECE_FILE} nor {TOKENIZER_FILE}: "
                             "it holds no LayoutXLM (SentencePiece) vocabulary")
        return found

    def _save_vocabulary(self, folder: Path) -> tuple:
        if self.vocab_file is None or not Path(self.vocab_file).is_file():
            return ()  # built from a tokenizer.json or a list: tokenizer.json alone describes it
        target = folder / SENTENCEPIECE_FILE
        if Path(self.vocab_file).resolve() != target.resolve():
            shutil.copyfile(self.vocab_file, target)
        return (str(target),)

    def _config(self) -> dict:
        return {
            "tokenizer_class": self.tokenizer_class_name,
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

    @property
    def special_tokens_map(self) -> dict:
        return {"bos_token": self.bos_token, "eos_token": self.eos_token, **super().special_tokens_map}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"model_max_length={self.model_max_length})")


__all__ = ["LayoutXLMTokenizerBase", "SENTENCEPIECE_FILE", "CONFIG_FILE"]
