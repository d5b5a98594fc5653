"""Boxes and labels per token, from the words each token came from.

The tokenizers give every token its word index; here those indices become one box per token
(the word's box, or the [CLS]/[SEP]/[PAD] box) and one label per token (the word's label on its
first sub-token, ``pad_token_label`` elsewhere), and overflow windows become rows of their own.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence


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


def flatten_windows(encodings: Sequence[Any], with_overflow: bool) -> tuple[list, list]:
    """Every encoding, each followed by its overflow windows when asked, and the example of each row."""
    rows, examples = [], []
    for index, encoding in enumerate(encodings):
        windows = [encoding, *encoding.overflowing] if with_overflow else [encoding]
        rows.extend(windows)
        examples.extend([index] * len(windows))
    return rows, examples


def token_boxes(rows: Sequence[Any], examples: Sequence[int], boxes: Sequence[list], is_pair: bool,
                special_boxes: dict, pad_box: list) -> list:
    """One box per token: its word's box; ``pad_box`` for question tokens; the special token's box."""
    result = []
    for encoding, index in zip(rows, examples):
        doc_boxes = boxes[index]
        seq_ids = encoding.sequence_ids if is_pair else None
        row = []
        for position, (token_id, word) in enumerate(zip(encoding.ids, encoding.word_ids)):
            if word is not None:
                row.append(pad_box if is_pair and seq_ids[position] == 0 else doc_boxes[word])
                continue
            box = special_boxes.get(token_id)
            if box is None:
                raise ValueError(f"token id {token_id} has no word and is not [CLS], [SEP] or [PAD]")
            row.append(box)
        result.append(row)
    return result


def token_labels(rows: Sequence[Any], examples: Sequence[int], labels: Sequence[list], offsets: Sequence[list],
                 is_pair: bool, first_only: bool, pad_label: int) -> list:
    """One label per token: its word's label (on the first sub-token only when ``first_only``).

    Question tokens of a pair get ``pad_label`` (transformers would index the document's labels
    with the question's word ids here, which is a bug).
    """
    result = []
    for encoding, index, token_offsets in zip(rows, examples, offsets):
        doc_labels = labels[index]
        firsts = first_subtokens(encoding.word_ids, token_offsets)
        row = []
        for word, seq, first in zip(encoding.word_ids, encoding.sequence_ids, firsts):
            if word is None or (is_pair and seq != 1) or (first_only and not first):
                row.append(pad_label)
            else:
                row.append(doc_labels[word])
        result.append(row)
    return result
