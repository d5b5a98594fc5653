"""The record every reader returns, and the box helpers they share.

One `Document` is one page plus whatever a task needs (word tags, a class, a question).
Pages are opened only when `load_image` is called, so a list of a few hundred documents
holds paths and words, not pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from PIL import Image

from ..boxes import split_line_box  # noqa: F401  (re-exported: data readers import it from here)

Box = list[int]


@dataclass
class Document:
    """One page of a data set in the shape the processor and the heads want.

    ``boxes`` are ``[x0, y0, x1, y1]`` on LayoutLM's 0..1000 grid, one per word.
    ``answer_span`` is ``(start_word, end_word)``, both inclusive, indices into ``words``.
    ``image_mode`` is what `load_image` converts to ("RGB", or "L" to hide colour).
    """

    id: str
    words: list[str]
    boxes: list[Box]
    image_path: Optional[Path] = None
    page_size: Optional[tuple[int, int]] = None  # (width, height) in pixels
    word_labels: Optional[list[str]] = None
    label: Optional[str] = None
    question: Optional[str] = None
    answers: Optional[list[str]] = None
    answer_span: Optional[tuple[int, int]] = None
    image_mode: str = "RGB"
    extra: dict[str, Any] = field(default_factory=dict)

    def load_image(self) -> Image.Image:
        """Open the page now (it is never cached) in ``image_mode``."""
        if self.image_path is None:
            raise ValueError(f"document {self.id!r} has no image_path")
        with Image.open(self.image_path) as image:
            return image.convert(self.image_mode)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file; Pillow reads only the header."""
    with Image.open(path) as image:
        return image.size


def quad_to_box(points: Sequence[float]) -> list[float]:
    """Eight numbers ``x1, y1, ..., x4, y4`` (a possibly rotated quadrilateral) -> its bounding box."""
    if len(points) != 8:
        raise ValueError(f"a quadrilateral needs 8 numbers, got {len(points)}: {list(points)!r}")
    xs, ys = points[0::2], points[1::2]
    return [min(xs), min(ys), max(xs), max(ys)]


def find_word_span(words: Sequence[str], answer: str) -> Optional[tuple[int, int]]:
    """First ``(start, end)`` (inclusive) run of ``words`` that spells ``answer``, else None.

    Compared case-insensitively with whitespace ignored, so an answer is found even when
    the OCR split or joined its words differently ("1/27/01" vs "1/ 27/01").
    """
    target = "".join(answer.split()).casefold()
    if not target:
        return None
    keys = ["".join(word.split()).casefold() for word in words]
    for start, key in enumerate(keys):
        if not key or not target.startswith(key):
            continue
        built = ""
        for end in range(start, len(keys)):
            built += keys[end]
            if built == target:
                return start, end
            if not target.startswith(built):
                break
    return None
