"""Slow LayoutXLM tokenizer: words become pieces through the ``sentencepiece`` package itself.

SentencePiece is the reference for XLM-R's vocabulary (fairseq pre-trained with it), so this
tokenizer segments each word with ``SentencePieceProcessor.encode`` (its own NFKC normalisation,
whitespace handling and Unigram search) and maps the piece ids to fairseq's. The rest (windows,
``<s> A </s></s> B </s>``, padding, boxes and labels) is the shared Python code of the slow
LayoutLMv2 tokenizer. Character offsets are rebuilt from SentencePiece's byte offsets the way the
Rust tokenizer reports them (a piece that covers part of one character's normalised form gets the
whole character), so labels and ``offset_mapping`` agree with the fast tokenizer.

One difference with the Rust Unigram is inherent: when two segmentations of a word have exactly
the same score, SentencePiece and ``tokenizers`` may pick different ones (3 of the 10,000 words of
XFUND-de val on the test vocabulary). ``LayoutXLMTokenizerFast`` is the one transformers matches.
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

    @staticmethod
    def _fairseq_id(sentencepiece_id: int) -> int:
        """SentencePiece's <unk>, <s>, </s> (0, 1, 2) are fairseq's 3, 0, 2; later ids move up by one."""
        return (3, 0, 2)[sentencepiece_id] if sentencepiece_id < 3 else sentencepiece_id + FAIRSEQ_OFFSET

    def _pieces(self, text: str, start: int) -> list:
        """[(token, id, (start, end))] of one stretch of text without special tokens."""
        if not text:
            return []
        char_at = {}  # byte offset -> character index
        position = 0
        for index, char in enumerate(text):
            char_at[position] = index
            position += len(char.encode("utf-8"))
        char_at[position] = len(text)
        out = []
        for piece in self._sp.encode(text, out_type="proto").pieces:
            token_id = self._fairseq_id(piece.id)
            begin, end = char_at[piece.begin], char_at[piece.end]
            if begin == end:  # part of one character's normalised form: Rust gives the whole character
                end = min(begin + 1, len(text))
            else:
                # a piece that starts with a run of whitespace starts at the run's last character
                while begin + 1 < end and text[begin].isspace() and text[begin + 1].isspace():
                    begin += 1
                # combining marks that NFKC composed into the character before them are not part of
                # the span (Rust aligns the composed character to its base alone)
                while end - 1 > begin and unicodedata.category(text[end - 1]).startswith("M") and \
                        len(unicodedata.normalize("NFC", text[end - 2:end])) == 1:
                    end -= 1
            # a piece that holds only part of one character's normalised form (``AT`` of ``Ａ™`` =
            # "ATM"; SentencePiece gives it none of ``™``) spans the whole character, as in Rust
            end = self._cover_expansion(text, piece.piece, begin, end)
            # an unknown piece keeps its text as its token, as in the Rust tokenizer (the id is <unk>'s)
            out.append((piece.piece, token_id, (start + begin, start + end)))
        return out

    def _cover_expansion(self, text: str, piece: str, begin: int, end: int) -> int:
        piece = piece.replace(SPIECE_UNDERLINE, "")
        if text[begin:end] == piece:
            return end  # the usual case: the piece is its text
        need = len(piece)
        while end < len(text) and len(self._sp.normalize(text[begin:end]).replace(SPIECE_UNDERLINE, "")) < need:
            end += 1
        return end

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
