"""Pure-Python LayoutLMv2 tokenizer (no ``tokenizers`` needed), identical to the fast one.

It re-implements, in Python, the steps the Rust fast tokenizer runs: special tokens are cut out
of the raw words, then BERT normalisation (drop control characters, space out CJK ideographs,
strip accents, lower-case) keeping for each character the original position it came from, a
whitespace/punctuation split, greedy longest-match WordPiece, and finally truncation with stride
windows, [CLS]/[SEP] and padding with the same rules as ``tokenizers``. Character offsets are
kept because transformers labels the token that starts at offset 0 of a word.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from typing import Optional

from .encoding import BatchEncoding, Encoding
from .python_encoding import PythonEncoding
from .tokenization_base import LayoutLMv2TokenizerBase

__all__ = ["LayoutLMv2Tokenizer", "BatchEncoding"]

_MAX_WORD_CHARS = 100  # longer pieces become [UNK], as in BERT
_OTHER = frozenset(("Cc", "Cf", "Co", "Cs"))  # not Cn: Rust keeps unassigned
_PUNCTUATION = frozenset(("Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps"))
# Rust's char::is_whitespace (the Unicode White_Space property)
_WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                        "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


# Where Python's Unicode tables (3.11: Unicode 14) and the Rust library's disagree. Found by
# running every code point through both; `tests/test_tokenization.py` re-checks it. Characters
# in these ranges are ordinary letters for Rust (kept as they are, never punctuation).
_RUST_KEEP = (
    "61D 7FD 890-891 898-89F 8CA-8E2 9FD-9FE A76 AFA-AFF B55 C04 C3C C77 C84 D00 D3B-D3C D81 EBA 180F "
    "1885-1886 1ABF-1ACE 1B7D-1B7E 1DF6-1DFB 2E43-2E4F 2E52-2E5D A82C A8C5 A8FF A9BD 10D24-10D27 "
    "10EAB-10EAD 10F46-10F50 10F55-10F59 10F82-10F89 11070 11073-11074 110C2 110CD 111CF 1123E 1133B "
    "11438-1143F 11442-11444 11446 1144B-1144F 1145A-1145B 1145D-1145E 11660-1166C 116B9 1182F-11837 "
    "11839-1183B 11938 1193B-1193C 1193E 11943-11946 119D4-119D7 119DA-119DB 119E0 119E2 11A01-11A0A "
    "11A33-11A38 11A3B-11A47 11A51-11A56 11A59-11A5B 11A8A-11A96 11A98-11A9C 11A9E-11AA2 11C30-11C36 "
    "11C38-11C3D 11C3F 11C41-11C45 11C70-11C71 11C92-11CA7 11CAA-11CB0 11CB2-11CB3 11CB5-11CB6 "
    "11D31-11D36 11D3A 11D3C-11D3D 11D3F-11D45 11D47 11D90-11D91 11D95 11D97 11EF3-11EF4 11EF7-11EF8 "
    "11FFF 12FF1-12FF2 13430-13438 16E97-16E9A 16F4F 16FE2 16FE4 1CF00-1CF2D 1CF30-1CF46 1E000-1E006 "
    "1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E130-1E136 1E2AE 1E2EC-1E2EF 1E944-1E94A "
    "1E95E-1E95F 2B820-2B91F"
)
_KEEP_STARTS: list = []
_KEEP_ENDS: list = []
for _span in _RUST_KEEP.split():
    _low, _, _high = _span.partition("-")
    _KEEP_STARTS.append(int(_low, 16))
    _KEEP_ENDS.append(int(_high or _low, 16))
# Rust lower-cases these (newer case tables), drops U+1734 and treats U+166D, U+111C9 as punctuation
_RUST_MAP = {0x1734: "", 0x111C9: "\U000111c9", 0x1C89: "\u1c8a", 0xA7CB: "\u0264", 0xA7CC: "\ua7cd", 0xA7CE: "\ua7cf",
             0xA7D2: "\ua7d3", 0xA7D4: "\ua7d5", 0xA7DA: "\ua7db", 0xA7DC: "\u019b"}
_RUST_MAP.update({c: chr(c + 0x20) for c in range(0x10D50, 0x10D66)})
_RUST_MAP.update({c: chr(c + 0x1B) for c in range(0x16EA0, 0x16EB9)})
_RUST_PUNCT = frozenset((0x166D, 0x111C9))


def _rust_keeps(code: int) -> bool:
    i = bisect.bisect_right(_KEEP_STARTS, code) - 1
    return i >= 0 and code <= _KEEP_ENDS[i]


def _is_cjk(code: int) -> bool:
    return any(low <= code <= high for low, high in _CJK)


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if code in _RUST_PUNCT:
        return True
    if code > 0x5FF and _rust_keeps(code):
        return False
    return (char.isascii() and not char.isalnum() and 33 <= ord(char) <= 126) or \
        unicodedata.category(char) in _PUNCTUATION


class LayoutLMv2Tokenizer(PythonEncoding, LayoutLMv2TokenizerBase):
    """Slow (pure-Python) LayoutLMv2 tokenizer with the exact outputs of the fast one."""

    is_fast = False

    def _build_backend(self) -> None:
        self._strip = self.strip_accents if self.strip_accents is not None else self.do_lower_case
        specials = sorted(set(self.all_special_tokens), key=len, reverse=True)
        self._special_re = re.compile("|".join(re.escape(t) for t in specials))
        self._char_cache: dict = {}
        self._word_cache: dict = {}

    # ---- words -> tokens -------------------------------------------------------------------

    def _normalize_char(self, char: str) -> str:
        """What BERT normalisation turns one character into ('' = dropped, ' ' = separator)."""
        out = self._char_cache.get(char)
        if out is not None:
            return out
        code = ord(char)
        if code in _RUST_MAP:
            out = _RUST_MAP[code]
        elif code > 0x5FF and _rust_keeps(code):
            out = char
        elif char in "\t\n\r":
            out = " "
        elif char == "\x00" or char == "\ufffd" or unicodedata.category(char) in _OTHER:
            out = ""
        elif char in _WHITESPACE:
            out = " "
        else:
            out = " " + char + " " if self.tokenize_chinese_chars and _is_cjk(ord(char)) else char
            if self._strip:
                out = "".join(c for c in unicodedata.normalize("NFD", out) if unicodedata.category(c) != "Mn")
            if self.do_lower_case:
                out = "".join(c.lower() for c in out)
        self._char_cache[char] = out
        return out

    def _pieces(self, text: str, start: int) -> list:
        """Normalise ``text`` and split it into (piece, [original offset per char]) pre-tokens."""
        pieces: list = []
        chars: list = []
        origin: list = []

        def flush() -> None:
            if chars:
                pieces.append(("".join(chars), origin[:]))
                chars.clear()
                origin.clear()

        for i, char in enumerate(text):
            for normal in self._normalize_char(char):
                if normal in _WHITESPACE:
                    flush()
                elif _is_punctuation(normal):
                    flush()
                    pieces.append((normal, [start + i]))
                else:
                    chars.append(normal)
                    origin.append(start + i)
        flush()
        return pieces

    def _wordpiece(self, piece: str, origin: list) -> list:
        """Greedy longest-match-first WordPiece: [(token, id, (start, end))]."""
        vocab = self.vocab
        if len(piece) > _MAX_WORD_CHARS:
            return [(self.unk_token, self.unk_token_id, (origin[0], origin[-1] + 1))]
        out = []
        begin = 0
        while begin < len(piece):
            end = len(piece)
            while end > begin:
                sub = piece[begin:end] if begin == 0 else "##" + piece[begin:end]
                if sub in vocab:
                    out.append((sub, vocab[sub], (origin[begin], origin[end - 1] + 1)))
                    break
                end -= 1
            else:
                return [(self.unk_token, self.unk_token_id, (origin[0], origin[-1] + 1))]
            begin = end
        return out

    def _tokenize_word(self, word: str) -> list:
        """Tokens of one input word with offsets relative to the word (cached)."""
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        tokens = []
        position = 0
        for match in self._special_re.finditer(word) if word else ():
            for piece, origin in self._pieces(word[position:match.start()], position):
                tokens.extend(self._wordpiece(piece, origin))
            tokens.append((match.group(), self.vocab[match.group()], (match.start(), match.end())))
            position = match.end()
        for piece, origin in self._pieces(word[position:], position):
            tokens.extend(self._wordpiece(piece, origin))
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
        enc.type_ids = [sequence_id] * n
        enc.special_tokens_mask = [0] * n
        enc.attention_mask = [1] * n
        return enc

    def tokenize(self, text: str, pair: Optional[str] = None, add_special_tokens: bool = False, **kwargs) -> list:
        """WordPiece tokens of raw text (whitespace and punctuation split, lower-cased)."""
        tokens = [t for t, _, _ in self._tokenize_word(text)]
        if pair is not None:
            pair_tokens = [t for t, _, _ in self._tokenize_word(pair)]
            if add_special_tokens:
                return [self.cls_token, *tokens, self.sep_token, *pair_tokens, self.sep_token]
            return tokens + pair_tokens
        return [self.cls_token, *tokens, self.sep_token] if add_special_tokens else tokens
