"""The ValueErrors for bad words, boxes and word labels, in one place.

Every message names the bad value and where it is (word 3, box 1 of example 2), so a caller
sees what to fix; both tokenizers run these checks before encoding anything.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np


def is_word_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and (len(value) == 0 or isinstance(value[0], str))


def check_box(box: Any, where: str) -> list:
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


def check_boxes(words: Sequence, boxes: Any, example: Optional[int]) -> list:
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
        out.append(check_box(box, f"{i} {prefix}".strip()))
    return out


def check_labels(words: Sequence, labels: Any, example: Optional[int]) -> list:
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


def check_words(words: Any, example: Optional[int]) -> list:
    prefix = "" if example is None else f" of example {example}"
    if not isinstance(words, (list, tuple)):
        raise ValueError(f"words{prefix} must be a list of str, got {type(words).__name__}: {words!r}")
    for i, word in enumerate(words):
        if not isinstance(word, str):
            raise ValueError(f"word {i}{prefix} must be a str, got {type(word).__name__}: {word!r}")
    return list(words)


def text_is_batched(text: Any, text_pair: Any) -> bool:
    """Whether a tokenizer call holds a batch, or a ValueError when ``text``/``text_pair`` are neither."""
    if text_pair is None:
        if not isinstance(text, (list, tuple)):
            raise ValueError(
                "Words must be of type `List[str]` (single pretokenized example), or `List[List[str]]` "
                f"(batch of pretokenized examples); got {type(text).__name__}: {text!r}"[:300]
            )
        return len(text) > 0 and isinstance(text[0], (list, tuple))
    if not (isinstance(text, str) or is_word_list(text) or (
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
    return isinstance(text, (list, tuple))


def pair_examples(text: list, text_pair: Optional[list]) -> list:
    """A batch's examples: word lists, or (question, words) pairs when ``text_pair`` is given."""
    if text_pair is None:
        return list(text)
    if len(text) != len(text_pair):
        raise ValueError(
            f"batch length of `text`: {len(text)} does not match batch length of `text_pair`: {len(text_pair)}."
        )
    return list(zip(text, text_pair))


def check_examples(batch: list, is_pair: bool, boxes: Any, word_labels: Any, batched: bool) -> tuple:
    """Checked (words or (question words, words)), boxes and labels (None without labels) per example.

    Messages name the example (``batched``) or not (a single example).
    """
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
    inputs, all_boxes, all_labels = [], [], []
    for i, example in enumerate(batch):
        where = i if batched else None
        inputs.append(_check_pair(example, i, where) if is_pair else check_words(example, where))
        words = inputs[-1][1] if is_pair else inputs[-1]
        all_boxes.append(check_boxes(words, boxes[i], where))
        if word_labels is not None:
            all_labels.append(check_labels(words, word_labels[i], where))
    return inputs, all_boxes, all_labels if word_labels is not None else None


def _check_pair(example: Any, index: int, where: Optional[int]) -> tuple:
    """(question words, words) from a (question, words) pair; a str question is split on whitespace."""
    if not isinstance(example, (list, tuple)) or len(example) != 2:
        raise ValueError(f"example {index} must be a (question, words) pair, got {example!r}"[:300])
    question, words = example
    if isinstance(question, (list, tuple)):
        question = check_words(question, where)
    elif not isinstance(question, str):
        raise ValueError(f"question of example {index} must be a str, got {question!r}")
    else:
        question = question.split()
    return question, check_words(words, where)
