"""LayoutLMv2 tokenizer on the Rust ``tokenizers`` library (WordPiece, uncased BERT).

A whole batch goes through one ``encode_batch`` call with pre-tokenized input, and Rust does
truncation, stride windows and padding; Python only maps word ids to boxes and labels.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from .encoding import BatchEncoding
from .encoding_options import EncodingPlan
from .tokenization_base import LayoutLMv2TokenizerBase
from .tokenizer_files import TOKENIZER_FILE

__all__ = ["LayoutLMv2TokenizerFast", "BatchEncoding", "RustEncoding"]


class RustEncoding:
    """Encoding on a ``tokenizers.Tokenizer`` (for LayoutLMv2's WordPiece and LayoutXLM's Unigram):
    a subclass's ``_build_backend`` builds the Rust tokenizer and hands it to ``_install_backend``."""

    is_fast = True

    def _install_backend(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._lock = threading.Lock()  # truncation/padding are settings of the shared Rust object
        self._special_ids = frozenset(self.all_special_ids)

    @property
    def backend_tokenizer(self) -> Tokenizer:
        return self._tokenizer

    def tokenize(self, text: str, pair: str = None, add_special_tokens: bool = False, **kwargs: Any) -> list:
        """Tokens of raw text (LayoutLMv2: WordPiece, lower-cased; LayoutXLM: SentencePiece pieces)."""
        with self._lock:
            self._tokenizer.no_truncation()
            self._tokenizer.no_padding()
            return self._tokenizer.encode(text, pair, add_special_tokens=add_special_tokens).tokens

    def _encode_batch(self, inputs: list, is_pair: bool, plan: EncodingPlan) -> list:
        truncation, max_length, stride, padding = plan.truncation, plan.max_length, plan.stride, plan.padding
        with self._lock:
            if truncation is None:
                self._tokenizer.no_truncation()
            else:
                self._tokenizer.enable_truncation(max_length, stride=stride, strategy=truncation,
                                                  direction=self.truncation_side)
            if padding is None:
                self._tokenizer.no_padding()
            else:
                self._tokenizer.enable_padding(
                    direction=plan.padding_side, pad_id=self.pad_token_id, pad_type_id=self.pad_token_type_id,
                    pad_token=self.pad_token, length=max_length if padding == "max_length" else None,
                    pad_to_multiple_of=plan.pad_to_multiple_of,
                )
            try:
                return self._tokenizer.encode_batch(inputs, is_pretokenized=True,
                                                    add_special_tokens=plan.add_special_tokens)
            except (KeyboardInterrupt, SystemExit, GeneratorExit):
                raise
            except BaseException as error:  # plain Exceptions, or a Rust panic when stride is too big
                raise ValueError(
                    f"cannot truncate as asked (truncation={truncation!r}, max_length={max_length}, "
                    f"stride={stride}): {str(error).splitlines()[0] if str(error) else type(error).__name__}"
                ) from None

    def _decode(self, ids: list, skip_special_tokens: bool) -> str:
        ids = [i for i in ids if 0 <= i < 2**32]
        return self._tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def _save_extra(self, folder: Path) -> tuple:
        path = folder / TOKENIZER_FILE
        with self._lock:
            self._tokenizer.no_truncation()
            self._tokenizer.no_padding()
            self._tokenizer.save(str(path))
        return (str(path),)


class LayoutLMv2TokenizerFast(RustEncoding, LayoutLMv2TokenizerBase):
    """Fast LayoutLMv2 tokenizer: same arguments and outputs as transformers' one.

    Unlike transformers 5.x, ``LayoutLMv2TokenizerFast(vocab_file=...)`` really uses that vocabulary.
    """

    def _build_backend(self) -> None:
        tokenizer = Tokenizer(models.WordPiece(vocab=self.vocab, unk_token=self.unk_token,
                                               max_input_chars_per_word=100))
        tokenizer.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=self.tokenize_chinese_chars,
            strip_accents=self.strip_accents, lowercase=self.do_lower_case,
        )
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=True)
        tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in self.all_special_tokens])
        cls, sep = self.cls_token, self.sep_token
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=[(cls, self.cls_token_id), (sep, self.sep_token_id)],
        )
        self._install_backend(tokenizer)
