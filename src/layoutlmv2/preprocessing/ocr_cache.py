"""Words of page files from OCR, cached on disk so that a page is OCRed once.

Readers of data sets that ship images only (RVL-CDIP, DocVQA without its OCR files) take a
`CachedOcr` (passed in by `layoutlmv2.registry`; ``data`` does not import ``preprocessing``).
The cache key is the SHA-256 of the page file's bytes plus the OCR settings (engine, language,
Tesseract configuration, Tesseract version), so a moved or renamed file is still a hit and an
edited file, or other settings, are a miss. One JSON file per page under the cache folder:
``--ocr-cache DIR``, else ``$LAYOUTLMV2_OCR_CACHE``, else ``~/.cache/layoutlmv2/ocr``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Optional, Union

from PIL import Image

from ..boxes import normalize_box
from .ocr import _tesseract_cmd, tesseract_pixel_words

logger = logging.getLogger(__name__)

__all__ = ["CachedOcr", "default_ocr_cache_dir"]

CACHE_FORMAT = 1


def default_ocr_cache_dir() -> Path:
    """``$LAYOUTLMV2_OCR_CACHE``, else ``~/.cache/layoutlmv2/ocr``."""
    return Path(os.environ.get("LAYOUTLMV2_OCR_CACHE") or Path.home() / ".cache" / "layoutlmv2" / "ocr")


def _tesseract_version() -> str:
    try:
        done = subprocess.run([_tesseract_cmd(), "--version"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (done.stdout or done.stderr).decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else "unknown"


class CachedOcr:
    """``ocr(path) -> (words, boxes in 0..1000, (width, height))``, OCRing a page only on a cache miss.

    ``pixel_words`` (an image -> (words, pixel boxes) callable, default Tesseract with ``lang``
    and ``tesseract_config``) is what runs on a miss; ``misses`` and ``hits`` count the calls.
    ``engine`` names a custom ``pixel_words`` in the key. The page is read as RGB, as the
    pipeline reads it.
    """

    def __init__(self, cache_dir: Union[str, Path, None] = None, lang: Optional[str] = None,
                 tesseract_config: str = "", pixel_words: Optional[Callable] = None,
                 engine: Optional[str] = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_ocr_cache_dir()
        self.lang = lang
        self.tesseract_config = tesseract_config
        self._pixel_words = pixel_words
        self.engine = engine or ("tesseract" if pixel_words is None else getattr(pixel_words, "__name__", "custom"))
        self._settings: Optional[str] = None
        self.hits = 0
        self.misses = 0

    def settings(self) -> str:
        """What besides the file's bytes decides the words (part of the key)."""
        if self._settings is None:
            version = _tesseract_version() if self._pixel_words is None else ""
            self._settings = json.dumps({"format": CACHE_FORMAT, "engine": self.engine, "version": version,
                                         "lang": self.lang, "config": self.tesseract_config}, sort_keys=True)
        return self._settings

    def key(self, path: Union[str, Path]) -> str:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0" + self.settings().encode("utf-8"))
        return digest.hexdigest()

    def cache_file(self, path: Union[str, Path]) -> Path:
        key = self.key(path)
        return self.cache_dir / key[:2] / f"{key}.json"

    def __call__(self, path: Union[str, Path]) -> tuple[list[str], list[list[int]], tuple[int, int]]:
        entry = self.cache_file(path)
        if entry.is_file():
            try:
                cached = json.loads(entry.read_text(encoding="utf-8"))
                self.hits += 1
                return cached["words"], cached["boxes"], tuple(cached["size"])
            except (json.JSONDecodeError, KeyError, TypeError):
                logger.warning("OCR cache file %s is damaged; OCRing %s again", entry, path)
        self.misses += 1
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        if self._pixel_words is None:
            words, pixel_boxes = tesseract_pixel_words(image, self.lang, self.tesseract_config)
        else:
            words, pixel_boxes = self._pixel_words(image)
        width, height = image.size
        boxes = [normalize_box(box, width, height, clamp=True) for box in pixel_boxes]
        record = {"source": str(path), "settings": json.loads(self.settings()), "size": [width, height],
                  "words": list(words), "boxes": boxes}
        entry.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=entry.parent, suffix=".tmp", delete=False, encoding="utf-8") as tmp:
            json.dump(record, tmp)
        os.replace(tmp.name, entry)  # atomic: a run killed mid-write leaves no half file
        return list(words), boxes, (width, height)
