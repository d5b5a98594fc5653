"""Slow LayoutXLM tokenizer: words become pieces through the ``sentencepiece`` package itself.

SentencePiece is the reference for XLM-R's vocabulary (fairseq pre-trained with it), so this
tokenizer segments each word with ``SentencePieceProcessor.encode`` (its own NFKC normalisation,
whitespace handling and Unigram search) and maps the piece ids to fairseq's. The rest (windows,
``<s> A </s></s> B </s>``, padding, boxes and labels) is the shared Python code of the slow
LayoutLMv2 tokenizer. Character offsets come from SentencePiece's normal form aligned character by
character the way the Rust tokenizer aligns it (every character of one input character's expansion
points to that character), so labels and ``offset_mapping`` agree with the fast tokenizer.

One difference with the Rust Unigram is inherent: when two segmentations of a word have exactly
the same score, SentencePiece and ``tokenizers`` may pick different ones (``www`` = w+ww or ww+w;
one URL of XFUND-de with the tests' vocabulary). ``LayoutXLMTokenizerFast`` is the one transformers
matches.
"""

from __future__ import annotations

import re
import unicodedata

from .encoding import BatchEncoding, Encoding
from .python_encoding import PythonEncoding
from .sentencepiece_model import FAIRSEQ_OFFSET
from .tokenization_layoutxlm_base import SPIECE_UNDERLINE, LayoutXLMTokenizerBase

__all__ = ["LayoutXLMTokenizer", "BatchEncoding"]


class LayoutXLMTokenizer(PythonEncoding, LayoutXLMTokenizerBase):
    """Slow (``sentencepiece``) LayoutXLM tokenizer with transformers' arguments and outputs.

    >>> tokenizer = LayoutXLMTokenizer.from_pretrained("path/to/layoutxlm")  # doctest: +SKIP
    >>> tokenizer(["Straße", "Nr."], boxes=[[10, 10, 80, 20], [90, 10, 120, 20]])["input_ids"]  # doctest: +SKIP
    """

    is_fast = False

    def _build_backend(self) -> None:
        try:
            import sentencepiece
        except ImportError:
            raise ImportError("LayoutXLMTokenizer needs the sentencepiece package: pip install 'layoutlmv2[xlm]' "
                              "(or use LayoutXLMTokenizerFast, which needs only tokenizers)") from None
        if self.vocab_file is None:
            raise ValueError("LayoutXLMTokenizer (slow) reads a SentencePiece model: give vocab_file= "
                             "(sentencepiece.bpe.model); for a tokenizer.json alone use LayoutXLMTokenizerFast")
        self._sp = sentencepiece.SentencePieceProcessor(model_file=self.vocab_file)
        specials = sorted(set(self.all_special_tokens), key=len, reverse=True)
        self._special_re = re.compile("|".join(re.escape(t) for t in specials))
        self._word_cache: dict = {}
        self._normal_cache: dict = {}

    @staticmethod
    def _fairseq_id(sentencepiece_id: int) -> int:
        """SentencePiece's <unk>, <s>, </s> (0, 1, 2) are fairseq's 3, 0, 2; later ids move up by one."""
        return (3, 0, 2)[sentencepiece_id] if sentencepiece_id < 3 else sentencepiece_id + FAIRSEQ_OFFSET

    def _pieces(self, text: str, start: int) -> list:
        """[(token, id, (start, end))] of one stretch of text without special tokens."""
        if not text:
            return []
        pieces = self._sp.encode(text, out_type="proto").pieces
        aligned = self._aligned_normal_form(text)
        out, position = [], 0
        for piece in pieces:
            chars = aligned[position:position + len(piece.piece)]
            if "".join(c for c, _ in chars) != piece.piece:  # cannot happen for NFKC text; be safe
                return self._pieces_from_bytes(text, start, pieces)
            position += len(piece.piece)
            # an unknown piece keeps its text as its token, as in the Rust tokenizer (the id is <unk>'s)
            out.append((piece.piece, self._fairseq_id(piece.id), (start + chars[0][1][0], start + chars[-1][1][1])))
        return out

    def _aligned_normal_form(self, text: str) -> list:
        """SentencePiece's normal form of ``text`` as [(character, (start, end) in ``text``)], aligned
        as the Rust tokenizer aligns it: every character of one input character's expansion gets
        that character; a composed character (e + U+0301) gets its base; a run of spaces becomes one
        ``▁`` at the run's last character, the ends are stripped, and the ``▁`` in front is the first
        character's."""
        chars: list = []
        i = 0
        while i < len(text):
            j = i + 1
            while j < len(text) and unicodedata.category(text[j]).startswith("M"):
                j += 1
            chars.extend(self._normal_group(text[i:j], i))
            i = j
        out: list = []
        for char, span in chars:
            if char == SPIECE_UNDERLINE and (not out or out[-1][0] == SPIECE_UNDERLINE):
                if out:
                    out[-1] = (char, span)  # a run of spaces: the last one stays
                continue
            out.append((char, span))
        while out and out[-1][0] == SPIECE_UNDERLINE:
            out.pop()
        return [(SPIECE_UNDERLINE, out[0][1])] + out if out else []

    def _normal_group(self, group: str, at: int) -> list:
        """A base character and its combining marks, normalised, each output character aligned."""
        normal = self._normal_cache.get(group)
        if normal is None:
            # between two digits, so that SentencePiece neither strips nor prefixes it
            normal = self._sp.normalize("0" + group + "0")[2:-1]
            self._normal_cache[group] = normal
        if len(group) > 1:
            parts = [self._normal_group(c, at + k) for k, c in enumerate(group)]
            if "".join(c for part in parts for c, _ in part) == normal:
                return [item for part in parts for item in part]
        return [(c, (at, at + 1)) for c in normal]

    def _pieces_from_bytes(self, text: str, start: int, pieces) -> list:
        """Offsets from SentencePiece's own byte spans (a fallback: they differ from Rust's where one
        character's normal form is split between pieces)."""
        char_at, position = {}, 0
        for index, char in enumerate(text):
            char_at[position] = index
            position += len(char.encode("utf-8"))
        char_at[position] = len(text)
        out = []
        for piece in pieces:
            begin, end = char_at[piece.begin], char_at[piece.end]
            out.append((piece.piece, self._fairseq_id(piece.id), (start + begin, start + max(end, begin + 1))))
        return out

    def _tokenize_word(self, word: str) -> list:
        """Tokens of one input word with offsets relative to the word (cached)."""
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        tokens = []
        position = 0
        for match in self._special_re.finditer(word) if word else ():
            tokens.extend(self._pieces(word[position:match.start()], position))
            tokens.append((match.group(), self.vocab[match.group()], (match.start(), match.end())))
            position = match.end()
        tokens.extend(self._pieces(word[position:], position))
        if len(self._word_cache) < 200_000:
            self._word_cache[word] = tokens
        return tokens

    def _sequence(self, words: list, sequence_id: int) -> Encoding:
        enc = Encoding()
        for word_id, word in enumerate(words):
            for token, token_id, offset in self._tokenize_word(word):
                enc.ids.append(token_id)
                enc.tokens.append(token)
                enc.offsets.append(offset)
                enc.word_ids.append(word_id)
        n = len(enc.ids)
        enc.sequence_ids = [sequence_id] * n
        enc.type_ids = [0] * n
        enc.special_tokens_mask = [0] * n
        enc.attention_mask = [1] * n
        return enc

    def tokenize(self, text: str, pair: str = None, add_special_tokens: bool = False, **kwargs) -> list:
        """SentencePiece pieces of raw text (``▁`` marks a word start)."""
        tokens = [t for t, _, _ in self._tokenize_word(text)]
        if pair is not None:
            pair_tokens = [t for t, _, _ in self._tokenize_word(pair)]
            if add_special_tokens:
                return [self.cls_token, *tokens, self.sep_token, self.sep_token, *pair_tokens, self.sep_token]
            return tokens + pair_tokens
        return [self.cls_token, *tokens, self.sep_token] if add_special_tokens else tokens
