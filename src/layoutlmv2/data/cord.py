"""CORD v2 (Park et al., 2019): receipts with line-level categories in a menu / total hierarchy.

No copy of CORD is available in this project's environment, so this reader is written from
the published format and tested only on a tiny hand-written fixture in that format.

Layout of the release: ``<root>/{train,dev,test}/{image/<name>.png, json/<name>.json}``.
A JSON holds ``valid_line`` (one entry per labelled line: ``category`` such as ``menu.nm``,
``group_id`` and ``words``, each ``{quad: {x1..x4, y1..y4}, text, is_key, row_id}``),
``meta.image_size`` (``{width, height}``) and unlabelled extras (``dontcare``, ``roi``,
``repeating_symbol``) which we ignore. Tags are BIO per line, as the LayoutLMv2/v3 CORD
recipes do: the first word of a line is ``B-<CATEGORY>`` (upper case), the rest ``I-``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Union

from ..boxes import normalize_box
from .document import Document

logger = logging.getLogger(__name__)

CORD_CATEGORIES = [
    "menu.cnt", "menu.discountprice", "menu.etc", "menu.itemsubtotal", "menu.nm", "menu.num",
    "menu.price", "menu.sub_cnt", "menu.sub_etc", "menu.sub_nm", "menu.sub_price",
    "menu.sub_unitprice", "menu.unitprice", "menu.vatyn",
    "void_menu.nm", "void_menu.price",
    "sub_total.discount_price", "sub_total.etc", "sub_total.othersvc_price",
    "sub_total.service_price", "sub_total.subtotal_price", "sub_total.tax_price",
    "total.cashprice", "total.changeprice", "total.creditcardprice", "total.emoneyprice",
    "total.menuqty_cnt", "total.menutype_cnt", "total.total_etc", "total.total_price",
]  # fmt: skip
CORD_LABELS = ["O"] + [f"{prefix}-{name.upper()}" for name in CORD_CATEGORIES for prefix in ("B", "I")]
_SPLITS = ("train", "dev", "test")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_cord(root: Union[str, Path], split: str = "train") -> list[Document]:
    """Read one CORD split into Documents with word BIO tags (over ``CORD_LABELS``).

    A category outside ``CORD_CATEGORIES`` is kept (tagged with its own name) and logged,
    so a newer release does not fail to load. ``extra["is_key"]`` marks key words
    ("TOTAL") versus value words, ``extra["group_ids"]`` the menu item of each word.
    """
    if split not in _SPLITS:
        raise ValueError(f"CORD split must be one of {_SPLITS}, got {split!r}")
    folder = Path(root) / split
    if not (folder / "json").is_dir():
        raise ValueError(f"no CORD json folder at {folder / 'json'}")
    documents = []
    for path in sorted((folder / "json").glob("*.json")):
        image_path = next(
            (folder / "image" / f"{path.stem}{suffix}" for suffix in _IMAGE_SUFFIXES
             if (folder / "image" / f"{path.stem}{suffix}").is_file()),
            None,
        )  # fmt: skip
        if image_path is None:
            raise ValueError(f"CORD annotation {path} has no image in {folder / 'image'}")
        documents.append(read_cord_json(path, image_path))
    return documents


def read_cord_json(path: Union[str, Path], image_path: Union[str, Path, None] = None) -> Document:
    """One CORD annotation file as a Document (the page size comes from ``meta.image_size``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        size = data["meta"]["image_size"]
        width, height = int(size["width"]), int(size["height"])
        lines = data["valid_line"]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is not a CORD v2 annotation (valid_line, meta.image_size): {error}") from error
    words, boxes, tags, is_key, group_ids = [], [], [], [], []
    for number, line in enumerate(lines):
        category = str(line.get("category", ""))
        if not category:
            raise ValueError(f"{path}: valid_line[{number}] has no category")
        if category not in CORD_CATEGORIES:
            logger.warning("%s: category %r is not in CORD_CATEGORIES", path, category)
        first = True
        for word in line.get("words", []):
            text = str(word.get("text", "")).strip()
            if not text:
                continue
            try:
                quad = word["quad"]
                xs = [float(quad[f"x{k}"]) for k in range(1, 5)]
                ys = [float(quad[f"y{k}"]) for k in range(1, 5)]
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}: valid_line[{number}] word {text!r} has a bad quad") from error
            words.append(text)
            boxes.append(normalize_box([min(xs), min(ys), max(xs), max(ys)], width, height, clamp=True))
            tags.append(("B-" if first else "I-") + category.upper())
            is_key.append(bool(word.get("is_key", 0)))
            group_ids.append(line.get("group_id"))
            first = False
    return Document(
        id=path.stem,
        words=words,
        boxes=boxes,
        image_path=Path(image_path) if image_path is not None else None,
        page_size=(width, height),
        word_labels=tags,
        extra={"is_key": is_key, "group_ids": group_ids},
    )
