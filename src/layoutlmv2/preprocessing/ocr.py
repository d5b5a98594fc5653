"""Tesseract OCR: words and their boxes normalised to 0..1000, as LayoutLMv2 expects.

We call the ``tesseract`` binary the way ``pytesseract.image_to_data`` does (same arguments, same
TSV parsing) but run it ourselves so that every process gets ``OMP_THREAD_LIMIT=1``: a batch is
OCRed by a bounded thread pool, one single-threaded Tesseract per page, which is much faster
than one multi-threaded Tesseract after another.
"""

from __future__ import annotations

import io
import logging
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

from PIL import Image

from ..errors import LayoutLMv2Error

from ..boxes import normalize_box

logger = logging.getLogger(__name__)

__all__ = ["TesseractNotFoundError", "apply_tesseract", "apply_tesseract_batch", "normalize_box", "tesseract_pixel_lines",
           "tesseract_pixel_words"]

_INSTALL_HINT = (
    "Tesseract OCR is not installed or not on PATH (looked for {cmd!r}). Install it: "
    "`apt-get install tesseract-ocr` (Debian/Ubuntu), `brew install tesseract` (macOS), or the "
    "installer from https://github.com/UB-Mannheim/tesseract/wiki (Windows), plus `pip install "
    "pytesseract`. Or pass apply_ocr=False and give your own words and boxes."
)


class TesseractNotFoundError(EnvironmentError):
    """The Tesseract binary cannot be run (the message says how to install it)."""


def _tesseract_cmd() -> str:
    """The binary to run: pytesseract's setting when pytesseract is installed, else 'tesseract'."""
    try:
        import pytesseract

        return pytesseract.pytesseract.tesseract_cmd
    except ImportError:
        return "tesseract"


def _parse_tsv(tsv: str) -> dict:
    """Tesseract's TSV as columns; numbers as int, ``text`` as str (pytesseract's dict output)."""
    rows = [row.split("\t") for row in tsv.strip().split("\n")]
    if len(rows) < 2:
        return {}
    header, rows = rows[0], rows[1:]
    if len(rows[-1]) < len(header):
        rows[-1].append("")  # a trailing empty text cell gets lost
    text_column = len(header) - 1
    columns: dict = {}
    for i, name in enumerate(header):
        values = []
        for row in rows:
            if len(row) <= i:
                continue
            if i == text_column:
                values.append(row[i])
            else:
                try:
                    values.append(int(float(row[i])))
                except ValueError:
                    values.append(row[i])
        columns[name] = values
    return columns


def _run_tesseract(image: Image.Image, lang: Optional[str], config: str, timeout: Optional[float]) -> dict:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    cmd = _tesseract_cmd()
    args = [cmd, "stdin", "stdout"]
    if lang is not None:
        args += ["-l", lang]
    args += ["-c", "tessedit_create_tsv=1"]
    if config and config.strip():
        args += shlex.split(config.strip(), posix=sys.platform != "win32")
    env = dict(os.environ)
    env.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        done = subprocess.run(args, input=buffer.getvalue(), capture_output=True, env=env,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        raise TesseractNotFoundError(_INSTALL_HINT.format(cmd=cmd)) from None
    except PermissionError:
        raise TesseractNotFoundError(_INSTALL_HINT.format(cmd=cmd)) from None
    except subprocess.TimeoutExpired:
        raise LayoutLMv2Error(f"Tesseract took longer than {timeout} s on a {image.width} x {image.height} page") from None
    if done.returncode != 0:
        message = " ".join(done.stderr.decode("utf-8", "replace").split())  # one line
        if "Failed loading language" in message or "Error opening data file" in message:
            packs = " ".join(f"tesseract-ocr-{name.replace('_', '-').lower()}" for name in str(lang).split("+"))
            raise LayoutLMv2Error(f"Tesseract has no language data for lang={lang!r}: install it "
                                  f"(Debian/Ubuntu: apt-get install {packs}; `tesseract --list-langs` shows "
                                  f"what is installed)")
        raise LayoutLMv2Error(f"Tesseract failed on a {image.width} x {image.height} page "
                              f"(exit code {done.returncode}): {message}")
    return _parse_tsv(done.stdout.decode("utf-8", "replace"))


def tesseract_pixel_words(image: Image.Image, lang: Optional[str] = None, tesseract_config: Optional[str] = None,
                          timeout: Optional[float] = None) -> tuple:
    """OCR one full-resolution page: (words, boxes ``[x0, y0, x1, y1]`` in page pixels); blank: ([], [])."""
    if not isinstance(image, Image.Image):
        raise ValueError(f"Tesseract needs a PIL image, got {type(image).__name__}")
    data = _run_tesseract(image, lang, tesseract_config or "", timeout)
    words, boxes = [], []
    for i, text in enumerate(data.get("text", [])):
        if not text.strip():
            continue
        left, top = data["left"][i], data["top"][i]
        words.append(text)
        boxes.append([left, top, left + data["width"][i], top + data["height"][i]])
    return words, boxes


def tesseract_pixel_lines(image: Image.Image, lang: Optional[str] = None, tesseract_config: Optional[str] = None,
                          timeout: Optional[float] = None) -> tuple:
    """`tesseract_pixel_words` plus each word's text line: (words, pixel boxes, line ids).

    Line ids number Tesseract's (block, paragraph, line) triples 0, 1, 2, ... in reading order;
    the words and boxes are exactly those of `tesseract_pixel_words`.
    """
    if not isinstance(image, Image.Image):
        raise ValueError(f"Tesseract needs a PIL image, got {type(image).__name__}")
    data = _run_tesseract(image, lang, tesseract_config or "", timeout)
    words, boxes, lines = [], [], []
    numbers: dict = {}
    for i, text in enumerate(data.get("text", [])):
        if not text.strip():
            continue
        left, top = data["left"][i], data["top"][i]
        words.append(text)
        boxes.append([left, top, left + data["width"][i], top + data["height"][i]])
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.append(numbers.setdefault(key, len(numbers)))
    return words, boxes, lines


def apply_tesseract(
    image: Image.Image,
    lang: Optional[str] = None,
    tesseract_config: Optional[str] = None,
    timeout: Optional[float] = None,
) -> tuple:
    """OCR one full-resolution page: (words, boxes in 0..1000); a blank page gives ([], [])."""
    if not isinstance(image, Image.Image):
        raise ValueError(f"apply_tesseract needs a PIL image, got {type(image).__name__}")
    words, boxes = tesseract_pixel_words(image, lang, tesseract_config, timeout)
    width, height = image.size
    return words, [normalize_box(box, width, height) for box in boxes]


def apply_tesseract_batch(
    images: Sequence[Image.Image],
    lang: Optional[str] = None,
    tesseract_config: Optional[str] = None,
    num_workers: Optional[int] = None,
    timeout: Optional[float] = None,
) -> tuple:
    """OCR pages in parallel (bounded pool, order kept): (list of words, list of boxes)."""
    if num_workers is None:
        num_workers = os.cpu_count() or 1
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive int, got {num_workers!r}")
    workers = min(num_workers, len(images))
    if workers <= 1:
        results = [apply_tesseract(image, lang, tesseract_config, timeout) for image in images]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tesseract") as pool:
            results = list(pool.map(lambda image: apply_tesseract(image, lang, tesseract_config, timeout), images))
    logger.debug("OCRed %d page(s) with %d worker(s)", len(images), max(workers, 1))
    return [words for words, _ in results], [boxes for _, boxes in results]

