"""The words JSON file of ``layoutlmv2 predict --words-json``: a page's words and boxes, checked.

::

    {"words": ["Date:", "12/01/98"], "boxes": [[40, 30, 90, 44], [96, 30, 170, 44]]}

``boxes`` are ``[x0, y0, x1, y1]`` in **pixels of the page as given** (for a PDF: of the page as
rendered) unless ``"box_units": "0-1000"`` says they are already on LayoutLM's 0..1000 grid. For
several pages: ``{"pages": [{"words": ..., "boxes": ...}, ...]}``, one entry per page in file order.

Every problem is one `LayoutLMv2Error` naming the file, the page entry and the word: a box that is
not four numbers, reversed corners, a box wholly off the page. A pixel box that only spills over
the page edge (common with OCR and annotation tools) is clamped to it and counted (``clamped``).
"""

from __future__ import annotations

import json
from numbers import Real
from pathlib import Path
from typing import Any, Sequence, Union

from ..boxes import normalize_box
from ..errors import LayoutLMv2Error, describe_os_error

__all__ = ["BOX_UNITS", "page_words", "read_words_json"]

BOX_UNITS = ("pixels", "0-1000")
MAX_COORDINATE = 1e9  # pixels; larger is not a page


def read_words_json(path: Union[str, Path]) -> list[dict[str, Any]]:
    """The page entries of a words JSON file, each with ``words``, ``boxes`` and ``box_units``, checked."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise LayoutLMv2Error(f"{path} is not valid JSON: {error}") from None
    except UnicodeDecodeError:
        raise LayoutLMv2Error(f"{path} is not a UTF-8 text file") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"no such words file: {path}") from None
    except OSError as error:
        raise LayoutLMv2Error(describe_os_error(error, "read", path)) from None
    pages = data.get("pages", [data]) if isinstance(data, dict) else None
    if not isinstance(pages, list):
        raise LayoutLMv2Error(f"{path}: expected an object with 'words' and 'boxes' (or 'pages': [...])")
    default_units = data.get("box_units", "pixels")
    return [_checked_page(page, number, default_units, path) for number, page in enumerate(pages)]


def _checked_page(page: Any, number: int, default_units: Any, path: Path) -> dict[str, Any]:
    where = f"{path}: page entry {number}"
    if not isinstance(page, dict) or "words" not in page or "boxes" not in page:
        raise LayoutLMv2Error(f"{where} needs 'words' and 'boxes'")
    words, boxes = page["words"], page["boxes"]
    if not isinstance(words, list) or not isinstance(boxes, list):
        raise LayoutLMv2Error(f"{where}: 'words' and 'boxes' must be lists")
    if len(words) != len(boxes):
        raise LayoutLMv2Error(f"{where} has {len(words)} words but {len(boxes)} boxes")
    for index, (word, box) in enumerate(zip(words, boxes)):
        if not isinstance(word, str):
            raise LayoutLMv2Error(f"{where}: word {index} is {_short(word)}, not a string")
        if not (isinstance(box, list) and len(box) == 4 and all(_is_coordinate(v) for v in box)):
            raise LayoutLMv2Error(f"{where}: box {index} ({_short(word)}) is {_short(box)}, not four numbers "
                                  f"[x0, y0, x1, y1] (finite, below {MAX_COORDINATE:g})")
    units = page.get("box_units", default_units)
    if units not in BOX_UNITS:
        raise LayoutLMv2Error(f"{where}: box_units must be one of {BOX_UNITS}, got {_short(units)}")
    return {**page, "box_units": units, "source": where}


def _is_coordinate(value: Any) -> bool:
    return (isinstance(value, Real) and not isinstance(value, bool)
            and abs(value) < MAX_COORDINATE)  # False for NaN and inf too; a huge int never becomes a float


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def page_words(entry: dict[str, Any], width: int, height: int) -> tuple[list[str], list[list[int]], int]:
    """(words, 0..1000 boxes, number of pixel boxes clamped to the page) of a checked page entry."""
    where = entry.get("source", "words")
    words, boxes = list(entry["words"]), entry["boxes"]
    if entry.get("box_units", "pixels") == "0-1000":
        for index, box in enumerate(boxes):
            _check_corners(box, 1000, 1000, f"{where}: box {index} ({words[index]!r}) on the 0..1000 grid")
        return words, [[int(v) for v in box] for box in boxes], 0
    clamped = 0
    for index, box in enumerate(boxes):
        _check_overlap(box, width, height, f"{where}: box {index} ({words[index]!r})")
        clamped += min(box) < 0 or box[2] > width or box[3] > height
    return words, [normalize_box(box, width, height, clamp=True) for box in boxes], clamped


def _check_corners(box: Sequence[float], width: float, height: float, what: str) -> None:
    x0, y0, x1, y1 = box
    if x0 > x1 or y0 > y1:
        raise LayoutLMv2Error(f"{what} is {list(box)}: x0 > x1 or y0 > y1")
    if min(box) < 0 or x1 > width or y1 > height:
        raise LayoutLMv2Error(f"{what} is {list(box)}, outside 0..{width:g} x 0..{height:g}")


def _check_overlap(box: Sequence[float], width: int, height: int, what: str) -> None:
    x0, y0, x1, y1 = box
    if x0 > x1 or y0 > y1:
        raise LayoutLMv2Error(f"{what} is {list(box)}: x0 > x1 or y0 > y1")
    if x0 > width or y0 > height or x1 < 0 or y1 < 0:
        raise LayoutLMv2Error(f"{what} is {list(box)}, wholly off the {width} x {height} pixel page "
                              f"(are these 0..1000 boxes? then say \"box_units\": \"0-1000\")")
