"""Fast LayoutXLM tokenizer: a Rust ``tokenizers`` Unigram model with XLM-R's pipeline.

From a ``tokenizer.json`` the Rust tokenizer is read as it is (the published XLM-R file, or one
this class wrote): no ``sentencepiece`` needed. From ``sentencepiece.bpe.model`` it is built from
the pieces and the precompiled normalisation map that `sentencepiece_model` reads from the file
(again without ``sentencepiece``): the map (SentencePiece's NFKC rules), runs of spaces collapsed
and the ends stripped (SentencePiece's ``remove_extra_whitespaces``), ``▁`` before every word
(Metaspace), the Unigram search, and ``<s> A </s></s> B </s>``.

transformers 5.x's ``LayoutXLMTokenizer`` drops the precompiled map when it builds its backend,
so characters that NFKC changes (full-width ``１２３`` and ``：``, ``º``, ligatures, composed
accents) tokenize differently there than in SentencePiece and in XLM-R's own tokenizers; this
class keeps the map (see docs/layoutxlm.md).
"""

from __future__ import annotations

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from .encoding import BatchEncoding
from .tokenization_fast import RustEncoding
from .tokenization_layoutxlm_base import SPIECE_UNDERLINE, LayoutXLMTokenizerBase

__all__ = ["LayoutXLMTokenizerFast", "BatchEncoding"]


class LayoutXLMTokenizerFast(RustEncoding, LayoutXLMTokenizerBase):
    """Fast LayoutXLM tokenizer with transformers' arguments and outputs.

    >>> tokenizer = LayoutXLMTokenizerFast.from_pretrained("path/to/layoutxlm")  # doctest: +SKIP
    >>> encoding = tokenizer(["Straße", "Nr."], boxes=[[10, 10, 80, 20], [90, 10, 120, 20]])  # doctest: +SKIP
    >>> encoding["input_ids"][0], encoding["bbox"][-1]  # <s> first, </s> at (1000, 1000, 1000, 1000)  # doctest: +SKIP
    (0, [1000, 1000, 1000, 1000])
    """

    def _build_backend(self) -> None:
        if self.tokenizer_file is not None:
            tokenizer = Tokenizer.from_file(self.tokenizer_file)
        else:
            tokenizer = Tokenizer(models.Unigram(self.unigram.pieces, unk_id=self.unigram.unk_id, byte_fallback=False))
            steps = [normalizers.Precompiled(self.unigram.precompiled_charsmap)] \
                if self.unigram.precompiled_charsmap else []
            tokenizer.normalizer = normalizers.Sequence(
                steps + [normalizers.Replace(Regex(" {2,}"), " "), normalizers.Strip()])
            tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme="always")
            tokenizer.decoder = decoders.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme="always")
        vocab_size = tokenizer.get_vocab_size(with_added_tokens=False)
        if vocab_size != len(self.unigram.pieces):
            raise ValueError(f"the Rust vocabulary has {vocab_size} pieces, the Unigram model {len(self.unigram.pieces)}")
        tokenizer.add_special_tokens([
            AddedToken(t, special=True, normalized=False, lstrip=t == self.mask_token)
            for t in dict.fromkeys(self.all_special_tokens)
        ])
        cls, sep = self.cls_token, self.sep_token
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 {sep}:0 $B:0 {sep}:0",
            special_tokens=[(cls, self.cls_token_id), (sep, self.sep_token_id)],
        )
        self._install_backend(tokenizer)
