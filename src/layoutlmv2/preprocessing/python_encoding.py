"""Truncation, special tokens and padding in Python, with the rules of the Rust ``tokenizers`` library.

The two slow tokenizers (``LayoutLMv2Tokenizer``: WordPiece; ``LayoutXLMTokenizer``:
SentencePiece) turn words into tokens differently, but then cut stride windows, add their
special tokens and pad exactly as the Rust library does for the fast ones. That second half is
here, once; a tokenizer provides ``_sequence(words, sequence_id)`` and the shape of its template
(the base's `pair_separators`: 1 for ``[CLS] A [SEP] B [SEP]``, 2 for ``<s> A </s></s> B </s>``;
`second_type_id`: the token type of B).
"""

from __future__ import annotations

from typing import Optional

from .encoding import Encoding
from .encoding_options import EncodingPlan


class PythonEncoding:
    """``_encode_batch`` for a slow tokenizer that provides ``_sequence``."""

    def _sequence(self, words: list, sequence_id: int) -> Encoding:  # pragma: no cover - overridden
        raise NotImplementedError

    def _encode_batch(self, inputs: list, is_pair: bool, plan: EncodingPlan) -> list:
        add_special_tokens, truncation, max_length = plan.add_special_tokens, plan.truncation, plan.max_length
        stride, padding, pad_to_multiple_of, padding_side = (plan.stride, plan.padding, plan.pad_to_multiple_of,
                                                             plan.padding_side)
        reserved = self.num_special_tokens_to_add(is_pair) if add_special_tokens else 0
        encodings = []
        for example in inputs:
            if is_pair:
                first, second = self._sequence(example[0], 0), self._sequence(example[1], 1)
            else:
                first, second = self._sequence(example, 0), None
            first_windows, second_windows = [first], [second]
            if truncation is not None:
                first_windows, second_windows = self._truncate(first, second, truncation,
                                                               max_length - reserved, stride)
            combos = [(first_windows[0], second_windows[0])]
            combos += [(a, b) for a in first_windows[1:] for b in second_windows]
            combos += [(first_windows[0], b) for b in second_windows[1:]]
            built = [self._with_special_tokens(a, b, add_special_tokens) for a, b in combos]
            main = built[0]
            main.overflowing = built[1:]
            encodings.append(main)
        if padding is not None:
            target = max_length if padding == "max_length" else max((len(e) for e in encodings), default=0)
            if pad_to_multiple_of and target % pad_to_multiple_of:
                target += pad_to_multiple_of - target % pad_to_multiple_of
            for enc in encodings:
                for item in [enc, *enc.overflowing]:
                    self._pad(item, target, padding_side)
        return encodings

    def _truncate(self, first: Encoding, second: Optional[Encoding], strategy: str, limit: int, stride: int):
        n1, n2 = len(first), len(second) if second is not None else 0
        if limit == 0:
            return _windows(first, 0, stride, self.truncation_side), (
                _windows(second, 0, stride, self.truncation_side) if second is not None else [None])
        if n1 + n2 <= limit:
            return [first], [second]
        excess = n1 + n2 - limit
        if strategy == "longest_first":
            if second is None:
                return _windows(first, n1 - excess, stride, self.truncation_side), [None]
            short, long_ = sorted((n1, n2))
            long_ = short if short > limit else max(short, limit - short)
            if short + long_ > limit:
                short = limit // 2
                long_ = short + limit % 2
            keep1, keep2 = (short, long_) if n1 <= n2 else (long_, short)
            return (_windows(first, keep1, stride, self.truncation_side),
                    _windows(second, keep2, stride, self.truncation_side))
        if strategy == "only_second" and second is None:
            raise ValueError("truncation='only_second' needs a pair (question + words), but got words only")
        target = first if strategy == "only_first" else second
        if len(target) <= excess:
            raise ValueError(
                f"cannot truncate as asked ({strategy}): the sequence to truncate has {len(target)} tokens, "
                f"too few to remove the {excess} that exceed max_length"
            )
        windows = _windows(target, len(target) - excess, stride, self.truncation_side)
        return (windows, [second]) if strategy == "only_first" else ([first], windows)

    def _with_special_tokens(self, a: Encoding, b: Optional[Encoding], add_special_tokens: bool) -> Encoding:
        out = Encoding()
        parts = []
        if add_special_tokens:
            parts.append(self._special(self.cls_token, 0))
        parts.append(a)
        if add_special_tokens:
            parts.append(self._special(self.sep_token, 0))
        if b is not None:
            if add_special_tokens:
                parts += [self._special(self.sep_token, 0) for _ in range(self.pair_separators - 1)]
            parts.append(b)
            if add_special_tokens:
                parts.append(self._special(self.sep_token, self.second_type_id))
        for part in parts:
            out.ids += part.ids
            out.tokens += part.tokens
            out.offsets += part.offsets
            out.word_ids += part.word_ids
            out.sequence_ids += part.sequence_ids
            out.type_ids += part.type_ids
            out.special_tokens_mask += part.special_tokens_mask
            out.attention_mask += part.attention_mask
        return out

    def _special(self, token: str, type_id: int) -> Encoding:
        return Encoding([self.vocab[token]], [token], [(0, 0)], [None], [None], [type_id], [1], [1])

    def _pad(self, enc: Encoding, target: int, side: str) -> None:
        missing = target - len(enc)
        if missing <= 0:
            return
        fills = (("ids", self.pad_token_id), ("tokens", self.pad_token), ("offsets", (0, 0)),
                 ("word_ids", None), ("sequence_ids", None), ("type_ids", self.pad_token_type_id),
                 ("special_tokens_mask", 1), ("attention_mask", 0))
        for name, value in fills:
            values = getattr(enc, name)
            setattr(enc, name, values + [value] * missing if side == "right" else [value] * missing + values)


def _windows(enc: Encoding, keep: int, stride: int, side: str) -> list:
    """Cut an encoding into windows of ``keep`` tokens overlapping by ``stride`` (first = kept part)."""
    n = len(enc)
    if keep >= n:
        return [enc]
    if keep == 0:
        return [Encoding(), enc]
    if stride >= keep:
        raise ValueError(
            f"cannot truncate as asked: stride={stride} must be smaller than the {keep} tokens kept from "
            "this sequence (max_length minus the special tokens, shared between question and words)"
        )
    step = keep - stride
    spans = []
    if side == "right":
        for start in range(0, n, step):
            stop = min(start + keep, n)
            spans.append((start, stop))
            if stop == n:
                break
    else:
        for last in range(n - 1, -1, -step):
            stop = last + 1
            start = max(stop - keep, 0)
            spans.append((start, stop))
            if start == 0:
                break
    return [_slice(enc, start, stop) for start, stop in spans]


def _slice(enc: Encoding, start: int, stop: int) -> Encoding:
    return Encoding(enc.ids[start:stop], enc.tokens[start:stop], enc.offsets[start:stop],
                    enc.word_ids[start:stop], enc.sequence_ids[start:stop], enc.type_ids[start:stop],
                    enc.special_tokens_mask[start:stop], enc.attention_mask[start:stop])
