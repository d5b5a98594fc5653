"""OCR engines behind one interface: ``engine(image) -> (words, pixel boxes)``.

- ``"tesseract"`` (the default): the Tesseract binary, words and boxes exactly as transformers'
  image processor gets them (`layoutlmv2.preprocessing.ocr`).
- ``"rapidocr"``: the ``rapidocr-onnxruntime`` package (PP-OCR detection and recognition models
  shipped inside its wheel; ``pip install 'layoutlmv2[rapidocr]'``). It reads text *lines*, and
  (``return_word_box``) a box per recognised character. A line is split into words at its spaces
  and wherever the gap between two characters is wider than `GAP_FACTOR` x the line's median
  character width (PP-OCR's recogniser often drops the spaces of English text: "TO:George"); a
  word's box is the union of its characters' boxes. Where the characters are not available, the
  line is split at its spaces and its box divided by character count (`boxes.split_line_box`). A rotated
  line uses its axis-aligned bounding box.
- any callable ``image -> (words, boxes)`` with ``[x0, y0, x1, y1]`` boxes in page pixels.

`ocr_engine(spec)` turns any of these into an engine; `engine.name` is recorded in outputs.
Engines are called from worker threads (Tesseract runs as one process per page; ONNX Runtime
releases the GIL), so they must be safe to call concurrently; the built-in ones are.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional, Sequence, Union

import numpy as np
from PIL import Image

from ..boxes import normalize_box, split_line_box
from ..errors import LayoutLMv2Error

__all__ = ["ENGINES", "OcrEngine", "RapidOcrEngine", "TesseractEngine", "ocr_engine", "ocr_page", "split_characters"]

PixelBoxes = list[list[float]]


class OcrEngine:
    """The interface: a name, and ``__call__(image) -> (words, pixel boxes)``."""

    name = "ocr"

    def __call__(self, image: Image.Image) -> tuple[list[str], PixelBoxes]:
        raise NotImplementedError


class TesseractEngine(OcrEngine):
    """Tesseract, through the same call as transformers (``lang``: ``-l``; ``config``: extra arguments)."""

    name = "tesseract"

    def __init__(self, lang: Optional[str] = None, config: str = "", timeout: Optional[float] = None) -> None:
        self.lang, self.config, self.timeout = lang, config or "", timeout

    def __call__(self, image: Image.Image) -> tuple[list[str], PixelBoxes]:
        from .ocr import tesseract_pixel_words

        return tesseract_pixel_words(image, self.lang, self.config, self.timeout)


class RapidOcrEngine(OcrEngine):
    """RapidOCR (PP-OCR on ONNX Runtime); the models load once, on first use."""

    name = "rapidocr"

    def __init__(self, min_score: float = 0.5) -> None:
        self.min_score = min_score
        self._engine = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._engine is None:
                try:
                    from rapidocr_onnxruntime import RapidOCR
                except ImportError as error:
                    raise ImportError("ocr='rapidocr' needs the rapidocr-onnxruntime package: "
                                      "pip install 'layoutlmv2[rapidocr]'") from error
                self._engine = RapidOCR()
        return self._engine

    def __call__(self, image: Image.Image) -> tuple[list[str], PixelBoxes]:
        lines, _ = self._load()(np.asarray(image.convert("RGB")), return_word_box=True)
        words, boxes = [], []
        for line in lines or []:
            quad, text, score = line[:3]
            if float(score) < self.min_score:
                continue
            characters = line[4] if len(line) > 4 else None
            if characters and len(characters) == len(line[3]) and all(len(c) == 1 for c in characters):
                line_words, line_boxes = split_characters(characters, [_bounds(q) for q in line[3]])
            else:
                line_words, line_boxes = split_line_box(str(text), _bounds(quad))
            words += line_words
            boxes += line_boxes
        return words, boxes


class _CallableEngine(OcrEngine):
    def __init__(self, function: Callable) -> None:
        self.function = function
        self.name = getattr(function, "name", None) or getattr(function, "__name__", "custom")

    def __call__(self, image: Image.Image) -> tuple[list[str], PixelBoxes]:
        result = self.function(image)
        if not (isinstance(result, tuple) and len(result) == 2 and len(result[0]) == len(result[1])):
            raise LayoutLMv2Error(f"OCR engine {self.name!r} must return (words, boxes) of equal length, "
                                  f"got {type(result).__name__}")
        return [str(w) for w in result[0]], [list(b) for b in result[1]]


ENGINES = {"tesseract": TesseractEngine, "rapidocr": RapidOcrEngine}

EngineSpec = Union[str, OcrEngine, Callable, None]


def ocr_engine(spec: EngineSpec = "tesseract", lang: Optional[str] = None, tesseract_config: str = "") -> OcrEngine:
    """An engine from a name (``ENGINES``), an `OcrEngine`, or a callable; ``lang`` applies to Tesseract."""
    if isinstance(spec, OcrEngine):
        return spec
    if spec is None or spec == "tesseract":
        return TesseractEngine(lang, tesseract_config)
    if isinstance(spec, str):
        if spec not in ENGINES:
            raise LayoutLMv2Error(f"unknown OCR engine {spec!r}; choose from {sorted(ENGINES)} or pass a callable")
        if lang is not None:
            raise LayoutLMv2Error(f"ocr_lang={lang!r} applies to Tesseract; {spec} reads the languages of its models")
        return ENGINES[spec]()
    if callable(spec):
        return _CallableEngine(spec)
    raise LayoutLMv2Error(f"ocr must be an engine name {sorted(ENGINES)} or a callable, got {type(spec).__name__}")


def ocr_page(engine: OcrEngine, image: Image.Image) -> tuple[list[str], list[list[int]]]:
    """(words, 0..1000 boxes) of one page: blank words dropped, boxes clamped to the page."""
    words, boxes = engine(image)
    width, height = image.size
    kept = [(w, b) for w, b in zip(words, boxes) if str(w).strip()]
    clamp = engine.name != "tesseract"  # Tesseract's boxes stay exactly transformers' (never off the page)
    return [w for w, _ in kept], [normalize_box(b, width, height, clamp=clamp) for _, b in kept]


GAP_FACTOR = 0.75  # a gap wider than this many median character widths separates two words


def _bounds(quad) -> list[float]:
    xs, ys = [float(p[0]) for p in quad], [float(p[1]) for p in quad]
    return [min(xs), min(ys), max(xs), max(ys)]


def split_characters(characters: Sequence[str], boxes: Sequence[Sequence[float]]
                     ) -> tuple[list[str], PixelBoxes]:
    """Characters of one line with their boxes -> words (at spaces and at wide gaps) with the union
    of their characters' boxes."""
    widths = sorted(b[2] - b[0] for c, b in zip(characters, boxes) if not c.isspace())
    if not widths:
        return [], []
    wide = GAP_FACTOR * widths[len(widths) // 2]
    words: list[list[tuple[str, Sequence[float]]]] = [[]]
    for character, box in zip(characters, boxes):
        if character.isspace():
            words.append([])
            continue
        if words[-1] and box[0] - words[-1][-1][1][2] > wide:
            words.append([])
        words[-1].append((character, box))
    words = [w for w in words if w]
    return (["".join(c for c, _ in w) for w in words],
            [[min(b[0] for _, b in w), min(b[1] for _, b in w), max(b[2] for _, b in w), max(b[3] for _, b in w)]
             for w in words])
