"""Pixel boxes -> the 0..1000 grid of LayoutLM's layout embeddings: the one rule, used by OCR and the data readers;
and the one way to cut an OCR line's box into word boxes (`split_line_box`).

The rule is transformers' (`int(1000 * (x / width))`, truncating), so words OCR'd here get the
very boxes transformers' image processor gives them (the OCR parity tests compare them).
Annotated data sets add one step, asked for with ``clamp=True``: corners swapped when reversed
and clamped to the page, since annotation and OCR boxes sometimes spill off it, and a
coordinate outside 0..1000 would index past the embedding tables.
"""

from __future__ import annotations

from typing import Sequence


def normalize_box(box: Sequence[float], width: float, height: float, clamp: bool = False) -> list[int]:
    """Pixel ``[x0, y0, x1, y1]`` on a page of ``width`` x ``height`` -> ints on the 0..1000 grid.

    With ``clamp`` the result always has ``0 <= x0 <= x1 <= 1000`` and the same for y.
    """
    if len(box) != 4:
        raise ValueError(f"a box needs 4 numbers [x0, y0, x1, y1], got {list(box)!r}")
    if width <= 0 or height <= 0:
        raise ValueError(f"page size must be positive, got width={width!r} height={height!r}")
    x0, y0, x1, y1 = box
    if clamp:
        (x0, x1), (y0, y1) = sorted((x0, x1)), sorted((y0, y1))
    scaled = [int(1000 * (x0 / width)), int(1000 * (y0 / height)), int(1000 * (x1 / width)), int(1000 * (y1 / height))]
    return [min(1000, max(0, v)) for v in scaled] if clamp else scaled


def split_line_box(text: str, box: Sequence[float]) -> tuple[list[str], list[list[float]]]:
    """Split an OCR line into whitespace words, each with the slice of the line box its characters span.

    The x extent is proportional to character offsets in the line (a fair guess for printed
    text); the y extent is the line's. Used where OCR gives lines but the model wants words.
    """
    x0, y0, x1, y1 = box
    words: list[str] = []
    boxes: list[list[float]] = []
    length = len(text)
    if length == 0:
        return words, boxes
    start = 0
    for word in text.split():
        start = text.index(word, start)
        end = start + len(word)
        boxes.append([x0 + (x1 - x0) * start / length, y0, x0 + (x1 - x0) * end / length, y1])
        words.append(word)
        start = end
    return words, boxes
